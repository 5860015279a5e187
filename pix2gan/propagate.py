"""Edge-aware spreading of colour from a few pixels (Levin, Lischinski & Weiss 2004, "Colorization using
Optimization"): neighbouring pixels of similar lightness get similar colour.

Each free pixel's value is the weighted mean of its 3×3 neighbours', weights exp(−(L_r − L_s)² / 2σ_r²) with σ_r²
from the window's lightness variance (their code's rule); fixed pixels keep their value. One sparse LU solve per
image (in nested-dissection order), shared by the channels (:func:`spread`), or one factorisation per image and a
triangular solve per new point (:class:`Spreader`: ``pix2gan serve``, where points are clicked one by one).
``tools/levin.py`` spreads colour points' a*, b* with it (Levin's colorization); the colorizer spreads the
*difference* between the points and its model's colours (:func:`pix2gan.hints.follow_points`).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

#: The screening the colorizer adds to each free pixel's equation, ``x_r − Σ w_rs x_s + ε x_r = 0``: with it the
#: system without any point is invertible, so one factorisation serves every set of points (:class:`Spreader`).
#: Small enough that colour spreads as far as without it (on a 256 × 410 photo with 10 points: 1e-3 a*b* units apart
#: at most; 1e-8 would already fade by 0.1, 1e-6 by 7).
SCREEN = 1e-10

#: A :class:`Spreader` keeps this many solved columns (one per fixed pixel); more fixed pixels: one direct solve.
MAX_COLUMNS = 64


def spread(light: np.ndarray, values: np.ndarray, fixed: np.ndarray, screen: float = 0.0) -> np.ndarray:
    """Spread ``values`` ``(H, W, C)`` from the ``fixed`` pixels ``(H, W)`` bool over the image, edge-aware.

    ``light``: lightness ``(H, W)`` in [0, 1] (CIE L / 100); ``screen``: ε ≥ 0 added to the free pixels' equations
    (0: Levin's system as published; :data:`SCREEN`: the colorizer's). Returns ``(H, W, C)`` float64: the fixed
    pixels' values where ``fixed``; elsewhere the weighted mean of its neighbours'. All zeros when nothing is fixed."""
    h, w = light.shape
    if not fixed.any():
        return np.zeros((h, w, values.shape[-1]))
    order = dissection_order(h, w)
    lu = _factorise(_system(light, fixed.ravel(), screen), order)
    b = np.where(fixed.ravel()[:, None], values.reshape(h * w, -1), 0.0)
    x = np.empty_like(b)
    x[order] = lu.solve(np.ascontiguousarray(b[order]))
    return x.reshape(h, w, -1)


class Spreader:
    """:func:`spread` with ``screen`` over one lightness image ``(H, W)``, factorised once: each new fixed pixel
    then costs one triangular solve instead of a factorisation (a colour point clicked on a served photo).

    With ε > 0 the matrix ``A`` without fixed pixels is invertible, and the spread from fixed pixels ``P`` is
    ``x = Z (Z_P)⁻¹ v`` where ``Z = A⁻¹ E_P`` (a source at each fixed pixel, ``E_P`` their unit columns) and ``Z_P``
    its rows at ``P``: ``A x`` is zero off ``P`` (the free equations hold) and ``x_P = v``, which is :func:`spread`'s
    system. The last :data:`MAX_COLUMNS` columns are kept; more fixed pixels at once: :func:`spread` directly."""

    def __init__(self, light: np.ndarray, screen: float = SCREEN, max_columns: int = MAX_COLUMNS):
        if screen <= 0:
            raise ValueError("a Spreader needs screen > 0: without it the system with no fixed pixel is singular")
        self.light, self.screen, self.max_columns = light, screen, max_columns
        self.order = dissection_order(*light.shape)
        self.lu = _factorise(_system(light, np.zeros(light.size, bool), screen), self.order)
        self.columns: OrderedDict[int, np.ndarray] = OrderedDict()

    def __call__(self, values: np.ndarray, fixed: np.ndarray) -> np.ndarray:
        """:func:`spread` ``(light, values, fixed, screen)`` for this light: ``(H, W, C)`` float64."""
        h, w = self.light.shape
        pixels = np.flatnonzero(fixed)
        if len(pixels) > self.max_columns:
            return spread(self.light, values, fixed, self.screen)
        if not len(pixels):
            return np.zeros((h, w, values.shape[-1]))
        z = self._columns(pixels)
        strength = np.linalg.solve(z[pixels], values.reshape(h * w, -1)[pixels])
        return (z @ strength).reshape(h, w, -1)

    def _columns(self, pixels: np.ndarray) -> np.ndarray:
        """``A⁻¹ e_p`` for each pixel ``p``, ``(H·W, len(pixels))``: kept ones reused, the rest solved at once."""
        n = self.light.size
        new = [int(p) for p in pixels if int(p) not in self.columns]
        if new:
            position = np.empty(n, np.int64)
            position[self.order] = np.arange(n)
            units = np.zeros((n, len(new)))
            units[position[new], np.arange(len(new))] = 1.0
            solved = self.lu.solve(units)
            for i, p in enumerate(new):
                self.columns[p] = solved[position, i]
        for p in pixels:
            self.columns.move_to_end(int(p))
        out = np.stack([self.columns[int(p)] for p in pixels], 1)
        while len(self.columns) > self.max_columns:
            self.columns.popitem(last=False)
        return out

    def numel(self) -> int:
        """Its memory in 4-byte numbers (the factors' values and indices, the kept columns), for
        :class:`pix2gan.colorizer.Memo`'s bound."""
        return self.lu.nnz * 3 + self.max_columns * self.light.size * 2


def _system(light: np.ndarray, fixed: np.ndarray, screen: float) -> scipy.sparse.csr_matrix:
    """Levin's matrix for ``light`` ``(H, W)``: a row per pixel, ``(1 + screen) x_r − Σ w_rs x_s`` for a free one,
    ``x_r`` for a ``fixed`` one (``fixed``: ``(H·W,)`` bool)."""
    h, w = light.shape
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
    free = ~fixed
    rows = np.concatenate([idx.ravel(), np.repeat(idx.ravel()[None], 8, 0)[:, free].ravel()])
    cols = np.concatenate([idx.ravel(), neighbour.reshape(8, -1)[:, free].ravel()])
    vals = np.concatenate([np.where(free, 1.0 + screen, 1.0), -weights.reshape(8, -1)[:, free].ravel()])
    return scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(h * w, h * w))


def _factorise(a: scipy.sparse.csr_matrix, order: np.ndarray):
    """The sparse LU factors of ``a`` with rows and columns in ``order``."""
    a = a[order][:, order].tocsc()
    # the rows are weakly diagonally dominant (diagonal 1, the weights sum to 1): no pivoting needed, so SuperLU
    # keeps the dissection order (about 4× faster than its own column ordering on a photo)
    return scipy.sparse.linalg.splu(a, permc_spec="NATURAL", diag_pivot_thresh=0.0,
                                    options={"SymmetricMode": True})


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
