"""Watching a run: TensorBoard events written live match log.jsonl; inspect --tensorboard converts an old run; the
compare report is grouped, offline and fits a laptop screen."""

import json
import re
import shutil
import subprocess

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pix2gan.cli import main
from pix2gan.watch import tag

from conftest import TINY


def events(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def scalars(acc) -> dict[str, list[tuple[int, float]]]:
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def log_scalars(run) -> dict[str, list[tuple[int, float]]]:
    out = {}
    for line in (run / "log.jsonl").read_text().splitlines():
        r = json.loads(line)
        for k, v in r.items():
            if k != "step" and isinstance(v, (int, float)):
                out.setdefault(tag(k), []).append((r["step"], float(v)))
    return out


def test_live_events_hold_every_logged_scalar_and_the_samples(tmp_path, photo_dir):
    run = tmp_path / "run"
    assert main(["train", "--data", str(photo_dir), "--out", str(run), "--steps", "6", "--log-every", "2",
                 "--sample-every", "3", "--holdout", "0.3", "--val-every", "3", "--val-count", "2",
                 "--tensorboard", *TINY]) == 0
    acc = events(run / "tb")
    got = scalars(acc)
    want = log_scalars(run)
    assert {"loss/d_loss", "loss/g_adv", "loss/g_recon", "discriminator/d_real", "gradients/grad_adv",
            "generator/diversity", "schedule/lr", "validation/psnr", "validation/colourfulness_ratio"} <= set(got)
    assert set(got) == set(want)
    for t in want:
        assert [s for s, _ in got[t]] == [s for s, _ in want[t]], t
        assert [v for _, v in got[t]] == pytest.approx([v for _, v in want[t]], rel=1e-6), t
    assert [e.step for e in acc.Images("samples")] == [3, 6]
    assert "phase" in {t.split("/")[0] for t in acc.Tags()["tensors"]}


def test_resumed_run_continues_its_events_and_inspect_converts_an_old_run(tmp_path, photo_dir, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", str(photo_dir), "--out", str(run), "--log-every", "1", "--sample-every", "2",
            "--checkpoint-every", "2", *TINY]
    assert main([*args, "--steps", "4", "--tensorboard"]) == 0
    assert main([*args, "--steps", "6", "--resume"]) == 0  # --tensorboard is kept from the saved config
    got = scalars(events(run / "tb"))
    assert [s for s, _ in got["loss/d_loss"]] == [1, 2, 3, 4, 5, 6]
    # a run trained without --tensorboard: converted afterwards, the same scalars as log.jsonl
    old = tmp_path / "old"
    assert main(["train", "--data", str(photo_dir), "--out", str(old), "--steps", "4", "--log-every", "1",
                 "--sample-every", "2", *TINY]) == 0
    assert not (old / "tb").exists()
    assert main(["inspect", str(old), "--tensorboard"]) == 0
    assert "4 logged steps, 2 sample grids" in capsys.readouterr().out
    acc = events(old / "tb")
    got, want = scalars(acc), log_scalars(old)
    assert set(got) == set(want)
    for t in want:
        assert [v for _, v in got[t]] == pytest.approx([v for _, v in want[t]], rel=1e-6), t
    assert [e.step for e in acc.Images("samples")] == [2, 4]
    assert main(["inspect", str(old), "--tensorboard"]) == 2  # refuses to convert twice into the same folder
    assert "already holds TensorBoard events" in capsys.readouterr().err
