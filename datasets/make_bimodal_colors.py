"""Write the bimodal colour set as PNG files: shapes of one of two equal-lightness opposite hues on textured gray.

    python datasets/make_bimodal_colors.py bimodal/ --count 2000 --size 40

Draw them at the size training will use (--size × --load-scale: 40 for --size 32 with --load-scale 1.25) and train
on them as they are: resampling mixes each hue with the gray around it into different lightness, a clue in the
gray input along every edge.

The same images train without files as builtin:bimodal-colors. An L2 colorizer must paint the shapes gray (the two
hues average to gray); a learned loss must pick one.
"""

import argparse
from pathlib import Path

from PIL import Image

from pix2gan.files import save_image_atomic
from pix2gan.data.bimodal import make_bimodal_colors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    for name, arr in make_bimodal_colors(args.count, args.size, args.seed):
        save_image_atomic(Image.fromarray(arr), args.out / f"{name}.png")
    print(f"wrote {args.count} images to {args.out}")


if __name__ == "__main__":
    main()
