"""Paired translation: any A → B (or B → A) image pairs, pix2pix's general task."""

from __future__ import annotations

import torch
from torch import Tensor

from pix2gan.tasks.pixels import signed_to_rgb, signed_to_uint8, to_signed


class PairedTask:
    """Stacked pairs ``(B, Cin + Cout, H, W)`` uint8 → cond ``(B, Cin, H, W)``, real ``(B, Cout, H, W)``, both in
    [-1, 1]. Channels are 1 (gray) or 3 (RGB) per side; ``load_size``: images are scaled to this short side before
    the training crops are cut."""

    command = "translate"
    spread_in_ab = False

    def __init__(self, in_channels: int = 3, out_channels: int = 3, direction: str = "AtoB", load_size: int = 80):
        self.cond_channels, self.out_channels, self.direction = in_channels, out_channels, direction
        self.judged_channels = in_channels  # what D and E see of the condition: all of it
        self.load_size = load_size

    @classmethod
    def from_config(cls, cfg) -> PairedTask:
        a, b = cfg.a_channels, cfg.b_channels
        return cls(*((a, b) if cfg.direction == "AtoB" else (b, a)), cfg.direction, cfg.load_size)

    def open_source(self, spec: str):
        """The aligned pairs of ``spec`` (A|B images side by side, or A/ and B/ folders)."""
        from pix2gan.data.paired import open_paired

        a_b = (self.cond_channels, self.out_channels)
        a, b = a_b if self.direction == "AtoB" else a_b[::-1]
        return open_paired(spec, self.load_size, a, b, self.direction)

    def contract(self) -> dict[str, str]:
        """What an exported model takes and gives (ONNX input/output names and meanings)."""
        side = lambda c: "gray" if c == 1 else "RGB"  # noqa: E731
        return {"input": "source", "output": "target",
                "input_meaning": f"(B, {self.cond_channels}, H, W) float32: the {side(self.cond_channels)} input "
                                 f"image ({self.direction}) as pixel/127.5 - 1 in [-1, 1]",
                "output_meaning": f"(B, {self.out_channels}, H, W) float32: the {side(self.out_channels)} output "
                                  f"image in [-1, 1]; pixels = (target + 1) * 127.5"}

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
