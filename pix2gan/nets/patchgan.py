"""PatchGAN discriminator: one raw logit per overlapping patch."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from pix2gan.nets.unet import norm_layer


def patch_receptive_field(n_layers: int) -> int:
    """Receptive field in pixels of one output logit of ``PatchDiscriminator(n_layers=n)``.

    n = 1, 2, 3, 4, 5 gives 16, 34, 70, 142, 286 (pix2pix's default is 3 → 70×70 patches).
    """
    rf = 1
    for stride in [1, 1] + [2] * n_layers:  # walk back from the output: two stride-1 convs, then n stride-2 convs
        rf = (rf - 1) * stride + 4
    return rf


def patch_output_size(size: int, n_layers: int) -> int:
    """The side of the logit map :class:`PatchDiscriminator` gives for an input side ``size`` (below 1: too small)."""
    for _ in range(n_layers):
        size //= 2
    return size - 2


class PatchDiscriminator(nn.Module):
    """pix2pix ``NLayerDiscriminator``.

    ``n_layers`` 4×4 stride-2 convs (widths ``ndf * min(2**i, 8)``, no norm on the first), one 4×4 stride-1 conv and a
    4×4 stride-1 conv to one channel. Receptive field: see :func:`patch_receptive_field` (16/34/70/142/286 for
    n_layers 1–5).

    Input ``(B, in_channels, H, W)``; output ``(B, 1, H / 2**n_layers - 2, W / 2**n_layers - 2)`` raw logits
    (no sigmoid): the losses decide how to read them. A conditional discriminator is built with
    ``in_channels = cond + image`` channels and fed their concatenation by the caller.
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch",
                 spectral_norm: bool = False):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        sn = _spectral_norm if spectral_norm else (lambda m: m)
        bias = norm != "batch"
        layers: list[nn.Module] = [sn(nn.Conv2d(in_channels, ndf, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        width = ndf
        for i in range(1, n_layers + 1):
            stride = 2 if i < n_layers else 1
            nxt = ndf * min(2 ** i, 8)
            layers += [sn(nn.Conv2d(width, nxt, 4, stride, 1, bias=bias)), norm_layer(norm, nxt),
                       nn.LeakyReLU(0.2, True)]
            width = nxt
        layers.append(sn(nn.Conv2d(width, 1, 4, 1, 1)))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
