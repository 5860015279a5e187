"""Train the default colorizer shipped in pix2gan/weights/, and its L2 twin for the model card.

    python tools/train_default_colorizer.py --out runs/default_colorizer

Data (all offline, listed when it runs): scikit-image's colour photos, matplotlib's grace_hopper.jpg, scikit-learn's
china.jpg and flower.jpg when scikit-learn is installed, and the nature photos of Debian's mate-backgrounds package
(/usr/share/backgrounds/mate/nature) when it is installed. Missing sources are named, and the model card records
what was used. Whole photos are held out (seeded) for the card's metrics.

Two runs with identical settings except the loss: L1 (λ=100) + non-saturating GAN (shipped) and L2 alone (the
baseline). Both are evaluated on the same held-out crops; the shipped file is the GAN generator in fp16.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pix2gan.batch import save_image_atomic
from pix2gan.checkpoint import atomic_write_bytes, load_checkpoint
from pix2gan.compare import evaluate_runs, parse_variant, train_variants
from pix2gan.config import TrainConfig

WEIGHTS = Path(__file__).resolve().parent.parent / "pix2gan" / "weights" / "default_colorizer.pt"


def gather_photos() -> tuple[list[tuple[str, Image.Image]], list[str]]:
    """(name, image) for every offline photo found, and a note per source that was missing."""

    from pix2gan.data.photos import skimage_photos

    photos = [(f"skimage_{n}", Image.fromarray(a)) for n, a in skimage_photos()]
    missing = []
    try:
        import matplotlib

        photos.append(("matplotlib_grace_hopper",
                       Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")))
    except (ImportError, OSError):
        missing.append("matplotlib's grace_hopper.jpg (matplotlib not installed)")
    try:
        import sklearn.datasets

        folder = Path(sklearn.datasets.__file__).parent / "images"
        photos += [(f"sklearn_{p.stem}", Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.jpg"))]
    except ImportError:
        missing.append("scikit-learn's china.jpg and flower.jpg (pip install scikit-learn)")
    mate = Path("/usr/share/backgrounds/mate/nature")
    if mate.is_dir():
        photos += [(f"mate_{p.stem}", Image.open(p).convert("RGB")) for p in sorted(mate.glob("*.jpg"))]
    else:
        missing.append("Debian's mate-backgrounds nature photos (apt-get install mate-backgrounds)")
    return photos, missing


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/default_colorizer"))
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--holdout", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-install", action="store_true", help="train and measure, but do not write the weights")
    args = p.parse_args()

    photos, missing = gather_photos()
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(photos))
    n_val = max(1, round(args.holdout * len(photos)))
    val = {photos[i][0] for i in order[:n_val]}
    for name, img in photos:  # stored once at a working scale (short side 256)
        s = 256 / min(img.size)
        small = img.resize((round(img.width * s), round(img.height * s)), Image.LANCZOS)
        save_image_atomic(small, args.out / "data" / ("val" if name in val else "train") / f"{name}.png")
    print(f"# {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"train photos ({len(photos) - n_val}): {', '.join(n for n, _ in photos if n not in val)}")
    print(f"held-out photos ({n_val}): {', '.join(sorted(val))}")
    for m in missing:
        print(f"not found, not used: {m}")

    base = TrainConfig(data=str(args.out / "data" / "train"), size=64, load_scale=1.5, batch_size=16, ngf=32,
                       ndf=32, depth=6, steps=args.steps, seed=args.seed, device="cpu", sample_every=500,
                       checkpoint_every=500)
    print(f"config: {json_config(base)}", flush=True)
    t0 = time.perf_counter()
    runs = train_variants(base, [parse_variant("l1+nonsaturating"), parse_variant("l2")], args.out / "compare")
    minutes = (time.perf_counter() - t0) / 60
    results = evaluate_runs(runs, str(args.out / "data" / "val"), 128)
    keys = ["psnr", "ssim", "colourfulness_ratio", "chroma_ratio", "grad_mag_ratio", "sharpness_diff"]
    print(f"\ntrained 2 × {args.steps} steps in {minutes:.1f} min; metrics on 128 held-out 64 px crops:\n")
    print("| model | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for label, r in results.items():
        print(f"| {label} | " + " | ".join(f"{r.metrics[k]:.3f}" for k in keys) + " |")

    state = load_checkpoint(runs["l1+nonsaturating"] / "checkpoint.pt")
    shipped = {"format": state["format"], "version": state["version"], "config": state["config"],
               "step": state["step"], "G": {k: v.half() if v.is_floating_point() else v for k, v in state["G"].items()}}
    buf = io.BytesIO()
    torch.save(shipped, buf)
    if not args.no_install:
        atomic_write_bytes(WEIGHTS, buf.getvalue())
        print(f"\nwrote {WEIGHTS} ({len(buf.getvalue()) / 2**20:.1f} MiB, fp16)")
    return 0


def json_config(cfg: TrainConfig) -> str:
    keep = ("size", "load_scale", "batch_size", "ngf", "ndf", "depth", "steps", "seed", "gan_loss", "recon",
            "recon_weight")
    return ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(cfg).items() if k in keep)


if __name__ == "__main__":
    sys.exit(main())
