"""Paired A → B data: pix2pix-style aligned images (A|B side by side) or two folders ``A/`` and ``B/``.

Rules, so nothing is silently misaligned:
- aligned images are split at ⌊width / 2⌋: A is the left ⌊w/2⌋ columns, B the right ⌊w/2⌋ (an odd width drops the
  middle column);
- with ``A/`` and ``B/``, files pair by relative path without the extension (``A/x/1.jpg`` ↔ ``B/x/1.png``); a file
  without a partner is skipped with a warning naming it (an error if nothing pairs), and a B whose size differs from
  its A is resized to A's size (bicubic), with a warning counting them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pix2gan.data.images import list_images, read_image, to_rgb_uint8
from pix2gan.data.photos import PhotoSet, scale_short_side
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


def open_paired(spec: str, load_size: int, in_channels: int, out_channels: int, direction: str) -> PhotoSet:
    """A :class:`PhotoSet` whose images hold the input's channels then the target's, ``(Cin + Cout, H, W)`` uint8,
    so crops and flips are shared by both sides. ``direction`` "BtoA" makes B the input."""
    root = Path(spec)
    if not root.is_dir():
        raise Pix2GanError(f"{spec}: not a folder (give a folder of aligned A|B images, or one holding A/ and B/)")
    if (root / "A").is_dir() and (root / "B").is_dir():
        sources = [(lambda a=a, b=b: (read_image(a), read_image(b)), f"{a.relative_to(root)}")
                   for a, b in pair_folders(root / "A", root / "B")]
    else:
        paths = list_images(root)
        if not paths:
            raise Pix2GanError(f"{root}: no images found")
        sources = [(lambda p=p: split_aligned(read_image(p)), str(p.relative_to(root))) for p in paths]
    images, names, resized, bad = [], [], 0, 0
    for load, name in sources:
        try:
            a, b = load()
        except Pix2GanError as e:
            print(f"warning: skipped {e}", file=sys.stderr)
            bad += 1
            continue
        if direction == "BtoA":
            a, b = b, a
        if b.size != a.size:
            b = b.resize(a.size, Image.BICUBIC)
            resized += 1
        a = scale_short_side(_channels(a, in_channels), load_size)
        b = scale_short_side(_channels(b, out_channels), load_size)
        both = np.concatenate([np.atleast_3d(np.asarray(a)), np.atleast_3d(np.asarray(b))], axis=2)
        images.append(torch.from_numpy(np.ascontiguousarray(both.transpose(2, 0, 1))))
        names.append(name)
    if resized:
        print(f"warning: {resized} B image(s) differed in size from their A and were resized to it", file=sys.stderr)
    if not images:
        raise Pix2GanError(f"{root}: none of the pairs could be read")
    return PhotoSet(images, names)

