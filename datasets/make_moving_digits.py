"""Write Moving-MNIST-style sequences as a .npy array in the (T, N, H, W) uint8 layout (no download).

    python datasets/make_moving_digits.py digits.npy --count 1000
    python datasets/make_moving_digits.py digits_stochastic.npy --stochastic

Digits are drawn with PIL's bundled font; 2 digits bounce in 64×64 frames, overlapping by maximum. --stochastic lets
each digit turn to a random direction at random times (a multimodal next frame). The same sets are available to
training without a file as builtin:moving-digits and builtin:moving-digits-stochastic (500 sequences each).
"""

import argparse
import io
from pathlib import Path

import numpy as np

from pix2gan.files import atomic_write_bytes
from pix2gan.data.moving_digits import make_moving_digits


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="output .npy file")
    p.add_argument("--count", type=int, default=1000, help="sequences (default 1000)")
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--digits", type=int, default=2)
    p.add_argument("--stochastic", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    arr = make_moving_digits(args.count, args.frames, args.size, args.digits, args.seed, args.stochastic)
    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(args.out, buf.getvalue())
    print(f"{args.out}: {arr.shape} uint8 (T, N, H, W)")


if __name__ == "__main__":
    main()
