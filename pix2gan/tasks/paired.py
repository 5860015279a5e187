"""Paired translation: any A → B (or B → A) image pairs, pix2pix's general task."""

from __future__ import annotations

import torch
from torch import Tensor

from pix2gan.data.paired import open_paired
from pix2gan.data.photos import PhotoSet


class PairedTask:
    """Stacked pairs ``(B, Cin + Cout, H, W)`` uint8 → cond ``(B, Cin, H, W)``, real ``(B, Cout, H, W)``, both in
    [-1, 1]. Channels are 1 (gray) or 3 (RGB) per side."""

    name = "paired"

    def __init__(self, in_channels: int = 3, out_channels: int = 3, direction: str = "AtoB"):
        self.cond_channels, self.out_channels, self.direction = in_channels, out_channels, direction

    @classmethod
    def from_config(cls, cfg) -> PairedTask:
        a, b = cfg.a_channels, cfg.b_channels
        return cls(a, b, "AtoB") if cfg.direction == "AtoB" else cls(b, a, "BtoA")

    def open_data(self, spec: str, cfg, progress: bool = True) -> PhotoSet:
        """A folder of aligned A|B images, or a folder holding ``A/`` and ``B/`` (see :mod:`pix2gan.data.paired`)."""
        return open_paired(spec, cfg.load_size, self.cond_channels, self.out_channels, self.direction)

    def to_tensors(self, batch: Tensor, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        x = batch.to(device, non_blocking=True).float() / 127.5 - 1.0
        return x[:, :self.cond_channels], x[:, self.cond_channels:]

    @staticmethod
    def _rgb(x: Tensor) -> Tensor:
        x = (x.clamp(-1, 1) + 1) / 2
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    def to_rgb(self, cond: Tensor, out: Tensor) -> Tensor:
        """A B-side image ``(B, Cout, H, W)`` in [-1, 1] → ``(B, 3, H, W)`` in [0, 1]."""
        return self._rgb(out)

    def cond_to_rgb(self, cond: Tensor) -> Tensor:
        return self._rgb(cond)
