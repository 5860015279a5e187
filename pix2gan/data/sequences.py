"""Frame sequences for next-frame prediction: folders of frames, videos, animated GIF/APNG, ``.npy`` arrays,
built-ins.

Listing a sequence reads at most a header (a GIF's frame count, a .npy's shape); frames are decoded when a window
is drawn, and .npy arrays are memory-mapped, so memory does not grow with the data."""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from pix2gan.data.images import list_images, read_image, to_rgb_uint8
from pix2gan.data.source import Source
from pix2gan.data.video import VIDEO_SUFFIXES, is_video
from pix2gan.errors import Pix2GanError



def natural_key(path: Path) -> list:
    """Sort key putting frame2 before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def frames_to_array(frames: list[np.ndarray], channels: int) -> np.ndarray:
    """RGB uint8 frames ``(H, W, 3)`` → ``(T, C, H, W)`` uint8 with C = 1 (luma) or 3."""
    arr = np.stack(frames)
    if channels == 1:
        arr = (arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5).astype(np.uint8)[..., None]
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))


class FrameFolder:
    """The images directly in a folder, in natural order: one sequence (all frames the same size)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.frames = sorted((p for p in list_images(folder) if p.parent == folder), key=natural_key)
        if not self.frames:
            raise Pix2GanError(f"{folder}: no frames found")

    def __len__(self) -> int:
        return len(self.frames)

    def rgb(self, start: int, count: int) -> np.ndarray:
        frames = [to_rgb_uint8(read_image(p)) for p in self.frames[start:start + count]]
        sizes = {f.shape for f in frames}
        if len(sizes) > 1:
            raise Pix2GanError(f"{self.folder}: frames differ in size "
                               f"({', '.join(f'{s[1]}×{s[0]}' for s in sorted(sizes))})")
        return np.stack(frames)


class Animation:
    """The frames of an animated GIF/APNG/WebP (a still image is one frame)."""

    def __init__(self, path: Path):
        read_image(path)  # a bad, truncated or oversized file fails here with a one-line error
        self.path = path
        with Image.open(path) as anim:
            self.length = getattr(anim, "n_frames", 1)

    def __len__(self) -> int:
        return self.length

    def rgb(self, start: int, count: int) -> np.ndarray:
        try:
            with Image.open(self.path) as anim:
                frames = []
                for t in range(start, start + count):
                    anim.seek(t)
                    frames.append(to_rgb_uint8(anim.convert("RGBA")))
        except (OSError, ValueError, EOFError) as e:
            raise Pix2GanError(f"{self.path}: cannot decode frame ({e})") from None
        return np.stack(frames)


class VideoFile:
    """The frames of a video file (.mp4, .mov, .mkv, .webm, ...), decoded when a window is read."""

    def __init__(self, path: Path):
        from pix2gan.data.video import probe

        self.path = path
        self.length = probe(path).frames  # a non-video or unreadable file fails here with a one-line error

    def __len__(self) -> int:
        return self.length

    def rgb(self, start: int, count: int) -> np.ndarray:
        from pix2gan.data.video import read_frames

        return read_frames(self.path, start, count)


class Strided:
    """Every ``step``-th frame of a sequence (``--frame-step``): frame t is frame t × step of ``seq``."""

    def __init__(self, seq, step: int):
        self.seq, self.step = seq, step

    def __len__(self) -> int:
        return (len(self.seq) - 1) // self.step + 1

    def rgb(self, start: int, count: int) -> np.ndarray:
        return self.seq.rgb(start * self.step, (count - 1) * self.step + 1)[::self.step]


@functools.lru_cache(maxsize=64)
def _open_npy(path: Path) -> np.ndarray:
    """A memory-mapped array, opened once per process (workers open their own)."""
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError) as e:
        raise Pix2GanError(f"{path}: not a readable .npy array ({e})") from None


class ArraySequence:
    """Sequence ``index`` of an array (memory-mapped from a ``.npy`` file, or in memory for the built-in sets):
    ``(T, H, W[, C])`` when ``index`` is None, else ``(T, N, ...)`` (``t_first``) or ``(N, T, ...)``. Only the
    frames asked for are read; floats in [0, 1] are converted to uint8 then."""

    def __init__(self, source: Path | np.ndarray, index: int | None, t_first: bool, peak: float = 1.0):
        self.source, self.index, self.t_first, self.peak = source, index, t_first, peak
        shape = self.array.shape
        self.length = shape[0] if index is None or t_first else shape[1]

    @property
    def array(self) -> np.ndarray:
        return self.source if isinstance(self.source, np.ndarray) else _open_npy(self.source)

    def __len__(self) -> int:
        return self.length

    def rgb(self, start: int, count: int) -> np.ndarray:
        arr, t = self.array, slice(start, start + count)
        a = np.asarray(arr[t] if self.index is None else arr[t, self.index] if self.t_first else arr[self.index, t])
        if a.dtype != np.uint8:
            a = (np.clip(a / self.peak, 0, 1) * 255 + 0.5).astype(np.uint8)
        if a.ndim == 3:
            a = a[..., None]
        return np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a[..., :3]


def npy_sequences(path: Path, layout: str = "auto") -> list[ArraySequence]:
    """The sequences of a ``.npy`` array (only its header is read): ``(T, H, W[, C])`` one sequence;
    ``(T, N, H, W)`` (Moving MNIST) or ``(N, T, H, W)``; ``(N, T, H, W, C)``. uint8, or floats in [0, 1].

    ``layout`` "auto" reads a 4-D array as (T, N, ...) when N is at least 4× T, as (N, T, ...) when T is at
    least 4× N, and refuses anything in between (name it with ``--layout``).
    """
    arr = _open_npy(path)
    if arr.dtype != np.uint8 and not np.issubdtype(arr.dtype, np.floating):
        raise Pix2GanError(f"{path}: dtype {arr.dtype} (expected uint8, or floats in [0, 1])")
    peak = 1.0
    if arr.dtype != np.uint8:  # floats: in [0, 1], or pixel values in [0, 255]? Judged on the first frames.
        sample = float(np.nanmax(arr[:2] if arr.ndim == 3 else arr[:2, :4]))  # whole frames, a few of them
        if sample > 255.0 + 1e-3:
            raise Pix2GanError(f"{path}: float frames reach {sample:g}; expected [0, 1] or [0, 255]")
        if sample > 1.0 + 1e-3:
            peak = 255.0
            print(f"warning: {path}: float frames in [0, 255] (the first reach {sample:g}); read as pixel values",
                  file=sys.stderr)
    shape = arr.shape
    if arr.ndim == 3 or (arr.ndim == 4 and shape[-1] in (1, 3) and layout == "auto" and shape[-2] > 4):
        return [ArraySequence(path, None, True, peak)]  # one sequence (T, H, W[, C])
    if arr.ndim == 4:
        t_first = layout == "TNHW" or (layout == "auto" and shape[1] >= 4 * shape[0])
        n_first = layout == "NTHW" or (layout == "auto" and shape[0] >= 4 * shape[1])
        if not (t_first or n_first):
            raise Pix2GanError(f"{path}: shape {shape} could be (T, N, H, W) or (N, T, H, W); say which with "
                               f"--layout TNHW or --layout NTHW")
        return [ArraySequence(path, i, t_first, peak) for i in range(shape[1] if t_first else shape[0])]
    if arr.ndim == 5:
        return [ArraySequence(path, i, False, peak) for i in range(shape[0])]
    raise Pix2GanError(f"{path}: shape {shape} is not a sequence array (expected 3 to 5 dimensions)")


class SequenceSource(Source):
    """Sequences read when drawn: :meth:`read` gives a window of ``window`` consecutive frames
    ``(window, C, H, W)`` uint8 (C = 1: luma, or 3), its start drawn with the generator."""

    def __init__(self, sequences: list, names: list[str], channels: int, window: int):
        self.sequences, self.names, self.channels, self.window = sequences, names, channels, window

    def frames(self, i: int, start: int, count: int) -> np.ndarray:
        """Frames ``start`` to ``start + count`` of sequence ``i``, ``(count, C, H, W)`` uint8."""
        return frames_to_array(list(self.sequences[i].rgb(start, count)), self.channels)

    def read(self, i: int, gen: torch.Generator | None = None) -> Tensor:
        free = len(self.sequences[i]) - self.window + 1
        t = int(torch.randint(free, (1,), generator=gen)) if gen is not None else 0
        return torch.from_numpy(self.frames(i, t, self.window))


def _builtin(stochastic: bool) -> list[ArraySequence]:
    from pix2gan.data.moving_digits import make_moving_digits

    arr = make_moving_digits(500, stochastic=stochastic, seed=1 if stochastic else 0)  # (T, N, H, W)
    return [ArraySequence(arr, i, True) for i in range(arr.shape[1])]


#: ``builtin:NAME`` sequence sets → (description, maker of the sequences).
BUILTIN_SEQUENCES = {
    "moving-digits": ("500 Moving-MNIST-style sequences: 20 frames, 64 px, 2 bouncing digits drawn with PIL's font",
                      lambda: _builtin(False)),
    "moving-digits-stochastic": ("as moving-digits, but digits turn at random times (a multimodal next frame)",
                                 lambda: _builtin(True)),
}


def list_sequences(spec: str, layout: str = "auto") -> tuple[list, list[str]]:
    """The sequences of ``builtin:NAME``, a ``.npy`` file, an animation, a folder of frames, or a folder holding any
    of those (sub-folders of frames, GIF/APNG files, .npy files), and their names; nothing is decoded."""
    if spec.startswith("builtin:"):
        name = spec.removeprefix("builtin:")
        if name not in BUILTIN_SEQUENCES:
            raise Pix2GanError(f"{spec}: unknown built-in sequence set (known: "
                               f"{', '.join('builtin:' + k for k in BUILTIN_SEQUENCES)})")
        seqs = BUILTIN_SEQUENCES[name][1]()
        return seqs, [f"{name}[{i}]" for i in range(len(seqs))]
    path = Path(spec)
    if not path.exists():
        raise Pix2GanError(f"{spec}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() == ".npy":
            seqs = npy_sequences(path, layout)
            return seqs, [f"{path.name}[{i}]" for i in range(len(seqs))] if len(seqs) > 1 else [path.name]
        return [VideoFile(path) if is_video(path) else Animation(path)], [path.name]
    direct = [p for p in list_images(path) if p.parent == path]
    videos = sorted((p for p in list_images(path, VIDEO_SUFFIXES) if p.parent == path), key=natural_key)
    subdirs = sorted((d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")), key=natural_key)
    animations = [p for p in direct if p.suffix.lower() in (".gif", ".apng", ".webp", ".png") and _is_animated(p)]
    npys = sorted(path.glob("*.npy"), key=natural_key)
    if direct and not animations and not subdirs and not npys and not videos:
        return [FrameFolder(path)], ["."]  # the folder itself is one sequence
    seqs, names = [], []
    for sub in subdirs:
        seqs.append(FrameFolder(sub))
        names.append(sub.name)
    for anim in animations:
        seqs.append(Animation(anim))
        names.append(anim.name)
    for npy in npys:
        more = npy_sequences(npy, layout)
        seqs += more
        names += [f"{npy.name}[{i}]" for i in range(len(more))]
    for video in videos:  # an unreadable video is named and left out; the others are used
        try:
            seqs.append(VideoFile(video))
        except Pix2GanError as e:
            print(f"warning: {e}; left out", file=sys.stderr)
            continue
        names.append(video.name)
    if not seqs:
        raise Pix2GanError(f"{spec}: no sequences found (frame folders, videos, GIF/APNG files or .npy arrays)")
    return seqs, names


def _is_animated(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            return getattr(img, "n_frames", 1) > 1
    except Exception:  # noqa: BLE001 - unreadable files are reported when read as frames
        return False


def open_sequences(spec: str, channels: int, min_frames: int, layout: str = "auto",
                   frame_step: int = 1) -> SequenceSource:
    """A :class:`SequenceSource` of windows of ``min_frames`` frames, each ``frame_step`` frames apart; shorter
    sequences are skipped with a warning."""
    seqs, names = list_sequences(spec, layout)
    if frame_step > 1:
        seqs = [Strided(s, frame_step) for s in seqs]
    keep = [i for i, s in enumerate(seqs) if len(s) >= min_frames]
    if len(keep) < len(seqs):
        print(f"warning: skipped {len(seqs) - len(keep)} sequence(s) shorter than context + 1 = {min_frames} frames",
              file=sys.stderr)
    if not keep:
        raise Pix2GanError(f"{spec}: no sequence has the {min_frames} frames needed")
    return SequenceSource([seqs[i] for i in keep], [names[i] for i in keep], channels, min_frames)
