"""Edge-aware spreading of colour from a few pixels (Levin, Lischinski & Weiss 2004, "Colorization using
Optimization"): neighbouring pixels of similar lightness get similar colour.

Each free pixel's value is the weighted mean of its 3×3 neighbours', weights exp(−(L_r − L_s)² / 2σ_r²) with σ_r²
from the window's lightness variance (their code's rule); fixed pixels keep their value. One sparse LU solve per
image (in nested-dissection order), shared by the channels. ``tools/levin.py`` spreads colour points' a*, b* with it (Levin's colorization); the
colorizer spreads the *difference* between the points and its model's colours (:func:`pix2gan.hints.follow_points`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

def spread(light: np.ndarray, values: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Spread ``values`` ``(H, W, C)`` from the ``fixed`` pixels ``(H, W)`` bool over the image, edge-aware.

    ``light``: lightness ``(H, W)`` in [0, 1] (CIE L / 100). Returns ``(H, W, C)`` float64: the fixed pixels' values
    where ``fixed``; elsewhere the weighted mean of its neighbours'. All zeros when nothing is fixed."""
    h, w = light.shape
    if not fixed.any():
        return np.zeros((h, w, values.shape[-1]))
    y = light.astype(np.float64)
    idx = np.arange(h * w).reshape(h, w)
    pad, pad_idx = np.pad(y, 1, mode="edge"), np.pad(idx, 1, mode="edge")
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    window = np.stack([pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in shifts])          # (8, H, W)
    neighbour = np.stack([pad_idx[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in shifts])
    var = np.concatenate([window, y[None]]).var(0)
    diff2 = (window - y) ** 2
    sigma2 = np.maximum(np.maximum(0.6 * var, -diff2.min(0) / np.log(0.01)), 2e-6)
    weights = np.exp(-diff2 / sigma2)
    weights /= weights.sum(0)
    # a row per pixel: x_r − Σ w_rs x_s = 0, or x_r = value where fixed (edge padding repeats a pixel: summed)
    free = ~fixed.ravel()
    rows = np.concatenate([idx.ravel(), np.repeat(idx.ravel()[None], 8, 0)[:, free].ravel()])
    cols = np.concatenate([idx.ravel(), neighbour.reshape(8, -1)[:, free].ravel()])
    vals = np.concatenate([np.ones(h * w), -weights.reshape(8, -1)[:, free].ravel()])
    order = dissection_order(h, w)
    a = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(h * w, h * w))[order][:, order].tocsc()
    # the rows are weakly diagonally dominant (diagonal 1, the weights sum to 1): no pivoting needed, so SuperLU
    # keeps the dissection order (about 4× faster than its own column ordering on a photo)
    lu = scipy.sparse.linalg.splu(a, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    b = np.where(fixed.ravel()[:, None], values.reshape(h * w, -1), 0.0)
    x = np.empty_like(b)
    x[order] = lu.solve(np.ascontiguousarray(b[order]))
    return x.reshape(h, w, -1)


def dissection_order(h: int, w: int, leaf: int = 64) -> np.ndarray:
    """The pixels of an ``h`` × ``w`` grid in nested-dissection order: each half of the grid before the row or
    column that separates them (a 3×3 stencil couples nothing across it), recursively, down to ``leaf`` pixels. An
    elimination in this order fills in little (George 1973), which keeps the solve fast."""
    index = np.arange(h * w).reshape(h, w)
    parts: list[np.ndarray] = []
    stack = [(index, False)]
    while stack:  # depth first, children before their separator (pushed in reverse)
        block, emit = stack.pop()
        bh, bw = block.shape
        if emit or bh * bw <= leaf or (bh < 3 and bw < 3):
            parts.append(block.ravel())
        elif bw >= bh:
            m = bw // 2
            stack += [(block[:, m:m + 1], True), (block[:, m + 1:], False), (block[:, :m], False)]
        else:
            m = bh // 2
            stack += [(block[m:m + 1], True), (block[m + 1:], False), (block[:m], False)]
    return np.concatenate(parts)
