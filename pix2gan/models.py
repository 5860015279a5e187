"""Building and loading the networks: one place for training and for every inference command.

Inference (colorize, predict, translate, export, evaluate) loads a generator here and never imports the training
loop; the trainer builds its nets here too.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pix2gan.checkpoint import load_checkpoint
from pix2gan.config import TrainConfig
from pix2gan.errors import Pix2GanError
from pix2gan.hints import FILL_CHANNELS, REFERENCE_DIM, HintFill
from pix2gan.nets import CodeDiscriminator, Encoder, PatchDiscriminator, UNet
from pix2gan.nets.unet import fold_resize_ups
from pix2gan.tasks import make_task


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise the named device (checked)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise Pix2GanError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    return dev


#: ``--backend``: how an inference command computes. ``fast``: decoding and encoding beside the model (8-bit photos
#: through tables); ``bf16``: the same with the generator in bf16 (CPUs with native bf16 only); ``torch``: the
#: reference path. ``auto``: the fastest measured (docs/speed.md) — ``bf16`` on CPUs with native bf16, else ``fast``.
BACKENDS = ("auto", "fast", "bf16", "torch")


def check_backend(backend: str, device: torch.device | str = "cpu") -> str:
    """``backend`` as the model runs it on ``device`` (``auto`` resolved), or a one-line error naming the allowed
    ones (or why ``bf16`` cannot run here)."""
    from pix2gan.runtime import cpu_has_native_bf16

    if backend not in BACKENDS:
        raise Pix2GanError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    cpu = torch.device(device).type == "cpu"
    if backend == "auto":
        return "bf16" if cpu and cpu_has_native_bf16() else "fast"
    if backend == "bf16" and cpu and not cpu_has_native_bf16():
        raise Pix2GanError("--backend bf16: this CPU has no native bf16 (AVX512-BF16 or AMX), where PyTorch "
                           "emulates it, slower than fp32: use --backend fast")
    return backend


def for_backend(G: torch.nn.Module, backend: str) -> torch.nn.Module:
    """``G`` laid out for ``backend``, in place: on the CPU, ``fast`` and ``bf16`` keep its weights channels-last
    (oneDNN's convolutions prefer NHWC: about 10% faster here in fp32 and in bf16) and fold the resize of a resize
    U-Net's output layer into its convolution (:func:`~pix2gan.nets.unet.fold_resize_ups`: the same function, that
    layer ~3× faster); ``torch`` (the reference path) and other devices unchanged."""
    if backend in ("fast", "bf16") and next(G.parameters()).device.type == "cpu":
        return fold_resize_ups(G).to(memory_format=torch.channels_last)
    return G


def run_generator(G: torch.nn.Module, backend: str, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``G(x, *args, **kwargs)`` in the ``backend``'s precision, as fp32: ``bf16`` under bf16 autocast; on the CPU,
    ``fast`` and ``bf16`` with ``x`` ``(B, C, H, W)`` channels-last (as :func:`for_backend` keeps G's weights)."""
    if backend == "torch":
        return G(x, *args, **kwargs)
    if x.device.type == "cpu":
        x = x.contiguous(memory_format=torch.channels_last)
    if backend != "bf16":
        return G(x, *args, **kwargs).contiguous()
    with torch.autocast(x.device.type, dtype=torch.bfloat16):
        return G(x, *args, **kwargs).float().contiguous()


def build_generator(cfg: TrainConfig) -> UNet:
    task = make_task(cfg)
    if cfg.hints:  # the hints spread by HintFill first; the reference at the innermost level
        return UNet(task.cond_channels + FILL_CHANNELS, task.out_channels, cfg.depth, cfg.ngf, cfg.g_norm,
                    cfg.dropout, cfg.latent_dim, cfg.latent_inject, REFERENCE_DIM, HintFill(), cfg.upsample)
    return UNet(task.cond_channels, task.out_channels, cfg.depth, cfg.ngf, cfg.g_norm, cfg.dropout,
                cfg.latent_dim, cfg.latent_inject, upsample=cfg.upsample)


def build_discriminator(cfg: TrainConfig) -> PatchDiscriminator | None:
    """The PatchGAN for ``cfg`` (resolved), or None for an explicit-loss-only baseline (nothing is built)."""
    if cfg.gan_loss is None:
        return None
    task = make_task(cfg)
    in_channels = task.out_channels + (task.judged_channels if cfg.disc == "conditional" else 0)
    return PatchDiscriminator(in_channels, cfg.ndf, cfg.d_layers, cfg.d_norm, cfg.spectral_norm)


def build_encoder(cfg: TrainConfig) -> Encoder | None:
    """E for a latent model (the target with its condition → a code, or a mean and log-variance for the kl code
    loss), as wide as D; None when ``latent_dim`` is 0."""
    if not cfg.latent_dim:
        return None
    task = make_task(cfg)
    out_dim = cfg.latent_dim * (2 if cfg.code_loss == "kl" else 1)
    return Encoder(task.judged_channels + task.out_channels, out_dim, cfg.ndf, levels=min(4, cfg.depth))


def build_code_discriminator(cfg: TrainConfig) -> CodeDiscriminator | None:
    """C for a latent model with the adversarial code loss (spectral norm as the GAN loss's preset says); else
    None."""
    if not cfg.latent_dim or cfg.code_loss != "adversarial":
        return None
    return CodeDiscriminator(cfg.latent_dim, spectral_norm=cfg.spectral_norm)


def load_generator(path: Path, task: str | None = None, ema: bool = True) -> tuple[UNet, TrainConfig]:
    """The generator of a checkpoint, best.pt or exported .safetensors (eval mode, on the CPU) and the config it was
    trained with: its EMA weights when it has them and ``ema``, else the raw G."""
    return generator_from_state(load_checkpoint(Path(path), task=task), path, ema)


def generator_from_state(state: dict, path: Path, ema: bool = True) -> tuple[UNet, TrainConfig]:
    """:func:`load_generator` for a checkpoint already loaded from ``path`` (named in errors)."""
    cfg = TrainConfig.from_dict(state["config"])
    if "G" not in state:
        raise Pix2GanError(f"{path}: holds no generator weights (no 'G' in it)")
    G = build_generator(cfg)
    key = "G_ema" if ema and "G_ema" in state else "G"
    try:
        G.load_state_dict(state[key])
    except RuntimeError as e:
        first = next((ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()), str(e))
        raise Pix2GanError(f"{path}: its generator weights do not fit its configuration ({first})") from None
    return G.eval(), cfg
