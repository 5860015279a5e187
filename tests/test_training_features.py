"""Training features: LR schedules, EMA generator, DiffAugment for D, NoGAN warm-up phases, validation with best.pt,
and exact resume with all of them on."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from pix2gan import step as step_module
from pix2gan.augment import cutout, diff_augment, translation
from pix2gan.checkpoint import load_checkpoint
from pix2gan.cli import main
from pix2gan.colorizer import Colorizer
from pix2gan.config import TrainConfig, resolve
from pix2gan.errors import Pix2GanError
from pix2gan.nets import UNet
from pix2gan.step import ema_beta, ema_update, lr_factor
from pix2gan.evaluate import evaluate
from pix2gan.tasks.colorize import ColorizeTask
from pix2gan.models import load_generator
from pix2gan.tasks import make_task
from pix2gan.train import Trainer

from helpers import TINY, straight_and_resumed, write_photos
from helpers import tiny as tiny_config


def tiny(**kw) -> TrainConfig:
    return tiny_config(**{"workers": 0, **kw})  # decoded in-process: these tests are about the loop, not the loader


def test_lr_schedules_at_chosen_steps():
    lin = resolve(TrainConfig(steps=100, lr_schedule="linear", lr_decay_start=60))
    assert [lr_factor(lin, s) for s in (0, 59, 60, 80, 99)] == pytest.approx([1, 1, 1, 0.5, 0.025])
    half = resolve(TrainConfig(steps=100, lr_schedule="linear"))  # pix2pix: decay over the second half
    assert [lr_factor(half, s) for s in (49, 50, 75)] == pytest.approx([1, 1, 0.5])
    cos = resolve(TrainConfig(steps=110, lr_schedule="cosine", warmup_steps=10))
    assert [lr_factor(cos, s) for s in (0, 4, 9, 10, 60, 110)] == pytest.approx(
        [0.1, 0.5, 1, 1, 0.5 * (1 + math.cos(math.pi * 0.5)), 0])
    const = resolve(TrainConfig(steps=100, warmup_steps=4))
    assert [lr_factor(const, s) for s in (0, 1, 3, 50)] == pytest.approx([0.25, 0.5, 1, 1])


def test_lr_is_set_on_g_and_d_and_logged_every_logged_step(tmp_path, photo_dir):
    t = Trainer(tiny(data=str(photo_dir), steps=8, lr=1e-3, d_lr=4e-3, lr_schedule="linear", lr_decay_start=4),
                tmp_path / "run", progress=False)
    t.fit()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in log] == pytest.approx([1e-3] * 5 + [7.5e-4, 5e-4, 2.5e-4])
    assert t.nets.opt_d.param_groups[0]["lr"] == pytest.approx(4e-3 * 0.25)


def test_ema_update_is_the_formula_and_copies_buffers():
    G, G_ema = UNet(1, 2, depth=3, ngf=4), UNet(1, 2, depth=3, ngf=4)
    G(torch.randn(2, 1, 16, 16))  # moves G's batch-norm statistics
    before = [p.detach().clone() for p in G_ema.parameters()]
    ema_update(G_ema, G, 0.9)
    for p_ema, p, old in zip(G_ema.parameters(), G.parameters(), before):
        torch.testing.assert_close(p_ema, 0.9 * old + 0.1 * p.detach())
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        assert torch.equal(b_ema, b)
    cfg = resolve(TrainConfig(batch_size=4, ema_half_life=1000, ema_rampup=0.05))
    assert ema_beta(cfg, 0) == pytest.approx(0.5 ** (4 / (4 * 0.05)))  # ramp-up: half-life 0.2 images
    assert ema_beta(cfg, 10**6) == pytest.approx(0.5 ** (4 / 1000))
    assert ema_beta(resolve(TrainConfig(batch_size=4, ema_half_life=1000, ema_rampup=0)), 0) == \
        pytest.approx(0.5 ** (4 / 1000))


def test_augmentation_moves_condition_and_image_together():
    torch.manual_seed(1)
    image = torch.rand(8, 3, 16, 16)
    both = torch.cat([image[:, :1], image], 1)  # the "condition" is a copy of the image's first channel
    for fn in (translation, cutout):
        out = fn(both, split=1)
        assert torch.equal(out[:, :1], out[:, 1:2])  # still aligned
        assert not torch.equal(out, both)
    moved = translation(torch.ones(64, 1, 16, 16))
    assert (moved == 0).any() and (moved.flatten(1).sum(1) >= 14 * 14).all()  # shifted by at most 2 px each way
    cut = cutout(torch.ones(64, 1, 16, 16))
    assert ((cut == 0).flatten(1).sum(1) <= 64).all() and (cut == 0).any()  # an 8×8 hole at most
    x = torch.rand(4, 2, 8, 8, requires_grad=True)
    diff_augment(x, ("color", "translation", "cutout")).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # differentiable


def test_augmentation_is_applied_to_real_and_fake_in_both_phases(tmp_path, photo_dir, monkeypatch):
    seen = []

    def spy(x, policy, split=0):
        seen.append((policy, split, x.shape[1]))
        return x

    monkeypatch.setattr(step_module, "diff_augment", spy)
    t = Trainer(tiny(data=str(photo_dir), d_augment="translation,cutout"), tmp_path / "run", progress=False)
    t.train_step()
    # D phase: real and fake; G phase: the fake (non-saturating G needs no real); condition (L) + ab together
    assert seen == [(("translation", "cutout"), 1, 3)] * 3
    with pytest.raises(Pix2GanError, match="color cannot be used for colorization"):
        resolve(TrainConfig(d_augment="translation,color"))
    assert resolve(TrainConfig(task="paired", d_augment="color")).d_augment == "color"


def test_warm_up_phases_log_their_phase_and_build_no_d_loss_before_the_adversarial_phase(tmp_path, photo_dir,
                                                                                          monkeypatch):
    d_losses, judged = [], []
    real_d_phase, real_judge = step_module.d_phase, step_module.judge
    monkeypatch.setattr("pix2gan.train.d_phase", lambda *a, **k: d_losses.append(1) or real_d_phase(*a, **k))
    monkeypatch.setattr(step_module, "judge", lambda *a, **k: judged.append(1) or real_judge(*a, **k))
    t = Trainer(tiny(data=str(photo_dir), steps=7, pretrain_g_steps=3, pretrain_d_steps=2), tmp_path / "run",
                progress=False)
    G0 = [p.detach().clone() for p in t.G.parameters()]
    for _ in range(3):  # G warm-up: no D update, D never even run
        t.train_step()
    assert d_losses == [] and judged == []
    G3, D3 = [p.detach().clone() for p in t.G.parameters()], [p.detach().clone() for p in t.D.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(G0, G3))
    for _ in range(2):  # D warm-up: D learns, G frozen
        t.train_step()
    assert len(d_losses) == 2
    assert all(torch.equal(a, b) for a, b in zip(G3, t.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(D3, t.D.parameters()))
    t.fit()
    phases = [json.loads(line)["phase"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert phases == ["adversarial"] * 2  # fit logged the steps it ran (6, 7)
    t2 = Trainer(tiny(data=str(photo_dir), steps=7, pretrain_g_steps=3, pretrain_d_steps=2), tmp_path / "run2",
                 progress=False)
    t2.fit()
    phases = [json.loads(line)["phase"] for line in (tmp_path / "run2" / "log.jsonl").read_text().splitlines()]
    assert phases == ["pretrain-g"] * 3 + ["pretrain-d"] * 2 + ["adversarial"] * 2


EVERYTHING = dict(gan_loss="wgan-gp", lr_schedule="cosine", warmup_steps=2, ema_half_life=20, d_augment="translation,"
                  "cutout", pretrain_g_steps=2, pretrain_d_steps=2, holdout=0.3, val_every=3, val_count=4,
                  checkpoint_every=1000)


def test_resume_with_everything_on_is_bit_identical(tmp_path, photo_dir):
    straight_and_resumed(tmp_path, tiny(data=str(photo_dir), steps=9, **EVERYTHING), stop=4)  # inside the D warm-up
    a, b = load_checkpoint(tmp_path / "a" / "checkpoint.pt"), load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    for net in ("G", "G_ema", "D"):
        for k in a[net]:
            torch.testing.assert_close(a[net][k], b[net][k], rtol=0, atol=0, msg=f"{net}.{k}")
    assert any(not torch.equal(a["G"][k], a["G_ema"][k]) for k in a["G"])  # the EMA is its own weights
    log = lambda run: [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]  # noqa: E731
    assert [r["step"] for r in log(tmp_path / "b")] == list(range(1, 10))
    assert [r.get("val_psnr") for r in log(tmp_path / "a")] == [r.get("val_psnr") for r in log(tmp_path / "b")]
    assert a["best"] == b["best"] and a["best"]["metric"] == "psnr"


def test_validation_keeps_best_pt_and_every_command_uses_ema_unless_told(tmp_path, photo_dir, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", str(photo_dir), "--out", str(run), "--steps", "6", "--holdout", "0.3",
                 "--val-every", "2", "--val-count", "4", "--ema-half-life", "10", *TINY]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    vals = {r["step"]: r["val_psnr"] for r in log if "val_psnr" in r}
    assert sorted(vals) == [2, 4, 6] and all("val_ssim" in r for r in log if "val_psnr" in r)
    best = load_checkpoint(run / "best.pt")
    assert best["best"]["value"] == pytest.approx(max(vals.values()), abs=1e-5)  # the log rounds to 6 decimals
    assert best["best"]["step"] == max(vals, key=vals.get)
    assert "opt_g" not in best and "G_ema" in best  # generators only
    assert main(["inspect", str(run)]) == 0
    assert f"best {best['best']['value']:.4g} at step {best['best']['step']} (best.pt)" in capsys.readouterr().out
    assert (run / "diagnostics.png").exists()
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 28), dtype=np.uint8))
    ema = np.asarray(Colorizer.from_checkpoint(run / "checkpoint.pt", "cpu")(img))
    raw = np.asarray(Colorizer.from_checkpoint(run / "checkpoint.pt", "cpu", ema=False)(img))
    assert not np.array_equal(ema, raw)
    (tmp_path / "in").mkdir()
    img.save(tmp_path / "in" / "x.png")
    (run / "checkpoint.pt").rename(tmp_path / "model.pt")  # any name
    for flag, expected in (([], ema), (["--no-ema"], raw)):
        out = tmp_path / ("out" + "".join(flag))
        assert main(["colorize", str(tmp_path / "in"), str(out), "--checkpoint", str(tmp_path / "model.pt"),
                     "--quiet", *flag]) == 0
        assert np.array_equal(np.asarray(Image.open(out / "x.png")), expected)
    assert main(["colorize", str(tmp_path / "in" / "x.png"), str(tmp_path / "best.png"), "--checkpoint",
                 str(run / "best.pt"), "--quiet"]) == 0  # best.pt is a checkpoint every command takes
    assert Image.open(tmp_path / "best.png").size == (28, 20)


def test_validation_on_a_separate_folder(tmp_path, photo_dir):
    """--val-data: whole held-out sources in their own folder take the place of a --holdout split."""
    val = write_photos(tmp_path / "val", 2, seed=5)
    run = tmp_path / "run"
    assert main(["train", "--data", str(photo_dir), "--out", str(run), "--steps", "4", "--val-every", "2",
                 "--val-count", "3", "--val-data", str(val), *TINY]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    vals = [r["val_psnr"] for r in log if "val_psnr" in r]
    assert len(vals) == 2
    G, cfg = load_generator(run / "checkpoint.pt", task="colorize")
    expected = evaluate(G, ColorizeTask(), make_task(cfg).open_source(str(val)), count=3, size=cfg.size)
    assert vals[-1] == pytest.approx(expected.metrics["psnr"], abs=1e-5)
    assert load_checkpoint(run / "best.pt")["best"]["value"] == pytest.approx(max(vals), abs=1e-5)


def test_option_refusals():
    with pytest.raises(Pix2GanError, match="--val-every needs held-out data"):
        resolve(TrainConfig(val_every=10))
    with pytest.raises(Pix2GanError, match="need a discriminator"):
        resolve(TrainConfig(gan_loss="none", recon="l2", pretrain_g_steps=10))
    with pytest.raises(Pix2GanError, match="--lr-schedule 'step'"):
        resolve(TrainConfig(lr_schedule="step"))
    with pytest.raises(Pix2GanError, match="--d-augment 'flip'"):
        resolve(TrainConfig(d_augment="flip"))


def test_a_second_trainer_in_the_same_folder_is_refused(tmp_path, photo_dir):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pix2gan.rundir import RunDir; "
                               f"RunDir({str(run)!r}).lock(); print('locked', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(Pix2GanError, match=rf"another pix2gan process \(pid {holder.pid}\) is training in this "
                                               rf"folder"):
            Trainer(tiny(data=str(photo_dir)), run, progress=False).fit()
    finally:
        holder.kill()
        holder.wait()
    Trainer(tiny(data=str(photo_dir), steps=1), run, progress=False).fit()  # free again once the holder is gone
