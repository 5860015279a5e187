"""Colour hints (iColor: Zhang et al. 2017, "Real-Time User-Guided Image Colorization with Learned Deep Priors"):
sparse points of known colour and a reference photo's colour distribution, as inputs beside L.

A hint model's generator takes ``cond = (L, hint ab, hint mask)`` ``(B, 4, H, W)`` and, at its innermost level, a
reference vector ``(B, REFERENCE_DIM)``. The mask is 1 where a point is, so a gray hint (ab = 0) differs from no
hint. In training both are simulated from the photo's own colours (:func:`simulate_hints`); with none given the
same network colorizes on its own.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import kornia.color
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pix2gan.errors import Pix2GanError
from pix2gan.propagate import SCREEN, Spreader, spread

#: Hint channels beside L: the points' ab (ab/110, as the generator's output) and their mask.
HINT_CHANNELS = 3
#: The reference's ab histogram has AB_BINS × AB_BINS bins over ab/110 in [-1, 1] (bins 20 units of a*, b* wide).
AB_BINS = 11
#: The reference vector: the histogram (sums to 1), the mean chroma (ab/110 units) and an indicator (1: given).
REFERENCE_DIM = AB_BINS * AB_BINS + 2
#: Simulation (iColor's): points ~ Geometric(P_POINT) (none 1/8 of the time, 7 on average), each a P×P patch with
#: P uniform in 1…MAX_PATCH, centred ~ Normal(image centre, side/4); a reference given with P_REFERENCE.
P_POINT = 1 / 8
MAX_PATCH = 9
P_REFERENCE = 0.5


def colour_distribution(ab: Tensor) -> Tensor:
    """``ab`` ``(B, 2, H, W)`` (ab/110) → reference vectors ``(B, REFERENCE_DIM)``: the ab histogram over
    :data:`AB_BINS`² bins (each row sums to 1), the mean chroma √(a² + b²)/110, and the indicator 1."""
    b = ab.shape[0]
    flat = ab_bins(ab.float()).flatten(1)  # (B, H·W)
    ones = torch.ones_like(flat, dtype=torch.float32)
    hist = torch.zeros(b, AB_BINS * AB_BINS, device=ab.device).scatter_add_(1, flat, ones)
    hist /= flat.shape[1]
    chroma = ab.float().pow(2).sum(1).sqrt().flatten(1).mean(1, keepdim=True)
    return torch.cat([hist, chroma, torch.ones(b, 1, device=ab.device)], 1)


def palette_colours(light: float) -> Tensor:
    """The centres ``(N, 2)`` (ab/110) of the reference histogram's bins whose colour exists in sRGB at lightness
    ``light`` (L/50 − 1): the colours a pixel of that lightness can take."""
    centres = (torch.arange(AB_BINS, dtype=torch.float32) + 0.5) * 2 / AB_BINS - 1
    ab = torch.cartesian_prod(centres, centres)  # row-major: a* first, as the histogram
    lab = torch.cat([torch.full((len(ab), 1), (light + 1) * 50), ab * 110], 1)
    rgb = kornia.color.lab_to_rgb(lab.T[None, :, :, None], clip=False)[0, :, :, 0].T
    return ab[((rgb >= 0) & (rgb <= 1)).all(1)]


def ab_bins(ab: Tensor) -> Tensor:
    """The histogram bin of each ab/110 colour: ``(N, 2)`` → ``(N,)``, or ``(B, 2, H, W)`` → ``(B, H, W)``."""
    idx = ((ab.clamp(-1, 1) + 1) / 2 * AB_BINS).long().clamp_(0, AB_BINS - 1)
    return idx[:, 0] * AB_BINS + idx[:, 1]


def draw_point_count(gen: torch.Generator) -> int:
    """Geometric(P_POINT) on 0, 1, 2, ...: P(n) = (1 − p)ⁿ p."""
    u = float(torch.rand(1, generator=gen))  # in [0, 1): 1 − u in (0, 1]
    return int(math.floor(math.log1p(-u) / math.log1p(-P_POINT)))


def draw_patch(gen: torch.Generator, h: int, w: int) -> tuple[int, int, int]:
    """One simulated point on an ``h`` × ``w`` image: ``(top, left, side)`` of its square, the side uniform in
    1 … MAX_PATCH (at most the image's), the centre ~ Normal(image centre, σ = side/4) per axis, clipped inside."""
    p = min(int(torch.randint(1, MAX_PATCH + 1, (1,), generator=gen)), h, w)
    cy, cx = (torch.randn(2, generator=gen) * torch.tensor([h / 4, w / 4]) + torch.tensor([h / 2, w / 2])).tolist()
    top = min(max(round(cy) - (p - 1) // 2, 0), h - p)
    left = min(max(round(cx) - (p - 1) // 2, 0), w - p)
    return top, left, p


def simulate_hints(ab: Tensor, gens: list[torch.Generator]) -> tuple[Tensor, Tensor]:
    """Hints for training, drawn from the truth ``ab`` ``(B, 2, H, W)`` with one generator per sample (so a batch's
    hints are a pure function of its samples' streams): hint maps ``(B, 3, H, W)`` (ab of the points, mask) and
    reference vectors ``(B, REFERENCE_DIM)`` (zeros where none is given)."""
    b, _, h, w = ab.shape
    maps = ab.new_zeros(b, HINT_CHANNELS, h, w)
    refs = ab.new_zeros(b, REFERENCE_DIM)
    for i, gen in enumerate(gens):
        for _ in range(draw_point_count(gen)):
            top, left, p = draw_patch(gen, h, w)
            value = ab[i, :, top:top + p, left:left + p].mean((1, 2))
            maps[i, :2, top:top + p, left:left + p] = value[:, None, None]
            maps[i, 2, top:top + p, left:left + p] = 1.0
        if float(torch.rand(1, generator=gen)) < P_REFERENCE:
            refs[i] = colour_distribution(ab[i:i + 1])[0]
    return maps, refs


# ----------------------------------------------------------------------------------------------- the user's hints
#: The hints file: ``{"points": [{"x": 120, "y": 45, "color": "#3a6ea5", "size": 9}, ...]}`` (``size`` optional).
POINT_KEYS = {"x", "y", "color", "size"}


@dataclass(frozen=True)
class Point:
    """A colour point: column ``x`` and row ``y`` (0-based) in the input image's pixels, ``rgb`` its sRGB colour
    (0–255), ``size`` the side in input pixels of the square it covers (None: one pixel at the model's scale)."""

    x: int
    y: int
    rgb: tuple[int, int, int]
    size: int | None = None

    def to_json(self) -> dict:
        out = {"x": self.x, "y": self.y, "color": "#{:02x}{:02x}{:02x}".format(*self.rgb)}
        return out if self.size is None else {**out, "size": self.size}


def _colour(value) -> tuple[int, int, int] | None:
    if isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return tuple(int(value[i:i + 2], 16) for i in (1, 3, 5))
    if (isinstance(value, list) and len(value) == 3
            and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)):
        return tuple(value)
    return None


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_hints(data, width: int, height: int, where: str = "hints") -> list[Point]:
    """The points of a parsed hints document for an image of ``width`` × ``height``, or a one-line error naming
    ``where`` and the first problem (unknown keys are refused: a typo must not silently drop a hint)."""
    if not isinstance(data, dict) or set(data) - {"points"}:
        extra = sorted(set(data) - {"points"}) if isinstance(data, dict) else None
        raise Pix2GanError(f"{where}: unknown keys {extra} (a hints file has only \"points\")" if extra
                           else f"{where}: expected an object {{\"points\": [...]}}")
    points = data.get("points", [])
    if not isinstance(points, list):
        raise Pix2GanError(f"{where}: \"points\" must be a list")
    out = []
    for i, p in enumerate(points):
        at = f"{where}: point {i}"
        if not isinstance(p, dict):
            raise Pix2GanError(f"{at}: expected an object with x, y, color (and size)")
        if set(p) - POINT_KEYS:
            raise Pix2GanError(f"{at}: unknown keys {sorted(set(p) - POINT_KEYS)} (known: color, size, x, y)")
        if not {"x", "y", "color"} <= set(p):
            raise Pix2GanError(f"{at}: missing {sorted({'x', 'y', 'color'} - set(p))}")
        x, y = p["x"], p["y"]
        if not (_integer(x) and _integer(y)):
            raise Pix2GanError(f"{at}: x and y must be integers (pixels), got {x!r}, {y!r}")
        if not (0 <= x < width and 0 <= y < height):
            raise Pix2GanError(f"{at}: ({x}, {y}) is outside the {width}×{height} image")
        rgb = _colour(p["color"])
        if rgb is None:
            raise Pix2GanError(f"{at}: color must be \"#rrggbb\" or [r, g, b] with integers 0-255, "
                               f"got {p['color']!r}")
        size = p.get("size")
        if size is not None and not (_integer(size) and 1 <= size <= max(width, height)):
            raise Pix2GanError(f"{at}: size must be an integer from 1 to {max(width, height)} (pixels), got {size!r}")
        out.append(Point(x, y, rgb, size))
    return out


def read_hints(path: Path, width: int, height: int) -> list[Point]:
    """The points of the hints file ``path`` for a ``width`` × ``height`` image (see :func:`parse_hints`)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise Pix2GanError(f"{path}: cannot read ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise Pix2GanError(f"{path}: not valid JSON ({e})") from None
    return parse_hints(data, width, height, str(path))


def srgb_to_ab(rgb: list[tuple[int, int, int]]) -> Tensor:
    """sRGB colours (0–255) → their ab/110 ``(N, 2)``."""
    x = torch.tensor(rgb, dtype=torch.float32).view(-1, 3, 1, 1) / 255
    return kornia.color.rgb_to_lab(x)[:, 1:, 0, 0] / 110.0


def hint_map(points: list[Point], image: tuple[int, int], work: tuple[int, int]) -> Tensor:
    """Points on an ``image`` of (H, W) pixels → the hint maps ``(1, 3, h, w)`` at the model's ``work`` size (h, w):
    each point's ab over its square (at least one pixel; a later point covers an earlier one), and the mask."""
    (hh, ww), (h, w) = image, work
    maps = torch.zeros(1, HINT_CHANNELS, h, w)
    if not points:
        return maps
    for p, ab in zip(points, srgb_to_ab([p.rgb for p in points])):
        side_y, side_x = (max(1, round(p.size * h / hh)), max(1, round(p.size * w / ww))) if p.size else (1, 1)
        cy, cx = min(int((p.y + 0.5) * h / hh), h - 1), min(int((p.x + 0.5) * w / ww), w - 1)
        top, left = max(cy - (side_y - 1) // 2, 0), max(cx - (side_x - 1) // 2, 0)
        maps[0, :2, top:top + side_y, left:left + side_x] = ab[:, None, None]
        maps[0, 2, top:top + side_y, left:left + side_x] = 1.0
    return maps


def _reference_lab(rgb: Tensor, short: int) -> Tensor:
    """A reference photo, sRGB ``(1, 3, H, W)`` in [0, 1], in CIE Lab ``(1, 3, h, w)`` at short side ``short``
    (never enlarged): where its colours are measured."""
    h, w = rgb.shape[-2:]
    s = min(1.0, short / min(h, w))
    small = F.interpolate(rgb.float(), size=(max(1, round(h * s)), max(1, round(w * s))), mode="bilinear",
                          antialias=True, align_corners=False).clamp(0, 1)
    return kornia.color.rgb_to_lab(small)


def reference_vector(rgb: Tensor, short: int) -> Tensor:
    """A reference photo, sRGB ``(1, 3, H, W)`` in [0, 1], → its reference vector ``(1, REFERENCE_DIM)``, measured
    at short side ``short`` (the model's scale)."""
    return colour_distribution(_reference_lab(rgb, short)[:, 1:] / 110.0)


@dataclass(frozen=True)
class Hints:
    """What steers a hint model on one image: ``points`` (input pixels), a reference photo's ``reference`` vector
    ``(1, REFERENCE_DIM)`` (the network's global hint) and its ``palette`` (:func:`lightness_palette`, which the
    colorizer follows after the network); None: no reference."""

    points: tuple[Point, ...] = ()
    reference: Tensor | None = None
    palette: Tensor | None = None


#: The reference photo's colours by lightness (:func:`lightness_palette`): bins over L 0…100, and a*b* bins of
#: this side (a*, b* units) over −128…128.
PALETTE_LIGHT_BINS, PALETTE_STEP = 16, 8
#: How far (σ, a*b* units) a reference's colour may lie from the model's own and still be the one it meant: small
#: trusts the model's choice among the reference's colours, large gives each lightness the reference's mean colour.
#: Chosen on held-out photos (lomiri-wallpapers-16.04, palapeli-data) with tools/bench_hints.py --choose.
REFERENCE_SPREAD = 80.0


def _palette_grid() -> Tensor:
    """The a*b* bins' centres ``(K², 2)`` in ab/110 units, a* first (row-major)."""
    centres = (torch.arange(-128, 128, PALETTE_STEP, dtype=torch.float32) + PALETTE_STEP / 2) / 110.0
    return torch.cartesian_prod(centres, centres)


def _light_bins(light: Tensor) -> Tensor:
    """L/50 − 1 → the lightness bin of :data:`PALETTE_LIGHT_BINS` (long, same shape)."""
    return ((light.float() + 1) / 2 * PALETTE_LIGHT_BINS).long().clamp_(0, PALETTE_LIGHT_BINS - 1)


def lightness_palette(rgb: Tensor, short: int) -> Tensor:
    """A reference photo, sRGB ``(1, 3, H, W)`` in [0, 1] (measured at short side ``short``), → its colours by
    lightness ``(PALETTE_LIGHT_BINS, K²)``: row ``l`` the share of each a*b* bin among the photo's pixels of about
    that lightness (each lightness bin's counts plus half of its neighbours', plus 5 % of the whole photo's
    distribution, so a lightness the photo lacks borrows its colours from around it). Rows sum to 1."""
    lab = _reference_lab(rgb, short)[0].flatten(1)  # (3, N)
    k = 256 // PALETTE_STEP
    ab = ((lab[1:] + 128) / PALETTE_STEP).long().clamp_(0, k - 1)
    cell = _light_bins(lab[0] / 50 - 1) * k * k + ab[0] * k + ab[1]
    counts = torch.zeros(PALETTE_LIGHT_BINS * k * k).scatter_add_(0, cell, torch.ones(len(cell)))
    counts = counts.view(PALETTE_LIGHT_BINS, k * k)
    smooth = counts.clone()
    smooth[1:] += 0.5 * counts[:-1]
    smooth[:-1] += 0.5 * counts[1:]
    whole = counts.sum(0) / counts.sum()
    rows = smooth / smooth.sum(1, keepdim=True).clamp(min=1) + 0.05 * whole
    return rows / rows.sum(1, keepdim=True)


def follow_reference(light: Tensor, ab: Tensor, palette: Tensor, spread_ab: float = REFERENCE_SPREAD) -> Tensor:
    """A colouring ``ab`` ``(1, 2, h, w)`` (ab/110) moved into a reference's colours: each pixel gets the mean of
    the reference's colours at its lightness (``palette``, :func:`lightness_palette`; ``light`` ``(1, 1, h, w)``
    L/50 − 1) weighted by how often the reference has them and by how close they are to the model's colour there
    (a Gaussian of σ ``spread_ab`` a*b* units): the reference says which colours, the model which of them where."""
    grid = _palette_grid().to(ab.device)
    bins = _light_bins(light[0, 0]).flatten()
    pred = ab[0].flatten(1).T.float()  # (N, 2)
    log_prior = palette.to(ab.device).clamp(min=1e-12).log()
    scale = 2 * (spread_ab / 110.0) ** 2
    out = torch.empty_like(pred)
    for start in range(0, len(pred), 8192):  # (8192, K²) weights at a time: memory bounded for any image
        part = slice(start, start + 8192)
        logits = log_prior[bins[part]] - torch.cdist(pred[part], grid).pow(2) / scale
        out[part] = torch.softmax(logits, 1) @ grid
    return out.T.reshape_as(ab[0])[None].to(ab.dtype)


#: The share of the model's own colouring that colour points keep around them (:func:`follow_points`): 0 is
#: Levin's colorization of the points, 1 the model's colours moved to agree with them. Chosen on held-out photos
#: (lomiri-wallpapers-16.04, palapeli-data) with tools/bench_hints.py --choose, never on the report photos.
KEEP = 0.25


def follow_points(light: Tensor, ab: Tensor, maps: Tensor, keep: float = KEEP,
                  spreader: Spreader | None = None) -> Tensor:
    """A colouring ``ab`` ``(1, 2, h, w)`` made to follow the hint ``maps`` ``(1, 3, h, w)`` (:func:`hint_map`):
    ``keep · ab`` plus the difference between the hints and it, spread edge-aware over the lightness ``light``
    ``(1, 1, h, w)`` in [-1, 1] (:func:`~pix2gan.propagate.spread` with the screening
    :data:`~pix2gan.propagate.SCREEN`, or ``spreader``: the same, factorised for this ``light`` beforehand). Equal to
    each hint on its pixels; between them the points' colours go where L says they belong, with ``keep`` of the
    model's own variation around them."""
    fixed = maps[0, 2] > 0.5
    if not bool(fixed.any()):
        return ab
    prior = keep * ab
    difference = (maps[0, :2] - prior[0]).permute(1, 2, 0).float().cpu().numpy()
    if spreader is None:
        correction = spread(_lightness(light), difference, fixed.cpu().numpy(), SCREEN)
    else:
        correction = spreader(difference, fixed.cpu().numpy())
    return prior + torch.from_numpy(correction).permute(2, 0, 1)[None].to(ab)


def spreader_for(light: Tensor) -> Spreader:
    """:func:`follow_points`' solver for the lightness ``light`` ``(1, 1, h, w)`` in [-1, 1], factorised."""
    return Spreader(_lightness(light))


def _lightness(light: Tensor) -> "np.ndarray":
    """``light`` ``(1, 1, h, w)`` in [-1, 1] as the spread's lightness ``(h, w)`` in [0, 1] (CIE L / 100)."""
    return ((light[0, 0].float() + 1) / 2).cpu().numpy()


@dataclass(frozen=True)
class Steering:
    """How the colorizer makes a hint model's colours follow the hints after the network: ``keep`` for colour points
    (:func:`follow_points`), ``reference_spread`` for a reference photo's palette (:func:`follow_reference`);
    ``points_to_network``: whether the network is given the points too (its hint channels). Off by default: the
    bundled network paints hard-edged blocks around points (:class:`HintFill`'s cell means stop abruptly at the first
    cell without a hint), while its unhinted colours are smooth, so points are followed after it alone."""

    keep: float = KEEP
    reference_spread: float = REFERENCE_SPREAD
    points_to_network: bool = False


class HintFiles:
    """Where each input's hints are: for a file INPUT, ``hints`` is one JSON file; for a folder INPUT, a folder
    mirroring it with ``NAME.json`` for ``NAME.ext`` (an image without one gets no hints)."""

    def __init__(self, input_path: Path, hints: Path):
        self.input, self.hints = Path(input_path), Path(hints)
        if self.input.is_dir() and not self.hints.is_dir():
            raise Pix2GanError(f"--hints {hints}: for a folder INPUT give a folder of NAME.json files mirroring it")
        if self.input.is_file() and not self.hints.is_file():
            raise Pix2GanError(f"--hints {hints}: no such file (for one image give its JSON file)")

    def path_for(self, src: Path) -> Path | None:
        """The hints file of the input ``src``, None when it has none."""
        if self.input.is_file():
            return self.hints
        path = (self.hints / Path(src).relative_to(self.input)).with_suffix(".json")
        return path if path.is_file() else None

    def orphans(self, sources: list[Path]) -> list[Path]:
        """Hints files of a folder that belong to none of ``sources`` (a misnamed file must not be ignored)."""
        if self.input.is_file():
            return []
        wanted = {(self.hints / Path(s).relative_to(self.input)).with_suffix(".json") for s in sources}
        return sorted(p for p in self.hints.rglob("*.json") if p not in wanted)


# ----------------------------------------------------------------------------------------------- the hint fill
#: The hint fill's cell sides (pixels at the model's scale), and then the whole image.
FILL_CELLS = (4, 16, 64)
#: Channels the fill adds: per cell size and for the whole image, the mean hinted ab and a confidence.
FILL_CHANNELS = 3 * (len(FILL_CELLS) + 1)


def _cell_means(x: Tensor, cell: int) -> Tensor:
    """Sums of ``x`` ``(B, C, H, W)`` over ``cell`` × ``cell`` cells (zero-padded at the bottom/right), upsampled
    bilinearly back to H × W (divided by cell²: the ratios below are unchanged)."""
    h, w = x.shape[-2:]
    ph, pw = (cell - h % cell) % cell, (cell - w % cell) % cell
    pooled = F.avg_pool2d(F.pad(x, (0, pw, 0, ph)), cell)
    return F.interpolate(pooled, scale_factor=cell, mode="bilinear", align_corners=False)[..., :h, :w]


class HintFill(nn.Module):
    """The hints spread over the image before the U-Net sees them: ``(B, 4, H, W)`` (L, hint ab, mask) → ``(B, 4 +
    FILL_CHANNELS, H, W)``, the input followed by, for each cell size of :data:`FILL_CELLS` and for the whole image,
    the mean ab of the hinted pixels in the cell (0 where it has none) and a confidence (hinted pixels in the cell,
    at most 1), smoothed between cells. A normalised convolution at several scales: the network starts from a
    rough, edge-blind fill of the hints and learns where L's edges stop it, instead of learning to carry a hint's
    colour across the image from a signal on a few pixels. No parameters."""

    def forward(self, x: Tensor) -> Tensor:
        ab, mask = x[:, 1:3], x[:, 3:4]
        weighted = torch.cat([ab * mask, mask], 1)
        parts = [x]
        for cell in FILL_CELLS:
            s = _cell_means(weighted, cell)
            parts += [s[:, :2] / s[:, 2:].clamp(min=1e-6), (s[:, 2:] * cell * cell).clamp(max=1)]
        total = weighted.sum((2, 3), keepdim=True)
        whole = torch.cat([total[:, :2] / total[:, 2:].clamp(min=1e-6), total[:, 2:].clamp(max=1)], 1)
        parts.append(whole.expand(-1, -1, *x.shape[-2:]))
        return torch.cat(parts, 1)
