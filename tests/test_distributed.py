"""Two CPU processes under torchrun (gloo): synced weights, the same result as one process with twice the batch,
one writer, penalties and resume."""

import json
import os
import subprocess
import sys

import pytest
import torch

from pix2gan.checkpoint import load_checkpoint
from pix2gan.cli import main

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
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert b["step"] == 4
    for net in ("G", "D"):
        for k in a[net]:
            torch.testing.assert_close(a[net][k], b[net][k], rtol=0, atol=0, msg=f"{net}.{k}")


def test_a_latent_model_under_two_processes_matches_one(tmp_path, photo_dir):
    """E, C and the prior draws are split over the ranks like the batch: 2 × B is 1 × 2B for every network."""
    args = ["--steps", "3", "--gan-loss", "nonsaturating", "--data", str(photo_dir), "--latent-dim", "3",
            "--code-loss", "adversarial", "--workers", "0", *COMMON]
    torchrun("--out", tmp_path / "two", "--batch-size", "2", *args)
    assert main(["train", "--out", str(tmp_path / "one"), "--batch-size", "4", *args]) == 0
    two, one = load_checkpoint(tmp_path / "two" / "checkpoint.pt"), load_checkpoint(tmp_path / "one" / "checkpoint.pt")
    for net in ("G", "D", "E", "C"):
        assert differing_fraction(one[net], two[net]) < 0.01, net
