"""Colorization: the L channel of CIE Lab in, the ab channels out."""

from __future__ import annotations

import kornia.color
import torch
from torch import Tensor

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


class ColorizeTask:
    """Colour photos → (cond = L, real = ab). The generator predicts ab; pixels are Lab(L, ab) → sRGB.
    ``load_size``: photos are scaled to this short side before the training crops are cut."""

    cond_channels = 1
    out_channels = 2
    command = "colorize"  # the inference command of a model of this task
    spread_in_ab = True  # several answers differ in colour alone: their spread is measured in CIE ab

    def __init__(self, load_size: int = 80):
        self.load_size = load_size

    @classmethod
    def from_config(cls, cfg) -> ColorizeTask:
        return cls(cfg.load_size)

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
                                  f"there and upsampling ab to the full image works best"}

    def to_tensors(self, batch: Tensor, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        """uint8 ``(B, 3, H, W)`` sRGB → ``cond (B, 1, H, W)`` in [-1, 1], ``real (B, 2, H, W)`` in about [-1, 1]."""
        return rgb_to_lab_tensors(unit(batch.to(device, non_blocking=True)))

    def cond(self, pixels: Tensor) -> Tensor:
        """sRGB ``(B, 3, H, W)`` (uint8, or float in [0, 1]; gray images have R = G = B) → L ``(B, 1, H, W)``."""
        return rgb_to_lab_tensors(unit(pixels))[0]

    def to_rgb(self, cond: Tensor, out: Tensor) -> Tensor:
        """``cond`` (L) and a generator output or target (ab) → sRGB ``(B, 3, H, W)`` in [0, 1]."""
        return lab_tensors_to_rgb(cond, out)

    def to_pixels(self, cond: Tensor, out: Tensor) -> Tensor:
        """sRGB uint8 ``(B, 3, H, W)``."""
        return (self.to_rgb(cond, out) * 255 + 0.5).clamp(0, 255).to(torch.uint8)

    def cond_to_rgb(self, cond: Tensor) -> Tensor:
        """The condition as a picture: the gray image ``(B, 3, H, W)`` in [0, 1]."""
        return lab_tensors_to_rgb(cond, torch.zeros_like(cond).expand(-1, 2, -1, -1))
