"""Next-frame prediction: the last ``context`` frames, stacked on channels, in; the next frame out."""

from __future__ import annotations

import torch
from torch import Tensor

from pix2gan.tasks.pixels import signed_to_rgb, signed_to_uint8, to_signed


class NextFrameTask:
    """Windows ``(B, context + 1, C, H, W)`` uint8 → cond = the first ``context`` frames ``(B, context·C, H, W)``,
    real = the last frame ``(B, C, H, W)``, both in [-1, 1]. C is 1 (gray) or 3 (RGB)."""

    command = "predict"
    spread_in_ab = False

    def __init__(self, context: int = 4, channels: int = 1, layout: str = "auto", frame_step: int = 1):
        self.context, self.channels, self.layout, self.frame_step = context, channels, layout, frame_step
        self.cond_channels = self.judged_channels = context * channels
        self.out_channels = channels

    @classmethod
    def from_config(cls, cfg) -> NextFrameTask:
        return cls(cfg.context, cfg.frame_channels, cfg.layout, cfg.frame_step)

    def open_source(self, spec: str):
        """Windows of ``context + 1`` frames from the videos, frame folders, animations or arrays of ``spec``."""
        from pix2gan.data.sequences import open_sequences

        return open_sequences(spec, self.channels, self.context + 1, self.layout, self.frame_step)

    def contract(self) -> dict[str, str]:
        """What an exported model takes and gives (ONNX input/output names and meanings)."""
        kind = "gray" if self.channels == 1 else "RGB"
        return {"input": "context", "output": "next",
                "input_meaning": f"(B, {self.cond_channels}, H, W) float32: the last {self.context} {kind} frames, "
                                 f"oldest first, stacked on channels ({self.channels} each), as pixel/127.5 - 1 "
                                 f"in [-1, 1]",
                "output_meaning": f"(B, {self.channels}, H, W) float32: the next frame in [-1, 1]; pixels = "
                                  f"(next + 1) * 127.5"}

    def to_tensors(self, batch: Tensor, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        x = to_signed(batch.to(device, non_blocking=True))
        return x[:, :self.context].flatten(1, 2), x[:, self.context]

    def cond(self, frames: Tensor) -> Tensor:
        """The last ``context`` frames ``(B, T ≥ context, C, H, W)`` (uint8, or float in [0, 1]) → the stacked
        condition ``(B, context·C, H, W)`` in [-1, 1]."""
        return to_signed(frames[:, -self.context:]).flatten(1, 2)

    def to_rgb(self, cond: Tensor, out: Tensor) -> Tensor:
        """A frame ``(B, C, H, W)`` in [-1, 1] → ``(B, 3, H, W)`` in [0, 1]."""
        return signed_to_rgb(out)

    def to_pixels(self, cond: Tensor, out: Tensor) -> Tensor:
        """A frame as uint8 ``(B, C, H, W)``."""
        return signed_to_uint8(out)

    def cond_to_rgb(self, cond: Tensor) -> Tensor:
        """The last context frame as a picture."""
        return signed_to_rgb(cond[:, -self.channels:])
