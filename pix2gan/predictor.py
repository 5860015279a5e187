"""Predict the next frames of a sequence with a trained generator: the Python API behind ``pix2gan predict``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pix2gan.data.sequences import open_sequences
from pix2gan.errors import Pix2GanError
from pix2gan.nets.latent import answer_codes
from pix2gan.models import load_generator, pick_device
from pix2gan.runtime import on_device
from pix2gan.tasks import make_task
from pix2gan.tasks.nextframe import NextFrameTask


class FramePredictor:
    """``FramePredictor.from_checkpoint("run/checkpoint.pt").predict(frames, steps=K)`` → the next K frames.

    Frames are ``(T, H, W)`` gray or ``(T, H, W, 3)`` RGB uint8 (or a list of PIL images), any H×W, T ≥ context.
    The rollout is autoregressive: each predicted frame joins the context for the next one. A model trained with
    ``--latent-dim`` has several futures: each step draws its own code, so ``predict(frames, K, seed=s)`` is
    future ``s`` (or give the codes ``z`` ``(K, Z)``); a one-answer model ignores both.
    """

    def __init__(self, generator: torch.nn.Module, task: NextFrameTask, device: torch.device | str = "cpu"):
        self.G, self.device = on_device(generator, device)
        self.task = task

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", ema: bool = True) -> FramePredictor:
        """From a checkpoint, best.pt or .safetensors; its EMA generator when it has one (``ema=False``: the raw
        one)."""
        G, cfg = load_generator(Path(path), task="nextframe", ema=ema)
        return cls(G, make_task(cfg), pick_device(device))

    def _as_array(self, frames) -> np.ndarray:
        if isinstance(frames, (list, tuple)) and frames and isinstance(frames[0], Image.Image):
            mode = "L" if self.task.channels == 1 else "RGB"
            frames = np.stack([np.asarray(f.convert(mode)) for f in frames])
        arr = np.asarray(frames)
        if arr.dtype != np.uint8:
            raise Pix2GanError(f"frames must be uint8, got {arr.dtype}")
        if arr.ndim == 3:
            arr = arr[..., None]
        if arr.ndim != 4:
            raise Pix2GanError(f"frames must be (T, H, W) or (T, H, W, C), got shape {arr.shape}")
        if arr.shape[-1] != self.task.channels:
            if arr.shape[-1] == 1:
                arr = np.repeat(arr, 3, axis=-1)
            else:  # RGB frames for a gray model: luma
                arr = (arr[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
                       + 0.5).astype(np.uint8)[..., None]
        if arr.shape[0] < self.task.context:
            raise Pix2GanError(f"{arr.shape[0]} frame(s) given; this model needs at least {self.task.context}")
        return arr

    @property
    def latent_dim(self) -> int:
        """Length of the model's latent code (0: one future per input)."""
        return getattr(self.G, "latent_dim", 0)

    @torch.inference_mode()
    def predict(self, frames, steps: int = 1, z: torch.Tensor | None = None, seed: int = 0) -> np.ndarray:
        """The next ``steps`` frames, ``(steps, H, W)`` for gray models, ``(steps, H, W, 3)`` for RGB, uint8."""
        if steps < 1:
            raise Pix2GanError(f"steps must be at least 1, got {steps}")
        arr = self._as_array(frames)
        codes = answer_codes(self.G, z, seed, count=steps)  # one code per step
        window = torch.from_numpy(arr[-self.task.context:]).permute(0, 3, 1, 2)[None].to(self.device)
        out = []
        for t in range(steps):  # each predicted frame, as pixels, joins the context of the next
            cond = self.task.cond(window)
            nxt = self.task.to_pixels(cond, self.G(cond) if codes is None else
                                      self.G(cond, codes[t:t + 1].to(self.device)))
            window = torch.cat([window[:, 1:], nxt[:, None]], 1)
            out.append(nxt[0])
        pred = torch.stack(out).permute(0, 2, 3, 1).cpu().numpy()
        return pred[..., 0] if self.task.channels == 1 else pred

    def read(self, spec: str | Path, index: int = 0, start: int | None = None) -> np.ndarray:
        """``context`` frames of one sequence of a video, a frame folder, an animation or a .npy array (``index``
        picks among several), ``frame_step`` apart: the last ones, or those from frame ``start`` (counted in
        steps); only those frames are decoded."""
        c = self.task.context
        source = open_sequences(str(spec), self.task.channels, c, self.task.layout, self.task.frame_step)
        if not 0 <= index < len(source):
            raise Pix2GanError(f"{spec}: holds {len(source)} sequence(s) of at least {c} frames; "
                               f"--index {index} is out of range")
        length = len(source.sequences[index])
        if start is None:
            start = length - c
        if not 0 <= start <= length - c:
            raise Pix2GanError(f"{spec}: --start {start} is out of range: the sequence has {length} frames"
                               + (f" at --frame-step {self.task.frame_step}" if self.task.frame_step > 1 else "")
                               + f" and the model needs {c} from the start")
        arr = source.frames(index, start, c).transpose(0, 2, 3, 1)
        return arr[..., 0] if self.task.channels == 1 else arr
