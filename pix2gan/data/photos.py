"""Colour photo sources for colorization: a folder (decoded when drawn) or a built-in set (in memory)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from pix2gan.data.bimodal import coverage_metrics, hue_metrics, make_bimodal_colors
from pix2gan.data.images import iter_images, read_image, to_rgb_uint8
from pix2gan.data.source import Names, Source, Unfit
from pix2gan.errors import Pix2GanError


def skimage_photos() -> list[tuple[str, np.ndarray]]:
    """scikit-image's bundled colour photos (shipped inside the package: no download)."""
    import skimage.data as d

    names = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina", "immunohistochemistry"]
    photos = [(n, getattr(d, n)()) for n in names]
    left, right, _ = d.stereo_motorcycle()
    return photos + [("stereo_motorcycle_left", left), ("stereo_motorcycle_right", right)]


@dataclass(frozen=True)
class Builtin:
    """A built-in colour image set: ``load(load_size)`` returns (name, (H, W, 3) uint8) pairs (generated sets draw
    them at that size, so nothing is resampled); ``extra_metrics(pred, target)`` adds set-specific figures, and
    ``sample_metrics(samples (S, B, 3, H, W), target)`` those of several answers per input."""

    description: str
    load: Callable[[int], list[tuple[str, np.ndarray]]]
    extra_metrics: Callable[[Tensor, Tensor], dict[str, float]] | None = None
    sample_metrics: Callable[[Tensor, Tensor], dict[str, float]] | None = None


BUILTIN_SETS: dict[str, Builtin] = {
    "photos": Builtin("scikit-image's 9 bundled colour photos (astronaut, chelsea, coffee, rocket, ...)",
                      lambda load_size: skimage_photos()),
    "bimodal-colors": Builtin("2000 generated images: shapes of one of two equal-lightness opposite hues "
                              "(yellow or blue, 50/50) on textured gray, drawn at the training scale",
                              lambda load_size: make_bimodal_colors(2000, load_size), hue_metrics, coverage_metrics),
}


def scale_short_side(img: Image.Image, short: int) -> Image.Image:
    """Resize (bicubic) so the shorter side is ``short`` pixels; the same image when it already is."""
    w, h = img.size
    s = short / min(w, h)
    return img.resize((max(short, round(w * s)), max(short, round(h * s))), Image.BICUBIC)


def to_chw(img: Image.Image) -> Tensor:
    """A PIL image (L or RGB) → uint8 ``(C, H, W)``."""
    return torch.from_numpy(np.array(np.atleast_3d(np.asarray(img)).transpose(2, 0, 1), order="C"))


#: A photo is gray when fewer than 1% of its pixels have a channel spread (max − min of R, G, B) above this.
GRAY_SPREAD = 12


def is_gray(x: Tensor) -> bool:
    """True for an sRGB uint8 ``(3, H, W)`` image without colour (JPEG chroma noise aside)."""
    spread = x.max(0).values.int() - x.min(0).values.int()
    return bool((spread > GRAY_SPREAD).float().mean() < 0.01)


class PhotoFolder(Source):
    """Colour photos under ``root``, decoded when read: sRGB uint8 ``(3, H, W)`` with short side ``load_size``
    (JPEGs decoded at a reduced scale where that size allows). Photos that are already gray raise :class:`Unfit`."""

    def __init__(self, root: Path, load_size: int):
        self.root, self.load_size = root, load_size
        self.names = Names.from_strings(iter_images(root))  # compact: a million names cost tens of MB, not hundreds
        if not len(self.names):
            raise Pix2GanError(f"{root}: no images found (looked for {', '.join(sorted(_COMMON))}, ...)")

    def read(self, i: int, gen: torch.Generator | None = None) -> Tensor:
        img = read_image(self.root / self.names[i], min_short=self.load_size)
        x = to_chw(scale_short_side(Image.fromarray(to_rgb_uint8(img)), self.load_size))
        if is_gray(x):
            raise Unfit(f"{self.root / self.names[i]}: a gray photo (nothing to learn colour from)")
        return x


class ArraySource(Source):
    """Images already in memory (the built-in sets: small), scaled to ``load_size`` when made."""

    def __init__(self, named: list[tuple[str, np.ndarray]], load_size: int):
        self.names = [n for n, _ in named]
        self.images = [to_chw(scale_short_side(Image.fromarray(arr[..., :3]), load_size)) for _, arr in named]

    def read(self, i: int, gen: torch.Generator | None = None) -> Tensor:
        return self.images[i]


_COMMON = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def open_photos(spec: str, load_size: int) -> Source:
    """``builtin:NAME`` or a folder path → a :class:`Source` of photos scaled to short side ``load_size``."""
    if spec.startswith("builtin:"):
        name = spec.removeprefix("builtin:")
        if name not in BUILTIN_SETS:
            raise Pix2GanError(f"{spec}: unknown built-in set (known: "
                               f"{', '.join('builtin:' + k for k in BUILTIN_SETS)})")
        return ArraySource(BUILTIN_SETS[name].load(load_size), load_size)
    root = Path(spec)
    if not root.is_dir():
        raise Pix2GanError(f"{spec}: not a folder (give a folder of colour images or one of "
                           f"{', '.join('builtin:' + k for k in BUILTIN_SETS)})")
    return PhotoFolder(root, load_size)
