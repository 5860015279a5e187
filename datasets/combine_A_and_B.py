"""Combine two folders of paired images into pix2pix-style aligned images (A|B side by side).

    python datasets/combine_A_and_B.py --a path/A --b path/B --out path/AB

Files pair by relative path without extension (A/x/1.jpg with B/x/1.png); unpaired files are listed and skipped; a B
whose size differs from its A is resized to A's size. Outputs are PNG, named like A's files; nothing is overwritten
unless --overwrite.
"""

import argparse
import sys
from pathlib import Path

from PIL import Image

from pix2gan.files import save_image_atomic
from pix2gan.data.images import read_image, to_rgb_uint8
from pix2gan.data.paired import pair_folders
from pix2gan.errors import Pix2GanError


def combine(a: Image.Image, b: Image.Image) -> Image.Image:
    a, b = Image.fromarray(to_rgb_uint8(a)), Image.fromarray(to_rgb_uint8(b))
    if b.size != a.size:
        b = b.resize(a.size, Image.BICUBIC)
    out = Image.new("RGB", (a.width * 2, a.height))
    out.paste(a, (0, 0))
    out.paste(b, (a.width, 0))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", type=Path, required=True, help="folder of A images")
    p.add_argument("--b", type=Path, required=True, help="folder of B images")
    p.add_argument("--out", type=Path, required=True, help="folder for the aligned images")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args()
    try:
        written = 0
        for a, b in pair_folders(args.a, args.b):
            dst = args.out / a.relative_to(args.a).with_suffix(".png")
            if dst.exists() and not args.overwrite:
                continue
            save_image_atomic(combine(read_image(a), read_image(b)), dst)
            written += 1
        print(f"wrote {written} aligned image(s) to {args.out}")
    except Pix2GanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
