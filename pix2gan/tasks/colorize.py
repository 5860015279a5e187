"""Colorization: the L channel of CIE Lab in, the ab channels out."""

from __future__ import annotations

import functools

import kornia.color
import kornia.filters
import torch
from torch import Tensor

from pix2gan.hints import HINT_CHANNELS
from pix2gan.tasks.pixels import unit

L_SCALE, AB_SCALE = 50.0, 110.0


def rgb_to_lab_tensors(rgb: Tensor) -> tuple[Tensor, Tensor]:
    """sRGB ``(B, 3, H, W)`` in [0, 1] → ``(L, ab)``: L/50 - 1 ``(B, 1, H, W)`` in [-1, 1], ab/110 ``(B, 2, H, W)``
    in about [-1, 1]."""
    lab = kornia.color.rgb_to_lab(rgb)
    return lab[:, :1] / L_SCALE - 1.0, lab[:, 1:] / AB_SCALE


def lab_tensors_to_rgb(light: Tensor, ab: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_lab_tensors`: ``(B, 1, H, W)`` and ``(B, 2, H, W)`` → sRGB ``(B, 3, H, W)`` in [0, 1]."""
    lab = torch.cat([(light + 1.0) * L_SCALE, ab * AB_SCALE], 1)
    return kornia.color.lab_to_rgb(lab, clip=True)


#: :func:`detail_weight`'s constants, chosen on the bundled colorizer's select photos (docs/default_colorizer.md):
#: the Sobel magnitude of L/50 − 1 at which half the colour is kept before scaling, the scale (a weight of FLAT_FULL
#: counts as full colour), the guided filter's radius as a fraction of the short side and its ε (in (L/50 − 1)²).
FLAT_KNEE, FLAT_FULL, FLAT_RADIUS, FLAT_EPS = 0.1, 0.5, 1 / 16, 1e-3


def detail_weight(light: Tensor) -> Tensor:
    """How much of a colour guessed from ``light`` alone to keep at each pixel: ``(B, 1, h, w)`` in [0, 1] for
    L/50 − 1 ``(B, 1, h, w)`` in [-1, 1], at the size colour is predicted at.

    A flat area (a clear or overcast sky, a wall, an out-of-focus background) gives a colorizer nothing to tell its
    colour by, and that is where a guess goes wrong most (a gray sky painted peach, a bokeh painted green); where
    the photo has detail the guess has something to go on. The weight is the local detail ``g / (g + FLAT_KNEE)``
    (``g``: kornia's normalised Sobel magnitude), scaled so ``FLAT_FULL`` keeps all of it, then smoothed with a
    guided filter steered by ``light`` (radius ``FLAT_RADIUS`` × the short side): it changes at the photo's own
    edges instead of glowing around them."""
    g = kornia.filters.sobel(light)
    h, w = light.shape[-2:]
    radius = max(1, round(FLAT_RADIUS * min(h, w)))
    smooth = kornia.filters.guided_blur(light, g / (g + FLAT_KNEE), 2 * radius + 1, FLAT_EPS, border_type="replicate",
                                        separable=True)  # the same box means, 5× faster at radius 16
    return (smooth / FLAT_FULL).clamp(0, 1)


# ----------------------------------------------------------------------------------------------- uint8 fast path
# The same conversions for 8-bit pixels, cheaper at full resolution: tables where the input has 256 values, one
# cube root per pixel instead of three, the sRGB gamma as a table over 2^16 linear steps (a step moves the 8-bit
# output by at most one level). Used by the colorizer's fast backend; ``rgb_to_lab_tensors`` stays the reference.
_GAMMA_STEPS = 65535


@functools.lru_cache(maxsize=None)
def _tables(device: str) -> tuple[Tensor, Tensor, Tensor]:
    """(gray level → L/50 − 1, sRGB level → linear, linear step → sRGB level), as the kornia reference computes them."""
    levels = torch.arange(256, dtype=torch.float32) / 255
    gray_light = rgb_to_lab_tensors(levels.view(1, 1, 1, 256).expand(1, 3, 1, 256))[0].flatten()
    linear = kornia.color.rgb_to_linear_rgb(levels.view(1, 1, 256).expand(3, 1, 256))[0, 0]
    steps = torch.arange(_GAMMA_STEPS + 1, dtype=torch.float32) / _GAMMA_STEPS
    srgb = kornia.color.linear_rgb_to_rgb(steps.view(1, 1, -1).expand(3, 1, -1))[0, 0]
    return (gray_light.to(device), linear.to(device),
            (srgb * 255 + 0.5).clamp(0, 255).to(torch.uint8).to(device))


def lightness_u8(pixels: Tensor) -> Tensor:
    """uint8 gray ``(B, 1, H, W)`` or sRGB ``(B, 3, H, W)`` → L/50 − 1 ``(B, 1, H, W)`` in [-1, 1]: what
    :func:`rgb_to_lab_tensors` gives (gray: exactly, from a table), without converting a and b."""
    gray_light, linear, _ = _tables(str(pixels.device))
    if pixels.shape[1] == 1:
        return gray_light[pixels.long()].float()
    lin = linear[pixels.long()]
    y = 0.212671 * lin[:, :1] + 0.715160 * lin[:, 1:2] + 0.072169 * lin[:, 2:]  # D65 white: Yn = 1
    f = torch.where(y > 0.008856, y.clamp(min=0.008856).pow(1 / 3), 7.787 * y + 4 / 29)
    return (116 * f - 16) / L_SCALE - 1.0


def _finv(t: Tensor) -> Tensor:
    return torch.where(t > 0.2068966, t * t * t, (t - 4 / 29) / 7.787)


def lab_to_srgb_u8(light: Tensor, ab: Tensor) -> Tensor:
    """``(1, 1, H, W)`` L/50 − 1 and ``(1, 2, H, W)`` ab/110 → uint8 sRGB ``(H, W, 3)`` (channels last, as an image
    file holds them): the pixels of :meth:`ColorizeTask.to_pixels` (within one level where the gamma table rounds
    otherwise)."""
    fy = ((light[0, 0] + 1.0) * L_SCALE + 16.0) / 116.0
    fxyz = torch.stack([ab[0, 0] * (AB_SCALE / 500.0) + fy, fy, (fy - ab[0, 1] * (AB_SCALE / 200.0)).clamp(min=0.0)])
    rgb = _XYZ_TO_RGB_D65.to(light.device) @ _finv(fxyz).flatten(1)  # (3, H·W) linear sRGB
    steps = rgb.clamp_(0.0, 1.0).mul_(_GAMMA_STEPS).add_(0.5).long().flatten()
    srgb = _tables(str(light.device))[2].index_select(0, steps)
    return srgb.view(3, *light.shape[-2:]).permute(1, 2, 0).contiguous()


#: Lab's f⁻¹(x, y, z) → linear sRGB: the D65 white (0.95047, 1, 1.08883) times kornia's ``xyz_to_rgb`` matrix.
_XYZ_TO_RGB_D65 = torch.tensor([[3.2404813432005266, -1.5371515162713185, -0.4985363261688878],
                                [-0.9692549499965682, 1.8759900014898907, 0.0415559265582928],
                                [0.0556466391351772, -0.2040413383665112, 1.0573110696453443]]) \
    * torch.tensor([0.95047, 1.0, 1.08883])


class ColorizeTask:
    """Colour photos → (cond = L, real = ab). The generator predicts ab; pixels are Lab(L, ab) → sRGB.
    ``load_size``: photos are scaled to this short side before the training crops are cut.

    ``hints``: the condition is ``(L, hint ab, hint mask)`` (:mod:`pix2gan.hints`); :meth:`to_tensors` gives it
    without hints (zeros), training adds simulated ones. D and E see L alone (``judged_channels``): realism is a
    property of the photo, not of the request, and the hints are honoured through the explicit term, whose target
    is the hint's own colour at every hinted pixel."""

    out_channels = 2
    judged_channels = 1
    command = "colorize"  # the inference command of a model of this task
    spread_in_ab = True  # several answers differ in colour alone: their spread is measured in CIE ab

    def __init__(self, load_size: int = 80, hints: bool = False):
        self.load_size, self.hints = load_size, hints
        self.cond_channels = 1 + (HINT_CHANNELS if hints else 0)

    @classmethod
    def from_config(cls, cfg) -> ColorizeTask:
        return cls(cfg.load_size, getattr(cfg, "hints", False))

    def open_source(self, spec: str):
        """The colour photos of ``spec`` (a folder or ``builtin:NAME``), listed, not decoded."""
        from pix2gan.data.photos import open_photos

        return open_photos(spec, self.load_size)

    def contract(self) -> dict[str, str]:
        """What an exported model takes and gives (ONNX input/output names and meanings)."""
        return {"input": "L", "output": "ab",
                "input_meaning": "(B, 1, H, W) float32: CIE Lab lightness of the sRGB image (D65) as L/50 - 1, "
                                 "in [-1, 1]; any H, W >= 1",
                "output_meaning": "(B, 2, H, W) float32: the predicted a*, b* divided by 110; the colour image is "
                                  "Lab(L, 110 * ab) converted to sRGB",
                "training_scale": f"photos were scaled to short side {self.load_size} for training; predicting "
                                  f"there and upsampling ab to the full image works best"} | (
            {"input": "L_hints",
             "input_meaning": "(B, 4, H, W) float32: CIE Lab lightness of the sRGB image (D65) as L/50 - 1, in "
                              "[-1, 1]; then the colour hints at the same size: a*/110 and b*/110 of each hinted "
                              "pixel (0 elsewhere) and a mask (1 where a hint is, 0 elsewhere); all three zero: no "
                              "hints; any H, W >= 1"} if self.hints else {})

    def to_tensors(self, batch: Tensor, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        """uint8 ``(B, 3, H, W)`` sRGB → ``cond (B, 1, H, W)`` in [-1, 1] (with hints: ``(B, 4, H, W)``, no hint
        given), ``real (B, 2, H, W)`` in about [-1, 1]."""
        light, ab = rgb_to_lab_tensors(unit(batch.to(device, non_blocking=True)))
        return self.with_hints(light), ab

    def with_hints(self, light: Tensor, hints: Tensor | None = None) -> Tensor:
        """The condition of L ``(B, 1, H, W)`` and hint maps ``(B, 3, H, W)`` (None: no hint) for this task's
        generator: L alone for a model without hint inputs."""
        if not self.hints:
            return light
        return torch.cat([light, hints if hints is not None else light.new_zeros(light.shape[0], HINT_CHANNELS,
                                                                                   *light.shape[-2:])], 1)

    def cond(self, pixels: Tensor) -> Tensor:
        """sRGB ``(B, 3, H, W)`` (uint8, or float in [0, 1]; gray images have R = G = B) → the condition (L, and
        no hints for a hint model)."""
        return self.with_hints(rgb_to_lab_tensors(unit(pixels))[0])

    def to_rgb(self, cond: Tensor, out: Tensor) -> Tensor:
        """``cond`` (L first) and a generator output or target (ab) → sRGB ``(B, 3, H, W)`` in [0, 1]."""
        return lab_tensors_to_rgb(cond[:, :1], out)

    def to_pixels(self, cond: Tensor, out: Tensor) -> Tensor:
        """sRGB uint8 ``(B, 3, H, W)``."""
        return (self.to_rgb(cond, out) * 255 + 0.5).clamp(0, 255).to(torch.uint8)

    def cond_to_rgb(self, cond: Tensor) -> Tensor:
        """The condition as a picture: the gray image ``(B, 3, H, W)`` in [0, 1]."""
        return lab_tensors_to_rgb(cond[:, :1], torch.zeros_like(cond[:, :1]).expand(-1, 2, -1, -1))
