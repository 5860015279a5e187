"""Losses: the adversarial registry (pure functions on discriminator logits), penalties, explicit terms.

Notation: ``l_r = D(x, y)`` are the logits on real pairs, ``l_f = D(x, G(x))`` on generated ones, both ``(B, 1, h, w)``
patch maps of raw logits (no sigmoid). Every loss is a scalar: the mean over batch and patches. Logistic losses use
softplus forms (``-log σ(l) = softplus(-l)``), never ``log(sigmoid(l) + eps)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Preset:
    """Training settings a GAN loss is known to work with; each is applied unless the user sets it."""

    optimizer: str = "adam"          # for both G and D
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1                # D updates per G update
    clip: float = 0.0                # clamp every D parameter to [-clip, clip] after each D step (0: off)
    gp_weight: float = 0.0           # WGAN-GP gradient penalty weight (0: off)
    spectral_norm: bool = False
    d_norm: str = "batch"

    def describe(self) -> str:
        parts = [f"{self.optimizer} lr={self.lr:g}"]
        if self.optimizer == "adam":
            parts.append(f"betas={self.betas[0]:g},{self.betas[1]:g}")
        parts.append(f"n_critic={self.n_critic}")
        if self.clip:
            parts.append(f"clip={self.clip:g}")
        if self.gp_weight:
            parts.append(f"gp={self.gp_weight:g}")
        parts.append(f"d_norm={self.d_norm}")
        if self.spectral_norm:
            parts.append("spectral_norm")
        return " ".join(parts)


@dataclass(frozen=True)
class GanLoss:
    """One adversarial game.

    ``d_loss(l_r, l_f)`` is minimised by D; ``g_loss(l_f, l_r)`` by G (``l_r`` is only read by relativistic losses;
    pass it detached). ``logistic`` marks the losses whose logits are log-odds, so ``σ(l)`` is a probability and
    Alpha-GAN's generator term ``-l_f`` applies.
    """

    name: str
    d_loss: LossFn
    g_loss: LossFn
    formula: str
    preset: Preset
    logistic: bool = False
    g_uses_real: bool = False
    threshold: float | None = 0.0  # a patch is judged real above it; None: the median of the batch's logits


def logistic_d(l_r: Tensor, l_f: Tensor) -> Tensor:
    """``mean softplus(-l_r) + mean softplus(l_f)``: binary cross-entropy, real → 1, fake → 0."""
    return F.softplus(-l_r).mean() + F.softplus(l_f).mean()


def minimax_g(l_f: Tensor, l_r: Tensor) -> Tensor:
    """``-mean softplus(l_f)`` = mean log(1 - D(G(x))): the original saturating generator loss."""
    return -F.softplus(l_f).mean()


def nonsaturating_g(l_f: Tensor, l_r: Tensor) -> Tensor:
    """``mean softplus(-l_f)`` = -mean log D(G(x))."""
    return F.softplus(-l_f).mean()


def lsgan_d(l_r: Tensor, l_f: Tensor) -> Tensor:
    """``½ mean (l_r - 1)² + ½ mean l_f²``."""
    return 0.5 * (l_r - 1).pow(2).mean() + 0.5 * l_f.pow(2).mean()


def lsgan_g(l_f: Tensor, l_r: Tensor) -> Tensor:
    """``½ mean (l_f - 1)²``."""
    return 0.5 * (l_f - 1).pow(2).mean()


def wasserstein_d(l_r: Tensor, l_f: Tensor) -> Tensor:
    """``mean l_f - mean l_r``: the critic's negated estimate of the Wasserstein-1 distance."""
    return l_f.mean() - l_r.mean()


def wasserstein_g(l_f: Tensor, l_r: Tensor) -> Tensor:
    """``-mean l_f`` (also the hinge generator loss)."""
    return -l_f.mean()


#: Alpha-GAN's generator term -log(D / (1 - D)) is -l_f for a logistic D: the Wasserstein G loss, by another name.
alpha_g = wasserstein_g


def hinge_d(l_r: Tensor, l_f: Tensor) -> Tensor:
    """``mean relu(1 - l_r) + mean relu(1 + l_f)``."""
    return F.relu(1 - l_r).mean() + F.relu(1 + l_f).mean()


def relativistic_d(l_r: Tensor, l_f: Tensor) -> Tensor:
    """RaSGAN: ``½[mean softplus(-(l_r - mean l_f)) + mean softplus(l_f - mean l_r)]``."""
    return 0.5 * (F.softplus(-(l_r - l_f.mean())).mean() + F.softplus(l_f - l_r.mean()).mean())


def relativistic_g(l_f: Tensor, l_r: Tensor) -> Tensor:
    """RaSGAN: ``½[mean softplus(l_r - mean l_f) + mean softplus(-(l_f - mean l_r))]``."""
    return 0.5 * (F.softplus(l_r - l_f.mean()).mean() + F.softplus(-(l_f - l_r.mean())).mean())


_WGAN_PRESET = Preset(optimizer="rmsprop", lr=5e-5, n_critic=5, clip=0.01)

GAN_LOSSES: dict[str, GanLoss] = {loss.name: loss for loss in [
    GanLoss("minimax", logistic_d, minimax_g,
            "D: softplus(-l_r) + softplus(l_f);  G: -softplus(l_f) = log(1 - D(G(x))) (saturates)",
            Preset(), logistic=True),
    GanLoss("nonsaturating", logistic_d, nonsaturating_g,
            "D: softplus(-l_r) + softplus(l_f);  G: softplus(-l_f) = -log D(G(x))",
            Preset(), logistic=True),
    GanLoss("lsgan", lsgan_d, lsgan_g,
            "D: ½(l_r-1)² + ½l_f²;  G: ½(l_f-1)²",
            Preset(), threshold=0.5),
    GanLoss("wgan", wasserstein_d, wasserstein_g,
            "D: l_f - l_r;  G: -l_f;  D weights clipped to ±0.01",
            _WGAN_PRESET, threshold=None),
    GanLoss("wgan-gp", wasserstein_d, wasserstein_g,
            "D: l_f - l_r + 10·(‖∇D(x̂)‖₂ - 1)²;  G: -l_f",
            Preset(lr=1e-4, betas=(0.0, 0.9), n_critic=5, gp_weight=10.0, d_norm="instance"), threshold=None),
    GanLoss("hinge", hinge_d, wasserstein_g,
            "D: relu(1-l_r) + relu(1+l_f);  G: -l_f",
            Preset(spectral_norm=True)),
    GanLoss("relativistic", relativistic_d, relativistic_g,
            "RaSGAN, d_r = l_r - mean l_f, d_f = l_f - mean l_r;  D: ½[softplus(-d_r) + softplus(d_f)];  "
            "G: ½[softplus(d_r) + softplus(-d_f)]",
            Preset(), g_uses_real=True, threshold=None),
]}


def d_accuracy(l_r: Tensor, l_f: Tensor, threshold: float | None) -> tuple[float, float]:
    """Fractions of real patches judged real and of fake patches judged fake (``threshold`` None: the median of
    all logits, for critics whose scores have no fixed zero)."""
    t = torch.cat([l_r.flatten(), l_f.flatten()]).median() if threshold is None else threshold
    return (l_r > t).float().mean().item(), (l_f < t).float().mean().item()


def patch_score(logits: Tensor) -> Tensor:
    """Per-sample critic score: the mean over patches, ``(B, 1, h, w) → (B,)``, the quantity the losses average."""
    return logits.flatten(1).mean(1)


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     eps: Tensor | None = None) -> Tensor:
    """WGAN-GP penalty ``E[(‖∇_x̂ score(x̂)‖₂ - 1)²]`` at ``x̂ = ε·real + (1-ε)·fake``, one ε ~ U(0, 1) per sample.

    ``critic`` maps images ``(B, C, H, W)`` to logits; the score is the per-sample patch mean. The norm is taken per
    sample over all its elements. ``create_graph=True`` so the penalty trains the critic. ``eps`` ``(B, 1, 1, 1)``
    may be given (drawn by the caller's seeded stream); by default it is drawn here. Returns a scalar ≥ 0.
    """
    if eps is None:
        eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(patch_score(critic(x_hat)).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 ``E‖∇_x score(x)‖²`` on real images (Mescheder et al. 2018); the trainer adds ``γ/2`` times it to D's loss."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(patch_score(critic(x)).sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


def l1(fake: Tensor, real: Tensor) -> Tensor:
    """Mean absolute error."""
    return F.l1_loss(fake, real)


def l2(fake: Tensor, real: Tensor) -> Tensor:
    """Mean squared error."""
    return F.mse_loss(fake, real)


def gdl(fake: Tensor, real: Tensor, alpha: float = 1.0) -> Tensor:
    """Gradient difference loss (Mathieu et al. 2016): mean of ``| |∂y| − |∂ŷ| |^α`` over vertical and horizontal
    one-pixel differences of ``(B, C, H, W)`` images; it rewards edges where the target has edges."""
    dy = lambda x: (x[..., 1:, :] - x[..., :-1, :]).abs()  # noqa: E731
    dx = lambda x: (x[..., :, 1:] - x[..., :, :-1]).abs()  # noqa: E731
    return ((dy(real) - dy(fake)).abs().pow(alpha).mean() + (dx(real) - dx(fake)).abs().pow(alpha).mean())


RECON_LOSSES: dict[str, LossFn] = {"l1": l1, "l2": l2}


def kl_to_prior(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) ‖ N(0, I)) of each code, summed over its Z entries and averaged over the batch:
    ``mean_b ½ Σ_j (mu² + exp(logvar) − 1 − logvar)``. ``mu``, ``logvar``: ``(B, Z)``. BicycleGAN's cVAE-GAN
    term (it sums over the batch too; the mean keeps the weight independent of the batch size)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
