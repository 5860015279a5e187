"""Next-frame prediction: the last ``context`` frames, stacked on channels, in; the next frame out."""

from __future__ import annotations

import torch
from torch import Tensor

from pix2gan.data.sequences import SequenceSet, open_sequences


class NextFrameTask:
    """Windows ``(B, context + 1, C, H, W)`` uint8 → cond = the first ``context`` frames ``(B, context·C, H, W)``,
    real = the last frame ``(B, C, H, W)``, both in [-1, 1]. C is 1 (gray) or 3 (RGB)."""

    name = "nextframe"

    def __init__(self, context: int = 4, channels: int = 1, layout: str = "auto"):
        self.context, self.channels, self.layout = context, channels, layout
        self.cond_channels = context * channels
        self.out_channels = channels

    @classmethod
    def from_config(cls, cfg) -> NextFrameTask:
        return cls(cfg.context, cfg.frame_channels, cfg.layout)

    def open_data(self, spec: str, cfg, progress: bool = True) -> SequenceSet:
        """Sequences from ``builtin:NAME``, a .npy file, an animation or a folder (frames at native size,
        cropped to ``cfg.size``)."""
        data = open_sequences(spec, self.channels, self.context, self.layout)
        data.check_size(cfg.size)
        return data

    def to_tensors(self, batch: Tensor, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        x = batch.to(device, non_blocking=True).float() / 127.5 - 1.0
        return x[:, :self.context].flatten(1, 2), x[:, self.context]

    def frames_to_cond(self, frames: Tensor) -> Tensor:
        """``(B, context, C, H, W)`` in [-1, 1] → the stacked condition ``(B, context·C, H, W)``."""
        return frames.flatten(1, 2)

    def to_rgb(self, cond: Tensor, out: Tensor) -> Tensor:
        """A frame ``(B, C, H, W)`` in [-1, 1] → ``(B, 3, H, W)`` in [0, 1]."""
        rgb = (out.clamp(-1, 1) + 1) / 2
        return rgb.expand(-1, 3, -1, -1) if rgb.shape[1] == 1 else rgb

    def cond_to_rgb(self, cond: Tensor) -> Tensor:
        """The last context frame as a picture."""
        return self.to_rgb(cond, cond[:, -self.channels:])
