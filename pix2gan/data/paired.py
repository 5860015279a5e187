"""Paired A → B data: pix2pix-style aligned images (A|B side by side) or two folders ``A/`` and ``B/``.

Rules, so nothing is silently misaligned:
- aligned images are split at ⌊width / 2⌋: A is the left ⌊w/2⌋ columns, B the right ⌊w/2⌋ (an odd width drops the
  middle column);
- with ``A/`` and ``B/``, files pair by relative path without the extension (``A/x/1.jpg`` ↔ ``B/x/1.png``); a file
  without a partner is skipped with a warning naming it (an error if nothing pairs), and a B whose size differs from
  its A is resized to A's size (bicubic).

Pairs are decoded when drawn (:class:`PairedSource`); an unreadable pair is reported and replaced while training.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import Tensor
from PIL import Image

from pix2gan.data.images import list_images, read_image, to_rgb_uint8
from pix2gan.data.photos import scale_short_side, to_chw
from pix2gan.data.source import Source
from pix2gan.errors import Pix2GanError


def _channels(img: Image.Image, channels: int) -> Image.Image:
    """Any mode → 8-bit RGB (channels 3) or L (channels 1)."""
    rgb = Image.fromarray(to_rgb_uint8(img))
    return rgb.convert("L") if channels == 1 else rgb


def split_aligned(img: Image.Image) -> tuple[Image.Image, Image.Image]:
    """An A|B image → (A, B), each ⌊w/2⌋ wide."""
    w, h = img.size
    half = w // 2
    if half < 1:
        raise Pix2GanError(f"an aligned A|B image must be at least 2 pixels wide, got {w}")
    return img.crop((0, 0, half, h)), img.crop((w - half, 0, w, h))


def pair_folders(a_dir: Path, b_dir: Path) -> list[tuple[Path, Path]]:
    """(A, B) file pairs from two folders, by relative path without extension."""
    key = lambda p, base: p.relative_to(base).with_suffix("").as_posix()  # noqa: E731
    a = {key(p, a_dir): p for p in list_images(a_dir)}
    b = {key(p, b_dir): p for p in list_images(b_dir)}
    lonely = sorted(set(a) ^ set(b))
    if lonely:
        shown = ", ".join((a.get(k) or b.get(k)).as_posix() for k in lonely[:3])
        print(f"warning: {len(lonely)} file(s) without a partner skipped: {shown}{' ...' if len(lonely) > 3 else ''}",
              file=sys.stderr)
    pairs = [(a[k], b[k]) for k in sorted(set(a) & set(b))]
    if not pairs:
        raise Pix2GanError(f"{a_dir}, {b_dir}: no pairs (files pair by relative path without extension)")
    return pairs


class PairedSource(Source):
    """Pairs decoded when read: the input's channels then the target's, ``(Cin + Cout, H, W)`` uint8 with short side
    ``load_size``, so crops and flips are shared by both sides. ``direction`` "BtoA" makes B the input.

    ``items`` are ``(A path, B path)`` for two folders or ``(A|B path, None)`` for aligned images, relative to
    ``root``."""

    def __init__(self, root: Path, items: list[tuple[str, str | None]], load_size: int, in_channels: int,
                 out_channels: int, direction: str):
        self.root, self.items, self.load_size = root, items, load_size
        self.channels, self.direction = (in_channels, out_channels), direction
        self.names = [a for a, _ in items]

    def read(self, i: int, gen: torch.Generator | None = None) -> Tensor:
        a_name, b_name = self.items[i]
        if b_name is None:
            a, b = split_aligned(read_image(self.root / a_name))
        else:
            a, b = read_image(self.root / a_name), read_image(self.root / b_name)
        if self.direction == "BtoA":
            a, b = b, a
        if b.size != a.size:
            b = b.resize(a.size, Image.BICUBIC)
        a = scale_short_side(_channels(a, self.channels[0]), self.load_size)
        b = scale_short_side(_channels(b, self.channels[1]), self.load_size)
        return torch.cat([to_chw(a), to_chw(b)])


def open_paired(spec: str, load_size: int, in_channels: int, out_channels: int, direction: str) -> PairedSource:
    """A :class:`PairedSource` from a folder of aligned A|B images or a folder holding ``A/`` and ``B/``."""
    root = Path(spec)
    if not root.is_dir():
        raise Pix2GanError(f"{spec}: not a folder (give a folder of aligned A|B images, or one holding A/ and B/)")
    if (root / "A").is_dir() and (root / "B").is_dir():
        items = [(a.relative_to(root).as_posix(), b.relative_to(root).as_posix())
                 for a, b in pair_folders(root / "A", root / "B")]
    else:
        items = [(p.relative_to(root).as_posix(), None) for p in list_images(root)]
        if not items:
            raise Pix2GanError(f"{root}: no images found")
    return PairedSource(root, items, load_size, in_channels, out_channels, direction)
