"""Two CPU processes under torchrun (gloo): synced weights, the same result as one process with twice the batch,
one writer, penalties and resume."""

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from pix2gan.checkpoint import load_checkpoint
from pix2gan.cli import main

from helpers import assert_same_checkpoints, gray

# instance norm and no dropout: a 2-process run with batch B is then the same computation as 1 process with 2B
COMMON = ["--size", "32", "--depth", "4", "--ngf", "8", "--ndf", "8", "--d-layers", "2",
          "--g-norm", "instance", "--d-norm", "instance", "--dropout", "0", "--log-every", "1", "--quiet",
          "--device", "cpu"]


def torchrun(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "pix2gan", "train", *map(str, args)], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def differing_fraction(a, b, atol=1e-5):
    """Fraction of weights that differ by more than atol (Adam's first steps, ≈ lr·sign(g), turn float rounding on
    near-zero gradients into lr-sized differences on a few weights; a different batch changes nearly all)."""
    d = torch.cat([(a[k].float() - b[k].float()).abs().flatten() for k in a])
    return (d > atol).float().mean().item()


@pytest.mark.parametrize("gan_loss", ["nonsaturating", "wgan-gp"])
def test_two_processes_match_one_with_twice_the_batch(tmp_path, photo_dir, gan_loss):
    """Photos decoded when drawn, by a worker per rank (each reads only its slots) or in the single process."""
    torchrun("--out", tmp_path / "two", "--steps", "3", "--batch-size", "2", "--gan-loss", gan_loss,
             "--data", photo_dir, "--workers", "1", *COMMON)
    assert main(["train", "--out", str(tmp_path / "one"), "--steps", "3", "--batch-size", "4", "--gan-loss",
                 gan_loss, "--data", str(photo_dir), "--workers", "0", *COMMON]) == 0
    two, one = load_checkpoint(tmp_path / "two" / "checkpoint.pt"), load_checkpoint(tmp_path / "one" / "checkpoint.pt")
    assert two["world_size"] == 2 and len(two["rng"]["per_rank"]) == 2
    for net in ("G", "D"):
        assert differing_fraction(one[net], two[net]) < 0.01, net
    # one writer: one log line per step, one checkpoint, nothing else in the run folder
    steps = [json.loads(line)["step"] for line in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [".lock", "checkpoint.pt", "config.json",
                                                                    "log.jsonl", "samples"]
    if gan_loss == "wgan-gp":
        assert all(json.loads(line)["gp"] > 0 for line in (tmp_path / "two" / "log.jsonl").read_text().splitlines())


def test_resume_under_two_processes_continues_exactly(tmp_path):
    args = ["--batch-size", "2", "--gan-loss", "wgan-gp", "--data", "builtin:photos", *COMMON]
    torchrun("--out", tmp_path / "straight", "--steps", "4", *args)
    torchrun("--out", tmp_path / "resumed", "--steps", "2", *args)
    torchrun("--out", tmp_path / "resumed", "--resume", "--steps", "4", "--quiet")
    b = assert_same_checkpoints(tmp_path / "straight" / "checkpoint.pt", tmp_path / "resumed" / "checkpoint.pt")
    assert b["step"] == 4


def test_a_latent_model_under_two_processes_matches_one(tmp_path, photo_dir):
    """E, C and the prior draws are split over the ranks like the batch: 2 × B is 1 × 2B for every network."""
    args = ["--steps", "3", "--gan-loss", "nonsaturating", "--data", str(photo_dir), "--latent-dim", "3",
            "--code-loss", "adversarial", "--workers", "0", *COMMON]
    torchrun("--out", tmp_path / "two", "--batch-size", "2", *args)
    assert main(["train", "--out", str(tmp_path / "one"), "--batch-size", "4", *args]) == 0
    two, one = load_checkpoint(tmp_path / "two" / "checkpoint.pt"), load_checkpoint(tmp_path / "one" / "checkpoint.pt")
    for net in ("G", "D", "E", "C"):
        assert differing_fraction(one[net], two[net]) < 0.01, net


def test_a_group_restarted_by_torchrun_resumes_by_itself_and_ends_as_an_uninterrupted_run(tmp_path):
    """torchrun --max-restarts 3; rank 1 SIGKILLed after the first checkpoint: the restarted group resumes from it
    (no --resume given) at the first restart and its final weights are an uninterrupted 2-process run's, exactly.
    (The agent's store outlives a restart: with the keys of the killed attempt in it, a restarted group failed to
    connect, or hung, on a loaded machine; restarts to spare so that such a failure reads as one, not a hang.)"""
    import signal
    import time

    args = ["--steps", "60", "--checkpoint-every", "10", "--batch-size", "2", "--data", "builtin:photos",
            "--workers", "0", *COMMON]
    torchrun("--out", tmp_path / "straight", *args)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    agent = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                              "2", "--max-restarts", "3", "-m", "pix2gan", "train", "--out", str(tmp_path / "killed"),
                              *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (tmp_path / "killed" / "checkpoint.pt").exists():
        assert agent.poll() is None and time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.005)
    children = open(f"/proc/{agent.pid}/task/{agent.pid}/children").read().split()
    rank1 = [pid for pid in children if b"RANK=1\0" in open(f"/proc/{pid}/environ", "rb").read()]
    os.kill(int(rank1[0]), signal.SIGKILL)
    _, err = agent.communicate(timeout=300)
    assert agent.returncode == 0, err[-3000:]
    assert re.search(r"torchrun restart 1: resuming .*killed from its checkpoint \(step [1-5]0\)", err), err[-3000:]
    b = assert_same_checkpoints(tmp_path / "straight" / "checkpoint.pt", tmp_path / "killed" / "checkpoint.pt")
    assert b["step"] == 60


def test_the_end_of_a_run_frees_the_process_group_and_stops_its_threads(tmp_path):
    """After teardown no gloo thread is left, even when something imported torch.distributed.nn after the group
    began (fused Adam does, through torch._dynamo: its functions' ``group=group.WORLD`` defaults then held the group
    for good). A gloo thread alive into interpreter shutdown aborted a finished rank now and then (SIGABRT,
    "terminate called without an active exception") and failed CI."""
    script = tmp_path / "end.py"
    script.write_text(
        "import os, torch\n"
        "from pix2gan import distributed\n"
        "from pix2gan.config import TrainConfig, resolve\n"
        "from pix2gan.train import make_optimizer\n"
        "d = distributed.setup('cpu')\n"
        "net = torch.nn.Linear(2, 2)\n"
        "make_optimizer(resolve(TrainConfig()), net.parameters(), 1e-3)  # as training makes it\n"
        "net(torch.ones(1, 2)).sum().backward()\n"
        "d.average_gradients(net.parameters())\n"
        "during = [open(f'/proc/self/task/{t}/comm').read().strip() for t in os.listdir('/proc/self/task')]\n"
        "distributed.teardown(d)\n"
        "after = [open(f'/proc/self/task/{t}/comm').read().strip() for t in os.listdir('/proc/self/task')]\n"
        "with open(f'{d.rank}.txt', 'w') as f:  # not stdout: two ranks' lines there can interleave\n"
        "    print(sum('gloo' in n for n in during), sum('gloo' in n for n in after), file=f)\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(script)], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    counts = [tuple(map(int, (tmp_path / f"{rank}.txt").read_text().split())) for rank in (0, 1)]
    assert all(during > 0 and after == 0 for during, after in counts), counts


def test_colorize_on_two_processes_splits_the_folder_and_writes_what_one_process_writes(tiny_run, tmp_path):

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for name in ("a.png", "b.png", "c.png", "sub/d.png", "sub/e.png"):
        gray(src / name)
    (src / "broken.png").write_text("not an image")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same arithmetic in both runs
    command = ["-m", "pix2gan", "colorize", str(src), "OUT", "--checkpoint", str(tiny_run / "checkpoint.pt"),
               "--quiet"]
    two = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *command]
    one = [sys.executable, *command]
    runs = {}
    for name, argv in (("two", two), ("one", one)):
        runs[name] = subprocess.run([a.replace("OUT", str(tmp_path / name)) for a in argv], capture_output=True,
                                    text=True, env=env, timeout=300)
    for name, r in runs.items():
        assert r.returncode != 0, name  # the broken file
        assert r.stdout.count("colorized") == 1 and "colorized 5, skipped 0" in r.stdout and "failed 1" in r.stdout
        assert r.stderr.count(f"error: {src / 'broken.png'}: not an image") == 1
    for path in sorted((tmp_path / "one").rglob("*.png")):
        assert path.read_bytes() == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes()
    assert len(list((tmp_path / "two").rglob("*.png"))) == 5
    again = subprocess.run([a.replace("OUT", str(tmp_path / "two")) for a in two], capture_output=True, text=True,
                           env=env, timeout=300)
    assert "colorized 0, skipped 5" in again.stdout  # a rerun after a crash skips what is done
