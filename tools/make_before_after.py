"""Put an input and its colorized output side by side in one PNG (for docs and reports).

    python tools/make_before_after.py samples/gray/camera.png samples/color/camera.png docs/camera_before_after.png
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid, save_image


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--width", type=int, default=384, help="width of each panel (default 384)")
    args = p.parse_args()
    panels = []
    for path in (args.before, args.after):
        img = Image.open(path).convert("RGB")
        img = img.resize((args.width, round(img.height * args.width / img.width)), Image.LANCZOS)
        panels.append(torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_image(make_grid(torch.stack(panels), nrow=2, padding=4, pad_value=1.0), args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
