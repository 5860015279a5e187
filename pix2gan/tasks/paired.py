"""Paired translation: any A → B (or B → A) image pairs, pix2pix's general task."""

from __future__ import annotations

import torch
from torch import Tensor

from pix2gan.tasks.pixels import signed_to_rgb, signed_to_uint8, to_signed


class PairedTask:
    """Stacked pairs ``(B, Cin + Cout, H, W)`` uint8 → cond ``(B, Cin, H, W)``, real ``(B, Cout, H, W)``, both in
    [-1, 1]. Channels are 1 (gray) or 3 (RGB) per side."""


    def __init__(self, in_channels: int = 3, out_channels: int = 3, direction: str = "AtoB"):
        self.cond_channels, self.out_channels, self.direction = in_channels, out_channels, direction

    @classmethod
    def from_config(cls, cfg) -> PairedTask:
        a, b = cfg.a_channels, cfg.b_channels
        return cls(a, b, "AtoB") if cfg.direction == "AtoB" else cls(b, a, "BtoA")

    def to_tensors(self, batch: Tensor, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        x = to_signed(batch.to(device, non_blocking=True))
        return x[:, :self.cond_channels], x[:, self.cond_channels:]

    def cond(self, pixels: Tensor) -> Tensor:
        """The input side ``(B, Cin, H, W)`` (uint8, or float in [0, 1]) → [-1, 1]."""
        return to_signed(pixels)

    def to_rgb(self, cond: Tensor, out: Tensor) -> Tensor:
        """A B-side image ``(B, Cout, H, W)`` in [-1, 1] → ``(B, 3, H, W)`` in [0, 1]."""
        return signed_to_rgb(out)

    def to_pixels(self, cond: Tensor, out: Tensor) -> Tensor:
        """The output side as uint8 ``(B, Cout, H, W)``."""
        return signed_to_uint8(out)

    def cond_to_rgb(self, cond: Tensor) -> Tensor:
        return signed_to_rgb(cond)
