"""One training step: the D phase and the G phase, as functions of the nets, their optimisers, a batch and the loss
settings; the phases of a run (:class:`Phase`) and the schedules (learning rate, EMA) as functions of the step. No
files, no logging: the loop (``train.py``) calls them.

The loop passes :class:`Hooks`: ``phase(name)`` labels a stretch of work (the ``--profile`` timer), ``check(values)``
stops before a non-finite loss reaches an optimiser, ``average(params)`` all-reduces gradients under torchrun. Their
defaults do nothing, so the phases run as they are in tests.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from pix2gan.augment import diff_augment
from pix2gan.diagnostics import grad_norm
from pix2gan.losses import (GAN_LOSSES, RECON_LOSSES, GanLoss, alpha_g, d_accuracy, gdl, gradient_penalty,
                            kl_to_prior, l1, r1_penalty)


@dataclass
class Nets:
    """The networks and their optimisers (``D``/``opt_d`` None for an explicit-loss-only run); fp16 scalers.
    A latent model also has the encoder ``E`` (trained with G by ``opt_g``) and, for the adversarial code loss,
    the code discriminator ``C`` and ``opt_c``; ``G_ema`` is the moving average of G when the run keeps one."""

    G: nn.Module
    D: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    scaler_g: torch.amp.GradScaler | None = None
    scaler_d: torch.amp.GradScaler | None = None
    E: nn.Module | None = None
    C: nn.Module | None = None
    opt_c: torch.optim.Optimizer | None = None
    G_ema: nn.Module | None = None

    #: What a checkpoint holds of them, under these keys: the one table that saving and restoring both follow.
    SAVED = ("G", "G_ema", "D", "opt_g", "opt_d", "E", "C", "opt_c")
    #: The generators alone (best.pt, exported models).
    GENERATORS = ("G", "G_ema")

    def state_dict(self, keys: tuple[str, ...] = SAVED) -> dict:
        return {k: getattr(self, k).state_dict() for k in keys if getattr(self, k) is not None}

    def load_state_dict(self, state: dict) -> None:
        for k in self.SAVED:
            if getattr(self, k) is not None:
                getattr(self, k).load_state_dict(state[k])

    def modules(self) -> list[nn.Module]:
        """The networks that train (not the EMA copy)."""
        return [net for net in (self.G, self.D, self.E, self.C) if net is not None]


@dataclass
class Codes:
    """A latent model's codes for one batch, all ``(B, Z)`` fp32, and the sampling path's output.

    ``z`` is the code G reconstructs the target from: E's code (adversarial code loss) or a draw from E's posterior
    N(mu, exp(logvar)) (kl). ``prior`` ~ N(0, I); ``sampled`` = G(cond, prior), judged by D alone.
    """

    z: Tensor
    mu: Tensor
    logvar: Tensor | None
    prior: Tensor
    sampled: Tensor | None = None


def encode(E: nn.Module, s: LossSettings, cond: Tensor, real: Tensor, noise: Tensor) -> tuple[Tensor, Tensor,
                                                                                                  Tensor | None]:
    """E's code of ``real`` ``(B, C, H, W)`` with its condition: ``(z, mu, logvar)``, ``(B, Z)`` fp32 each.
    kl: ``z = mu + noise · exp(logvar / 2)`` (the reparametrisation, ``noise`` ~ N(0, I)); adversarial: ``z = mu``,
    no logvar."""
    with s.autocast():
        out = E(torch.cat([cond, real], 1)).float()
    if s.code_loss == "kl":
        mu, logvar = out.chunk(2, 1)
        return mu + noise * (0.5 * logvar).exp(), mu, logvar
    return out, out, None


@dataclass(frozen=True)
class LossSettings:
    """Everything the phases need to know about the losses, from a resolved config."""

    gan: GanLoss | None
    g_adv_loss: Callable | None
    recon_loss: Callable | None
    conditional: bool
    adv_weight: float
    recon_weight: float
    gdl_weight: float
    gp_weight: float
    r1: float
    clip: float
    augment: tuple[str, ...]
    amp_dtype: torch.dtype | None = None
    device_type: str = "cpu"
    code_loss: str = "adversarial"  # latent models: adversarial (C) or kl
    code_weight: float = 0.0
    latent_regression: float = 0.0

    @classmethod
    def from_config(cls, cfg, device: torch.device) -> LossSettings:
        gan = GAN_LOSSES.get(cfg.gan_loss)
        return cls(gan=gan, g_adv_loss=alpha_g if cfg.g_adv_form == "alpha" else (gan.g_loss if gan else None),
                   recon_loss=RECON_LOSSES.get(cfg.recon), conditional=cfg.disc == "conditional",
                   adv_weight=cfg.adv_weight, recon_weight=cfg.recon_weight, gdl_weight=cfg.gdl_weight,
                   gp_weight=cfg.gp_weight, r1=cfg.r1, clip=cfg.clip,
                   augment=tuple(p for p in cfg.d_augment.split(",") if p),
                   amp_dtype={"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.precision],
                   device_type=device.type, code_loss=cfg.code_loss, code_weight=cfg.code_weight,
                   latent_regression=cfg.latent_regression)

    def autocast(self):
        """Mixed precision (``--precision bf16`` on CUDA or a CPU with native bf16, ``fp16`` on CUDA) for the
        networks' forward passes; fp32 (a no-op) otherwise."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.amp_dtype)


def _no_phase(name: str):
    return contextlib.nullcontext()


@dataclass
class Hooks:
    phase: Callable[[str], contextlib.AbstractContextManager] = _no_phase
    check: Callable[[dict[str, float]], None] = lambda values: None
    average: Callable[[object], None] = lambda params: None


def judge(D: nn.Module, s: LossSettings, cond: Tensor, image: Tensor) -> Tensor:
    """D's patch logits for ``image`` (seen with its condition when D is conditional), through the augmentation."""
    x = torch.cat([cond, image], 1) if s.conditional else image
    if s.augment:
        x = diff_augment(x, s.augment, split=cond.shape[1] if s.conditional else 0)
    return D(x)


def _update(loss: Tensor, opt, scaler, hooks: Hooks) -> None:
    """Gradients of ``loss`` for the parameters ``opt`` updates: averaged over ranks, unscaled (fp16's
    GradScaler)."""
    opt.zero_grad(set_to_none=True)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    hooks.average([p for group in opt.param_groups for p in group["params"]])
    if scaler is not None:
        scaler.unscale_(opt)


def _step(opt, scaler) -> None:
    if scaler is None:
        opt.step()
    else:  # skips the step when fp16 overflowed, and adapts the scale
        scaler.step(opt)
        scaler.update()


def d_phase(nets: Nets, s: LossSettings, cond: Tensor, real: Tensor, fake: Tensor, eps: Tensor | None = None,
            measure: bool = False, hooks: Hooks = Hooks()) -> dict[str, float]:
    """One D update. ``fake`` is detached: no gradient reaches G; ``(k·B, C, H, W)`` for ``k`` outputs per input
    (a latent model's reconstructions and samples, each with its condition). ``eps`` ``(B, 1, 1, 1)``: the
    gradient penalty's interpolation weights. Returns the figures to log (D's view and accuracy when ``measure``)."""
    # D phase: minimise the adversarial D loss (+ gradient penalty, + R1) on real and fake
    D, out = nets.D, {}
    reps = fake.shape[0] // real.shape[0]
    cond_f = cond if reps == 1 else cond.repeat(reps, 1, 1, 1)
    with hooks.phase("D forward"):
        with s.autocast():  # mixed precision covers the networks; every loss below is computed in fp32
            d_real, d_fake = judge(D, s, cond, real), judge(D, s, cond_f, fake)
        d_real, d_fake = d_real.float(), d_fake.float()
        loss_d = s.gan.d_loss(d_real, d_fake)
    # penalties differentiate through D twice: computed in fp32 whatever the precision
    with hooks.phase("penalties"):
        if s.gp_weight > 0:  # WGAN-GP, every D step, weight gp_weight
            real_f, eps_f = (real, eps) if reps == 1 else (real.repeat(reps, 1, 1, 1), eps.repeat(reps, 1, 1, 1))
            gp = gradient_penalty(lambda y: judge(D, s, cond_f, y), real_f, fake.float(), eps_f)
            loss_d = loss_d + s.gp_weight * gp
            out["gp"] = gp.item()
        if s.r1 > 0:  # R1 on real images, every D step, gain r1 / 2
            r1 = r1_penalty(lambda y: judge(D, s, cond, y), real)
            loss_d = loss_d + 0.5 * s.r1 * r1
            out["r1"] = r1.item()
    out["d_loss"] = loss_d.item()
    hooks.check(out)
    with hooks.phase("D backward"):
        _update(loss_d, nets.opt_d, nets.scaler_d, hooks)
    if measure:
        with hooks.phase("diagnostics"):
            out["d_grad_norm"] = grad_norm(D.parameters())
            out["d_acc_real"], out["d_acc_fake"] = d_accuracy(d_real.detach().float(), d_fake.detach().float(),
                                                              s.gan.threshold)
    with hooks.phase("optimizer"):
        _step(nets.opt_d, nets.scaler_d)
        if s.clip > 0:  # WGAN weight clipping after every D step
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-s.clip, s.clip)
    read = torch.sigmoid if s.gan.logistic else (lambda t: t)
    out.update(d_real=read(d_real.detach()).mean().item(), d_fake=read(d_fake.detach()).mean().item())
    return out


def c_phase(nets: Nets, s: LossSettings, codes: Codes, eps: Tensor | None = None,
            hooks: Hooks = Hooks()) -> dict[str, float]:
    """One update of the code discriminator C (Alpha-GAN): prior draws are its "real", E's codes (detached) its
    "fake", under the run's GAN loss, with its gradient penalty and weight clipping when the loss has them.
    ``eps`` ``(B, 1)``: the penalty's interpolation weights. Returns the figures to log."""
    # C phase: minimise the adversarial loss on codes: prior samples are real, the encoder's codes fake
    C, out = nets.C, {}
    with hooks.phase("C"):
        c_real, c_fake = C(codes.prior), C(codes.z.detach())
        loss_c = s.gan.d_loss(c_real, c_fake)
        if s.gp_weight > 0:
            gp = gradient_penalty(C, codes.prior, codes.z.detach(), eps)
            loss_c = loss_c + s.gp_weight * gp
        out["c_loss"] = loss_c.item()
        hooks.check(out)
        _update(loss_c, nets.opt_c, None, hooks)
        nets.opt_c.step()
        if s.clip > 0:
            with torch.no_grad():
                for p in C.parameters():
                    p.clamp_(-s.clip, s.clip)
    return out


def _frozen_call(net: nn.Module, x: Tensor) -> Tensor:
    """``net(x)`` with gradients reaching ``x`` but not ``net``'s parameters."""
    params = {name: p.detach() for name, p in net.named_parameters()}
    return torch.func.functional_call(net, {**params, **dict(net.named_buffers())}, (x,))


def g_phase(nets: Nets, s: LossSettings, cond: Tensor, real: Tensor, fake: Tensor, adversarial: bool = True,
            measure: bool = False, hooks: Hooks = Hooks(), codes: Codes | None = None) -> dict[str, float]:
    """One G update from ``fake = G(cond)`` (with its graph). ``adversarial`` False (the G warm-up, or no D): the
    explicit terms alone, D is not run. A latent model passes ``codes`` (``fake`` is then the reconstruction
    G(cond, codes.z)): its samples are judged by D too, E's codes are kept like the prior (C or KL), and E must
    find each sample's code again (latent regression); E is updated with G. Returns the figures to log."""
    # G phase: the discriminator is the learned loss, next to the weighted explicit term; D is frozen
    terms, out = {}, {}
    D = nets.D if adversarial else None
    if D is not None:
        D.requires_grad_(False)
        with hooks.phase("D forward"):
            with s.autocast():  # mixed precision covers the networks; every loss is computed in fp32
                d_real = judge(D, s, cond, real).detach().float() if s.gan.g_uses_real else None
                d_fake = judge(D, s, cond, fake)
                d_sampled = judge(D, s, cond, codes.sampled) if codes is not None else None
            g_adv = s.g_adv_loss(d_fake.float(), d_real)
            if d_sampled is not None:  # the sampling path has no target: D alone judges it
                g_adv_sampled = s.g_adv_loss(d_sampled.float(), d_real)
                out["g_adv_sampled"] = g_adv_sampled.item()
                g_adv = g_adv + g_adv_sampled
        terms["adv"] = s.adv_weight * g_adv
        out["g_adv"] = g_adv.item()
    output = fake.float()  # G's output: bf16/fp16 under mixed precision
    if s.recon_loss is not None:
        g_recon = s.recon_loss(output, real)
        terms["recon"] = s.recon_weight * g_recon
        out["g_recon"] = g_recon.item()
    if s.gdl_weight > 0:
        g_gdl = gdl(output, real)
        terms["gdl"] = s.gdl_weight * g_gdl
        out["g_gdl"] = g_gdl.item()
    if codes is not None:
        with hooks.phase("E, C"):
            if s.code_loss == "kl":  # cVAE-GAN: E's posterior near the prior
                code = kl_to_prior(codes.mu, codes.logvar)
            else:  # Alpha-GAN: E's codes fool the code discriminator (C frozen)
                nets.C.requires_grad_(False)
                c_real = nets.C(codes.prior) if s.gan.g_uses_real else None
                code = s.g_adv_loss(nets.C(codes.z), c_real)
                nets.C.requires_grad_(True)
            terms["code"] = s.code_weight * code
            out["g_code"] = code.item()
            if s.latent_regression > 0:  # G cannot ignore z: E finds the code of each sample again (E frozen)
                with s.autocast():
                    found = _frozen_call(nets.E, torch.cat([cond, codes.sampled], 1)).float()
                g_latent = l1(found[:, :codes.prior.shape[1]], codes.prior)
                terms["latent"] = s.latent_regression * g_latent
                out["g_latent"] = g_latent.item()
    loss_g = sum(terms.values())
    out["g_loss"] = loss_g.item()
    hooks.check(out)
    if measure:  # the signal each term sends to G's outputs: is the learned loss still speaking?
        with hooks.phase("diagnostics"):
            outputs = [fake] if codes is None else [fake, codes.sampled]
            for name, term in terms.items():
                if name == "code":  # reaches E alone, not G's outputs
                    continue
                grads = torch.autograd.grad(term, outputs, retain_graph=True, allow_unused=True)
                out[f"grad_{name}"] = torch.stack([g.norm() for g in grads if g is not None]).norm().item()
    with hooks.phase("G backward"):
        _update(loss_g, nets.opt_g, nets.scaler_g, hooks)
    if measure:
        with hooks.phase("diagnostics"):
            out["g_grad_norm"] = grad_norm(nets.G.parameters())
            if real.shape[0] > 1:  # output diversity across the batch relative to the targets'
                out["diversity"] = (fake.detach().float().std(0).mean() / real.std(0).mean().clamp_min(1e-8)).item()
    with hooks.phase("optimizer"):
        _step(nets.opt_g, nets.scaler_g)
    if D is not None:
        D.requires_grad_(True)
    return out


# ----------------------------------------------------------------------------------------------- schedules
def lr_factor(cfg, step: int) -> float:
    """The learning rate of (0-based) ``step`` as a fraction of the base rate: a linear ramp from 0 over
    ``warmup_steps``, times ``constant`` 1, ``linear`` (1 until ``lr_decay_start``, then linearly to 0 at
    ``steps``: pix2pix's rule) or ``cosine`` (half a cosine from 1 after the warm-up to 0 at ``steps``)."""
    f = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps > 0 else 1.0
    if cfg.lr_schedule == "linear":
        start = cfg.lr_decay_start if cfg.lr_decay_start is not None else cfg.steps // 2
        f *= 1.0 - max(0, step - start) / max(1, cfg.steps - start)
    elif cfg.lr_schedule == "cosine":
        progress = max(0, step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        f *= 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return max(0.0, f)


def ema_beta(cfg, step: int, world: int = 1) -> float:
    """stylegan2-ada's EMA decay after (0-based) ``step``: β = 0.5^(batch / half-life), the half-life in images
    ramped up as ``min(half_life, images seen × ema_rampup)`` (``ema_rampup`` 0: no ramp-up)."""
    batch = cfg.batch_size * world
    half_life = cfg.ema_half_life
    if cfg.ema_rampup > 0:
        half_life = min(half_life, (step + 1) * batch * cfg.ema_rampup)
    return 0.5 ** (batch / max(half_life, 1e-8))


@torch.no_grad()
def ema_update(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """``G_ema ← β·G_ema + (1 − β)·G`` for the parameters; buffers (batch norm statistics) copied, not averaged."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


@dataclass(frozen=True)
class Phase:
    """What a step of a phase does: ``d_updates`` D updates, each on its own batch, then a G update when
    ``train_g``, with the adversarial term when ``adversarial``."""

    name: str
    d_updates: int
    train_g: bool
    adversarial: bool

    @property
    def batches(self) -> int:
        return max(self.d_updates, 1)


def phase_of(cfg, step: int, has_d: bool) -> Phase:
    """The phase (0-based) ``step`` is in: G alone on the explicit loss, then D alone on the frozen G's outputs,
    then both (DeOldify's NoGAN order). Without a D (an explicit-loss baseline) every step is "explicit"."""
    if not has_d:
        return Phase("explicit", 0, train_g=True, adversarial=False)
    if step < cfg.pretrain_g_steps:
        return Phase("pretrain-g", 0, train_g=True, adversarial=False)
    if step < cfg.pretrain_g_steps + cfg.pretrain_d_steps:
        return Phase("pretrain-d", 1, train_g=False, adversarial=False)
    return Phase("adversarial", cfg.n_critic, train_g=True, adversarial=True)
