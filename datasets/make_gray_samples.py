"""Write scikit-image's bundled grayscale photos as PNG files, to try `pix2gan colorize` with no download.

    python datasets/make_gray_samples.py samples/gray
"""

import argparse
from pathlib import Path

import skimage.data
from PIL import Image

NAMES = ["camera", "coins", "moon", "clock", "grass", "gravel", "brick", "page", "text"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="folder to write NAME.png files into (created)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        path = args.out / f"{name}.png"
        Image.fromarray(getattr(skimage.data, name)()).save(path)
        print(path)


if __name__ == "__main__":
    main()
