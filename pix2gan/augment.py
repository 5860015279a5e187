"""Differentiable augmentation for the discriminator (DiffAugment, Zhao et al. 2020): ``translation``, ``cutout``,
``color``.

Each function draws once per sample from the global RNG (checkpointed, so a resumed run draws the same) and is
differentiable in its input, so it can stand between G and D in the G phase. A conditional D sees the condition and
the image concatenated on channels: translation and cutout move and mask both together (they stay aligned); ``color``
uses one draw per sample for both parts but takes each part's own channel mean (``split`` channels are the
condition).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

POLICIES = ("color", "translation", "cutout")  # in the order they are applied


def _parts(x: Tensor, split: int) -> list[Tensor]:
    return [x[:, :split], x[:, split:]] if split else [x]


def color(x: Tensor, split: int = 0) -> Tensor:
    """Brightness (± 0.5), saturation (× [0, 2]) and contrast (× [0.5, 1.5]), one draw each per sample; ``(B, C, H,
    W)`` in [-1, 1]."""
    b = x.shape[0]
    bright = torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5
    sat = torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) * 2
    con = torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5
    out = []
    for part in _parts(x, split):
        part = part + bright
        mean = part.mean(1, keepdim=True)
        part = (part - mean) * sat + mean
        mean = part.mean((1, 2, 3), keepdim=True)
        out.append((part - mean) * con + mean)
    return torch.cat(out, 1)


def translation(x: Tensor, split: int = 0, ratio: float = 0.125) -> Tensor:
    """Shift every sample by up to ``ratio`` of its size in each direction, filling with zeros."""
    b, c, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    ys = (torch.arange(h, device=x.device)[None, :, None] + ty).clamp(-1, h) + 1  # rows of the zero-padded image
    xs = (torch.arange(w, device=x.device)[None, None, :] + tx).clamp(-1, w) + 1
    index = (ys * (w + 2) + xs).flatten(1)[:, None].expand(-1, c, -1)
    return F.pad(x, (1, 1, 1, 1)).flatten(2).gather(2, index).view(b, c, h, w)


def cutout(x: Tensor, split: int = 0, ratio: float = 0.5) -> Tensor:
    """Zero a ``ratio``-sized rectangle at a random place in every sample (it may reach past the border)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device) - cw // 2
    ys = torch.arange(h, device=x.device)[None, :, None] - top
    xs = torch.arange(w, device=x.device)[None, None, :] - left
    keep = ~((ys >= 0) & (ys < ch) & (xs >= 0) & (xs < cw))
    return x * keep[:, None].to(x.dtype)


AUGMENTS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: Tensor, policy: tuple[str, ...], split: int = 0) -> Tensor:
    """Apply the named augmentations in DiffAugment's order (color, translation, cutout)."""
    for name in POLICIES:
        if name in policy:
            x = AUGMENTS[name](x, split)
    return x
