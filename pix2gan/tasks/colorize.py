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
    """Colour photos → (cond = L, real = ab). The generator predicts ab; pixels are Lab(L, ab) → sRGB."""

    cond_channels = 1
    out_channels = 2

    @classmethod
    def from_config(cls, cfg) -> ColorizeTask:
        return cls()

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
