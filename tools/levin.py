"""Classical baselines for colour hints, given exactly the points a model gets.

- :func:`levin`: Levin, Lischinski & Weiss 2004, "Colorization using Optimization": neighbouring pixels of similar
  lightness get similar chroma. Each unhinted pixel's a* (and b*) is the weighted mean of its 3×3 neighbours',
  weights exp(−(L_r − L_s)² / 2σ_r²) with σ_r² from the window's lightness variance (their code's rule); hinted
  pixels keep their hint. One sparse linear solve per image (both channels share the factorisation).
- :func:`nearest_fill`: every pixel takes the colour of the nearest point.
- :func:`mean_tint`: the gray photo tinted with a reference photo's mean a*, b* (the global hint's trivial rival).

All keep the photo's own CIE L and return sRGB uint8.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.sparse
import scipy.sparse.linalg
import skimage.color

from pix2gan.hints import Point


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
    """Levin et al.'s colorization of the photo's lightness from ``points`` (the gray photo when there are none)."""
    light = skimage.color.rgb2lab(rgb)[..., 0]
    h, w = light.shape
    mask, hint_ab = _hint_arrays(points, (h, w))
    if not mask.any():
        return _with_ab(light, np.zeros((h, w, 2)))
    y = light / 100.0
    idx = np.arange(h * w).reshape(h, w)
    pad = np.pad(y, 1, mode="edge")
    pad_idx = np.pad(idx, 1, mode="edge")
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    window = np.stack([pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in shifts])     # (9, H, W)
    neighbour = np.stack([pad_idx[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in shifts])
    var = window.var(0)
    others = [i for i, s in enumerate(shifts) if s != (0, 0)]
    diff2 = (window[others] - y) ** 2                                                          # (8, H, W)
    sigma2 = np.maximum(np.maximum(0.6 * var, -diff2.min(0) / np.log(0.01)), 2e-6)
    weights = np.exp(-diff2 / sigma2)
    weights /= weights.sum(0)
    # a row per pixel: x_r − Σ w_rs x_s = 0, or x_r = hint where hinted (edge padding repeats a pixel: summed)
    free = ~mask.ravel()
    rows = np.concatenate([idx.ravel(), np.repeat(idx.ravel()[None], 8, 0)[:, free].ravel()])
    cols = np.concatenate([idx.ravel(), neighbour[others].reshape(8, -1)[:, free].ravel()])
    vals = np.concatenate([np.ones(h * w), -weights.reshape(8, -1)[:, free].ravel()])
    a = scipy.sparse.csc_matrix((vals, (rows, cols)), shape=(h * w, h * w))
    solve = scipy.sparse.linalg.factorized(a)
    b = np.where(mask.ravel()[:, None], hint_ab.reshape(-1, 2), 0.0)
    ab = np.stack([solve(b[:, 0]), solve(b[:, 1])], -1).reshape(h, w, 2)
    return _with_ab(light, ab)


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
