"""Faults while training: kills, signals, a full disk, a torn log, a killed writer's temporaries; a resume loses
nothing."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from pix2gan.checkpoint import load_checkpoint
from pix2gan.cli import main

from helpers import TINY


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, photo_dir):
    """Files decoded by 2 worker processes, killed, resumed with 1: the weights of a run decoded in-process."""
    common = ["--data", str(photo_dir), "--checkpoint-every", "3", "--log-every", "1", *TINY]
    assert main(["train", "--out", str(tmp_path / "straight"), "--steps", "30", "--workers", "0", *common]) == 0

    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "pix2gan", "train", "--out", str(run), "--steps", "30",
                             "--workers", "2", *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (run / "checkpoint.pt").exists() and load_checkpoint(run / "checkpoint.pt")["step"] >= 6:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(run / "checkpoint.pt")["step"]
    assert 0 < killed_at < 30, "the run finished before it could be killed"
    # a kill during a write may leave a temporary file; the resume removes it
    assert main(["train", "--out", str(run), "--resume", "--workers", "1", "--quiet"]) == 0
    assert not [p for p in os.listdir(run) if ".tmp" in p]
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(run / "checkpoint.pt")
    for net in ("G", "D"):
        for k in a[net]:
            torch.testing.assert_close(a[net][k], b[net][k], rtol=0, atol=0, msg=f"{net}.{k}")
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 31))


@pytest.mark.parametrize("how", ["SIGTERM to the trainer", "Ctrl-C to the process group, workers included"])
def test_sigterm_checkpoints_and_exits(tmp_path, photo_dir, how):
    run = tmp_path / "term"
    proc = subprocess.Popen([sys.executable, "-m", "pix2gan", "train", "--out", str(run), "--steps", "100000",
                             "--data", str(photo_dir), "--workers", "2", "--checkpoint-every", "100000", *TINY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "config.json").exists():
        time.sleep(0.05)
    time.sleep(1.0)
    if how.startswith("SIGTERM"):
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "checkpoint saved, continue with --resume" in err
    assert load_checkpoint(run / "checkpoint.pt")["step"] > 0


def test_disk_full_names_the_file(tmp_path, capsys, monkeypatch):
    import pix2gan.checkpoint

    def full(path, data):
        raise OSError(28, "No space left on device")

    out = tmp_path / "run"
    assert main(["train", "--data", "builtin:photos", "--out", str(out), "--steps", "1", *TINY]) == 0
    monkeypatch.setattr(pix2gan.checkpoint, "atomic_write_bytes", full)
    assert main(["train", "--out", str(out), "--resume", "--steps", "2", "--quiet"]) == 2
    assert f"error: {out / 'checkpoint.pt'}: cannot write (No space left on device); training stopped" in \
        capsys.readouterr().err


def test_a_real_file_size_limit_names_the_file(tmp_path):
    """RLIMIT_FSIZE makes the checkpoint write fail for real (EFBIG) in a child process: one line naming it."""
    import resource
    import signal
    import subprocess
    import sys

    out = tmp_path / "run"
    assert main(["train", "--data", "builtin:photos", "--out", str(out), "--steps", "1", *TINY]) == 0

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    r = subprocess.run([sys.executable, "-m", "pix2gan", "train", "--out", str(out), "--resume", "--steps", "2",
                        "--quiet"], capture_output=True, text=True, preexec_fn=limit, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == f"error: {out / 'checkpoint.pt'}: cannot write (File too large); " \
                                               f"training stopped"
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 1  # the previous checkpoint is intact
    assert not list(out.glob(".*.tmp*"))


def test_a_torn_log_line_does_not_stop_resume_or_inspect(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", "builtin:photos", "--out", str(out), "--steps", "2", "--log-every", "1",
                 *TINY]) == 0
    with open(out / "log.jsonl", "a") as f:
        f.write('{"step": 3, "d_lo')  # power lost mid-write
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    assert f"warning: {out / 'log.jsonl'}: skipped 1 unreadable line(s)" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume", "--steps", "3", "--quiet"]) == 0
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_stale_temporaries_of_a_killed_writer_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--data", "builtin:photos", "--out", str(out), "--steps", "1", *TINY]) == 0
    (out / ".checkpoint.pt.abc123.tmp").write_bytes(b"half")
    (out / "samples" / ".p2g-1-0.tmp.png").write_bytes(b"half")
    assert main(["train", "--out", str(out), "--resume", "--steps", "2", "--quiet"]) == 0
    assert not list(out.glob(".*.tmp*")) and not list((out / "samples").glob(".*.tmp*"))
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_folder_of_only_broken_images_is_one_line_naming_it(tmp_path, capsys, workers):
    """Decoded in the training process or in a DataLoader worker: the same one line, no traceback."""
    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(4):
        (broken / f"b{i}.jpg").write_text(f"not a photo {i}")
    assert main(["train", "--data", str(broken), "--out", str(tmp_path / "run"), "--steps", "2", "--workers",
                 workers, *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {broken}: no usable item in 64 draws in a row, e.g. b") and "\n" not in err
    assert "not an image PIL can read" in err and "Traceback" not in err and "worker" not in err
