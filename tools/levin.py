"""Classical baselines for colour hints, given exactly the points a model gets.

- :func:`levin`: Levin, Lischinski & Weiss 2004, "Colorization using Optimization": neighbouring pixels of similar
  lightness get similar chroma (:mod:`pix2gan.propagate`, which the colorizer also uses to follow colour points).
- :func:`nearest_fill`: every pixel takes the colour of the nearest point.
- :func:`mean_tint`: the gray photo tinted with a reference photo's mean a*, b* (the global hint's trivial rival).

All keep the photo's own CIE L and return sRGB uint8.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import skimage.color

from pix2gan.hints import Point
from pix2gan.propagate import spread


def _hint_arrays(points: list[Point], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A mask ``(H, W)`` of hinted pixels and their a*, b* ``(H, W, 2)`` (a point's square at full resolution)."""
    mask, ab = np.zeros(shape, bool), np.zeros((*shape, 2))
    if not points:
        return mask, ab
    colours = skimage.color.rgb2lab(np.array([[p.rgb for p in points]], np.uint8))[0, :, 1:]
    for p, c in zip(points, colours):
        side = p.size or 1
        top, left = max(p.y - (side - 1) // 2, 0), max(p.x - (side - 1) // 2, 0)
        mask[top:top + side, left:left + side] = True
        ab[top:top + side, left:left + side] = c
    return mask, ab


def _with_ab(light: np.ndarray, ab: np.ndarray) -> np.ndarray:
    lab = np.concatenate([light[..., None], ab], -1)
    return (np.clip(skimage.color.lab2rgb(lab), 0, 1) * 255 + 0.5).astype(np.uint8)


def levin(rgb: np.ndarray, points: list[Point]) -> np.ndarray:
    """Levin et al.'s colorization of the photo's lightness from ``points`` (the gray photo when there are none):
    :func:`pix2gan.propagate.spread` of the points' a*, b* with no decay, at the photo's full resolution."""
    light = skimage.color.rgb2lab(rgb)[..., 0]
    mask, hint_ab = _hint_arrays(points, light.shape)
    return _with_ab(light, spread(light / 100.0, hint_ab, mask))


def nearest_fill(rgb: np.ndarray, points: list[Point]) -> np.ndarray:
    """Every pixel coloured with its nearest point's a*, b* (the gray photo when there are none)."""
    light = skimage.color.rgb2lab(rgb)[..., 0]
    mask, hint_ab = _hint_arrays(points, light.shape)
    if not mask.any():
        return _with_ab(light, np.zeros((*light.shape, 2)))
    _, (iy, ix) = scipy.ndimage.distance_transform_edt(~mask, return_indices=True)
    return _with_ab(light, hint_ab[iy, ix])


def mean_tint(rgb: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The photo's lightness with the ``reference`` photo's mean a*, b* everywhere."""
    light = skimage.color.rgb2lab(rgb)[..., 0]
    mean = skimage.color.rgb2lab(reference)[..., 1:].reshape(-1, 2).mean(0)
    return _with_ab(light, np.broadcast_to(mean, (*light.shape, 2)))
