"""Video files through PyAV (FFmpeg inside its wheel): probe, read a window of frames, stream every frame, write.

Frames are RGB uint8 ``(H, W, 3)`` numpy arrays. Frame indices count from the first frame in presentation order and
assume a constant frame rate (what cameras and editors write); only what is asked for is decoded, from the keyframe
before it. Every FFmpeg failure (not a video, truncated, unknown codec) becomes a one-line :class:`Pix2GanError`
naming the file.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from pix2gan.errors import Pix2GanError

#: The default temporal smoothing of colorized video (``pix2gan colorize --temporal-smoothing``), chosen with
#: tools/bench_video.py: see the README's video section.
SMOOTHING = 0.5

#: File name endings read as video (lower case, with the dot).
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})


def is_video(path: Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _av():
    try:
        import av
    except ImportError:
        raise Pix2GanError("video files need PyAV: pip install av (FFmpeg comes inside its wheel)") from None
    return av


@contextlib.contextmanager
def _named(path: Path) -> Iterator[None]:
    """FFmpeg's and PyAV's errors as one line naming ``path``."""
    av = _av()
    try:
        yield
    except Pix2GanError:
        raise
    except (av.FFmpegError, OSError, ValueError, IndexError, StopIteration) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise Pix2GanError(f"{path}: not a readable video ({reason})") from None


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: Fraction
    width: int
    height: int
    has_audio: bool


def probe(path: Path) -> VideoInfo:
    """Frame count, frame rate, size and whether there is audio; reads the header (and, when the container does not
    store a frame count, the packet index: no frame is decoded)."""
    av = _av()
    with _named(path), av.open(str(path)) as c:
        if not c.streams.video:
            raise Pix2GanError(f"{path}: holds no video stream")
        v = c.streams.video[0]
        frames = v.frames or sum(1 for p in c.demux(v) if p.size)
        if frames < 1 or not v.width:
            raise Pix2GanError(f"{path}: holds no video frames")
        fps = v.average_rate or v.guessed_rate or Fraction(25)
        return VideoInfo(frames, Fraction(fps), v.width, v.height, bool(c.streams.audio))


def _index(frame, stream, fps: Fraction) -> int:
    """The frame's index (0 = first) from its presentation time."""
    start = stream.start_time or 0
    return round(float((frame.pts - start) * stream.time_base * fps))


def read_frames(path: Path, start: int, count: int) -> np.ndarray:
    """Frames ``start`` … ``start + count - 1``, ``(count, H, W, 3)`` uint8; decoding starts at the keyframe before
    ``start``."""
    av = _av()
    out: list[np.ndarray] = []
    with _named(path), av.open(str(path)) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        fps = Fraction(v.average_rate or v.guessed_rate or 25)
        if start > 0:  # to the keyframe at or before the first wanted frame
            c.seek(int((v.start_time or 0) + start / fps / v.time_base), stream=v, backward=True)
        for frame in c.decode(v):
            i = _index(frame, v, fps) if frame.pts is not None else start + len(out)
            if i < start:
                continue
            if not out and i > start:  # the seek overshot (rare containers): decode from the beginning
                return _read_from_beginning(path, start, count)
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == count:
                return np.stack(out)
    raise Pix2GanError(f"{path}: has fewer than {start + count} frames (truncated?)")


def _read_from_beginning(path: Path, start: int, count: int) -> np.ndarray:
    frames = []
    for i, frame in enumerate(iter_frames(path)):
        if i >= start:
            frames.append(frame)
        if len(frames) == count:
            return np.stack(frames)
    raise Pix2GanError(f"{path}: has fewer than {start + count} frames (truncated?)")


def iter_frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame in order, ``(H, W, 3)`` uint8, one at a time (memory does not grow with the video)."""
    av = _av()
    with _named(path), av.open(str(path)) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        for frame in c.decode(v):
            yield frame.to_ndarray(format="rgb24")


def encoder_for(path: Path) -> str:
    """The video codec written for ``path``'s suffix: VP9 for .webm, H.264 otherwise (MPEG-4 part 2 when this
    FFmpeg has no libx264)."""
    av = _av()
    if Path(path).suffix.lower() == ".webm":
        return "libvpx-vp9"
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def add_video_stream(container, path: Path, width: int, height: int, rate: Fraction, crf: int):
    """A video stream of ``width``×``height`` at ``rate`` fps in ``container`` (opened for writing ``path``), with
    quality ``crf`` (H.264/VP9 constant rate factor: 0 lossless … 51 worst; MPEG-4: mapped to its q-scale)."""
    codec = encoder_for(path)
    s = container.add_stream(codec, rate=rate)
    s.width, s.height = width, height
    # 4:2:0 halves the chroma resolution and needs even sizes; odd sizes keep full-resolution chroma (H.264 4:4:4)
    s.pix_fmt = "yuv420p" if codec != "libx264" or (width % 2 == 0 and height % 2 == 0) else "yuv444p"
    if codec == "libx264":
        s.options = {"crf": str(crf), "preset": "medium"}
    elif codec == "libvpx-vp9":
        s.options = {"crf": str(crf), "b": "0", "row-mt": "1"}
    else:  # MPEG-4 part 2: a fixed quantiser, 1 (finest) … 31
        s.codec_context.qmin = s.codec_context.qmax = max(1, min(31, round(1 + crf * 30 / 51)))
    return s


def write_frames(path: Path, frames, rate: Fraction | float, crf: int = 18) -> int:
    """Encode RGB uint8 frames ``(H, W, 3)`` (any iterable, consumed one at a time) into ``path`` at ``rate`` fps;
    returns the count. Not atomic: write to a temporary name (:func:`pix2gan.files.replacing`)."""
    av = _av()
    n = 0
    with _named(path), av.open(str(path), "w") as c:
        s = None
        for frame in frames:
            if s is None:
                s = add_video_stream(c, path, frame.shape[1], frame.shape[0], Fraction(rate).limit_denominator(100000),
                                     crf)
            for packet in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                c.mux(packet)
            n += 1
        if s is not None:
            for packet in s.encode():
                c.mux(packet)
    return n


def transcode(src: Path, dst: Path, fn, crf: int = 18, progress: bool = True, desc: str = "frames") -> int:
    """Write ``dst``: every frame of ``src`` through ``fn`` (RGB uint8 ``(H, W, 3)`` → the same shape), in order,
    at the same frame rate; the first audio stream copied packet for packet (not re-encoded). Frames stream
    through one at a time. Returns the frame count. Not atomic: write to a temporary name."""
    from tqdm import tqdm

    av = _av()
    info = probe(src)
    with _named(src), av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if inp.streams.audio else None
        with av.open(str(dst), "w") as out:
            vout = add_video_stream(out, dst, vin.width, vin.height, info.fps, crf)
            aout = None
            if ain is not None:
                try:
                    aout = out.add_stream_from_template(ain)
                except (ValueError, av.FFmpegError) as e:
                    raise Pix2GanError(f"{src}: its {ain.codec_context.name} audio cannot go into a {dst.suffix} "
                                       f"file ({e}); write .mkv (takes any audio) or the input's own kind") \
                        from None
            n = 0
            bar = tqdm(total=info.frames, desc=desc, unit="frame", disable=not progress, leave=False,
                       dynamic_ncols=True)
            with bar:
                for packet in inp.demux(*[s for s in (vin, ain) if s is not None]):
                    if packet.stream is ain:
                        if packet.dts is not None:  # the demuxer's end-of-stream packet carries nothing
                            packet.stream = aout
                            out.mux(packet)
                        continue
                    for frame in packet.decode():
                        rgb = fn(frame.to_ndarray(format="rgb24"))
                        for p in vout.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                            out.mux(p)
                        n += 1
                        bar.update()
            for p in vout.encode():
                out.mux(p)
    return n
