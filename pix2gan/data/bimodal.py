"""``builtin:bimodal-colors``: shapes whose colour is one of two hues of equal lightness, 50/50 at random.

The gray input carries no clue which hue a shape has, and the two hues are opposite in the ab plane, so their
average is gray: an L2-trained colorizer must paint the shapes gray (chroma ratio ≈ 0), while a learned loss must
pick a hue (hit rate high, chroma ratio ≈ 1). This is the seed's red-or-blue bird, made measurable (yellow or blue:
opposite hues of equal lightness that both fit in sRGB).

There are 2000 images: with a few hundred, a generator memorises which shape of which training image has which hue
(each image's texture identifies it) and paints held-out shapes with confident, arbitrary hues, an overfit that no
loss choice explains. Images must be used at the size they were drawn: resampling mixes a shape's sRGB colour with the gray around it, and
yellow and blue mix to different lightness, which would leak the hue into the gray input along every edge.
"""

from __future__ import annotations

import numpy as np
import skimage.color
import skimage.filters
import torch
from torch import Tensor

SHAPE_L = 60.0
#: The two hues in CIE Lab (a, b): yellow and blue, opposite, chroma 50.
HUES = np.array([[-12.94, 48.30], [12.94, -48.30]])
CHROMA = float(np.hypot(*HUES[0]))


def make_bimodal_colors(n: int = 200, size: int = 64, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """``n`` sRGB uint8 images ``(size, size, 3)``: 1–3 ellipses or rectangles (hard edges) on a textured gray
    background; shape sizes and texture scale with ``size``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = []
    for i in range(n):
        texture = skimage.filters.gaussian(rng.standard_normal((size, size)), sigma=2.0 * size / 64)
        texture /= texture.std() + 1e-8
        lab = np.zeros((size, size, 3))
        lab[..., 0] = np.clip(50 + 10 * texture, 25, 75)
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0.15, 0.85, 2) * size
            ry, rx = rng.uniform(0.1, 0.25, 2) * size
            if rng.random() < 0.5:
                mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            else:
                mask = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
            lab[mask, 0] = SHAPE_L + 3 * np.clip(texture[mask], -1.5, 1.5)  # same lightness whatever the hue
            lab[mask, 1:] = HUES[rng.integers(2)]
        rgb = skimage.color.lab2rgb(lab)
        images.append((f"bimodal_{i:04d}", (rgb * 255 + 0.5).astype(np.uint8)))
    return images


def hue_metrics(pred: Tensor, target: Tensor) -> dict[str, float]:
    """On the shape pixels (target chroma > half the hues' chroma), for sRGB ``(B, 3, H, W)`` in [0, 1]:

    ``hue_hit_rate``: fraction of predicted pixels nearer to one of the two hues than to gray (ab distance below
    half the hues' chroma); ``shape_chroma_ratio``: mean predicted chroma / mean true chroma there.
    """
    import kornia

    ab_p = kornia.color.rgb_to_lab(pred.float())[:, 1:].permute(0, 2, 3, 1).reshape(-1, 2)
    ab_t = kornia.color.rgb_to_lab(target.float())[:, 1:].permute(0, 2, 3, 1).reshape(-1, 2)
    shape = ab_t.norm(dim=1) > CHROMA / 2
    if not shape.any():
        return {"hue_hit_rate": float("nan"), "shape_chroma_ratio": float("nan")}
    hues = torch.as_tensor(HUES, dtype=ab_p.dtype, device=ab_p.device)
    dist = torch.cdist(ab_p[shape], hues).min(1).values
    return {"hue_hit_rate": (dist < CHROMA / 2).float().mean().item(),
            "shape_chroma_ratio": (ab_p[shape].norm(dim=1).mean() / ab_t[shape].norm(dim=1).mean()).item()}


def coverage_metrics(samples: Tensor, target: Tensor, min_pixels: int = 8) -> dict[str, float]:
    """Do several answers to the same gray input hold both hues? ``samples`` ``(S, B, 3, H, W)``, ``target``
    ``(B, 3, H, W)``, sRGB in [0, 1].

    A shape is a connected region of one true hue (at least ``min_pixels`` pixels). A sample paints it with the hue
    most of its coloured pixels (nearer to a hue than to gray) are nearest to, or leaves it gray when fewer than half
    of its pixels are coloured. ``coverage``: the share of shapes that both hues paint among the samples (1: every
    shape is sometimes yellow, sometimes blue; 0: a one-answer model, or every sample gray). ``hue_hit_min``: the
    lowest per-sample :func:`hue_metrics` hit rate (the worst sample's share of coloured shape pixels).
    """
    import kornia
    import skimage.measure

    hues = torch.as_tensor(HUES, dtype=torch.float32)
    ab_t = kornia.color.rgb_to_lab(target.float())[:, 1:].permute(0, 2, 3, 1)  # (B, H, W, 2)
    ab_s = kornia.color.rgb_to_lab(samples.float().flatten(0, 1))[:, 1:].permute(0, 2, 3, 1)
    ab_s = ab_s.unflatten(0, samples.shape[:2])  # (S, B, H, W, 2)
    true_hue = torch.cdist(ab_t.reshape(-1, 2), hues).argmin(1).view(ab_t.shape[:3])
    is_shape = ab_t.norm(dim=-1) > CHROMA / 2
    dist = torch.cdist(ab_s.reshape(-1, 2), hues).view(*ab_s.shape[:4], 2)  # (S, B, H, W, 2)
    coloured, nearest = dist.min(-1).values < CHROMA / 2, dist.argmin(-1)
    covered, shapes = 0, 0
    for b in range(target.shape[0]):
        for h in range(len(HUES)):
            labels = skimage.measure.label((is_shape[b] & (true_hue[b] == h)).numpy(), connectivity=1)
            for region in range(1, labels.max() + 1):
                mask = torch.from_numpy(labels == region)
                if mask.sum() < min_pixels:
                    continue
                shapes += 1
                painted = set()
                for s in range(samples.shape[0]):
                    c = coloured[s, b][mask]
                    if c.float().mean() >= 0.5:
                        painted.add(int(nearest[s, b][mask][c].float().mean().round()))
                covered += len(painted) == len(HUES)
    hits = [hue_metrics(samples[s], target)["hue_hit_rate"] for s in range(samples.shape[0])]
    return {"coverage": covered / shapes if shapes else float("nan"), "hue_hit_min": float(min(hits))}
