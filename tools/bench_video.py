"""Colorize a panning clip and measure colour flicker, speed and memory: the README's video figures.

    python tools/bench_video.py                    # 100 and 1,000 frames, bundled colorizer
    python tools/bench_video.py --frames 100 --photo my.jpg --checkpoint run/checkpoint.pt

A window of 320×240 pans back and forth over an offline photo (scikit-image's astronaut by default) and, halfway,
cuts to a second photo (coffee): the colour clip is the truth, its gray version is colorized by ``pix2gan colorize``
(in a child process, for its peak RSS) with and without temporal smoothing. Printed per setting: the flicker ratio —
mean frame-to-frame |Δa| + |Δb| of the output over that of the truth encoded the same way (1 = as steady as
reality) —, PSNR against the truth (every 10th frame), frames/s and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pix2gan.data.video import SMOOTHING, iter_frames, read_frames, write_frames
from pix2gan.metrics import ab_change, flicker_ratio, psnr

W, H, SPEED = 320, 240, 3  # window size, pan speed in pixels per frame


def panning(photo: np.ndarray, n: int) -> np.ndarray:
    """``n`` frames of a W×H window going back and forth across ``photo`` (scaled to height 1.25 H) at SPEED px per
    frame, drifting a little vertically too."""
    img = Image.fromarray(photo)
    img = img.resize((max(W + 2 * SPEED, round(img.width * 1.25 * H / img.height)), round(1.25 * H)), Image.LANCZOS)
    arr = np.asarray(img)
    span_x, span_y = arr.shape[1] - W, arr.shape[0] - H
    frames = []
    for t in range(n):
        x = (t * SPEED) % (2 * span_x)
        x = x if x <= span_x else 2 * span_x - x
        y = round(span_y / 2 * (1 + np.sin(t / 40)))
        frames.append(arr[y:y + H, x:x + W])
    return np.stack(frames)


def make_clip(n: int, photo: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The colour truth: a pan over ``photo``, then (from frame n/2) a pan over ``second``."""
    half = n // 2
    return np.concatenate([panning(photo, half), panning(second, n - half)])


def to_gray(frames: np.ndarray) -> np.ndarray:
    luma = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat((luma + 0.5).astype(np.uint8)[..., None], 3, axis=-1)


def changes(path: Path) -> tuple[list[float], list[np.ndarray]]:
    """Frame-to-frame ab change of a video, and every 10th frame (for PSNR)."""
    out, prev, frames = [], None, []
    for i, f in enumerate(iter_frames(path)):
        x = torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255
        if prev is not None:
            out.append(ab_change(prev, x).item())
        prev = x
        if i % 10 == 0:
            frames.append(f)
    return out, frames


# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would inherit this process's peak
CHILD = """
import sys, time
from pix2gan.cli import main
t = time.perf_counter()
rc = main(sys.argv[1:])
hwm = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print("RESULT", rc, time.perf_counter() - t, hwm / 1024)
"""


def colorize(src: Path, dst: Path, smoothing: float, checkpoint: str | None) -> tuple[float, float]:
    """Run ``pix2gan colorize`` in a child process; (seconds, peak RSS in MB)."""
    cmd = [sys.executable, "-c", CHILD, "colorize", str(src), str(dst), "--quiet", "--device", "cpu",
           "--temporal-smoothing", str(smoothing)] + (["--checkpoint", checkpoint] if checkpoint else [])
    res = subprocess.run(cmd, capture_output=True, text=True)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None or line.split()[1] != "0":
        sys.exit(f"colorize failed:\n{res.stderr}")
    _, _, seconds, rss = line.split()
    return float(seconds), float(rss)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--photo", type=Path, help="the photo to pan over (default: scikit-image's astronaut)")
    p.add_argument("--checkpoint", help="a colorize checkpoint (default: the bundled colorizer)")
    p.add_argument("--smoothing", type=float, nargs="+", default=[0.0, SMOOTHING])
    args = p.parse_args()

    import skimage.data

    photo = np.asarray(Image.open(args.photo).convert("RGB")) if args.photo else skimage.data.astronaut()
    second = skimage.data.coffee()
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads; {W}×{H} clips at 25 fps, pan "
          f"{SPEED} px/frame, a cut at the middle")
    print("| frames | smoothing | flicker ratio | PSNR (dB) | frames/s | peak RSS (MB) |")
    print("|---|---|---|---|---|---|")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in args.frames:
            truth = make_clip(n, photo, second)
            write_frames(tmp / "truth.mp4", iter(truth), 25)
            write_frames(tmp / "gray.mp4", (to_gray(f) for f in truth), 25)
            del truth
            truth_changes, truth_frames = changes(tmp / "truth.mp4")
            for amount in args.smoothing:
                out = tmp / f"out_{n}_{amount}.mp4"
                seconds, rss = colorize(tmp / "gray.mp4", out, amount, args.checkpoint)
                out_changes, out_frames = changes(out)
                # the cut itself is a change in the truth and the output alike; the ratio is over all frame pairs
                ratio = flicker_ratio(out_changes, truth_changes)
                pixels = lambda f: torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255  # noqa: E731
                err = float(np.mean([psnr(pixels(a), pixels(b), 1.0).item() for a, b in zip(out_frames, truth_frames)]))
                results.append(dict(frames=n, smoothing=amount, flicker_ratio=ratio, psnr=err, fps=n / seconds,
                                    peak_rss_mb=rss))
                print(f"| {n:,} | {amount:g} | {ratio:.2f} | {err:.2f} | {n / seconds:.1f} | {rss:.0f} |", flush=True)
        # next-frame training reads random windows: decoding starts at the keyframe before each one
        rng = np.random.default_rng(0)
        n = max(args.frames)
        truth = make_clip(n, photo, second)
        write_frames(tmp / "clip.mp4", iter(truth), 25)
        del truth
        t0, windows = time.perf_counter(), 20
        for start in rng.integers(0, n - 5, windows):
            read_frames(tmp / "clip.mp4", int(start), 5)
        rate = windows / (time.perf_counter() - t0)
        print(f"\nrandom 5-frame windows of the {n:,}-frame H.264 clip (keyframe every 250 frames): {rate:.1f} windows/s "
              f"per data worker")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
