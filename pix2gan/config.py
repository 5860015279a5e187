"""Training configuration: plain dataclass values, resolved once and saved as JSON.

Every option is written once, here: its default, its allowed values or range, its help text and its CLI group are
the field's metadata (:func:`option`); ``pix2gan train``'s arguments are generated from them and :func:`resolve`
checks them. ``None`` means "the GAN loss's preset" (see ``pix2gan losses``), or, for ``gan_loss`` and ``recon``,
that the term is left out (the command line and old config files say ``none``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from pix2gan.augment import POLICIES
from pix2gan.errors import Pix2GanError
from pix2gan.losses import GAN_LOSSES, RECON_LOSSES
from pix2gan.metrics import DIRECTION
from pix2gan.nets.patchgan import patch_output_size
from pix2gan.nets.unet import INJECT, NORMS, UPSAMPLE
from pix2gan.tasks import TASKS

#: How ``gan_loss`` and ``recon`` are spelt on the command line (and in configs written before 0.2) when left out.
NONE = "none"
PRESET = "the GAN loss's preset"


def option(default, help: str, *, choices=None, low=None, high=None, open_high: bool = False, shown: str | None = None,
           resumable: bool = False, group: str | None = None):
    """A config field with its CLI metadata: ``choices`` (allowed values), ``low``/``high`` (a closed range, or
    half-open with ``open_high``), ``shown`` (the default as the help states it, when not the value itself),
    ``resumable`` (may change on ``--resume``: it does not change what is computed), ``group`` (starts a CLI
    argument group)."""
    return field(default=default, metadata=dict(help=help, choices=choices, low=low, high=high, open_high=open_high,
                                                 shown=shown, resumable=resumable, group=group))


@dataclass
class TrainConfig:
    """Everything that defines a run."""

    # data and task
    task: str = option("colorize", "what the generator learns", choices=tuple(TASKS), group="data")
    data: str = option("builtin:photos", "colorize: a folder of colour images or builtin:photos / "
                       "builtin:bimodal-colors; nextframe: videos (.mp4 ...), frame folders, GIF/APNG, .npy, or a "
                       "folder of them, or builtin:moving-digits; paired: aligned A|B images or a folder with A/ and "
                       "B/ (`pix2gan datasets` lists the built-in sets)")
    size: int = option(64, "training crop in pixels", low=1)
    load_scale: float = option(1.25, "photos are scaled to short side load-scale × size before cropping", low=1)
    context: int = option(4, "nextframe: context frames, stacked on channels", low=1)
    frame_channels: int = option(1, "nextframe: 1 gray, 3 RGB (frames are converted on reading)", choices=(1, 3))
    layout: str = option("auto", "nextframe .npy layout: TNHW (Moving MNIST) or NTHW", choices=("auto", "TNHW", "NTHW"))
    frame_step: int = option(1, "nextframe: learn from every N-th frame, e.g. 2 for a 60 fps video to predict 30 fps "
                             "motion", low=1)
    hints: bool = option(False, "colorize: colour hints as inputs (iColor): G takes L with a hint map (the ab and a "
                         "mask of a few points) and a reference photo's colour distribution, simulated from the photo "
                         "in training; colorize --hints/--reference then steer it, and with none it colorizes alone")
    direction: str = option("AtoB", "paired: which side is the input", choices=("AtoB", "BtoA"))
    a_channels: int = option(3, "paired: channels of side A", choices=(1, 3))
    b_channels: int = option(3, "paired: channels of side B", choices=(1, 3))
    holdout: float = option(0.0, "fraction of the images/sequences held out whole for evaluation and sample grids, "
                            "chosen by a hash of each file's name, so adding files never moves one between the sides",
                            low=0, high=1, open_high=True)
    workers: int | None = option(None, "processes decoding the data while the step runs; 0: in the training process; "
                                 "any value trains on the same batches", low=0, resumable=True,
                                 shown="one per CPU beyond the first two, at least 1, at most 8")
    max_bad_files: float = option(0.01, "stop (checkpoint saved) when more than this fraction of the listed files "
                                  "cannot be read; each is reported once and replaced", low=0, high=1, resumable=True)
    batch_size: int = option(4, "images per step", low=1)
    steps: int = option(2000, "generator updates", low=1, resumable=True)
    seed: int = option(0, "every random draw (weights, crops, penalties, codes) follows from it")
    # generator: pix2pix U-Net
    depth: int = option(6, "U-Net stride-2 levels; pix2pix unet_256 is 8", low=1, group="networks")
    ngf: int = option(64, "generator base width", low=1)
    g_norm: str = option("batch", "generator normalisation", choices=NORMS)
    dropout: float = option(0.5, "dropout in the U-Net's inner decoder levels", low=0, high=1, open_high=True)
    upsample: str = option("transposed", "how the U-Net's decoder doubles its maps: transposed convolution "
                           "(pix2pix), resize (bilinear ×2, then a 3×3 convolution) or pixelshuffle (sub-pixel "
                           "convolution, ICNR initialised); the last two paint no checkerboard or stripes",
                           choices=UPSAMPLE)
    disc: str = option("conditional", "conditional: D(cond, image) as pix2pix; unconditional: D(image) as Alpha-GAN",
                       choices=("conditional", "unconditional"))
    d_layers: int = option(3, "PatchGAN layers: 1,2,3,4,5 → 16,34,70,142,286 px patches", low=1)
    ndf: int = option(64, "discriminator base width", low=1)
    d_norm: str | None = option(None, "discriminator normalisation", choices=NORMS, shown=PRESET)
    spectral_norm: bool | None = option(None, "spectral norm on D's convolutions", shown=PRESET)
    # latent code (Alpha-GAN / BicycleGAN): several answers per input
    latent_dim: int = option(0, "length Z of a latent code: G(cond, z) with z ~ N(0, I), an encoder E and a code "
                             "loss; colorize/predict --samples N then draw N answers (0: one answer per input)", low=0,
                             group="latent code: several answers per input (Alpha-GAN / BicycleGAN)")
    latent_inject: str = option("all", "where z enters the U-Net: the input level or every level (all: measured "
                                "better)", choices=INJECT)
    code_loss: str = option("kl", "keep E's codes like the prior: a KL term (BicycleGAN's cVAE-GAN; it met the "
                            "coverage target on two seeds) or a code discriminator under --gan-loss (Alpha-GAN)",
                            choices=("kl", "adversarial"))
    code_weight: float | None = option(None, "weight of the code loss", low=0, shown="1 adversarial, 0.01 kl")
    latent_regression: float = option(0.5, "weight of |E(cond, G(cond, z)) − z|₁ so G cannot ignore z (0: off)", low=0)
    # losses
    gan_loss: str | None = option("nonsaturating", "adversarial loss; none: no discriminator, the explicit term "
                                  "alone (the L2/L1 baseline)", choices=(*GAN_LOSSES, NONE), group="losses")
    g_adv_form: str = option("default", "alpha: Alpha-GAN's -l_f generator term (logistic losses only)",
                             choices=("default", "alpha"))
    recon: str | None = option("l1", "explicit term (none: the adversarial loss alone)",
                               choices=(*RECON_LOSSES, NONE))
    recon_weight: float = option(100.0, "λ on the explicit term")
    gdl_weight: float = option(0.0, "gradient difference loss weight (Mathieu et al., α = 1), next to --recon")
    adv_weight: float = option(1.0, "weight on the adversarial term")
    r1: float = option(0.0, "R1 penalty γ on real images, any loss: adds γ/2 · E‖∇D(real)‖² to D's loss (0: off)")
    gp_weight: float | None = option(None, "gradient penalty weight (10 for wgan-gp)", shown=PRESET)
    clip: float | None = option(None, "clip D weights to ±clip after each D step", shown=PRESET)
    n_critic: int | None = option(None, "D updates per G update", low=1, shown=PRESET)
    optimizer: str | None = option(None, "optimiser of G and D", choices=("adam", "rmsprop"), shown=PRESET)
    lr: float | None = option(None, "learning rate", shown=PRESET)
    d_lr: float | None = option(None, "discriminator learning rate", shown="--lr")
    beta1: float | None = option(None, "Adam β1", shown=PRESET)
    beta2: float | None = option(None, "Adam β2", shown=PRESET)
    # schedule, EMA, D augmentation, warm-up phases, validation
    lr_schedule: str = option("constant", "learning rate of G and D over the run; linear: pix2pix's rule (constant "
                              "until --lr-decay-start, then to 0)", choices=("constant", "linear", "cosine"),
                              group="schedule, EMA, D augmentation, warm-up phases, validation")
    lr_decay_start: int | None = option(None, "linear: the step the decay to 0 at --steps starts",
                                        shown="half of --steps")
    warmup_steps: int = option(0, "linear LR ramp from 0 over these steps (G and D)", low=0)
    ema_half_life: float = option(0.0, "exponential moving average of G, half-life in images (stylegan2-ada; e.g. "
                                  "10000; 0: off); samples, validation and every command then use the EMA weights",
                                  low=0)
    ema_rampup: float = option(0.05, "the EMA half-life is at most images seen × this (0: no ramp-up)", low=0)
    d_augment: str = option("", "differentiable augmentation of everything D sees (DiffAugment): comma-separated "
                            f"{', '.join(POLICIES)} (not color for colorize)", shown="none")
    pretrain_g_steps: int = option(0, "NoGAN warm-up: the first N steps train G on the explicit terms alone", low=0)
    pretrain_d_steps: int = option(0, "then M steps train D alone on the frozen G's outputs, before the adversarial "
                                   "phase", low=0)
    val_every: int = option(0, "evaluate on the held-out split every N steps into log.jsonl and keep RUN/best.pt "
                            "(needs --holdout or --val-data; 0: off)", low=0, resumable=True)
    val_metric: str = option("psnr", "the evaluate figure best.pt follows", choices=tuple(sorted(DIRECTION)),
                             resumable=True)
    val_count: int = option(64, "held-out crops per validation", low=1, resumable=True)
    val_data: str = option("", "validate on this folder instead of a --holdout split (e.g. photos of sources never "
                           "trained on)", resumable=True, shown="none")
    # bookkeeping
    log_every: int = option(10, "steps between log.jsonl records", low=1, resumable=True, group="bookkeeping")
    tensorboard: bool = option(False, "also write TensorBoard events to OUT/tb/ (every logged figure, the sample "
                               "grids, the warnings; log.jsonl stays the source of truth)", resumable=True)
    sample_every: int = option(250, "steps between sample grids", low=1, resumable=True)
    checkpoint_every: int = option(250, "steps between checkpoints", low=1, resumable=True)
    device: str = option("auto", "auto (CUDA when available), cpu, cuda, cuda:N", resumable=True)
    precision: str = option("fp32", "mixed precision (autocast of the networks; losses, penalties and optimiser "
                            "state stay fp32): bf16 on CUDA or on a CPU with AVX512-BF16/AMX, fp16 on CUDA",
                            choices=("fp32", "bf16", "fp16"))

    def __post_init__(self):
        for name in ("gan_loss", "recon"):  # "none" on the command line and in old configs: the term is left out
            if getattr(self, name) == NONE:
                setattr(self, name, None)

    @property
    def load_size(self) -> int:
        return max(self.size, round(self.size * self.load_scale))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        values = {"upsample": "transposed", **values}  # written before the choice existed
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise Pix2GanError(f"unknown configuration keys: {', '.join(unknown)}")
        return cls(**values)


#: Every option by name, with its metadata (:func:`option`).
FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
#: Keys that may change when a run is resumed (they do not change what is computed).
RESUMABLE_CHANGES = frozenset(name for name, f in FIELDS.items() if f.metadata["resumable"])


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_field(f: dataclasses.Field, value) -> None:
    """``value`` against the field's metadata (finite, allowed, in range); one line naming the flag otherwise."""
    m = f.metadata
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise Pix2GanError(f"{flag(f.name)} must be a finite number, got {value}")
    if m["choices"] is not None and value not in m["choices"]:
        raise Pix2GanError(f"{flag(f.name)} {value!r}: choose one of {', '.join(map(str, m['choices']))}")
    low, high = m["low"], m["high"]
    if high is not None and not (low <= value < high if m["open_high"] else low <= value <= high):
        raise Pix2GanError(f"{flag(f.name)} must be in [{low}, {high}{')' if m['open_high'] else ']'}, got {value}")
    if low is not None and value < low:
        raise Pix2GanError(f"{flag(f.name)} must be {'0 or more' if low == 0 else f'at least {low}'}, got {value}")


def _check_combinations(cfg: TrainConfig) -> None:
    """The rules that tie several options together."""
    rules = [
        (cfg.gan_loss is None and cfg.recon is None and cfg.gdl_weight == 0,
         "--gan-loss none with --recon none leaves nothing to train"),
        (cfg.gan_loss is not None and patch_output_size(cfg.size, cfg.d_layers) < 1,
         f"--size {cfg.size} is too small for a {cfg.d_layers}-layer PatchGAN (it needs at least "
         f"{3 * 2 ** cfg.d_layers} px); use a larger --size or fewer --d-layers"),
        (cfg.lr_decay_start is not None and not 0 <= cfg.lr_decay_start <= cfg.steps,
         f"--lr-decay-start must be in [0, --steps {cfg.steps}], got {cfg.lr_decay_start}"),
        ((cfg.pretrain_g_steps or cfg.pretrain_d_steps) and cfg.gan_loss is None,
         "--pretrain-g-steps/--pretrain-d-steps need a discriminator (--gan-loss is none)"),
        (cfg.latent_dim and cfg.gan_loss is None,
         "--latent-dim needs a discriminator: the samples G(cond, z) are judged by D alone (--gan-loss is none)"),
        (cfg.latent_dim and cfg.recon is None,
         "--latent-dim needs --recon l1 or l2: the encoder learns its codes from the reconstruction"),
        (cfg.pretrain_g_steps and cfg.recon is None and cfg.gdl_weight == 0,
         "--pretrain-g-steps trains G on the explicit terms alone, and --recon is none"),
        (cfg.val_every and cfg.holdout <= 0 and not cfg.val_data,
         "--val-every needs held-out data: add --holdout (e.g. 0.1) or --val-data FOLDER"),
        (cfg.hints and cfg.task != "colorize", f"--hints is for --task colorize, not {cfg.task}"),
        (cfg.g_adv_form == "alpha" and cfg.gan_loss is not None and not GAN_LOSSES[cfg.gan_loss].logistic,
         f"--g-adv-form alpha needs a logistic loss (minimax, nonsaturating), not {cfg.gan_loss!r}"),
    ]
    for broken, message in rules:
        if broken:
            raise Pix2GanError(message)
    for name in (p for p in cfg.d_augment.split(",") if p):
        if name not in POLICIES:
            raise Pix2GanError(f"--d-augment {name!r}: choose one of {', '.join(POLICIES)}")
        if name == "color" and cfg.task == "colorize":
            raise Pix2GanError("--d-augment color cannot be used for colorization: it changes the very colours D "
                               "judges (use translation,cutout)")


def presets(cfg: TrainConfig) -> dict:
    """The values a GAN loss's preset gives the options left at None (``pix2gan losses`` lists them)."""
    if cfg.gan_loss is None:
        return dict(optimizer="adam", lr=2e-4, beta1=0.5, beta2=0.999, n_critic=1, clip=0.0, gp_weight=0.0,
                    spectral_norm=False, d_norm="none")
    p = GAN_LOSSES[cfg.gan_loss].preset
    return dict(optimizer=p.optimizer, lr=p.lr, beta1=p.betas[0], beta2=p.betas[1], n_critic=p.n_critic, clip=p.clip,
                gp_weight=p.gp_weight, spectral_norm=p.spectral_norm, d_norm=p.d_norm)


def resolve(cfg: TrainConfig) -> TrainConfig:
    """Validate ``cfg`` and fill every ``None`` from the GAN loss's preset. Pure: returns a new config."""
    cfg = dataclasses.replace(cfg)  # normalises "none"
    for name, f in FIELDS.items():
        check_field(f, getattr(cfg, name))
    _check_combinations(cfg)
    out = dataclasses.replace(cfg, **{k: v for k, v in presets(cfg).items() if getattr(cfg, k) is None})
    out.d_lr = out.lr if out.d_lr is None else out.d_lr
    out.code_weight = (0.01 if cfg.code_loss == "kl" else 1.0) if out.code_weight is None else out.code_weight
    if out.gp_weight > 0 and out.d_norm == "batch":
        raise Pix2GanError("--d-norm batch cannot be used with a gradient penalty: batch norm mixes the samples whose "
                           "gradients are penalised one by one; use --d-norm instance or none")
    return out


def _spelt_now(values: dict) -> dict:
    """A config dict with ``none`` written as None (configs from before 0.2)."""
    return {k: None if k in ("gan_loss", "recon") and v == NONE else v for k, v in values.items()}


def diff(saved: dict, current: dict) -> list[str]:
    """Keys whose values differ between two config dicts, ignoring :data:`RESUMABLE_CHANGES`. A key missing from
    ``saved`` (a run from before the option existed) counts as its default: new options default to the old
    behaviour."""
    saved, current = _spelt_now(saved), _spelt_now(current)
    defaults = dataclasses.asdict(TrainConfig())
    keys = (set(saved) | set(current)) - RESUMABLE_CHANGES
    return sorted(k for k in keys if saved.get(k, defaults.get(k)) != current.get(k, defaults.get(k)))
