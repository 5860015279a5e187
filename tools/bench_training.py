"""Which training features help: the same colorizer trained as a baseline and with each feature, then all of them.

Data: scikit-image's photos plus every other offline photo found (matplotlib's grace_hopper, scikit-learn's china and
flower, Debian mate-backgrounds' nature photos when installed), stored once at short side 256; a quarter of the
photos held out by a hash of their names. Every variant has the same seed, steps, architecture and data; each is
evaluated on the same 128 held-out crops with its raw generator and, when it has one, its EMA generator.

    python tools/bench_training.py --out runs/features            # 600 steps each, about 15 minutes on 2 cores
    python tools/bench_training.py --out runs/features --steps 100   # a quick look
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from pathlib import Path

import torch
from PIL import Image


from pix2gan.files import save_image_atomic
from pix2gan.compare import evaluate_runs
from pix2gan.config import TrainConfig
from pix2gan.train import Trainer
from common import gather_photos  # tools/common.py

COLUMNS = ["psnr", "ssim", "colourfulness_ratio", "chroma_ratio"]


def variants(steps: int) -> dict[str, dict]:
    decay = dict(lr_schedule="linear", lr_decay_start=steps // 2)
    ema = dict(ema_half_life=5000.0)
    augment = dict(d_augment="translation,cutout")
    warmup = dict(pretrain_g_steps=steps // 5, pretrain_d_steps=steps // 20)
    return {"baseline": {}, "+ linear decay": decay, "+ EMA": ema, "+ d-augment translation,cutout": augment,
            "+ warm-up phases": warmup, "all": {**decay, **ema, **augment, **warmup}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/features"))
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()

    photos, missing = gather_photos()
    data = args.out / "data"
    for name, img in photos:  # stored once at a working scale (short side 256)
        path = data / f"{name}.png"
        if not path.exists():
            s = 256 / min(img.size)
            save_image_atomic(img.resize((round(img.width * s), round(img.height * s)), Image.LANCZOS), path)
    base = TrainConfig(data=str(data), size=64, load_scale=1.5, batch_size=16, ngf=32, ndf=32, depth=6,
                       steps=args.steps, seed=0, holdout=0.25, device="cpu", workers=0, sample_every=10**9,
                       checkpoint_every=max(1, args.steps // 4))
    print(f"# {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"{len(photos)} photos ({'missing: ' + ', '.join(missing) if missing else 'every source found'}), "
          f"25% held out by name "
          f"hash; 64 px crops at short side 96, batch 16, U-Net depth 6 / width 32, L1 (λ = 100) + "
          f"non-saturating, {args.steps} steps, seed 0; 128 held-out crops", flush=True)
    rows = []
    for label, extra in variants(args.steps).items():
        cfg = dataclasses.replace(base, **extra)
        run = args.out / "runs" / label.replace(" ", "_").replace("+", "plus").replace(",", "_")
        t0 = time.perf_counter()
        if (run / "checkpoint.pt").exists():
            trainer = Trainer.resume(run, {"steps": cfg.steps}, progress=not args.quiet)
        else:
            trainer = Trainer(cfg, run, progress=not args.quiet)
        trainer.fit()
        minutes = (time.perf_counter() - t0) / 60
        for which, ema in (("raw G", False), ("EMA G", True)):
            if ema and cfg.ema_half_life <= 0:
                continue
            m = evaluate_runs({label: run}, None, 128, "cpu", ema=ema)[label].metrics
            rows.append((label, which, m))
            print(f"[{label}, {which}] " + ", ".join(f"{c} {m[c]:.3f}" for c in COLUMNS) + f" ({minutes:.1f} min)",
                  flush=True)
    print("\n| variant | generator | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for label, which, m in rows:
        print(f"| {label} | {which} | " + " | ".join(f"{m[c]:.3f}" for c in COLUMNS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
