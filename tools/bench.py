"""Speed and memory of training and inference, against the machine's own matmul peak and a plain implementation.

    python tools/bench.py                      # CPU: training at 256² (pix2pix unet_256, batch 1) + inference
    python tools/bench.py --device cuda --train-batch 16 --precision bf16
    python tools/bench.py --profile            # where one training step spends its time

Training ("ours") is pix2gan's Trainer step on builtin:photos: colorization, unet_256 (depth 8, ngf 64), 70×70
PatchGAN (ndf 64), batch norm, L1 + non-saturating GAN, Adam. "plain" is the textbook pix2pix step written out
below with the same networks (per-tensor Adam, two D passes, nothing else). FLOPs are counted with
torch.utils.flop_counter on one step; times are medians over --iters steps after warm-up; each configuration runs in
its own process so peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode


def matmul_peak(device: torch.device, n: int = 2048, dtype=torch.float32) -> float:
    """GFLOP/s of an n×n fp32 matmul, best of a few."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(6):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, iters: int, device) -> list[float]:
    times = []
    for _ in range(iters):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return times


def make_trainer(args):
    from pix2gan.config import TrainConfig
    from pix2gan.train import Trainer

    cfg = TrainConfig(data="builtin:photos", size=args.train_size, load_scale=1.0, batch_size=args.train_batch,
                      depth=8, ngf=64, ndf=64, d_layers=3, steps=10**9, device=args.device,
                      precision=args.precision, log_every=10**9, sample_every=10**9, checkpoint_every=10**9)
    return Trainer(cfg, "/tmp/pix2gan-bench", progress=False)


def plain_step_fn(trainer):
    """Textbook pix2pix: fake = G(x); D on real and fake.detach(); BCE; backward; step; then G: D(fake) + 100·L1."""
    G, D = trainer.G, trainer.D
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    cond, real = trainer.batch(0)

    def step():
        fake = G(cond)
        p_real = D(torch.cat([cond, real], 1))
        p_fake = D(torch.cat([cond, fake.detach()], 1))
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(p_real, torch.ones_like(p_real))
                        + F.binary_cross_entropy_with_logits(p_fake, torch.zeros_like(p_fake)))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        for p in D.parameters():
            p.requires_grad_(False)
        p_fake = D(torch.cat([cond, fake], 1))
        loss_g = F.binary_cross_entropy_with_logits(p_fake, torch.ones_like(p_fake)) + 100 * F.l1_loss(fake, real)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        for p in D.parameters():
            p.requires_grad_(True)

    return step


def run_one(args) -> dict:
    """One measurement in this process: 'ours', 'plain' or 'infer:SIZE'."""
    torch.manual_seed(0)
    device = torch.device("cuda" if args.device == "cuda" else "cpu")
    peak = matmul_peak(device)
    if args.only in ("ours", "plain"):
        trainer = make_trainer(args)
        step = trainer.train_step if args.only == "ours" else plain_step_fn(trainer)
        step()
        with FlopCounterMode(display=False) as fc:
            step()
        flops = fc.get_total_flops()
        times = timed(step, args.iters, device)
        sec = statistics.median(times)
        return {"what": f"train {args.only}", "size": args.train_size, "batch": args.train_batch, "sec": sec,
                "img_s": args.train_batch / sec, "gflop": flops / 1e9, "gflops": flops / sec / 1e9,
                "peak_gflops": peak, "pct": 100 * flops / sec / 1e9 / peak, "rss_mb": peak_rss_mb(),
                "spread": f"{min(times):.3f}–{max(times):.3f}"}
    size = int(args.only.split(":")[1])
    from pix2gan.nets import UNet

    G = UNet(1, 2, depth=8, ngf=64).to(device).eval()
    x = torch.rand(1, 1, size, size, device=device) * 2 - 1
    with torch.inference_mode():
        G(x)
        with FlopCounterMode(display=False) as fc:
            G(x)
        times = timed(lambda: G(x), args.iters, device)
    sec = statistics.median(times)
    return {"what": "colorize G forward", "size": size, "batch": 1, "sec": sec, "img_s": 1 / sec,
            "gflop": fc.get_total_flops() / 1e9, "gflops": fc.get_total_flops() / sec / 1e9, "peak_gflops": peak,
            "pct": 100 * fc.get_total_flops() / sec / 1e9 / peak, "rss_mb": peak_rss_mb(),
            "spread": f"{min(times):.3f}–{max(times):.3f}"}


def profile(args) -> None:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    trainer = make_trainer(args)
    trainer.train_step()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    with torch_profile(activities=acts) as prof:
        for _ in range(3):
            trainer.train_step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--train-size", type=int, default=256)
    p.add_argument("--train-batch", type=int, default=1)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--sizes", default="128,256,512", help="inference sizes")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--only", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.profile:
        profile(args)
        return 0
    if args.only:
        print(json.dumps(run_one(args)))
        return 0
    print(f"# {platform.machine()} {platform.processor()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"device {args.device}" + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else ""))
    print("| what | size | batch | s/iter (min–max) | img/s | GFLOP/iter | GFLOP/s | % of matmul peak | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    jobs = ["ours", "plain"] + [f"infer:{s}" for s in args.sizes.split(",")]
    rows = {}
    for job in jobs:
        cmd = [sys.executable, __file__, "--only", job, *sys.argv[1:]]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"| {job} | failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode} |")
            continue
        row = rows[job] = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"| {row['what']} | {row['size']}² | {row['batch']} | {row['sec']:.3f} ({row['spread']}) | "
              f"{row['img_s']:.2f} | {row['gflop']:.1f} | {row['gflops']:.1f} | {row['pct']:.0f}% "
              f"(peak {row['peak_gflops']:.0f}) | {row['rss_mb']:.0f} |", flush=True)
    if "ours" in rows and "plain" in rows:
        print(f"\ntraining speed-up over the plain step: {rows['plain']['sec'] / rows['ours']['sec']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
