"""One-step next-frame quality on held-out moving digits: L2-only vs L1+non-saturating GAN vs copying the last frame.

    python tools/bench_nextframe.py --out runs/nextframe            # about 25 min on 2 CPU cores
    python tools/bench_nextframe.py --steps 200 --sets deterministic  # a quick look

Each variant trains with the same seed, split, architecture and steps on builtin:moving-digits (and its stochastic
twin), then predicts one frame for 64 fixed held-out windows. PSNR/SSIM reward the mean (the blur); the sharpness
figures (gradient-magnitude ratio, sharpness difference) show what the mean costs.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch
from torch import nn

from pix2gan.compare import compare, compare_config, markdown_table

SETS = {"deterministic": "builtin:moving-digits", "stochastic": "builtin:moving-digits-stochastic"}
COLUMNS = ["psnr", "ssim", "sharpness_diff", "grad_mag_ratio", "laplacian_var_ratio", "hf_fraction_ratio"]


class CopyLast(nn.Module):
    """The baseline every predictor must beat: the next frame equals the last one."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, cond):
        return cond[:, -self.channels:]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/nextframe"))
    p.add_argument("--sets", default="deterministic,stochastic")
    p.add_argument("--variants", default="l2,l1+nonsaturating")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    print(f"# {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; 64 px, context 4, "
          f"batch {args.batch_size}, width {args.width}, depth 6, {args.steps} steps, λ=100, seed 0, holdout 0.1, "
          f"64 held-out windows", flush=True)
    for name in args.sets.split(","):
        base = compare_config(task="nextframe", data=SETS[name], size=64, context=4, steps=args.steps,
                              batch_size=args.batch_size, ngf=args.width, ndf=args.width, depth=6, holdout=0.1,
                              device=args.device)
        t0 = time.perf_counter()
        results, _ = compare(base, args.variants, args.out / name, progress=not args.quiet,
                             title=f"next frame: {SETS[name]}", baselines={"copy last frame": CopyLast(1)})
        print(f"\n{SETS[name]} ({time.perf_counter() - t0:.0f} s; report {args.out / name / 'index.html'})\n")
        print(markdown_table(results, COLUMNS, "predictor"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
