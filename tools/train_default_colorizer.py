"""Train the default colorizer shipped in pix2gan/weights/ and its L2 twin, measure both on held-out *sources*, and
write the model card (docs/default_colorizer.md).

    python tools/train_default_colorizer.py --previous prev.pt       # prev.pt: the bundled file this one replaces
    python tools/train_default_colorizer.py --evaluate-only ...      # the card again from the trained runs

Data (all offline; the tool lists what it found and what it left out, and why): scikit-image's scene photos,
matplotlib's grace_hopper.jpg, scikit-learn's china.jpg and flower.jpg, and the photographs (not the illustrations)
in Debian's mate-backgrounds, palapeli-data, lomiri-wallpapers-20.04 and ukui-wallpapers packages. Whole sources are
held out (default: palapeli-data and scikit-learn): no photo of a held-out source is trained on, and every choice —
which checkpoint (best.pt by held-out PSNR), EMA or not, the default ``--strength`` — is made on them alone.

Training photos are cut into many crops at several scales (seeded), so a few dozen photos give ~50 views each, from
the whole scene down to a quarter of it.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pix2gan.batch import save_image_atomic
from pix2gan.checkpoint import atomic_write_bytes, load_checkpoint
from pix2gan.compare import parse_variant, train_variants
from pix2gan.config import TrainConfig
from pix2gan.data.photos import is_gray, skimage_photos, to_chw

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "pix2gan" / "weights" / "default_colorizer.pt"
CARD = ROOT / "docs" / "default_colorizer.md"


@dataclass
class Photo:
    source: str
    name: str
    path: str           # where it came from (a file, or a package function)
    image: Image.Image | None = None
    skipped: str = ""   # why it is not used ("" when used)


#: Files of the Debian packages that are illustrations, renders or textures, not photographs (looked at one by one).
NOT_PHOTOS = {
    "Fossa_by_Jasper_Roks.jpg": "illustration", "Painting-Colors_by__herobrine7gamer.jpg": "illustration",
    "2004default.jpg": "3-D render", "firstgeneration.jpg": "illustration", "rhythm.jpg": "3-D render",
    "string.jpg": "3-D render", "the-mouse.jpg": "illustration", "calla.png": "illustration",
    "city.png": "illustration", "desert.png": "illustration", "fluent-color.png": "illustration",
    "focal-ubuntukylin.png": "illustration", "goldfish.png": "illustration", "rollpaper.png": "illustration",
}
PACKAGES = {  # source name → (folder, file pattern, the package that installs it)
    "mate-backgrounds": ("/usr/share/backgrounds/mate/nature", "*.jpg", "mate-backgrounds"),
    "palapeli-data": ("/usr/share/palapeli/collection", "*.jpg", "palapeli-data"),
    "lomiri-wallpapers": ("/usr/share/backgrounds", "*_by_*.jpg", "lomiri-wallpapers-20.04"),
    "ukui-wallpapers": ("/usr/share/backgrounds", "*", "ukui-wallpapers"),
}
UKUI = {"2004default.jpg", "firstgeneration.jpg", "rhythm.jpg", "string.jpg", "the-mouse.jpg", "calla.png",
        "city.png", "desert.png", "fluent-color.png", "focal-ubuntukylin.png", "goldfish.png", "rollpaper.png"}
#: scikit-image's images that are scientific imaging rather than photographs of a scene.
SCIENTIFIC = {"hubble_deep_field": "astronomy image", "retina": "fundus photograph (medical)",
              "immunohistochemistry": "microscope slide"}


def gather_photos() -> tuple[list[Photo], list[str]]:
    """Every offline photo found (with a reason when it is left out), and a line per source that is missing."""
    photos, missing = [], []
    for name, arr in skimage_photos():
        photos.append(Photo("scikit-image", name, f"skimage.data.{name}", Image.fromarray(arr[..., :3]),
                            SCIENTIFIC.get(name, "")))
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        photos.append(Photo("matplotlib", "grace_hopper", str(path), Image.open(path).convert("RGB")))
    except (ImportError, OSError):
        missing.append("matplotlib's grace_hopper.jpg (matplotlib not installed)")
    try:
        import sklearn.datasets

        for p in sorted((Path(sklearn.datasets.__file__).parent / "images").glob("*.jpg")):
            photos.append(Photo("scikit-learn", p.stem, str(p), Image.open(p).convert("RGB")))
    except ImportError:
        missing.append("scikit-learn's china.jpg and flower.jpg (pip install scikit-learn)")
    for source, (folder, pattern, package) in PACKAGES.items():
        files = sorted(Path(folder).glob(pattern))
        if source == "ukui-wallpapers":
            files = [f for f in files if f.name in UKUI]
        if not files:
            missing.append(f"Debian's {package} (apt-get install {package})")
        for f in files:
            reason = NOT_PHOTOS.get(f.name, "")
            photos.append(Photo(source, f.stem, str(f), None if reason else Image.open(f).convert("RGB"), reason))
    for p in photos:
        if p.image is not None and not p.skipped and is_gray(to_chw(shrink(p.image, 128))):
            p.skipped = "gray photo"
    return photos, missing


def shrink(img: Image.Image, short: int) -> Image.Image:
    """``img`` with short side ``short`` (Lanczos)."""
    s = short / min(img.size)
    return img.resize((max(short, round(img.width * s)), max(short, round(img.height * s))), Image.LANCZOS)


def write_crops(img: Image.Image, stem: str, folder: Path, rng: np.random.Generator, tile: int,
                scales: tuple[float, ...], per_scale: int) -> int:
    """``per_scale`` random ``tile``² crops of ``img`` scaled to short side ``tile × s`` for each s: views of the
    whole scene (s = 1) down to 1/s of it. Returns the number written."""
    n = 0
    for s in scales:
        big = shrink(img, round(tile * s))
        for k in range(per_scale if s > 1 else 2):
            x = int(rng.integers(0, big.width - tile + 1))
            y = int(rng.integers(0, big.height - tile + 1))
            save_image_atomic(big.crop((x, y, x + tile, y + tile)), folder / f"{stem}_s{s:g}_{k}.png")
            n += 1
    return n


def recipe(args, data: Path, val: Path) -> tuple[TrainConfig, TrainConfig]:
    """The shipped model's configuration and its L2 twin's (same data, seed, nets, steps and schedule)."""
    gan = TrainConfig(
        data=str(data), size=args.size, load_scale=1.25, batch_size=args.batch, ngf=32, ndf=32, depth=6,
        steps=args.steps, seed=args.seed, device=args.device,
        recon_weight=100.0, adv_weight=1.0,
        pretrain_g_steps=args.steps // 6, pretrain_d_steps=args.steps // 30,  # NoGAN warm-up
        lr_schedule="linear", lr_decay_start=args.steps // 2, ema_half_life=250 * args.batch,
        d_augment="translation,cutout", val_data=str(val), val_every=250, val_count=96, val_metric="psnr",
        sample_every=500, checkpoint_every=250, log_every=10)
    l2 = dataclasses.replace(gan, pretrain_g_steps=0, pretrain_d_steps=0, d_augment="")
    return gan, l2


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/default_colorizer"))
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--size", type=int, default=128, help="training crop (default 128)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--holdout-sources", default="palapeli-data,scikit-learn",
                   help="comma-separated sources held out whole (default palapeli-data,scikit-learn)")
    p.add_argument("--previous", type=Path, help="the bundled model this one replaces, for the card's table")
    p.add_argument("--evaluate-only", action="store_true", help="measure the runs already trained in --out")
    p.add_argument("--no-install", action="store_true", help="train and measure, but write neither weights nor card")
    args = p.parse_args()

    held_sources = set(args.holdout_sources.split(","))
    photos, missing = gather_photos()
    used = [ph for ph in photos if not ph.skipped]
    train = [ph for ph in used if ph.source not in held_sources]
    held = [ph for ph in used if ph.source in held_sources]
    data, val = args.out / "data" / "train", args.out / "data" / "heldout"
    print(f"# {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    listing = data_listing(photos, missing, held_sources)
    print(listing)
    rng = np.random.default_rng(args.seed)
    if not args.evaluate_only:
        n = sum(write_crops(ph.image, f"{ph.source}_{ph.name}", data, rng, round(args.size * 1.25),
                            (1.0, 1.6, 2.4, 3.6), 12) for ph in train)
        for ph in held:  # whole photos at short side 256, for validation crops and the card's measurements
            save_image_atomic(shrink(ph.image, 256), val / f"{ph.source}_{ph.name}.png")
        print(f"{n} training crops of {len(train)} photos; {len(held)} held-out photos")
    gan, l2 = recipe(args, data, val)
    print(f"recipe: {json.dumps({k: v for k, v in dataclasses.asdict(gan).items() if v not in ('', None)})}",
          flush=True)
    minutes = {}
    for label, cfg in (("l1+nonsaturating", gan), ("l2", l2)):
        t0 = time.perf_counter()
        train_variants(cfg, [parse_variant(label)], args.out / "compare", progress=not args.evaluate_only)
        minutes[label] = (time.perf_counter() - t0) / 60
    if not args.evaluate_only:
        (args.out / "minutes.json").write_text(json.dumps(minutes))
    return 0


def data_listing(photos: list[Photo], missing: list[str], held_sources: set[str]) -> str:
    """The card's data section: per source, the photos used (train or held out) and those left out with why."""
    lines = []
    for source in dict.fromkeys(ph.source for ph in photos):
        mine = [ph for ph in photos if ph.source == source]
        used = [ph.name for ph in mine if not ph.skipped]
        role = "**held out**" if source in held_sources else "trained on"
        line = f"- {source} ({role}): {len(used)} photo{'s' * (len(used) != 1)}"
        line += f" — {', '.join(used)}" if used else ""
        left = [f"{ph.name} ({ph.skipped})" for ph in mine if ph.skipped]
        lines.append(line + (f"; left out: {', '.join(left)}" if left else ""))
    lines += [f"- not found, not used: {m}" for m in missing]
    return "\n".join(lines)


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
        flags = next((line for line in out.splitlines() if line.startswith("Flags")), "")
        extra = [f for f in ("avx512f", "amx_bf16") if f" {f}" in flags]
        return f"{model} ({', '.join(extra) or 'no AVX-512'})"
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
