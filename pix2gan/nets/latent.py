"""Alpha-GAN's other two networks: the encoder E (an image and its condition → a latent code) and the code
discriminator C (a code → a logit: "from E, or from the prior N(0, I)?")."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def prior_codes(count: int, dim: int, seed: int) -> Tensor:
    """``(count, dim)`` draws from the prior N(0, I), a pure function of ``seed``: sample ``i`` of ``--seed S`` is
    ``prior_codes(1, dim, S + i)`` (so ``--samples N --seed S`` holds ``--seed S+1``'s answer as its second)."""
    return torch.randn(count, dim, generator=torch.Generator().manual_seed(seed))


def answer_codes(G: nn.Module, z, seed: int, count: int = 1) -> Tensor | None:
    """The codes a generator answers with, ``(count, Z)`` fp32: ``z`` when given (``(Z,)`` for one code), else
    ``count`` prior draws of ``seed``; None for a generator without a latent code (both are ignored)."""
    dim = getattr(G, "latent_dim", 0)
    if not dim:
        return None
    if z is None:
        return prior_codes(count, dim, seed)
    code = torch.as_tensor(z, dtype=torch.float32)
    if count == 1 and code.shape == (dim,):
        code = code[None]
    if code.shape != (count, dim):
        from pix2gan.errors import Pix2GanError

        raise Pix2GanError(f"z must be ({count}, {dim})" + (": one code per step" if count > 1 else "")
                           + f", got {tuple(code.shape)}")
    return code


class Encoder(nn.Module):
    """E: ``(B, in_channels, H, W)`` (the target with its condition, in [-1, 1]) → ``(B, out_dim)``.

    ``levels`` 3×3 stride-2 convolutions (widths ``nef * min(2**i, 4)``, LeakyReLU 0.2, no norm: the last maps
    can be 1×1), a global average over H×W and a linear layer. A 3×3 stride-2 convolution maps any side n ≥ 1 to
    ⌈n / 2⌉, so every size works. ``out_dim`` is Z for a deterministic code (Alpha-GAN) or 2Z for a mean and a
    log-variance (BicycleGAN's cVAE-GAN).
    """

    def __init__(self, in_channels: int, out_dim: int, nef: int = 64, levels: int = 4):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for i in range(levels):
            nxt = nef * min(2 ** i, 4)
            layers += [nn.Conv2d(width, nxt, 3, 2, 1), nn.LeakyReLU(0.2, True)]
            width = nxt
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).mean((2, 3)))


class CodeDiscriminator(nn.Module):
    """C: a code ``(B, Z)`` → a raw logit ``(B, 1)`` (Alpha-GAN's code discriminator: three linear layers,
    LeakyReLU 0.2; spectral norm when the GAN loss's preset asks for it)."""

    def __init__(self, latent_dim: int, width: int = 256, spectral_norm: bool = False):
        super().__init__()
        from torch.nn.utils.parametrizations import spectral_norm as _sn

        sn = _sn if spectral_norm else (lambda m: m)
        self.model = nn.Sequential(sn(nn.Linear(latent_dim, width)), nn.LeakyReLU(0.2, True),
                                   sn(nn.Linear(width, width)), nn.LeakyReLU(0.2, True), sn(nn.Linear(width, 1)))

    def forward(self, z: Tensor) -> Tensor:
        return self.model(z)
