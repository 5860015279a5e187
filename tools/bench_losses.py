"""Train every GAN loss for the same number of steps and print D/G losses and seconds per step as a table.

    python tools/bench_losses.py --steps 200 --size 32

Each loss runs with its own preset (see `pix2gan losses`), the same seed, data and architecture. Losses are averaged
over the last 20 steps. Seconds per step count one generator update, including the loss's critic steps (5 for wgan
and wgan-gp). Runs go to a temporary folder unless --out is given.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from pix2gan.config import TrainConfig
from pix2gan.losses import GAN_LOSSES
from pix2gan.train import Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="builtin:photos")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--width", type=int, default=32, help="ngf = ndf")
    p.add_argument("--losses", default=",".join(GAN_LOSSES), help="comma-separated names")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    depth = max(2, (args.size - 1).bit_length())  # bottleneck at 1×1
    out = args.out or Path(tempfile.mkdtemp(prefix="pix2gan-losses-"))
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}; {args.data}, {args.size} px, batch {args.batch_size}, width {args.width}, "
          f"depth {depth}, {args.steps} steps, seed 0", flush=True)
    print("| loss | D loss | G adv | G L1 | s/step |")
    print("|---|---|---|---|---|")
    for name in args.losses.split(","):
        cfg = TrainConfig(data=args.data, gan_loss=name, size=args.size, batch_size=args.batch_size,
                          ngf=args.width, ndf=args.width, depth=depth, steps=args.steps, device=args.device,
                          sample_every=10**9, checkpoint_every=10**9, log_every=10**9)
        trainer = Trainer(cfg, out / name, progress=False)
        history, t0 = [], time.perf_counter()
        while trainer.step < cfg.steps:
            history.append(trainer.train_step())
        sec = (time.perf_counter() - t0) / cfg.steps
        last = history[-20:]
        mean = {k: sum(h[k] for h in last) / len(last) for k in ("d_loss", "g_adv", "g_recon")}
        print(f"| {name} | {mean['d_loss']:.3f} | {mean['g_adv']:.3f} | {mean['g_recon']:.4f} | {sec:.3f} |",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
