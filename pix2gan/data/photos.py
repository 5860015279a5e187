"""Colour photo sets for colorization: a folder or a built-in set, decoded once, cropped from uint8 tensors."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from pix2gan.data.bimodal import hue_metrics, make_bimodal_colors
from pix2gan.data.images import list_images, read_image, to_rgb_uint8
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
    them at that size, so nothing is resampled); ``extra_metrics(pred, target)`` adds set-specific figures."""

    description: str
    load: Callable[[int], list[tuple[str, np.ndarray]]]
    extra_metrics: Callable[[Tensor, Tensor], dict[str, float]] | None = None


BUILTIN_SETS: dict[str, Builtin] = {
    "photos": Builtin("scikit-image's 9 bundled colour photos (astronaut, chelsea, coffee, rocket, ...)",
                      lambda load_size: skimage_photos()),
    "bimodal-colors": Builtin("2000 generated images: shapes of one of two equal-lightness opposite hues "
                              "(yellow or blue, 50/50) on textured gray, drawn at the training scale",
                              lambda load_size: make_bimodal_colors(2000, load_size), hue_metrics),
}


def scale_short_side(img: Image.Image, short: int) -> Image.Image:
    """Resize (bicubic) so the shorter side is ``short`` pixels; the same image when it already is."""
    w, h = img.size
    s = short / min(w, h)
    return img.resize((max(short, round(w * s)), max(short, round(h * s))), Image.BICUBIC)


class PhotoSet:
    """Images held as ``(C, H, W)`` uint8 tensors (C = 3 for photos; paired data stacks both sides), each scaled so
    its short side is ``load_size``.

    :meth:`batch` draws random crops (with random horizontal flips) from a seeded generator, so a batch is a pure
    function of the generator's state: a resumed run draws exactly the batches the uninterrupted one would.
    """

    def __init__(self, images: list[Tensor], names: list[str]):
        if not images:
            raise Pix2GanError("the photo set is empty")
        self.images, self.names = images, names

    @classmethod
    def from_arrays(cls, named: list[tuple[str, np.ndarray]], load_size: int) -> PhotoSet:
        images = []
        for _, arr in named:
            img = scale_short_side(Image.fromarray(arr[..., :3]), load_size)
            images.append(torch.from_numpy(np.array(img)).permute(2, 0, 1).contiguous())
        return cls(images, [n for n, _ in named])

    @classmethod
    def from_folder(cls, root: Path, load_size: int, progress: bool = True) -> PhotoSet:
        paths = list_images(root)
        if not paths:
            raise Pix2GanError(f"{root}: no images found (looked for {', '.join(sorted(_COMMON))}, ...)")
        images, names, bad = [], [], 0
        for p in tqdm(paths, desc="loading photos", unit="img", disable=not progress, file=sys.stderr):
            try:
                img = scale_short_side(Image.fromarray(to_rgb_uint8(read_image(p))), load_size)
            except Pix2GanError as e:
                print(f"warning: skipped {e}", file=sys.stderr)
                bad += 1
                continue
            images.append(torch.from_numpy(np.array(img)).permute(2, 0, 1).contiguous())
            names.append(str(p.relative_to(root)))
        if not images:
            raise Pix2GanError(f"{root}: none of its {len(paths)} image files could be read")
        return cls(images, names)

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, gen: torch.Generator, batch_size: int, size: int) -> Tensor:
        """``(batch_size, C, size, size)`` uint8 random crops, randomly flipped, drawn with ``gen``."""
        out = torch.empty(batch_size, self.images[0].shape[0], size, size, dtype=torch.uint8)
        picks = torch.randint(len(self.images), (batch_size,), generator=gen)
        for i, k in enumerate(picks.tolist()):
            img = self.images[k]
            top = int(torch.randint(img.shape[1] - size + 1, (1,), generator=gen))
            left = int(torch.randint(img.shape[2] - size + 1, (1,), generator=gen))
            crop = img[:, top:top + size, left:left + size]
            out[i] = crop.flip(-1) if bool(torch.rand(1, generator=gen) < 0.5) else crop
        return out

    def split(self, fraction: float, seed: int) -> tuple[PhotoSet, PhotoSet | None]:
        """(train, held-out): ``fraction`` of the images held out whole (see :func:`holdout_indices`);
        ``fraction`` 0 gives (self, None)."""
        if fraction <= 0:
            return self, None
        train, held = holdout_indices(len(self), fraction, seed)
        pick = lambda idx: PhotoSet([self.images[i] for i in idx], [self.names[i] for i in idx])  # noqa: E731
        return pick(train), pick(held)

    def center_batch(self, count: int, size: int) -> Tensor:
        """``(min(count, len), 3, size, size)`` uint8 centre crops of the first photos (fixed, for sample grids)."""
        crops = []
        for img in self.images[:count]:
            top, left = (img.shape[1] - size) // 2, (img.shape[2] - size) // 2
            crops.append(img[:, top:top + size, left:left + size])
        return torch.stack(crops)


def holdout_indices(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, held-out) item indices, sorted: ``fraction`` of ``n`` items (at least one, never all) chosen by
    ``seed``. The same rule splits photos and sequences."""
    if n < 2:
        raise Pix2GanError(f"cannot hold out part of a set of {n} item(s)")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = min(n - 1, max(1, round(fraction * n)))
    return sorted(order[n_val:]), sorted(order[:n_val])


_COMMON = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def open_photos(spec: str, load_size: int, progress: bool = True) -> PhotoSet:
    """``builtin:NAME`` or a folder path → :class:`PhotoSet` scaled to ``load_size``."""
    if spec.startswith("builtin:"):
        name = spec.removeprefix("builtin:")
        if name not in BUILTIN_SETS:
            raise Pix2GanError(f"{spec}: unknown built-in set (known: "
                               f"{', '.join('builtin:' + k for k in BUILTIN_SETS)})")
        return PhotoSet.from_arrays(BUILTIN_SETS[name].load(load_size), load_size)
    root = Path(spec)
    if not root.is_dir():
        raise Pix2GanError(f"{spec}: not a folder (give a folder of colour images or one of "
                           f"{', '.join('builtin:' + k for k in BUILTIN_SETS)})")
    return PhotoSet.from_folder(root, load_size, progress)
