"""The conversions every task shares: pixels ↔ the networks' [-1, 1] range."""

from __future__ import annotations

import torch
from torch import Tensor


def unit(x: Tensor) -> Tensor:
    """uint8 in [0, 255] (or float already in [0, 1]) → float in [0, 1]."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def to_signed(x: Tensor) -> Tensor:
    """Pixels (uint8, or float in [0, 1]) → float in [-1, 1]."""
    return unit(x) * 2.0 - 1.0


def signed_to_rgb(x: Tensor) -> Tensor:
    """``(B, 1|3, H, W)`` in [-1, 1] → a picture ``(B, 3, H, W)`` in [0, 1] (gray repeated)."""
    rgb = (x.clamp(-1, 1) + 1) / 2
    return rgb.expand(-1, 3, -1, -1) if rgb.shape[1] == 1 else rgb


def signed_to_uint8(x: Tensor) -> Tensor:
    """``(..., H, W)`` in [-1, 1] → uint8 (rounded), same shape."""
    return ((x.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8)
