"""Frame sequences for next-frame prediction: folders of frames, animated GIF/APNG, ``.npy`` arrays, built-ins."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageSequence
from torch import Tensor

from pix2gan.data.images import list_images, read_image, to_rgb_uint8
from pix2gan.data.photos import holdout_indices
from pix2gan.errors import Pix2GanError

LAYOUTS = ("auto", "TNHW", "NTHW")


def natural_key(path: Path) -> list:
    """Sort key putting frame2 before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def frames_to_array(frames: list[np.ndarray], channels: int) -> np.ndarray:
    """RGB uint8 frames ``(H, W, 3)`` → ``(T, C, H, W)`` uint8 with C = 1 (luma) or 3."""
    arr = np.stack(frames)
    if channels == 1:
        arr = (arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5).astype(np.uint8)[..., None]
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))


def read_animation(path: Path, channels: int) -> np.ndarray:
    """All frames of a GIF/APNG/animated WebP (or one frame of a still image) as ``(T, C, H, W)`` uint8."""
    read_image(path)  # a bad, truncated or oversized file fails here with a one-line error
    with Image.open(path) as anim:
        frames = [to_rgb_uint8(f.convert("RGBA")) for f in ImageSequence.Iterator(anim)]
    return frames_to_array(frames, channels)


def read_frame_folder(folder: Path, channels: int) -> np.ndarray:
    """The images directly in ``folder``, in natural order, as ``(T, C, H, W)`` uint8 (all the same size)."""
    paths = sorted((p for p in list_images(folder) if p.parent == folder), key=natural_key)
    if not paths:
        raise Pix2GanError(f"{folder}: no frames found")
    frames = [to_rgb_uint8(read_image(p)) for p in paths]
    sizes = {f.shape for f in frames}
    if len(sizes) > 1:
        raise Pix2GanError(f"{folder}: frames differ in size ({', '.join(f'{s[1]}×{s[0]}' for s in sorted(sizes))})")
    return frames_to_array(frames, channels)


def read_npy(path: Path, channels: int, layout: str = "auto") -> list[np.ndarray]:
    """Sequences from a ``.npy`` array: ``(T, H, W[, C])`` one sequence; ``(T, N, H, W)`` (Moving MNIST) or
    ``(N, T, H, W)``; ``(N, T, H, W, C)``. uint8, or floats in [0, 1].

    ``layout`` "auto" reads a 4-D array as (T, N, ...) when N is at least 4× T, as (N, T, ...) when T is at
    least 4× N, and refuses anything in between (name it with ``--layout``).
    """
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError) as e:
        raise Pix2GanError(f"{path}: not a readable .npy array ({e})") from None
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating):
            raise Pix2GanError(f"{path}: dtype {arr.dtype} (expected uint8, or floats in [0, 1])")
        arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
    shape = arr.shape
    if arr.ndim == 3 or (arr.ndim == 4 and shape[-1] in (1, 3) and layout == "auto" and shape[-2] > 4):
        seqs = [np.asarray(arr)]  # one sequence (T, H, W[, C])
    elif arr.ndim == 4:
        t_first = layout == "TNHW" or (layout == "auto" and shape[1] >= 4 * shape[0])
        n_first = layout == "NTHW" or (layout == "auto" and shape[0] >= 4 * shape[1])
        if not (t_first or n_first):
            raise Pix2GanError(f"{path}: shape {shape} could be (T, N, H, W) or (N, T, H, W); say which with "
                               f"--layout TNHW or --layout NTHW")
        data = np.asarray(arr).transpose(1, 0, 2, 3) if t_first else np.asarray(arr)
        seqs = list(data)
    elif arr.ndim == 5:
        seqs = list(np.asarray(arr))
    else:
        raise Pix2GanError(f"{path}: shape {shape} is not a sequence array (expected 3 to 5 dimensions)")
    out = []
    for s in seqs:
        if s.ndim == 3:
            s = s[..., None]
        rgb = np.repeat(s, 3, axis=-1) if s.shape[-1] == 1 else s[..., :3]
        out.append(frames_to_array(list(rgb), channels))
    return out


class SequenceSet:
    """Sequences ``(T, C, H, W)`` uint8; draws windows of ``context + 1`` consecutive frames.

    :meth:`batch` picks a sequence, a start frame, a crop of ``size`` and a horizontal flip (the same for the whole
    window) from a seeded generator, and returns ``(B, context + 1, C, size, size)`` uint8.
    """

    def __init__(self, sequences: list[Tensor], names: list[str], context: int):
        self.context = context
        keep = [(s, n) for s, n in zip(sequences, names) if s.shape[0] >= context + 1]
        skipped = len(sequences) - len(keep)
        if skipped:
            print(f"warning: skipped {skipped} sequence(s) shorter than context + 1 = {context + 1} frames",
                  file=sys.stderr)
        if not keep:
            raise Pix2GanError(f"no sequence has the {context + 1} frames that --context {context} needs")
        self.sequences = [s for s, _ in keep]
        self.names = [n for _, n in keep]

    def __len__(self) -> int:
        return len(self.sequences)

    def check_size(self, size: int) -> None:
        small = [n for s, n in zip(self.sequences, self.names) if min(s.shape[-2:]) < size]
        if small:
            raise Pix2GanError(f"{small[0]}: frames smaller than --size {size} ({len(small)} sequence(s))")

    def batch(self, gen: torch.Generator, batch_size: int, size: int) -> Tensor:
        k = self.context + 1
        picks = torch.randint(len(self.sequences), (batch_size,), generator=gen).tolist()
        out = []
        for i in picks:
            seq = self.sequences[i]
            t = int(torch.randint(seq.shape[0] - k + 1, (1,), generator=gen))
            top = int(torch.randint(seq.shape[2] - size + 1, (1,), generator=gen))
            left = int(torch.randint(seq.shape[3] - size + 1, (1,), generator=gen))
            window = seq[t:t + k, :, top:top + size, left:left + size]
            out.append(window.flip(-1) if bool(torch.rand(1, generator=gen) < 0.5) else window)
        return torch.stack(out)

    def center_batch(self, count: int, size: int) -> Tensor:
        out = []
        for seq in self.sequences[:count]:
            top, left = (seq.shape[2] - size) // 2, (seq.shape[3] - size) // 2
            out.append(seq[:self.context + 1, :, top:top + size, left:left + size])
        return torch.stack(out)

    def split(self, fraction: float, seed: int) -> tuple[SequenceSet, SequenceSet | None]:
        """(train, held-out) by whole sequences, with the photos' rule (:func:`holdout_indices`)."""
        if fraction <= 0:
            return self, None
        train, held = holdout_indices(len(self), fraction, seed)
        pick = lambda idx: SequenceSet([self.sequences[i] for i in idx], [self.names[i] for i in idx],  # noqa: E731
                                       self.context)
        return pick(train), pick(held)


def _builtin(stochastic: bool):
    from pix2gan.data.moving_digits import make_moving_digits

    arr = make_moving_digits(500, stochastic=stochastic, seed=1 if stochastic else 0)
    return [np.ascontiguousarray(arr[:, i, None]) for i in range(arr.shape[1])]  # (T, 1, H, W) each


#: ``builtin:NAME`` sequence sets → (description, loader of (T, 1, H, W) uint8 sequences).
BUILTIN_SEQUENCES = {
    "moving-digits": ("500 Moving-MNIST-style sequences: 20 frames, 64 px, 2 bouncing digits drawn with PIL's font",
                      lambda: _builtin(False)),
    "moving-digits-stochastic": ("as moving-digits, but digits turn at random times (a multimodal next frame)",
                                 lambda: _builtin(True)),
}


def read_sequences(spec: str, channels: int, layout: str = "auto") -> tuple[list[np.ndarray], list[str]]:
    """Sequences ``(T, C, H, W)`` uint8 and their names from ``builtin:NAME``, a ``.npy`` file, an animation, a
    folder of frames, or a folder holding any of those (sub-folders of frames, GIF/APNG files, .npy files)."""
    if spec.startswith("builtin:"):
        name = spec.removeprefix("builtin:")
        if name not in BUILTIN_SEQUENCES:
            raise Pix2GanError(f"{spec}: unknown built-in sequence set (known: "
                               f"{', '.join('builtin:' + k for k in BUILTIN_SEQUENCES)})")
        seqs = BUILTIN_SEQUENCES[name][1]()
        seqs = [np.repeat(s, 3, axis=1) if channels == 3 else s for s in seqs]
        return seqs, [f"{name}[{i}]" for i in range(len(seqs))]
    path = Path(spec)
    if not path.exists():
        raise Pix2GanError(f"{spec}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() == ".npy":
            seqs = read_npy(path, channels, layout)
            return seqs, [f"{path}[{i}]" for i in range(len(seqs))] if len(seqs) > 1 else [str(path)]
        return [read_animation(path, channels)], [str(path)]
    seqs, names = [], []
    direct = [p for p in list_images(path) if p.parent == path]
    subdirs = sorted((d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")), key=natural_key)
    animations = [p for p in direct if p.suffix.lower() in (".gif", ".apng", ".webp", ".png") and _is_animated(p)]
    npys = sorted(path.glob("*.npy"), key=natural_key)
    if direct and not animations and not subdirs and not npys:
        return [read_frame_folder(path, channels)], [str(path)]  # the folder itself is one sequence
    for sub in subdirs:
        seqs.append(read_frame_folder(sub, channels))
        names.append(str(sub))
    for anim in animations:
        seqs.append(read_animation(anim, channels))
        names.append(str(anim))
    for npy in npys:
        more = read_npy(npy, channels, layout)
        seqs += more
        names += [f"{npy}[{i}]" for i in range(len(more))]
    if not seqs:
        raise Pix2GanError(f"{spec}: no sequences found (frame folders, GIF/APNG files or .npy arrays)")
    return seqs, names


def _is_animated(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            return getattr(img, "n_frames", 1) > 1
    except Exception:  # noqa: BLE001 - unreadable files are reported when read as frames
        return False


def open_sequences(spec: str, channels: int, context: int, layout: str = "auto") -> SequenceSet:
    seqs, names = read_sequences(spec, channels, layout)
    return SequenceSet([torch.from_numpy(s) for s in seqs], names, context)
