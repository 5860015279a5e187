"""Process settings that make small CPUs fast, and a per-phase timer for ``pix2gan train --profile``."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import torch

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_tuned = False


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse instead of returning it to the kernel (Linux only; idempotent).

    By default glibc serves every allocation above 128 KiB (adaptively up to 32 MiB) with a fresh ``mmap`` and
    unmaps it on ``free``, so each training step re-faults its activations and gradients page by page: on a
    2-core machine that was about a fifth of a 256² pix2pix step (0.75 → 0.61 s). Raising the mmap and trim
    thresholds lets the heap keep those pages; the peak RSS does not grow (the same buffers are reused).
    Returns True when the setting was applied.
    """
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, 1 << 30)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1))
    return _tuned


def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX tiles), where bf16 autocast is faster
    than fp32; elsewhere PyTorch emulates bf16 and it is slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported()) or cpu_has_amx()
    except AttributeError:  # an older torch without this probe
        return cpu_has_amx()


def cpu_has_amx() -> bool:
    """True when this CPU has AMX tiles (Intel Xeon since Sapphire Rapids): bf16 matmuls several times faster
    than fp32 ones."""
    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except AttributeError:  # an older torch without this probe
        return False


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name and the vector flags that decide its speed, for benchmark headers: e.g. ``"Intel(R)
    Xeon(R) Platinum 8488C (avx2, avx512f, avx512_bf16, amx_bf16; native bf16)"``."""
    import platform

    try:
        text = cpuinfo.read_text()
        model = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
        flags = set(next(line for line in text.splitlines() if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        return f"{platform.processor() or platform.machine()} ({'native' if cpu_has_native_bf16() else 'no'} bf16)"
    shown = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    bf16 = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    return f"{model} ({', '.join(shown) or 'no AVX2'}; {bf16})"


def cpu_budget(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may really use: the affinity mask, capped by a cgroup v2 CPU quota (``cpu_max``)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return n


def fit_threads() -> int:
    """Use no more intra-op threads than :func:`cpu_budget` (PyTorch counts the host's cores, so a container
    limited to 2 CPUs on a 64-core host would run 64 threads on 2 CPUs). ``OMP_NUM_THREADS`` set by the user wins.
    Returns the thread count in use."""
    if "OMP_NUM_THREADS" not in os.environ and torch.get_num_threads() > cpu_budget():
        torch.set_num_threads(cpu_budget())
    return torch.get_num_threads()


def tune_cpu() -> None:
    """Both settings above; called by the trainer and the inference commands when they run on the CPU."""
    keep_freed_memory()
    fit_threads()


class CoreSharing:
    """How the network of a folder pipeline shares the CPU with the reader and writer threads beside it.

    It starts on one core less (``with`` block): PyTorch's OpenMP threads wait on each other at every parallel
    region, so sharing their cores with another busy thread costs them more than the core lends when the stages are
    balanced. The network's time per file and the reader's plus writer's are then measured, each on its own cores;
    after ``probe`` files, a network that takes more than ``ratio`` × the others' time is the bottleneck and gets
    every core back (``python tools/bench_colorize.py``, AMD EPYC, 100 photos of 1024 × 640 with the bundled model:
    fp32, network about 1.8 × the rest, 17.0 s on every core vs 19.9 s on one less; bf16, about 1.2 ×, 14.7 s vs
    14.1 s)."""

    def __init__(self, probe: int = 4, ratio: float = 1.5):
        self.probe, self.ratio = probe, ratio
        self.network, self.beside = [], []
        self.all_cores = torch.get_num_threads()
        self.decided = False

    def __enter__(self) -> CoreSharing:
        torch.set_num_threads(max(1, self.all_cores - 1))
        return self

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self.all_cores)

    def record(self, network_s: float, beside_s: float) -> None:
        """One file's seconds in the network and in the reader and writer; decides after ``probe`` files."""
        if self.decided:
            return
        self.network.append(network_s)
        self.beside.append(beside_s)
        if len(self.network) >= self.probe:
            self.decided = True
            if sorted(self.network)[len(self.network) // 2] > self.ratio * sorted(self.beside)[len(self.beside) // 2]:
                torch.set_num_threads(self.all_cores)


def on_device(generator: torch.nn.Module, device: torch.device | str) -> tuple[torch.nn.Module, torch.device]:
    """``generator`` in eval mode on ``device`` for inference (the Colorizer, FramePredictor and Translator), with
    :func:`tune_cpu` applied when that device is the CPU."""
    device = torch.device(device)
    if device.type == "cpu":
        tune_cpu()
    return generator.to(device).eval(), device


class PhaseTimer:
    """Wall time per named phase of a training step (``data``, ``G forward``, ``D forward``, ...).

    ``with timer("G forward"): ...`` adds the block's time to its phase; CUDA is synchronised on both sides so
    the time is the phase's own. The first ``warmup`` steps (allocations, kernel selection) are not counted.
    Disabled (the default), it costs one attribute test per phase.
    """

    def __init__(self, enabled: bool = False, device: torch.device | None = None, warmup: int = 1):
        self.enabled = enabled
        self.cuda = device is not None and device.type == "cuda"
        self.warmup = warmup
        self.seconds: dict[str, float] = defaultdict(float)
        self.seen = self.steps = 0
        self.total = 0.0

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[phase] += time.perf_counter() - start

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def add_step(self, seconds: float) -> None:
        """Count one whole step of ``seconds`` (the phases' remainder is reported as ``other``)."""
        if not self.enabled:
            return
        self.seen += 1
        if self.seen <= self.warmup:
            self.seconds.clear()
            return
        self.steps += 1
        self.total += seconds

    def table(self) -> str:
        """A Markdown table: milliseconds per step and share of the step for every phase, slowest first."""
        if not self.steps:
            return f"no steps timed (the first {self.warmup} are warm-up)"
        rows = sorted(((k, v) for k, v in self.seconds.items() if v > 5e-5 * self.steps), key=lambda kv: -kv[1])
        rows.append(("other (losses, logging, Python)", max(0.0, self.total - sum(self.seconds.values()))))
        lines = [f"time per step over {self.steps} steps (after {self.warmup} warm-up): "
                 f"{1e3 * self.total / self.steps:.1f} ms",
                 "| phase | ms/step | share |", "|---|---|---|"]
        lines += [f"| {name} | {1e3 * sec / self.steps:.1f} | {100 * sec / self.total:.1f}% |" for name, sec in rows]
        return "\n".join(lines)
