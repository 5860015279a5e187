import re
import sys
import time

import pytest
import torch

from helpers import TINY
from pix2gan import runtime
from pix2gan.cli import main


def test_phase_timer_counts_phases_after_the_warm_up_step():
    timer = runtime.PhaseTimer(enabled=True, warmup=1)
    for step in range(3):
        start = time.perf_counter()
        with timer("slow"):
            time.sleep(0.02 if step else 0.2)  # the warm-up step is slower and must not count
        with timer("fast"):
            time.sleep(0.005)
        timer.add_step(time.perf_counter() - start)
    assert timer.steps == 2
    assert 0.035 <= timer.seconds["slow"] < 0.1
    table = timer.table()
    rows = re.findall(r"^\| (.+?) \| ([\d.]+) \| ([\d.]+)% \|$", table, re.M)
    assert [name for name, _, _ in rows][:2] == ["slow", "fast"]
    assert rows[-1][0].startswith("other")
    assert sum(float(share) for _, _, share in rows) == pytest.approx(100, abs=0.5)


def test_disabled_phase_timer_records_nothing():
    timer = runtime.PhaseTimer()
    with timer("x"):
        pass
    assert dict(timer.seconds) == {}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_applies_once():
    assert runtime.keep_freed_memory() is True
    assert runtime.keep_freed_memory() is True


def test_cpu_budget_reads_a_cgroup_quota(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")
    assert runtime.cpu_budget(cpu_max) == min(2, runtime.cpu_budget(tmp_path / "missing"))
    cpu_max.write_text("max 100000\n")
    assert runtime.cpu_budget(cpu_max) == runtime.cpu_budget(tmp_path / "missing") >= 1


def test_fit_threads_caps_at_the_budget_unless_the_user_chose(monkeypatch):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        monkeypatch.setattr(runtime, "cpu_budget", lambda: 1)
        monkeypatch.setenv("OMP_NUM_THREADS", "4")
        assert runtime.fit_threads() == 4
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert runtime.fit_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_default_workers_follow_the_cpu_budget(monkeypatch):
    """Data workers: one per CPU the process may use beyond the two the step keeps busy (at least 1, at most 8),
    counted as cpu_budget counts them (a 2-CPU cgroup quota on a 64-core host: 1 worker, not 8)."""
    from pix2gan.data import source

    for budget, workers in ((1, 1), (2, 1), (5, 3), (64, 8)):
        monkeypatch.setattr(source, "cpu_budget", lambda: budget)
        assert source.default_workers() == workers


def test_train_profile_prints_where_the_time_went(tmp_path, photo_dir, capsys):
    assert main(["train", "--data", str(photo_dir), "--out", str(tmp_path / "r"), "--steps", "4", "--profile",
                 *TINY]) == 0
    out = capsys.readouterr().out
    assert "time per step over 3 steps (after 1 warm-up)" in out
    for phase in ("data", "G forward", "D forward", "D backward", "G backward", "optimizer"):
        assert f"| {phase} |" in out, phase


def test_cpu_description_names_the_model_and_the_flags_that_decide_speed(tmp_path):
    from pix2gan.runtime import cpu_description, cpu_has_native_bf16

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Example CPU 9000\n"
                    "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16\n")
    text = cpu_description(info)
    assert text.startswith("Example CPU 9000 (avx2, avx512f, avx512_bf16, amx_bf16; ")
    assert text.endswith("native bf16)") and ("no native" in text) != cpu_has_native_bf16()
    info.write_text("processor\t: 0\nmodel name\t: Old CPU\nflags\t\t: fpu sse2\n")
    assert cpu_description(info).startswith("Old CPU (no AVX2; ")
    assert cpu_description(tmp_path / "missing").endswith("bf16)")  # no cpuinfo: the platform's name
