"""Turn any folder of colour photos into train/ and val/ tiles for colorization, split by source photo.

    python datasets/make_colorization_set.py PHOTOS OUT --tile 256 --val 0.2

Each photo is scaled so its short side is --scale (default: the tile size), then cut into non-overlapping
--tile × --tile tiles. Whole photos go to val/ (a --val fraction, chosen with --seed), so no photo has tiles in both
splits. Gray photos are skipped (nothing to learn). Unreadable files are reported and skipped.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from pix2gan.files import save_image_atomic
from pix2gan.data.images import list_images, read_image, to_rgb_uint8
from pix2gan.errors import Pix2GanError


def tiles(img: Image.Image, tile: int, scale: int):
    w, h = img.size
    s = scale / min(w, h)
    img = img.resize((max(tile, round(w * s)), max(tile, round(h * s))), Image.BICUBIC)
    for top in range(0, img.height - tile + 1, tile):
        for left in range(0, img.width - tile + 1, tile):
            yield top, left, img.crop((left, top, left + tile, top + tile))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photos", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--scale", type=int, default=None, help="short side before tiling (default: --tile)")
    p.add_argument("--val", type=float, default=0.2, help="fraction of photos for val/ (default 0.2)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    paths = list_images(args.photos)
    if not paths:
        print(f"error: {args.photos}: no images found", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(paths))
    n_val = min(len(paths) - 1, max(1, round(args.val * len(paths)))) if args.val > 0 and len(paths) > 1 else 0
    val = {paths[i] for i in order[:n_val]}
    counts = {"train": 0, "val": 0}
    for path in paths:
        try:
            rgb = to_rgb_uint8(read_image(path))
        except Pix2GanError as e:
            print(f"error: {e}", file=sys.stderr)
            continue
        if np.ptp(rgb.astype(int) - rgb.mean(axis=2, keepdims=True).astype(int)) < 4:
            print(f"skipped {path}: gray", file=sys.stderr)
            continue
        split = "val" if path in val else "train"
        stem = path.relative_to(args.photos).with_suffix("").as_posix().replace("/", "__")
        for top, left, t in tiles(Image.fromarray(rgb), args.tile, args.scale or args.tile):
            save_image_atomic(t, args.out / split / f"{stem}__{top}_{left}.png")
            counts[split] += 1
    print(f"{args.out}: {counts['train']} train tiles, {counts['val']} val tiles from {len(paths)} photos "
          f"({len(val)} held out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
