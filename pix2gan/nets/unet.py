"""pix2pix U-Net generator, built from one recursive block, for any H×W."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A normalisation layer by name: ``batch``, ``instance`` (affine, no running stats) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {kind!r}")


class UNetBlock(nn.Module):
    """One level of the U: ``x → [x, up(inner(down(x)))]`` (the skip is the concatenation).

    Spatial size is halved by ``down`` (4×4 conv, stride 2) and restored by ``up`` (4×4 transposed conv, stride 2).
    An odd side is padded by one replicated row/column at the bottom/right before ``down`` and the result cropped
    back, so every level takes any size and the cost stays proportional to the pixels. Sides are also padded up to
    2 at the innermost level and 4 elsewhere, so no norm layer ever sees a 1×1 map (batch norm with batch 1 and
    instance norm cannot train on one).
    The innermost level has no inner block and no norm on its down path; the outermost has no skip and ends in tanh.
    """

    def __init__(self, outer: int, inner: int, sub: nn.Module | None, *, in_channels: int | None = None,
                 outermost: bool = False, norm: str = "batch", dropout: float = 0.0):
        super().__init__()
        in_channels = outer if in_channels is None else in_channels
        bias = norm != "batch"  # a bias right before batch norm is wasted
        down = nn.Conv2d(in_channels, inner, 4, 2, 1, bias=bias)
        up_in = inner if sub is None else inner * 2
        if outermost:
            up = nn.ConvTranspose2d(up_in, outer, 4, 2, 1)
            layers = [down, sub, nn.ReLU(True), up, nn.Tanh()]
        elif sub is None:  # innermost
            up = nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, norm_layer(norm, outer)]
        else:
            up = nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner), sub,
                      nn.ReLU(True), up, norm_layer(norm, outer)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.outermost = outermost
        self.min_side = 2 if sub is None else 4
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        ph = torch.sym_max(self.min_side, h + h % 2) - h
        pw = torch.sym_max(self.min_side, w + w % 2) - w
        # exported (ONNX), H and W are symbols: pad and crop by computed amounts (zero for even sides), no branch
        padded = torch.compiler.is_exporting() or ph or pw
        if padded:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        y = self.model(x)  # (the first LeakyReLU works in place: the skip below carries its output, as pix2pix)
        if not self.outermost:
            y = torch.cat([x, y], 1)
        return y[..., :h, :w] if padded else y


class UNet(nn.Module):
    """pix2pix U-Net generator.

    Args:
        in_channels: channels of the condition (1 for colorization's L).
        out_channels: channels of the output (2 for colorization's ab).
        depth: number of stride-2 levels; the bottleneck is ``H / 2**depth`` (pix2pix ``unet_256`` is depth 8).
        ngf: channels of the outermost level; level ``i`` has ``ngf * min(2**i, 8)``.
        norm: ``batch``, ``instance`` or ``none``.
        dropout: dropout probability on the up path of the (at most three) levels just outside the innermost one
            whose width is ``8 * ngf`` in and out, as pix2pix (``unet_256``: three levels, ``unet_128``: two).

    Input ``(B, in_channels, H, W)`` of any H, W ≥ 1 in [-1, 1]; output ``(B, out_channels, H, W)`` in [-1, 1].
    Odd sides are padded by one pixel at the level where they occur (see :class:`UNetBlock`), not the whole image
    to a multiple of ``2**depth``: a 128² image costs a quarter of a 256² one with ``unet_256``, not the same.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, depth: int = 8, ngf: int = 64,
                 norm: str = "batch", dropout: float = 0.5):
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be at least 2, got {depth}")
        norm_layer(norm, 1)  # validate the name early
        self.depth = depth
        width = [ngf * min(2 ** i, 8) for i in range(depth)]
        block = UNetBlock(width[depth - 2], width[depth - 1], None, norm=norm)
        for i in range(depth - 2, 0, -1):  # level i maps width[i-1] channels to width[i] and back
            with_dropout = dropout if depth - 1 - i <= 3 and width[i - 1] == width[i] else 0.0
            block = UNetBlock(width[i - 1], width[i], block, norm=norm, dropout=with_dropout)
        self.model = UNetBlock(out_channels, ngf, block, in_channels=in_channels, outermost=True, norm=norm)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
