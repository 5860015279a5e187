"""The blur table: L2/L1 baselines against GAN losses on the bimodal set and on photos, via `pix2gan compare`.

    python tools/bench_blur.py --out runs/blur            # both sets, about 40 min on 2 CPU cores
    python tools/bench_blur.py --sets bimodal --steps 300  # a quick look

Every variant is trained with the same seed, split, architecture and step count, then evaluated on the same
held-out crops. Prints one markdown table per set. Finished runs in OUT are reused, unfinished ones resume.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from pix2gan.compare import compare, compare_config, markdown_table

SETS = {"bimodal": "builtin:bimodal-colors", "photos": "builtin:photos"}
COLUMNS = ["psnr", "ssim", "sharpness_diff", "grad_mag_ratio", "hf_fraction_ratio", "colourfulness_ratio",
           "chroma_ratio", "hue_hit_rate", "shape_chroma_ratio"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/blur"))
    p.add_argument("--sets", default="bimodal,photos")
    p.add_argument("--variants", default="l2,l1,l1+nonsaturating,l1+lsgan,l1+hinge,l1+wgan-gp")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--width", type=int, default=32, help="ngf = ndf")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    depth = max(2, (args.size - 1).bit_length())
    print(f"# {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; {args.size} px, "
          f"batch {args.batch_size}, width {args.width}, depth {depth}, {args.steps} steps, λ=100, seed 0, "
          f"holdout 0.2, 64 held-out crops", flush=True)
    for name in args.sets.split(","):
        base = compare_config(data=SETS[name], steps=args.steps, size=args.size, batch_size=args.batch_size,
                              ngf=args.width, ndf=args.width, depth=depth, device=args.device)
        t0 = time.perf_counter()
        results, _ = compare(base, args.variants, args.out / name, progress=not args.quiet,
                             title=f"blur benchmark: {SETS[name]}")
        print(f"\n{SETS[name]} ({time.perf_counter() - t0:.0f} s; report {args.out / name / 'index.html'})\n")
        print(markdown_table(results, COLUMNS), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
