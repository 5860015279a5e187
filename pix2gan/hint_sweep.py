"""The hint sweep (iColor's PSNR-against-points figure): how a colorizer's error falls as simulated users click
more colour points on whole held-out photos.

A simulated click is a uniformly random pixel whose colour is the true photo's mean over the 5×5 pixels around it
(as a person picking the colour they see would give), placed as one point of default size. Every method and every
count sees the same clicks: the points of count n are the first n of one seeded draw per photo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import skimage.color
from PIL import Image

from pix2gan.hints import Hints, Point

#: The numbers of points of the sweep (iColor's figure goes from 0 to a few hundred).
COUNTS = (0, 1, 2, 5, 10, 20, 50, 100, 200)
#: A click's colour: the truth's mean over this square.
CLICK = 5

#: A method: (sRGB photo ``(H, W, 3)`` uint8 whose lightness alone it may use, points) → colourised ``(H, W, 3)``
#: uint8.
Method = Callable[[np.ndarray, list[Point]], np.ndarray]


def simulated_clicks(rgb: np.ndarray, n: int, seed: int) -> list[Point]:
    """``n`` points on the photo ``rgb`` ``(H, W, 3)`` uint8: uniform positions, each coloured with the photo's mean
    over the :data:`CLICK` × :data:`CLICK` square around it (clipped at the border); a pure function of ``seed``."""
    h, w = rgb.shape[:2]
    rng = np.random.default_rng(seed)
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    r = CLICK // 2
    points = []
    for y, x in zip(ys.tolist(), xs.tolist()):
        patch = rgb[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1].reshape(-1, 3).astype(np.float64)
        points.append(Point(x, y, tuple(int(v) for v in np.round(patch.mean(0)))))
    return points


def figures(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """PSNR (dB, sRGB in [0, 1]) and mean ΔE2000 of a prediction against the truth, both ``(H, W, 3)`` uint8."""
    mse = float(np.mean((pred.astype(np.float64) / 255 - truth.astype(np.float64) / 255) ** 2))
    psnr = 10 * np.log10(1.0 / max(mse, 1e-12))
    delta_e = float(skimage.color.deltaE_ciede2000(skimage.color.rgb2lab(truth), skimage.color.rgb2lab(pred)).mean())
    return {"psnr": float(psnr), "delta_e": delta_e}


def colorizer_method(colorizer) -> Method:
    """A :class:`~pix2gan.colorizer.Colorizer` as a sweep method: it is given the colour photo and uses its CIE L
    alone (a model without hint inputs is given no points)."""
    def run(rgb: np.ndarray, points: list[Point]) -> np.ndarray:
        hints = Hints(tuple(points)) if colorizer.takes_hints else None
        return np.asarray(colorizer(Image.fromarray(rgb), hints=hints))

    return run


def sweep(methods: dict[str, Method], photos: list[tuple[str, np.ndarray]], counts=COUNTS, seed: int = 0,
          progress: Callable[[str], None] | None = None) -> dict[str, dict[int, dict[str, float]]]:
    """``{method: {count: {"psnr", "delta_e"}}}``: each figure the mean over ``photos`` (name, sRGB uint8), every
    method given the same clicks (photo ``i`` draws from seed ``seed + i``)."""
    out: dict[str, dict[int, dict[str, float]]] = {name: {} for name in methods}
    clicks = [simulated_clicks(rgb, max(counts), seed + i) for i, (_, rgb) in enumerate(photos)]
    for name, method in methods.items():
        for n in counts:
            rows = [figures(method(rgb, pts[:n]), rgb) for (_, rgb), pts in zip(photos, clicks)]
            out[name][n] = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "delta_e")}
            if progress:
                progress(f"{name}, {n} points: PSNR {out[name][n]['psnr']:.2f} dB, ΔE2000 "
                         f"{out[name][n]['delta_e']:.2f}")
    return out


def folder_sweep(colorizer, folder: Path, counts=COUNTS, seed: int = 0) -> dict[int, dict[str, float]]:
    """:func:`sweep` of one colorizer over every image of ``folder`` (whole images, as they are)."""
    from pix2gan.data.images import list_images, read_image, to_rgb_uint8
    from pix2gan.errors import Pix2GanError

    photos = [(str(p), np.ascontiguousarray(to_rgb_uint8(read_image(p)))) for p in list_images(folder)]
    if not photos:
        raise Pix2GanError(f"{folder}: no images found")
    return sweep({"model": colorizer_method(colorizer)}, photos, counts, seed)["model"]
