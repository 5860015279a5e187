"""Colorize a folder fast: images/s of ``pix2gan colorize`` per backend, their colour difference, memory; and the
generator's forward pass through each runtime that could run it.

    python tools/bench_colorize.py                       # 200 photo-sized JPEGs (1024×640), bundled colorizer
    python tools/bench_colorize.py --images 1000 --repeat 2
    python tools/bench_colorize.py --only forward        # the runtimes alone (exports the model to ONNX: minutes)
    python tools/bench_colorize.py --only mirror --images 40 --repeat 3   # the cost of the mirrored margin
    python tools/bench_colorize.py --only flat --images 40 --repeat 3     # the cost of --flat fade

Each backend colorizes the same folder as a whole command (``python -m pix2gan colorize IN OUT --backend B``),
timed from start to exit with its peak RSS, in interleaved rounds (the median round is printed); the ratio to
``--backend torch`` (the reference path) and the mean CIEDE2000 between their outputs are the figures the speed
target is judged by. ``--images`` also runs the fast backend on a tenth of the folder: equal peak RSS means memory
does not grow with the folder.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.color
import torch
from PIL import Image

from common import median_ms  # tools/common.py
from pix2gan.data.photos import skimage_photos
from pix2gan.runtime import cpu_description, cpu_has_native_bf16

BACKENDS = ("torch", "fast") + (("bf16",) if cpu_has_native_bf16() else ())


def make_folder(folder: Path, n: int, width: int = 1024, height: int = 640) -> None:
    """``n`` gray JPEGs of ``width`` × ``height``, crops of scikit-image's photos at varying scales (the content
    decides how long decoding and PNG encoding take)."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = [Image.fromarray(a[..., :3] if a.ndim == 3 else a).convert("L") for _, a in skimage_photos()]
    rng = np.random.default_rng(0)
    for i in range(n):
        img = photos[i % len(photos)]
        s = max(width / img.width, height / img.height) * rng.uniform(1.0, 1.6)
        big = img.resize((max(width, round(img.width * s)), max(height, round(img.height * s))), Image.BICUBIC)
        x, y = rng.integers(0, big.width - width + 1), rng.integers(0, big.height - height + 1)
        big.crop((x, y, x + width, y + height)).save(folder / f"img_{i:05d}.jpg", quality=90)


def run_command(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command run to its end."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.read().decode()[-500:]}")
    return seconds, usage.ru_maxrss / 1024


def colorize(src: Path, dst: Path, backend: str) -> tuple[float, float]:
    return run_command([sys.executable, "-m", "pix2gan", "colorize", str(src), str(dst), "--backend", backend,
                        "--overwrite", "--quiet"])


def mean_delta_e(a: Path, b: Path, count: int) -> float:
    """Mean CIEDE2000 between the PNGs of the same names in two folders (the first ``count``)."""
    values = []
    for path in sorted(a.glob("*.png"))[:count]:
        lab = [skimage.color.rgb2lab(np.asarray(Image.open(p).convert("RGB")) / 255.0) for p in (path, b / path.name)]
        values.append(float(skimage.color.deltaE_ciede2000(*lab).mean()))
    return float(np.mean(values))


def folder_rows(args, tmp: Path) -> None:
    src = tmp / "in"
    make_folder(src, args.images)
    rounds = {b: [] for b in BACKENDS}
    for _ in range(args.repeat):  # interleaved: both backends see the same machine state
        for b in BACKENDS:
            rounds[b].append(colorize(src, tmp / f"out-{b}", b))
    sec = {b: statistics.median(s for s, _ in rounds[b]) for b in BACKENDS}
    rss = {b: max(r for _, r in rounds[b]) for b in BACKENDS}
    print(f"\n{args.images} gray JPEGs of 1024×640, bundled colorizer, whole command, median of {args.repeat}:\n")
    print("| backend | seconds | images/s | × torch | peak RSS (MB) | mean ΔE2000 to torch |")
    print("|---|---|---|---|---|---|")
    for b in BACKENDS:
        de = 0.0 if b == "torch" else mean_delta_e(tmp / "out-torch", tmp / f"out-{b}", args.delta_e_images)
        print(f"| {b} | {sec[b]:.1f} | {args.images / sec[b]:.2f} | {sec['torch'] / sec[b]:.2f} | {rss[b]:.0f} | "
              f"{de:.3f} |")
    tenth = tmp / "tenth"
    tenth.mkdir()
    for p in sorted(src.glob("*.jpg"))[: max(1, args.images // 10)]:
        os.link(p, tenth / p.name)
    default = BACKENDS[-1]  # what auto picks on this CPU
    _, small = colorize(tenth, tmp / "out-tenth", default)
    print(f"\nmemory: {default} backend peak RSS {small:.0f} MB on {args.images // 10} images, {rss[default]:.0f} MB "
          f"on {args.images}")


def forward_rows(args, tmp: Path) -> None:
    """The generator alone at the working size of a 1024×640 photo, through each runtime."""
    from pix2gan.colorizer import Colorizer
    from pix2gan.models import for_backend, run_generator

    model = Colorizer.default("cpu")
    G = model.G.float()
    x, _ = model._model_input(torch.rand(1, 1, 640, 1024) * 2 - 1, None)  # with a hint model's (empty) hint maps
    size = "×".join(str(s) for s in x.shape[-2:])
    rows = {}

    timed = lambda fn: median_ms(fn, 20, warmup=1)  # noqa: E731

    threads = torch.get_num_threads()
    with torch.inference_mode():
        rows[f"torch fp32, {threads} threads"] = timed(lambda: G(x))
        torch.set_num_threads(max(1, threads - 1))
        rows[f"torch fp32, {max(1, threads - 1)} thread(s) (a core left to the reader and writer)"] = \
            timed(lambda: G(x))
        torch.set_num_threads(threads)
        if cpu_has_native_bf16():
            G16 = for_backend(copy.deepcopy(G), "bf16")
            rows["torch bf16 (the bf16 backend: autocast, channels-last)"] = \
                timed(lambda: run_generator(G16, "bf16", x))
        else:
            rows["torch bf16"] = "not run: this CPU has no native bf16"
    onnx_path = tmp / "g.onnx"
    start = time.perf_counter()
    torch.onnx.export(G, (torch.zeros(1, x.shape[1], 37, 53),), onnx_path, dynamo=True, verbose=False, input_names=["L"],
                      output_names=["ab"], dynamic_shapes={"x": {2: torch.export.Dim("h", min=1, max=65536),
                                                                 3: torch.export.Dim("w", min=1, max=65536)}})
    export_s = time.perf_counter() - start
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        rows[f"onnxruntime {ort.__version__}"] = timed(lambda: session.run(None, {"L": x.numpy()}))
    except ImportError:
        rows["onnxruntime"] = "not installed (pip install onnxruntime)"
    try:
        import openvino

        model = openvino.Core().compile_model(str(onnx_path), "CPU", {"PERFORMANCE_HINT": "LATENCY"})
        rows[f"OpenVINO {openvino.__version__}"] = timed(lambda: model(x.numpy()))
    except ImportError:
        rows["OpenVINO"] = "not installed (pip install openvino)"
    print(f"\nthe generator alone, {size} (a 1024×640 photo at the bundled model's size), median of 20 (ms); "
          f"exporting it to ONNX took {export_s:.0f} s:\n")
    print("| runtime | ms | × torch |\n|---|---|---|")
    base = next(iter(rows.values()))
    for name, ms in rows.items():
        print(f"| {name} | " + (f"{ms:.1f} | {base / ms:.2f} |" if isinstance(ms, float) else f"{ms} | |"))


def interleaved_rows(args, tmp: Path, variants: dict[str, tuple[str, list[str]]]) -> None:
    """The default backend's whole command in each of ``variants`` (name → Python run first, extra arguments), in
    interleaved rounds: what one setting costs."""
    src = tmp / "in"
    make_folder(src, args.images)
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}  # as the command sets it
    sec: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for i, (name, (setup, extra)) in enumerate(variants.items()):
            argv = ["colorize", str(src), str(tmp / f"out-{i}"), "--overwrite", "--quiet", *extra]
            code = f"import sys; {setup}; from pix2gan.cli import main; sys.exit(main({argv!r}))"
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env, stdout=subprocess.DEVNULL)
            sec.setdefault(name, []).append(time.perf_counter() - start)
    base = statistics.median(next(iter(sec.values())))
    print(f"\n{args.images} gray JPEGs of 1024×640, default backend, median of {args.repeat}: "
          + ", ".join(f"{name}: {statistics.median(t):.2f} s (× {statistics.median(t) / base:.3f})"
                      for name, t in sec.items()))


def mirror_rows(args, tmp: Path) -> None:
    """The network's mirrored margin (``colorizer.MIRROR``) off and at its value: what the margin costs."""
    from pix2gan import colorizer

    interleaved_rows(args, tmp, {"margin 0": ("import pix2gan.colorizer as c; c.MIRROR = 0", []),
                                 f"margin {colorizer.MIRROR}": ("pass", [])})


def flat_rows(args, tmp: Path) -> None:
    """``--flat keep`` and ``--flat fade``: what fading the guess over flat areas costs."""
    interleaved_rows(args, tmp, {f"--flat {v}": ("pass", ["--flat", v]) for v in ("keep", "fade")})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--repeat", type=int, default=1, help="interleaved rounds of the folder rows")
    p.add_argument("--delta-e-images", type=int, default=50, help="images compared for ΔE2000")
    p.add_argument("--only", choices=["folder", "forward", "mirror", "flat"], default=None)
    args = p.parse_args()
    print(f"# {cpu_description()}, {torch.get_num_threads()} threads, torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in ("mirror", "flat"):
            (mirror_rows if args.only == "mirror" else flat_rows)(args, Path(tmp))
            return 0
        if args.only != "forward":
            folder_rows(args, Path(tmp))
        if args.only != "folder":
            forward_rows(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
