"""Data at scale: start-up time, memory and loader throughput of `pix2gan train` on 1k, 10k and 100k photo folders.

Generates photo-like 640×480 JPEGs once (cached under --root; every file is its own image, about 40 KB each, so
100,000 take 4 GB and several minutes on 2 cores), then for each N prints:

- seconds from launching `pix2gan train` to its first finished step (its first log.jsonl line);
- peak memory of the whole process tree (trainer + DataLoader workers): the sum of PSS (shared pages counted once,
  split between the processes that share them) and, for reference, the sum of RSS;
- the loader alone (images/s it decodes and crops, same workers) against the training rate (images/s);
- the data phase's share of the step, as `--profile` reports it.

Then the decode speed of 4,000×3,000 JPEGs at load size 286: full decode + resize (pix2gan 0.1) against the
reduced-scale decode (`PIL.Image.draft`) the photo source uses, and a JPEG already stored at the load size (what a
one-time `prepare` pass would give).

    python tools/bench_data.py                       # N = 1000, 10000, 100000
    python tools/bench_data.py --sizes 1000 --steps 20
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHARD = 1000


_GRAIN: list[np.ndarray] = []


def photo_like(seed: int, w: int = 640, h: int = 480) -> Image.Image:
    """Smooth colour gradients, a few soft-edged shapes and film grain: JPEG-compresses and decodes like a
    photograph, and has colour to learn. Drawn at ¼ size and upsampled (bicubic), so making 100,000 takes minutes."""
    rng = np.random.default_rng(seed)
    sw, sh = max(8, w // 4), max(8, h // 4)
    small = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)).resize((sw, sh), Image.BICUBIC)
    draw = ImageDraw.Draw(small)
    for _ in range(rng.integers(3, 9)):
        x0, y0 = rng.integers(0, sw), rng.integers(0, sh)
        x1, y1 = x0 + rng.integers(5, sw // 2), y0 + rng.integers(5, sh // 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    img = np.asarray(small.filter(ImageFilter.GaussianBlur(1)).resize((w, h), Image.BICUBIC), dtype=np.int16)
    if not _GRAIN or _GRAIN[0].shape[:2] != (h, w):
        _GRAIN[:] = [np.random.default_rng(k).normal(0, 5, (h, w, 1)).astype(np.int16) for k in range(8)]
    grain = np.roll(_GRAIN[seed % 8], int(rng.integers(w)), axis=1)
    return Image.fromarray(np.clip(img + grain, 0, 255).astype(np.uint8))


def _write_shard(args: tuple[Path, int]) -> None:
    folder, shard = args
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(shard * SHARD, (shard + 1) * SHARD):
        path = folder / f"{i:06d}.jpg"
        if not path.exists():
            tmp = folder / f".{i:06d}.tmp.jpg"
            photo_like(i).save(tmp, quality=90)
            os.replace(tmp, path)


def make_set(root: Path, n: int) -> Path:
    """``root/set_N``: N photos in shard folders of 1000 (hard links into ``root/pool``, generated once)."""
    shards = (n + SHARD - 1) // SHARD
    pool = root / "pool"
    todo = [(pool / f"{s:03d}", s) for s in range(shards) if len(list((pool / f"{s:03d}").glob("*.jpg"))
                                                                   if (pool / f"{s:03d}").is_dir() else []) < SHARD]
    if todo:
        print(f"generating {len(todo) * SHARD} photos under {pool} ...", file=sys.stderr, flush=True)
        with mp.Pool(os.cpu_count()) as p:
            p.map(_write_shard, todo)
    out = root / f"set_{n}"
    if not out.is_dir():
        tmp = root / f".set_{n}.tmp"
        for s in range(shards):
            (tmp / f"{s:03d}").mkdir(parents=True, exist_ok=True)
            for i in range(s * SHARD, min(n, (s + 1) * SHARD)):
                os.link(pool / f"{s:03d}" / f"{i:06d}.jpg", tmp / f"{s:03d}" / f"{i:06d}.jpg")
        os.replace(tmp, out)
    return out


def make_links(root: Path, n: int, sources: int = 40, classes: int = 1000) -> Path:
    """``root/links_N``: an ImageNet-shaped folder of N files in ``classes`` sub-folders, every file a hard link to
    one of ``sources`` photos (a file may carry at most ~65,000 links): a million-file listing in a minute."""
    out = root / f"links_{n}"
    if out.is_dir():
        return out
    pool = make_set(root, SHARD) / "000"
    photos = sorted(pool.glob("*.jpg"))[:sources]
    tmp = root / f".links_{n}.tmp"
    per_class = -(-n // classes)
    for i in range(n):
        folder = tmp / f"n{i // per_class:05d}"
        if i % per_class == 0:
            folder.mkdir(parents=True, exist_ok=True)
        os.link(photos[i % len(photos)], folder / f"n{i // per_class:05d}_{i:08d}.JPEG")
    os.replace(tmp, out)
    return out


def tree_memory(root: int) -> tuple[float, float]:
    """(sum of PSS, sum of RSS) in MB over process ``root`` and its descendants."""
    parent = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                parent[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parent.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    pss = rss = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
        except OSError:
            continue
    return pss / 1024, rss / 1024


def run_train(data: Path, args, extra: list[str]) -> dict:
    """One `pix2gan train --profile` run: time to the first step, peak tree memory, step rate, data share."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "pix2gan", "train", "--data", str(data), "--out", f"{out}/run", "--quiet",
               "--profile", "--log-every", "1", "--sample-every", "1000000", "--checkpoint-every", "1000000",
               "--steps", str(args.steps), *extra]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = [0.0, 0.0]
        first = None
        log = Path(out) / "run" / "log.jsonl"

        def watch():
            while proc.poll() is None:
                pss, rss = tree_memory(proc.pid)
                peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        while proc.poll() is None and first is None:
            if log.exists() and log.stat().st_size > 0:
                first = time.perf_counter() - t0
            time.sleep(0.01)
        stdout, stderr = proc.communicate()
        watcher.join()
        if proc.returncode != 0:
            raise SystemExit(f"train failed: {stderr[-2000:]}")
        secs = [json.loads(line)["sec"] for line in log.read_text().splitlines()][1:]
        def phase(name):
            row = re.search(rf"^\|\s*{name}\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)%", stdout, re.M)
            return (float(row[1]), float(row[2])) if row else (0.0, 0.0)  # phases under 0.005% are not listed

        (data_ms, data_share), (conv_ms, conv_share) = phase("data"), phase("to tensors")
        return {"first_step_s": first, "pss_mb": peak[0], "rss_mb": peak[1], "step_s": float(np.median(secs)),
                "data_ms": data_ms, "data_share": data_share, "conv_ms": conv_ms, "conv_share": conv_share}


def loader_rate(data: Path, size: int, load_size: int, batch: int, workers: int, batches: int) -> float:
    """Images/s the DataLoader gives on its own (no training), same draws as training."""
    code = f"""
import time
from pathlib import Path
from pix2gan.data.photos import PhotoFolder
from pix2gan.data.source import Draws, StepBatches, draw_loader
src = PhotoFolder(Path({str(data)!r}), {load_size})
it = iter(draw_loader(Draws(src, 0, {size}), StepBatches(0, {batches} + 3, 1, range({batch})), {workers}))
for _ in range(3): next(it)
t0 = time.perf_counter()
for _ in range({batches}): next(it)
print({batch} * {batches} / (time.perf_counter() - t0))
del it
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(r.stdout.strip())


def decode_speeds(root: Path, count: int = 8) -> dict[str, float]:
    """Milliseconds per 4000×3000 JPEG at load size 286: full decode + resize, reduced-scale decode + resize,
    and a JPEG stored at the load size."""
    from pix2gan.data.images import read_image, to_rgb_uint8
    from pix2gan.data.photos import PhotoFolder, scale_short_side

    big = root / "big4000"
    small = root / "big4000_prepared"
    big.mkdir(parents=True, exist_ok=True)
    small.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        if not (big / f"{i}.jpg").exists():
            photo_like(10**6 + i, 4000, 3000).save(big / f"{i}.jpg", quality=92)
        if not (small / f"{i}.jpg").exists():
            scale_short_side(Image.open(big / f"{i}.jpg").convert("RGB"), 286).save(small / f"{i}.jpg", quality=95)

    def per_image(fn, folder):
        paths = sorted(folder.glob("*.jpg"))
        fn(paths[0])
        t0 = time.perf_counter()
        for p in paths:
            fn(p)
        return 1000 * (time.perf_counter() - t0) / len(paths)

    old = per_image(lambda p: scale_short_side(Image.fromarray(to_rgb_uint8(read_image(p))), 286), big)
    src = PhotoFolder(big, 286)
    new = per_image(lambda p: src.read(src.names.index(p.name)), big)
    prepared_src = PhotoFolder(small, 286)
    prepared = per_image(lambda p: prepared_src.read(prepared_src.names.index(p.name)), small)
    return {"full": old, "draft": new, "prepared": prepared}


def main() -> int:
    from pix2gan.data.source import default_workers

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=Path("/tmp/pix2gan-databench"), help="cache of generated photos")
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--steps", type=int, default=40, help="training steps per measurement")
    p.add_argument("--workers", type=int, default=None, help=f"(default: pix2gan's, here {default_workers()})")
    p.add_argument("--imagenet", type=int, default=0, metavar="N",
                   help="instead: a folder of N files (1281167: ImageNet's training set) as hard links to a few "
                        "dozen photos, against 1,000 real files: peak PSS and the first step, 3 steps each")
    args = p.parse_args()
    workers = default_workers() if args.workers is None else args.workers
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    print(f"# {cpu}, {len(os.sched_getaffinity(0))} CPUs; {workers} DataLoader worker(s); photo-like 640×480 JPEGs")
    quick = ["--size", "64", "--batch-size", "16", "--ngf", "32", "--ndf", "32", "--workers", str(workers)]
    if args.imagenet:
        return imagenet(args, quick)
    print("\nquickstart model (64² crops, batch 16, widths 32):\n")
    print("| photos | first step (s) | peak PSS, trainer + workers (MB) | peak RSS sum (MB) | loader img/s | "
          "training img/s | data (loader wait) | to tensors (sRGB → Lab) |")
    print("|---|---|---|---|---|---|---|---|")
    rows = {}
    for n in (int(s) for s in args.sizes.split(",")):
        data = make_set(args.root, n)
        r = run_train(data, args, quick)
        rate = loader_rate(data, 64, 80, 16, workers, 30)
        rows[n] = r
        print(f"| {n:,} | {r['first_step_s']:.1f} | {r['pss_mb']:.0f} | {r['rss_mb']:.0f} | {rate:.0f} | "
              f"{16 / r['step_s']:.0f} | {r['data_ms']:.1f} ms = {r['data_share']:.1f}% | "
              f"{r['conv_ms']:.1f} ms = {r['conv_share']:.1f}% |", flush=True)
    ns = sorted(rows)
    if len(ns) > 1:
        print(f"\npeak PSS {ns[-1]:,} − {ns[0]:,} photos: {rows[ns[-1]]['pss_mb'] - rows[ns[0]]['pss_mb']:+.0f} MB; "
              f"first step at {ns[-1]:,}: {rows[ns[-1]]['first_step_s']:.1f} s")

    big_n = ns[-1]
    r = run_train(args.root / f"set_{big_n}", argparse.Namespace(steps=max(8, args.steps // 4)),
                  ["--size", "256", "--load-scale", "1.25", "--batch-size", "1", "--depth", "8", "--ngf", "64",
                   "--ndf", "64", "--workers", str(workers)])
    rate = loader_rate(args.root / f"set_{big_n}", 256, 320, 1, workers, 30)
    print(f"\nunet_256 (256² crops, batch 1) on {big_n:,} photos: first step {r['first_step_s']:.1f} s, "
          f"loader {rate:.0f} img/s, training {1 / r['step_s']:.2f} img/s, data (loader wait) {r['data_ms']:.1f} "
          f"ms/step = {r['data_share']:.1f}% of the step, to tensors {r['conv_ms']:.1f} ms = {r['conv_share']:.1f}%, "
          f"peak PSS {r['pss_mb']:.0f} MB")

    d = decode_speeds(args.root)
    print(f"\n4000×3000 JPEG to load size 286: full decode + resize {d['full']:.0f} ms, reduced-scale decode "
          f"{d['draft']:.0f} ms ({d['full'] / d['draft']:.1f}× faster); a JPEG stored at the load size (what a "
          f"prepare pass gives) {d['prepared']:.1f} ms")
    return 0


def imagenet(args, quick: list[str]) -> int:
    """The ImageNet-size row: trainer + workers' peak PSS and the time to the first step at N files, against 1,000."""
    t0 = time.perf_counter()
    big = make_links(args.root, args.imagenet)
    print(f"\n{args.imagenet:,} hard links ready ({time.perf_counter() - t0:.0f} s)", flush=True)
    steps = argparse.Namespace(steps=3)
    small, large = run_train(make_set(args.root, SHARD), steps, quick), run_train(big, steps, quick)
    print("\n| files | first step (s) | peak PSS, trainer + workers (MB) | peak RSS sum (MB) |\n|---|---|---|---|")
    for n, r in ((SHARD, small), (args.imagenet, large)):
        print(f"| {n:,} | {r['first_step_s']:.1f} | {r['pss_mb']:.0f} | {r['rss_mb']:.0f} |")
    print(f"\n{args.imagenet:,} against {SHARD:,} files: peak PSS {large['pss_mb'] - small['pss_mb']:+.0f} MB, first "
          f"step {large['first_step_s'] - small['first_step_s']:+.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
