"""Training configuration: plain dataclass values, every default visible here, resolved once and saved as JSON."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from pix2gan.errors import Pix2GanError
from pix2gan.losses import GAN_LOSSES, NONE, RECON_LOSSES
from pix2gan.nets.unet import NORMS


@dataclass
class TrainConfig:
    """Everything that defines a run. ``None`` means "the GAN loss's preset" (see ``pix2gan losses``)."""

    # data and task
    task: str = "colorize"
    data: str = "builtin:photos"
    size: int = 64                  # training crop, pixels
    load_scale: float = 1.25        # colorize: photos are scaled to short side load_scale × size, then cropped
    context: int = 4                # nextframe: frames of context stacked on channels
    frame_channels: int = 1         # nextframe: 1 (gray) or 3 (RGB); frames are converted on reading
    layout: str = "auto"            # nextframe .npy arrays: auto, TNHW (Moving MNIST) or NTHW
    frame_step: int = 1             # nextframe: use every N-th frame (1: consecutive frames)
    direction: str = "AtoB"         # paired: AtoB or BtoA
    a_channels: int = 3             # paired: channels of the A side (1 or 3)
    b_channels: int = 3             # paired: channels of the B side (1 or 3)
    holdout: float = 0.0            # fraction of the items held out whole (by a hash of each name) for evaluation
    workers: int | None = None      # DataLoader worker processes decoding the data; None: data.source.default_workers()
    max_bad_files: float = 0.01     # stop when more than this fraction of the listed files cannot be read
    batch_size: int = 4
    steps: int = 2000               # generator updates
    seed: int = 0
    # generator: pix2pix U-Net
    depth: int = 6                  # stride-2 levels (pix2pix unet_256 = 8)
    ngf: int = 64
    g_norm: str = "batch"
    dropout: float = 0.5
    # latent code (Alpha-GAN / BicycleGAN): several answers per input
    latent_dim: int = 0             # length Z of the code z ~ N(0, I) G takes next to the condition (0: one answer)
    latent_inject: str = "all"      # where z enters the U-Net: all (every level) or input (the outermost one)
    code_loss: str = "kl"  # how E's codes are kept like the prior: kl (BicycleGAN) or adversarial (code discriminator C)
    code_weight: float | None = None  # weight of that term (default: 1 for adversarial, 0.01 for kl as BicycleGAN)
    latent_regression: float = 0.5  # weight of |E(cond, G(cond, z)) − z|₁, so G cannot ignore z (0: off)
    # discriminator: PatchGAN
    disc: str = "conditional"       # conditional: D(cond, image) as pix2pix; unconditional: D(image) as Alpha-GAN
    d_layers: int = 3               # 70×70 patches
    ndf: int = 64
    d_norm: str | None = None
    spectral_norm: bool | None = None
    # losses
    gan_loss: str = "nonsaturating"  # a name in GAN_LOSSES, or "none" for an explicit-loss-only baseline
    g_adv_form: str = "default"     # "alpha": Alpha-GAN's -l_f generator term (logistic losses only)
    recon: str = "l1"               # l1, l2 or none
    recon_weight: float = 100.0
    gdl_weight: float = 0.0         # gradient difference loss (Mathieu et al., α = 1), next to the explicit term
    adv_weight: float = 1.0
    r1: float = 0.0                 # R1 gamma; adds gamma/2 · E‖∇D(real)‖² to the D loss
    gp_weight: float | None = None
    clip: float | None = None
    n_critic: int | None = None
    optimizer: str | None = None    # adam or rmsprop
    lr: float | None = None
    d_lr: float | None = None       # discriminator learning rate (default: lr)
    beta1: float | None = None
    beta2: float | None = None
    # schedule, EMA, D augmentation, warm-up phases, validation
    lr_schedule: str = "constant"   # constant, linear (pix2pix: constant until lr_decay_start, then to 0) or cosine
    lr_decay_start: int | None = None  # linear: the step the decay starts (None: half of steps)
    warmup_steps: int = 0           # linear LR ramp from 0 over these steps (G and D)
    ema_half_life: float = 0.0      # EMA generator half-life in images (0: off); stylegan2-ada's definition
    ema_rampup: float = 0.05        # the half-life is at most images seen × this (0: no ramp-up)
    d_augment: str = ""             # DiffAugment policy for D: comma-separated translation, cutout, color
    pretrain_g_steps: int = 0       # NoGAN warm-up: first G alone on the explicit terms ...
    pretrain_d_steps: int = 0       # ... then D alone on the frozen G's outputs, then the adversarial phase
    val_every: int = 0              # evaluate on the held-out split every N steps (0: off); best.pt kept
    val_metric: str = "psnr"        # which evaluate figure best.pt follows
    val_count: int = 64             # held-out crops per validation
    val_data: str = ""              # validate on this folder (e.g. whole held-out sources) instead of --holdout
    # bookkeeping
    log_every: int = 10
    tensorboard: bool = False       # also write RUN/tb/ TensorBoard events (log.jsonl stays the source of truth)
    sample_every: int = 250
    checkpoint_every: int = 250
    device: str = "auto"            # auto (cuda when available), cpu, cuda, cuda:N
    precision: str = "fp32"         # fp32, or bf16 (CUDA, or a CPU with AVX512-BF16/AMX) / fp16 (CUDA) autocast

    @property
    def load_size(self) -> int:
        return max(self.size, round(self.size * self.load_scale))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise Pix2GanError(f"unknown configuration keys: {', '.join(unknown)}")
        return cls(**values)


#: Keys that may change when a run is resumed (they do not change what is computed).
RESUMABLE_CHANGES = frozenset({"steps", "log_every", "sample_every", "checkpoint_every", "device", "workers",
                               "max_bad_files", "val_every", "val_count", "val_metric", "val_data",
                               "tensorboard"})

def _choice(name: str, value: str, allowed) -> None:
    if value not in allowed:
        raise Pix2GanError(f"--{name.replace('_', '-')} {value!r}: choose one of {', '.join(allowed)}")


def resolve(cfg: TrainConfig) -> TrainConfig:
    """Validate ``cfg`` and fill every ``None`` from the GAN loss's preset. Pure: returns a new config."""
    from pix2gan.tasks import TASKS

    _choice("task", cfg.task, list(TASKS))
    _choice("gan_loss", cfg.gan_loss, [*GAN_LOSSES, NONE])
    _choice("recon", cfg.recon, [*RECON_LOSSES, NONE])
    _choice("g_norm", cfg.g_norm, NORMS)
    _choice("disc", cfg.disc, ["conditional", "unconditional"])
    _choice("g_adv_form", cfg.g_adv_form, ["default", "alpha"])
    _choice("layout", cfg.layout, ["auto", "TNHW", "NTHW"])
    if cfg.frame_step < 1:
        raise Pix2GanError(f"--frame-step must be at least 1, got {cfg.frame_step}")
    _choice("precision", cfg.precision, ["fp32", "bf16", "fp16"])
    _choice("direction", cfg.direction, ["AtoB", "BtoA"])
    for name in ("a_channels", "b_channels"):
        if getattr(cfg, name) not in (1, 3):
            raise Pix2GanError(f"--{name.replace('_', '-')} must be 1 or 3, got {getattr(cfg, name)}")
    if cfg.frame_channels not in (1, 3):
        raise Pix2GanError(f"--frame-channels must be 1 or 3, got {cfg.frame_channels}")
    if cfg.context < 1:
        raise Pix2GanError(f"--context must be at least 1, got {cfg.context}")
    if cfg.gan_loss == NONE and cfg.recon == NONE and cfg.gdl_weight == 0:
        raise Pix2GanError("--gan-loss none with --recon none leaves nothing to train")
    for f in dataclasses.fields(cfg):  # NaN and infinities fail every comparison below: refuse them first
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise Pix2GanError(f"--{f.name.replace('_', '-')} must be a finite number, got {value}")
    for name in ("size", "batch_size", "steps", "depth", "ngf", "ndf", "d_layers", "log_every", "sample_every",
                 "checkpoint_every"):
        if getattr(cfg, name) < 1:
            raise Pix2GanError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    from pix2gan.nets.patchgan import patch_output_size

    if cfg.gan_loss != NONE and patch_output_size(cfg.size, cfg.d_layers) < 1:
        raise Pix2GanError(f"--size {cfg.size} is too small for a {cfg.d_layers}-layer PatchGAN (it needs at least "
                           f"{3 * 2 ** cfg.d_layers} px); use a larger --size or fewer --d-layers")
    if cfg.load_scale < 1:
        raise Pix2GanError(f"--load-scale must be at least 1, got {cfg.load_scale}")
    if cfg.workers is not None and cfg.workers < 0:
        raise Pix2GanError(f"--workers must be 0 or more, got {cfg.workers}")
    if not 0 <= cfg.max_bad_files <= 1:
        raise Pix2GanError(f"--max-bad-files must be in [0, 1], got {cfg.max_bad_files}")
    if not 0 <= cfg.holdout < 1:
        raise Pix2GanError(f"--holdout must be in [0, 1), got {cfg.holdout}")
    if not 0 <= cfg.dropout < 1:
        raise Pix2GanError(f"--dropout must be in [0, 1), got {cfg.dropout}")
    _choice("lr_schedule", cfg.lr_schedule, ["constant", "linear", "cosine"])
    for name in ("warmup_steps", "pretrain_g_steps", "pretrain_d_steps", "val_every"):
        if getattr(cfg, name) < 0:
            raise Pix2GanError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(cfg, name)}")
    if cfg.lr_decay_start is not None and not 0 <= cfg.lr_decay_start <= cfg.steps:
        raise Pix2GanError(f"--lr-decay-start must be in [0, --steps {cfg.steps}], got {cfg.lr_decay_start}")
    if cfg.ema_half_life < 0 or cfg.ema_rampup < 0:
        raise Pix2GanError(f"--ema-half-life and --ema-rampup must be 0 or more, got {cfg.ema_half_life}, "
                           f"{cfg.ema_rampup}")
    from pix2gan.augment import POLICIES

    for name in (p for p in cfg.d_augment.split(",") if p):
        _choice("d_augment", name, POLICIES)
        if name == "color" and cfg.task == "colorize":
            raise Pix2GanError("--d-augment color cannot be used for colorization: it changes the very colours D "
                               "judges (use translation,cutout)")
    if (cfg.pretrain_g_steps or cfg.pretrain_d_steps) and cfg.gan_loss == NONE:
        raise Pix2GanError("--pretrain-g-steps/--pretrain-d-steps need a discriminator (--gan-loss is none)")
    if cfg.latent_dim < 0:
        raise Pix2GanError(f"--latent-dim must be 0 or more, got {cfg.latent_dim}")
    _choice("latent_inject", cfg.latent_inject, ["input", "all"])
    _choice("code_loss", cfg.code_loss, ["adversarial", "kl"])
    if cfg.latent_dim and cfg.gan_loss == NONE:
        raise Pix2GanError("--latent-dim needs a discriminator: the samples G(cond, z) are judged by D alone "
                           "(--gan-loss is none)")
    if cfg.latent_dim and cfg.recon == NONE:
        raise Pix2GanError("--latent-dim needs --recon l1 or l2: the encoder learns its codes from the reconstruction")
    for name in ("code_weight", "latent_regression"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 0:
            raise Pix2GanError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(cfg, name)}")
    if cfg.pretrain_g_steps and cfg.recon == NONE and cfg.gdl_weight == 0:
        raise Pix2GanError("--pretrain-g-steps trains G on the explicit terms alone, and --recon is none")
    if cfg.val_every and cfg.holdout <= 0 and not cfg.val_data:
        raise Pix2GanError("--val-every needs held-out data: add --holdout (e.g. 0.1) or --val-data FOLDER")
    from pix2gan.metrics import DIRECTION

    _choice("val_metric", cfg.val_metric, sorted(DIRECTION))
    if cfg.val_count < 1:
        raise Pix2GanError(f"--val-count must be at least 1, got {cfg.val_count}")
    out = dataclasses.replace(cfg)
    if cfg.gan_loss == NONE:
        preset_values = dict(optimizer="adam", lr=2e-4, beta1=0.5, beta2=0.999, n_critic=1, clip=0.0,
                             gp_weight=0.0, spectral_norm=False, d_norm="none")
    else:
        loss = GAN_LOSSES[cfg.gan_loss]
        p = loss.preset
        preset_values = dict(optimizer=p.optimizer, lr=p.lr, beta1=p.betas[0], beta2=p.betas[1],
                             n_critic=p.n_critic, clip=p.clip, gp_weight=p.gp_weight,
                             spectral_norm=p.spectral_norm, d_norm=p.d_norm)
        if cfg.g_adv_form == "alpha" and not loss.logistic:
            raise Pix2GanError(f"--g-adv-form alpha needs a logistic loss (minimax, nonsaturating), "
                               f"not {cfg.gan_loss!r}")
    for key, value in preset_values.items():
        if getattr(out, key) is None:
            setattr(out, key, value)
    if out.d_lr is None:
        out.d_lr = out.lr
    if out.code_weight is None:
        out.code_weight = 0.01 if cfg.code_loss == "kl" else 1.0
    _choice("d_norm", out.d_norm, NORMS)
    _choice("optimizer", out.optimizer, ["adam", "rmsprop"])
    if out.n_critic < 1:
        raise Pix2GanError(f"--n-critic must be at least 1, got {out.n_critic}")
    if out.gp_weight > 0 and out.d_norm == "batch":
        raise Pix2GanError("--d-norm batch cannot be used with a gradient penalty: batch norm mixes the samples whose "
                           "gradients are penalised one by one; use --d-norm instance or none")
    return out


def diff(saved: dict, current: dict) -> list[str]:
    """Keys whose values differ between two config dicts, ignoring :data:`RESUMABLE_CHANGES`. A key missing from
    ``saved`` (a run from before the option existed) counts as its default: new options default to the old
    behaviour."""
    defaults = dataclasses.asdict(TrainConfig())
    keys = (set(saved) | set(current)) - RESUMABLE_CHANGES
    return sorted(k for k in keys if saved.get(k, defaults.get(k)) != current.get(k, defaults.get(k)))


def save_json(path: Path, cfg: TrainConfig) -> None:
    from pix2gan.checkpoint import atomic_write_bytes

    atomic_write_bytes(path, (cfg.to_json() + "\n").encode())
