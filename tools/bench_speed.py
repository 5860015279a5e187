"""Speed and memory of training and inference, against the machine's own matmul peak and a plain implementation.

    python tools/bench_speed.py                      # CPU: training at 256² (pix2pix unet_256, batch 1), training and
                                               # G forward at 128/256/512, colorizing a folder of 512² photos
    python tools/bench_speed.py --device cuda --train-batch 16 --precision bf16
    python tools/bench_speed.py --profile            # where a training step spends its time (as pix2gan train --profile)
    python tools/bench_speed.py --pix2pix ~/pytorch-CycleGAN-and-pix2pix   # adds pix2pix's own train.py, same nets
    python tools/bench_speed.py --layers             # each convolution of G and D alone: forward, backward, fp32, bf16
    python tools/bench_speed.py --repeat 3           # the compared 256² rows in 3 interleaved rounds (a noisy machine)

Training ("ours") is pix2gan's Trainer step on builtin:photos: colorization, unet_256 (depth 8, ngf 64), 70×70
PatchGAN (ndf 64), batch norm, L1 + non-saturating GAN, Adam. "plain" is the textbook pix2pix step written out
below with the same networks (per-tensor Adam, two D passes, nothing else). FLOPs are counted with
torch.utils.flop_counter on one step; times are medians over --iters steps after warm-up; each configuration runs in
its own process so peak RSS is its own. "colorize folder" is `pix2gan colorize`'s own code path (plan, read, Lab,
G, atomic PNG) over --colorize-images different gray 512² JPEGs cut from scikit-image's photos, compared with the
bare G-forward rate measured in the same process. The peak is the better of a 2048² matmul and a 3×3 convolution
(256 channels, 64²) in the row's precision. "quickstart" is the README's training command's setting (64²
crops, batch 16, widths 32, depth 6). On a CPU with native bf16 (AVX512-BF16 or AMX) an fp32 run adds the bf16 rows.

``--pix2pix PATH`` runs pix2pix's own ``train.py`` from a checkout of junyanz/pytorch-CycleGAN-and-pix2pix (or a
fork; it needs its requirement ``dominate``): ``--model colorization --batch_size 1 --num_threads 0 --print_freq 1
--gpu_ids -1`` on colour 286² JPEGs cut from the same photos (it crops 256² at random),
reading the compute time per iteration it prints (its ``time:``, which leaves out data loading). Its networks are
ours at the same setting (unet_256 ngf 64, 70×70 PatchGAN, batch norm, vanilla GAN + 100·L1, Adam), so its FLOPs
are the plain step's. The targets at the end are ratios from this one run.
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
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from common import make_trainer, unet_layers  # tools/common.py


def matmul_peak(device: torch.device, n: int = 2048, dtype=torch.float32) -> float:
    """The machine's dense peak in ``dtype``, GFLOP/s: the better of an n×n matmul and a 3×3 convolution of 256
    channels on 64² (the convolution library's own GEMM: on AMD CPUs PyTorch's fp32 matmul takes MKL's slower path
    and reaches half of what oneDNN's convolutions do), best of ten each. Each job measures it before and after its
    timing and keeps the higher, so a busy moment cannot flatter the % of peak."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    x = torch.randn(1, 256, 64, 64, device=device, dtype=dtype)
    w = torch.randn(256, 256, 3, 3, device=device, dtype=dtype)
    peaks = []
    for fn, flops in ((lambda: a @ b, 2 * n ** 3), (lambda: F.conv2d(x, w, padding=1), 2 * 256 * 256 * 9 * 64 * 64)):
        best = float("inf")
        with torch.no_grad():
            for _ in range(10):
                sync(device)
                t = time.perf_counter()
                fn()
                sync(device)
                best = min(best, time.perf_counter() - t)
        peaks.append(flops / best / 1e9)
    return max(peaks)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def child_peak_rss_mb() -> float:
    """Peak RSS of the largest child process waited for so far (MB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


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


def plain_step_fn(args, size: int, device):
    """Textbook pix2pix on the same networks, with none of the trainer's settings (no Trainer is built): fake = G(x);
    D on real and fake.detach(); BCE; backward; step; then G: D(fake) + 100·L1. One fixed batch (no data cost)."""
    from pix2gan.data.photos import open_photos
    from pix2gan.data.source import fixed_batches
    from pix2gan.nets import PatchDiscriminator, UNet, init_weights
    from pix2gan.tasks.colorize import ColorizeTask

    G, D = UNet(1, 2, depth=8, ngf=64).to(device), PatchDiscriminator(3, 64, 3).to(device)
    init_weights(G)
    init_weights(D)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    photos = open_photos("builtin:photos", size)
    cond, real = ColorizeTask().to_tensors(fixed_batches(photos, 0, args.train_batch, size, args.train_batch)[0],
                                           device)

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


def make_photos(folder: Path, n: int, size: int, mode: str = "L") -> None:
    """``n`` different ``size``² JPEGs cut from scikit-image's photos (random crop, scale and flip), gray (``"L"``)
    or in colour (``"RGB"``)."""
    import numpy as np
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(0)
    photos = [Image.fromarray(getattr(data, name)()).convert(mode)
              for name in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera")]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = photos[i % len(photos)]
        side = int(min(img.size) * rng.uniform(0.5, 1.0))
        x, y = rng.integers(0, img.width - side + 1), rng.integers(0, img.height - side + 1)
        tile = img.crop((x, y, x + side, y + side)).resize((size, size), Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        tile.save(folder / f"{i:05d}.jpg", quality=90)


def pix2pix_times(args) -> list[float]:
    """pix2pix's own train.py from the checkout at ``args.pix2pix``: its printed compute time of each iteration,
    the first two (warm-up) left out."""
    import re
    import tempfile

    train_py = Path(args.pix2pix).expanduser() / "train.py"
    if not train_py.is_file():
        raise SystemExit(f"--pix2pix {args.pix2pix}: no train.py there (a checkout of pytorch-CycleGAN-and-pix2pix)")
    n = args.iters + 2
    with tempfile.TemporaryDirectory() as tmp:
        make_photos(Path(tmp) / "photos" / "train", n, 286, "RGB")  # its loader crops 256² at random
        cmd = [sys.executable, str(train_py), "--dataroot", str(Path(tmp) / "photos"), "--name", "bench",
               "--model", "colorization", "--batch_size", "1", "--num_threads", "0", "--print_freq", "1",
               "--gpu_ids", "-1" if args.device == "cpu" else "0", "--display_id", "0", "--display_freq", "1000000",
               "--n_epochs", "1", "--n_epochs_decay", "0", "--save_epoch_freq", "1000000",
               "--save_latest_freq", "1000000", "--checkpoints_dir", str(Path(tmp) / "checkpoints")]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=train_py.parent)
    times = [float(t) for t in re.findall(r"iters: \d+, time: ([0-9.]+)", r.stdout)]
    if r.returncode != 0 or len(times) < n:
        tail = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or [f"exit {r.returncode}"]
        raise SystemExit(f"pix2pix's train.py failed: {tail[0]}")
    return times[2:]


def flops_and_times(fn, iters: int, device) -> tuple[int, list[float]]:
    """One warm-up call, one call under the FLOP counter, then ``iters`` timed calls."""
    fn()
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops(), timed(fn, iters, device)


def make_row(what: str, size: int, batch: int, flops: int, times: list[float], **more) -> dict:
    """One table row from the per-iteration times (median) and the FLOPs of one iteration; the matmul peak and the
    % of it are filled in by :func:`run_one`."""
    sec = statistics.median(times)
    spread = f"{min(times):.3f}–{max(times):.3f}" if len(times) > 1 else ""
    return {"what": what, "size": size, "batch": batch, "sec": sec, "img_s": batch / sec, "gflop": flops / 1e9,
            "gflops": flops / sec / 1e9, "rss_mb": peak_rss_mb(), "spread": spread, **more}


def colorize_folder(args, device) -> dict:
    """``pix2gan colorize``'s own code path (plan → read → Colorizer → atomic PNG) over a folder of 512² photos,
    against the bare G-forward rate measured in the same process before and after (the faster kept); RSS after a
    tenth of the folder and at the end."""
    import tempfile

    from pix2gan.batch import plan, process
    from pix2gan.files import save_image
    from pix2gan.colorizer import Colorizer
    from pix2gan.data.images import read_image
    from pix2gan.nets import UNet

    n, size = args.colorize_images, args.colorize_size
    colorizer = Colorizer(UNet(1, 2, depth=8, ngf=64), size, device)
    x = torch.rand(1, 1, size, size, device=device) * 2 - 1
    with torch.inference_mode():
        flops, g_times = flops_and_times(lambda: colorizer.G(x), 5, device)
    g_sec = statistics.median(g_times)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "gray", Path(tmp) / "color"
        make_photos(src, n, size)
        pairs = plan(src, dst)
        rss = {}
        start = time.perf_counter()
        for part in (pairs[: n // 10], pairs[n // 10:]):
            summary = process(part, lambda p, tmp: save_image(colorizer(read_image(p)), tmp), progress=False)
            assert summary.done == len(part), summary.failed
            rss[len(rss)] = peak_rss_mb()
        sec = (time.perf_counter() - start) / n
        stages = colorize_stages(colorizer, [p for p, _ in pairs[:20]], Path(tmp) / "stage.png", device)
    with torch.inference_mode():  # measured again after the folder: the faster of the two is the bare rate
        g_sec = min(g_sec, statistics.median(timed(lambda: colorizer.G(x), 5, device)))
    return make_row(f"colorize folder ({n} images)", size, 1, flops, [sec], of_bare=100 * g_sec / sec,
                    extra=f"({1 / g_sec:.2f} img/s bare); peak RSS {rss[0]:.0f} MB after {n // 10} images, "
                          f"{rss[1]:.0f} MB after {n}; per image, ms (median of {len(stages['G'])}): "
                          + ", ".join(f"{k} {1e3 * statistics.median(v):.1f}" for k, v in stages.items()))


def colorize_stages(colorizer, paths: list[Path], scratch: Path, device) -> dict[str, list[float]]:
    """Seconds of each stage of colorizing one image, per image of ``paths`` (whose size is the colorizer's, so
    no resizing): read and decode, to float, sRGB → L, G, Lab → sRGB uint8, writing the PNG to ``scratch`` as the
    commands do. The same calls as :meth:`Colorizer.colorize_rgb`, timed one by one: where the folder's time beside
    G goes."""
    from PIL import Image

    from pix2gan.files import save_image
    from pix2gan.data.images import read_image, to_rgb_float

    stages: dict[str, list[float]] = {}

    def stage(name: str, fn):
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        stages.setdefault(name, []).append(time.perf_counter() - start)
        return out

    for path in paths:
        img = stage("read", lambda: read_image(path))
        rgb = stage("to float", lambda: to_rgb_float(img))
        with torch.inference_mode():
            light = stage("sRGB → L", lambda: colorizer.task.cond(torch.from_numpy(rgb).permute(2, 0, 1)[None]
                                                                   .to(device)))
            ab = stage("G", lambda: colorizer.G(light))
            out = stage("Lab → sRGB", lambda: colorizer.task.to_pixels(light, ab)[0].permute(1, 2, 0).cpu().numpy())
        stage("PNG", lambda: save_image(Image.fromarray(out, "RGB"), scratch))
    return stages


def parse_job(job: str, args) -> tuple[str, int, str]:
    """'ours[:SIZE[:PRECISION]]', 'quickstart[::PRECISION]', 'plain', 'pix2pix', 'infer:SIZE', 'colorize' →
    (what, size, precision); pix2gan's training rows run in --precision unless the job names one."""
    what, size, precision = (job.split(":") + ["", ""])[:3]
    size = int(size) if size else (64 if what == "quickstart" else args.train_size)
    return what, size, precision or (args.precision if what in ("ours", "quickstart") else "fp32")


def run_one(args) -> dict:
    """One measurement in this process (a job of :func:`parse_job`); the matmul peak in the job's precision is
    measured before and after it, the higher kept."""
    torch.manual_seed(0)
    device = torch.device("cuda" if args.device == "cuda" else "cpu")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[parse_job(args.only, args)[2]]
    before = matmul_peak(device, dtype=dtype)
    result = measure(args, device)
    result["peak_gflops"] = max(before, matmul_peak(device, dtype=dtype))
    result["pct"] = 100 * result["gflops"] / result["peak_gflops"] if result["gflops"] else float("nan")
    return result


def measure(args, device) -> dict:
    if args.only == "colorize":
        return colorize_folder(args, device)
    what, size, precision = parse_job(args.only, args)
    if what == "pix2pix":  # FLOPs: the plain step's (the same networks and losses), filled in by main
        return make_row("train pix2pix train.py", size, 1, 0, pix2pix_times(args), rss_mb=child_peak_rss_mb())
    if what in ("ours", "quickstart"):
        trainer = make_trainer(args, size=size, precision=precision, quickstart=what == "quickstart")
        label = f"train {what}" + (f" {precision}" if precision != "fp32" else "")
        return make_row(label, size, trainer.cfg.batch_size, *flops_and_times(trainer.train_step, args.iters, device))
    if what == "plain":
        step = plain_step_fn(args, size, device)
        return make_row("train plain", size, args.train_batch, *flops_and_times(step, args.iters, device))
    from pix2gan.nets import UNet
    from pix2gan.runtime import on_device

    G, _ = on_device(UNet(1, 2, depth=8, ngf=64), device)  # as the Colorizer does
    x = torch.rand(1, 1, size, size, device=device) * 2 - 1
    with torch.inference_mode():
        return make_row("colorize G forward", size, 1, *flops_and_times(lambda: G(x), args.iters, device))


def profile(args) -> None:
    """The trainer's own phase table (what ``pix2gan train --profile`` prints), then the top operators."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    trainer = make_trainer(args, profile=True)
    for _ in range(args.iters + 1):  # the first step is warm-up, not counted
        t = time.perf_counter()
        trainer.train_step()
        trainer.timer.add_step(time.perf_counter() - t)
    print(trainer.timer.table())
    trainer.timer.enabled = False
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    with torch_profile(activities=acts) as prof:
        for _ in range(3):
            trainer.train_step()
    print("\nslowest operators over 3 steps (torch.profiler):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def layers(args) -> None:
    """Every convolution of G (unet_256) and D (70×70 PatchGAN) at --train-size, batch --train-batch, on its own:
    forward and backward (input gradient where the network needs it, weight gradient) in fp32 and under bf16
    autocast; medians of --iters calls after 3 warm-up calls."""
    from torch import nn

    from pix2gan.runtime import tune_cpu

    tune_cpu()
    torch.manual_seed(0)
    size, batch = args.train_size, args.train_batch
    convs = []  # (name, layer, (input channels, input side), needs its input gradient)
    for name, kind, c_in, c_out, side in unet_layers(size=size):
        layer = nn.Conv2d(c_in, c_out, 4, 2, 1) if kind == "down" else nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)
        convs.append((f"G {name}", layer, (c_in, side), name != "down 0"))
    side = size
    for i, (c_in, c_out, stride) in enumerate([(3, 64, 2), (64, 128, 2), (128, 256, 2), (256, 512, 1), (512, 1, 1)]):
        convs.append((f"D conv {i}", nn.Conv2d(c_in, c_out, 4, stride, 1), (c_in, side), i > 0))
        side = (side + 2 - 4) // stride + 1

    def fwd_bwd(layer, x, bf16):
        fwd, bwd = [], []
        for i in range(args.iters + 3):
            layer.zero_grad(set_to_none=True)
            x.grad = None
            t0 = time.perf_counter()
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                y = layer(x)
            t1 = time.perf_counter()
            y.float().sum().backward()
            if i >= 3:
                fwd.append(t1 - t0)
                bwd.append(time.perf_counter() - t1)
        return 1e3 * statistics.median(fwd), 1e3 * statistics.median(bwd)

    print(f"{size}², batch {batch}: ms per call, each layer alone")
    print("| layer | input | fp32 forward | fp32 backward | bf16 forward | bf16 backward |")
    print("|---|---|---|---|---|---|")
    total = [0.0] * 4
    for name, layer, (c, side), grad in convs:
        x = torch.randn(batch, c, side, side).requires_grad_(grad)
        times = fwd_bwd(layer, x, False) + fwd_bwd(layer, x, True)
        total = [a + b for a, b in zip(total, times)]
        print(f"| {name} | {c}×{side}² | " + " | ".join(f"{t:.2f}" for t in times) + " |", flush=True)
    print("| all | | " + " | ".join(f"{t:.1f}" for t in total) + " |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--train-size", type=int, default=256)
    p.add_argument("--train-batch", type=int, default=1)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--sizes", default="128,256,512", help="sizes for the training and G-forward scaling rows")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--colorize-images", type=int, default=200, help="photos in the colorize-folder run (0: skip)")
    p.add_argument("--colorize-size", type=int, default=512)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--layers", action="store_true", help="each convolution of G and D alone, fp32 and bf16")
    p.add_argument("--repeat", type=int, default=1, help="rounds of the compared 256² rows (ours, plain, pix2pix, "
                   "bf16), interleaved; each row is its median round")
    p.add_argument("--pix2pix", metavar="PATH", help="a checkout of pytorch-CycleGAN-and-pix2pix: adds its train.py")
    p.add_argument("--only", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.profile:
        profile(args)
        return 0
    if args.layers:
        layers(args)
        return 0
    if args.only:
        print(json.dumps(run_one(args)))
        return 0
    from pix2gan.runtime import cpu_description, cpu_has_native_bf16

    print(f"# {cpu_description()} ({platform.machine()}), {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else ""))
    print("| what | size | batch | s/iter (min–max) | img/s | GFLOP/iter | GFLOP/s | % of peak | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    sizes = [int(s) for s in args.sizes.split(",")]
    bf16_rows = args.device == "cpu" and args.precision == "fp32" and cpu_has_native_bf16()
    rows = {}
    compared = ["ours", "plain"] + (["pix2pix"] if args.pix2pix else []) + (["ours::bf16"] if bf16_rows else [])
    jobs = ["quickstart"] + (["quickstart::bf16"] if bf16_rows else [])
    jobs += [f"ours:{s}" for s in sizes if s != args.train_size] + [f"infer:{s}" for s in sizes]
    jobs += ["colorize"] if args.colorize_images > 0 else []
    runs = {}  # job -> its rows, one per round
    for job in compared * args.repeat + jobs:  # the compared rows in interleaved rounds: a slow spell hits them all
        cmd = [sys.executable, __file__, "--only", job, *sys.argv[1:]]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"| {job} | failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode} |")
            continue
        runs.setdefault(job, []).append(json.loads(r.stdout.strip().splitlines()[-1]))
        if len(runs[job]) < (args.repeat if job in compared else 1):
            continue
        row = rows[job] = median_round(runs[job])
        if job == "pix2pix" and "plain" in rows:  # the same networks and losses: the plain step's FLOPs
            row["gflop"] = rows["plain"]["gflop"]
            row["gflops"] = row["gflop"] / row["sec"]
            row["pct"] = 100 * row["gflops"] / row["peak_gflops"]
        print(f"| {row['what']} | {row['size']}² | {row['batch']} | {row['sec']:.3f} ({row['spread']}) | "
              f"{row['img_s']:.2f} | {row['gflop']:.1f} | {row['gflops']:.1f} | {row['pct']:.0f}% "
              f"(peak {row['peak_gflops']:.0f}) | {row['rss_mb']:.0f} |", flush=True)
    train = {s: rows.get("ours" if s == args.train_size else f"ours:{s}") for s in sizes}
    infer = {s: rows.get(f"infer:{s}") for s in sizes}
    for label, by_size in (("training step", train), ("G forward", infer)):  # linear in pixels: 4.00× per doubling
        ratios = [f"{a}²→{b}² {by_size[b]['sec'] / by_size[a]['sec']:.2f}×" for a, b in zip(sizes, sizes[1:])
                  if by_size[a] and by_size[b]]
        if ratios:
            print(f"{label} time per doubling of the side (4× the pixels): " + ", ".join(ratios))
    print("\ntargets (ratios within this run):")
    for line in target_lines(rows, args):
        print("  " + line)
    return 0


def median_round(rounds: list[dict]) -> dict:
    """One job's row over its rounds: the round with the median time; with several rounds the spread is the range
    of the rounds' medians."""
    row = sorted(rounds, key=lambda r: r["sec"])[(len(rounds) - 1) // 2]
    if len(rounds) > 1:
        secs = [r["sec"] for r in rounds]
        row["spread"] = f"{min(secs):.3f}–{max(secs):.3f} over {len(rounds)} rounds"
    return row


#: The issue's targets: the 256² training step's speed-up over pix2pix's own train.py (fp32, bf16), the share of
#: the peak at small sizes, the colorize folder's share of the bare G-forward rate.
SPEEDUP_TARGETS = {"ours": 1.6, "ours::bf16": 2.2}
PEAK_TARGET, FOLDER_TARGET = 60, 85


def target_lines(rows: dict, args) -> list[str]:
    """The targets, each with its measured figure and met / missed (the plain step's ratios as context)."""
    def verdict(value, target):
        return f"{'met' if value >= target else 'MISSED'} (target ≥ {target:g})"

    lines = []
    for base_job, name in (("plain", "the plain step"), ("pix2pix", "pix2pix's train.py")):
        for job, target in SPEEDUP_TARGETS.items():
            base, ours = rows.get(base_job), rows.get(job)
            if base and ours:
                speedup = base["sec"] / ours["sec"]
                precision = "bf16" if job.endswith("bf16") else args.precision
                lines.append(f"{args.train_size}² batch {args.train_batch} training, {precision}: {speedup:.3f}× "
                             f"{name} ({base_job} in fp32)" + (f" — {verdict(speedup, target)}"
                                                              if base_job == "pix2pix" else ""))
    for job, name in (("ours:128", f"training 128² batch {args.train_batch}"),
                      ("quickstart", "training, quickstart setting"),
                      ("quickstart::bf16", "training, quickstart setting, bf16"), ("infer:128", "G forward 128²")):
        if rows.get(job):
            lines.append(f"{name}: {rows[job]['pct']:.0f}% of the peak — {verdict(rows[job]['pct'], PEAK_TARGET)}")
    if rows.get("colorize"):
        row = rows["colorize"]
        lines.append(f"colorize folder: {row['of_bare']:.0f}% of the bare G-forward rate — "
                     f"{verdict(row['of_bare'], FOLDER_TARGET)}; {row['extra']}")
    return lines

if __name__ == "__main__":
    sys.exit(main())
