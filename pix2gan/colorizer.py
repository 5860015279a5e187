"""Colorize images with a trained generator: the Python API behind ``pix2gan colorize``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pix2gan.checkpoint import load_checkpoint
from pix2gan.data.images import alpha_channel, to_rgb_float
from pix2gan.errors import Pix2GanError
from pix2gan.runtime import on_device
from pix2gan.tasks.colorize import ColorizeTask
from pix2gan.train import generator_from_state, pick_device

#: The demonstration colorizer shipped in the package (fp16 generator + config; trained by
#: tools/train_default_colorizer.py).
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default_colorizer.pt"


class Colorizer:
    """``Colorizer.from_checkpoint("run/checkpoint.pt")(pil_image) -> PIL.Image`` (RGB, or RGBA when the input had
    transparency), exactly the input's size.

    ab is predicted at the model resolution (short side ``size``, default the training scale ``load_size``) and
    recombined with the input's full-resolution L, so edges stay as sharp as the input. ``strength`` scales the
    predicted chroma: 0 gives the gray input back, 1 the colours as predicted, above 1 more saturated ones.
    """

    def __init__(self, generator: torch.nn.Module, size: int, device: torch.device | str = "cpu",
                 strength: float = 1.0):
        self.G, self.device = on_device(generator, device)
        self.size = size
        self.strength = check_strength(strength)
        self.task = ColorizeTask()

    @classmethod
    def default(cls, device: str = "auto", size: int | None = None, strength: float | None = None) -> Colorizer:
        """The demonstration colorizer shipped inside the package (see docs/default_colorizer.md); ``strength``
        defaults to the one chosen for it on held-out photos."""
        if not DEFAULT_WEIGHTS.is_file():
            raise Pix2GanError(f"{DEFAULT_WEIGHTS}: the bundled colorizer is missing; train one with "
                               f"tools/train_default_colorizer.py, or pass --checkpoint")
        return cls.from_checkpoint(DEFAULT_WEIGHTS, device, size, strength=strength)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", size: int | None = None,
                        ema: bool = True, strength: float | None = None) -> Colorizer:
        """From a checkpoint, best.pt or .safetensors; its EMA generator when it has one (``ema=False``: the raw
        one). ``strength`` defaults to the file's ``strength`` entry when it has one, else 1."""
        state = load_checkpoint(Path(path), task="colorize")
        G, cfg = generator_from_state(state, Path(path), ema)
        if strength is None:
            strength = float(state.get("strength", 1.0))
        return cls(G, size or cfg.load_size, pick_device(device), strength)

    @torch.inference_mode()
    def colorize_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` float sRGB in [0, 1] (gray images have R = G = B) → ``(H, W, 3)`` uint8 colourised sRGB."""
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].to(self.device)
        light = self.task.cond(x)
        h, w = light.shape[-2:]
        # short side at the model's size; the long side at most 16 × that, so memory stays bounded for any aspect
        # ratio (a 3×70000 strip is predicted at 1×1536 and its colour upsampled)
        scale = min(self.size / min(h, w), 16 * self.size / max(h, w))
        small = (max(1, round(h * scale)), max(1, round(w * scale)))
        cond = F.interpolate(light, size=small, mode="bilinear", antialias=True, align_corners=False)
        ab = self.G(cond.clamp(-1, 1)) * self.strength
        ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
        return self.task.to_pixels(light, ab)[0].permute(1, 2, 0).cpu().numpy()

    def __call__(self, img: Image.Image) -> Image.Image:
        out = Image.fromarray(self.colorize_rgb(to_rgb_float(img)), "RGB")
        alpha = alpha_channel(img)
        if alpha is not None:
            out.putalpha(Image.fromarray(alpha, "L"))
        return out


def check_strength(strength: float) -> float:
    """``strength`` as a float, or a one-line error unless it is a finite number ≥ 0."""
    strength = float(strength)
    if not (np.isfinite(strength) and strength >= 0):
        raise Pix2GanError(f"--strength must be a finite number ≥ 0 (0: gray, 1: as predicted), got {strength:g}")
    return strength
