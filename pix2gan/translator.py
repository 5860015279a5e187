"""Translate images with a paired (A → B) model: the Python API behind ``pix2gan translate``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pix2gan.data.images import to_rgb_uint8
from pix2gan.nets.latent import answer_codes
from pix2gan.models import check_backend, for_backend, load_generator, pick_device, run_generator
from pix2gan.runtime import on_device
from pix2gan.tasks import make_task
from pix2gan.tasks.paired import PairedTask


class Translator:
    """``Translator.from_checkpoint("run/checkpoint.pt")(pil_image) -> PIL.Image`` (mode L or RGB).

    The image is converted to the model's input channels and translated at its own size (any H×W), or first scaled
    to short side ``size`` when one is given. A model trained with ``--latent-dim`` gives answer ``seed`` (or the
    one of code ``z`` ``(Z,)``); a one-answer model ignores both.
    """

    def __init__(self, generator: torch.nn.Module, task: PairedTask, size: int | None = None,
                 device: torch.device | str = "cpu", backend: str = "auto"):
        self.G, self.device = on_device(generator, device)
        self.task, self.size = task, size
        self.backend = check_backend(backend, self.device)  # fast: folders decode and encode beside the model
        self.G = for_backend(self.G, self.backend)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", size: int | None = None,
                        ema: bool = True, backend: str = "auto") -> Translator:
        """From a checkpoint, best.pt or .safetensors; its EMA generator when it has one (``ema=False``: the raw
        one)."""
        G, cfg = load_generator(Path(path), task="paired", ema=ema)
        return cls(G, make_task(cfg), size, pick_device(device), backend)

    @property
    def latent_dim(self) -> int:
        """Length of the model's latent code (0: one answer per input)."""
        return getattr(self.G, "latent_dim", 0)

    @torch.inference_mode()
    def __call__(self, img: Image.Image, z: torch.Tensor | None = None, seed: int = 0,
                 later: bool = False) -> Image.Image | Callable[[], Image.Image]:
        """``img`` translated (``later``: a function that finishes it, the conversion to pixels after the network,
        e.g. on the folder pipeline's writer thread)."""
        if self.size:
            w, h = img.size
            s = self.size / min(w, h)
            img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BICUBIC)
        rgb = Image.fromarray(to_rgb_uint8(img))
        arr = np.asarray(rgb.convert("L"))[..., None] if self.task.cond_channels == 1 else np.asarray(rgb)
        cond = self.task.cond(torch.from_numpy(np.array(arr)).permute(2, 0, 1)[None].to(self.device))
        code = answer_codes(self.G, z, seed)
        out = run_generator(self.G, self.backend, cond, *(() if code is None else (code.to(self.device),)))

        @torch.inference_mode()
        def finish() -> Image.Image:
            y = self.task.to_pixels(cond, out)[0].permute(1, 2, 0).cpu().numpy()
            return Image.fromarray(y[..., 0], "L") if y.shape[-1] == 1 else Image.fromarray(y, "RGB")
        return finish if later else finish()
