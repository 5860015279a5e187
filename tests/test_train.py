"""The trainer: resume exactness, presets, penalties applied in the step, clipping, failure handling."""

import dataclasses
import json

import pytest
import torch

from pix2gan import losses
from pix2gan.checkpoint import load_checkpoint
from pix2gan.config import TrainConfig, resolve
from pix2gan.errors import Pix2GanError
from pix2gan.train import Trainer

from helpers import assert_same_weights, straight_and_resumed, tiny, weights


@pytest.mark.parametrize("gan_loss", ["nonsaturating", "wgan-gp"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, photo_dir, gan_loss):
    straight, resumed = straight_and_resumed(tmp_path, tiny(steps=6, data=str(photo_dir), gan_loss=gan_loss), stop=3,
                                             extend=True)
    assert_same_weights(straight, resumed)
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_resume_refuses_a_different_config(tmp_path, photo_dir):
    Trainer(tiny(data=str(photo_dir), steps=1), tmp_path / "r", progress=False).fit()
    with pytest.raises(Pix2GanError, match=r"differing keys: gan_loss \('nonsaturating' → 'hinge'\), "
                                           r"lr \(0\.0002 → 0\.001\)$"):
        Trainer.resume(tmp_path / "r", {"lr": 1e-3, "gan_loss": "hinge"}, progress=False)


def test_a_run_from_before_an_option_existed_resumes(tmp_path, photo_dir):
    """A checkpoint whose config lacks keys added since (frame_step, val_data) resumes: they take their defaults."""
    from pix2gan.checkpoint import save_checkpoint

    Trainer(tiny(data=str(photo_dir), steps=1), tmp_path / "r", progress=False).fit()
    state = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    for key in ("frame_step", "val_data"):
        del state["config"][key]
    save_checkpoint(tmp_path / "r" / "checkpoint.pt", {k: v for k, v in state.items() if k not in ("format", "version")})
    resumed = Trainer.resume(tmp_path / "r", {"steps": 2}, progress=False)
    assert resumed.step == 1 and resumed.cfg.frame_step == 1
    resumed.fit()
    with pytest.raises(Pix2GanError, match=r"differing keys: frame_step"):
        Trainer.resume(tmp_path / "r", {"frame_step": 2}, progress=False)


def test_presets_apply_unless_overridden():
    gp = resolve(TrainConfig(gan_loss="wgan-gp"))
    assert (gp.optimizer, gp.lr, gp.beta1, gp.beta2, gp.n_critic, gp.gp_weight, gp.d_norm) == \
        ("adam", 1e-4, 0.0, 0.9, 5, 10.0, "instance")
    w = resolve(TrainConfig(gan_loss="wgan"))
    assert (w.optimizer, w.lr, w.n_critic, w.clip) == ("rmsprop", 5e-5, 5, 0.01)
    assert resolve(TrainConfig(gan_loss="hinge")).spectral_norm is True
    assert resolve(TrainConfig(gan_loss="hinge", spectral_norm=False)).spectral_norm is False
    assert resolve(TrainConfig(gan_loss="wgan-gp", n_critic=2, lr=3e-4)).n_critic == 2


def test_config_refusals():
    with pytest.raises(Pix2GanError, match="batch norm"):
        resolve(TrainConfig(gan_loss="wgan-gp", d_norm="batch"))
    with pytest.raises(Pix2GanError, match="logistic"):
        resolve(TrainConfig(gan_loss="lsgan", g_adv_form="alpha"))
    with pytest.raises(Pix2GanError, match="nothing to train"):
        resolve(TrainConfig(gan_loss="none", recon="none"))
    with pytest.raises(Pix2GanError, match="--gan-loss 'wgangp'"):
        resolve(TrainConfig(gan_loss="wgangp"))


def test_l2_baseline_builds_no_discriminator(tmp_path, photo_dir):
    t = Trainer(tiny(data=str(photo_dir), gan_loss="none", recon="l2"), tmp_path / "r", progress=False)
    assert t.D is None and t.nets.opt_d is None
    t.fit()
    state = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert "D" not in state and state["step"] == 4


def test_gradient_penalty_is_applied_in_the_training_step(tmp_path, photo_dir, monkeypatch):
    """The penalty is called on every D step and changes the critic's update."""
    calls = []
    real_gp = losses.gradient_penalty

    def counting(*args, **kw):
        calls.append(1)
        return real_gp(*args, **kw)

    monkeypatch.setattr("pix2gan.step.gradient_penalty", counting)
    after = {}
    for gp_weight in (10.0, 0.0):
        t = Trainer(tiny(data=str(photo_dir), gan_loss="wgan-gp", gp_weight=gp_weight, steps=1), tmp_path / str(gp_weight),
                    progress=False)
        log = t.train_step()
        after[gp_weight] = [p.detach().clone() for p in t.D.parameters()]
        if gp_weight:
            assert log["gp"] > 0
    assert len(calls) == 5  # n_critic = 5 D steps, one penalty each
    assert any(not torch.equal(a, b) for a, b in zip(after[10.0], after[0.0]))


def test_weight_clipping_keeps_d_parameters_in_range(tmp_path, photo_dir):
    t = Trainer(tiny(data=str(photo_dir), gan_loss="wgan", lr=0.05, steps=2), tmp_path / "w", progress=False)
    t.train_step()
    for p in t.D.parameters():
        assert p.abs().max() <= 0.01 + 1e-12


def test_r1_penalty_is_logged_and_applied(tmp_path, photo_dir):
    t = Trainer(tiny(data=str(photo_dir), gan_loss="lsgan", r1=10.0), tmp_path / "r1", progress=False)
    out = t.train_step()
    assert out["r1"] > 0


def test_nan_stops_training_and_keeps_last_checkpoint(tmp_path, photo_dir, monkeypatch):
    run = tmp_path / "nan"
    t = Trainer(tiny(data=str(photo_dir), steps=2, checkpoint_every=1), run, progress=False)
    t.fit()
    before = (run / "checkpoint.pt").read_bytes()
    t = Trainer.resume(run, {"steps": 4}, progress=False)
    t.loss = dataclasses.replace(t.loss, recon_loss=lambda fake, real: torch.tensor(float("nan")))
    with pytest.raises(Pix2GanError, match=r"step 3: .*nan.*last good state"):
        t.fit()
    assert (run / "checkpoint.pt").read_bytes() == before
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 2


def test_relativistic_and_unconditional_and_alpha(tmp_path, photo_dir):
    for i, kw in enumerate([dict(gan_loss="relativistic"), dict(disc="unconditional"),
                            dict(gan_loss="minimax", g_adv_form="alpha")]):
        t = Trainer(tiny(data=str(photo_dir), **kw), tmp_path / str(i), progress=False)
        assert t.D.model[0].in_channels == (2 if kw.get("disc") == "unconditional" else 3)
        out = t.train_step()
        assert all(torch.isfinite(torch.tensor(v)) for v in out.values())


def test_bf16_on_the_cpu(tmp_path, photo_dir, monkeypatch):
    """--precision bf16 on a CPU with native bf16: the networks run in bf16, the losses and the optimiser state in
    fp32, and resume is exact. Refused, with the reason, on a CPU without it; fp16 needs CUDA."""
    from pix2gan import train as train_module

    cfg = dict(data=str(photo_dir), precision="bf16", device="cpu")
    monkeypatch.setattr(train_module, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(Pix2GanError, match="no native bf16 arithmetic"):
        Trainer(tiny(**cfg), tmp_path / "p", progress=False)
    with pytest.raises(Pix2GanError, match="--precision fp16 needs a CUDA device"):
        Trainer(tiny(data=str(photo_dir), precision="fp16", device="cpu"), tmp_path / "p", progress=False)
    # the same code path on any CPU (emulated bf16 where the CPU lacks it: slower, not different)
    monkeypatch.setattr(train_module, "cpu_has_native_bf16", lambda: True)
    straight, resumed = straight_and_resumed(tmp_path, tiny(steps=4, **cfg), 2, extend=True)
    a = assert_same_weights(straight, resumed)
    assert all(v.dtype != torch.bfloat16 for v in a.values())
    assert all(s["exp_avg"].dtype == torch.float32 for s in straight.nets.opt_g.state.values())
    with straight.loss.autocast():
        assert straight.G(torch.rand(2, 1, 32, 32) * 2 - 1).dtype == torch.bfloat16
    fp32 = Trainer(tiny(steps=4, data=str(photo_dir), device="cpu"), tmp_path / "c", progress=False)
    fp32.fit()
    assert any(not torch.equal(weights(fp32)[k], a[k]) for k in a)  # bf16 really ran


def test_the_g_phase_leaves_d_untouched(tmp_path, photo_dir):
    """D is frozen in the G phase: its weights and gradients are as the D phase left them. (Its batch-norm running
    statistics move, as in pix2pix, which runs D in training mode there; D never uses them: it is never in eval
    mode.)"""
    from pix2gan.step import g_phase

    t = Trainer(tiny(data=str(photo_dir)), tmp_path / "r", progress=False)
    t.train_step()  # D has been updated once, so its state is not the initial one
    cond, real, _ = t.batch()
    fake = t.G(cond)
    before = {k: v.detach().clone() for k, v in t.D.named_parameters()}
    grads = [None if p.grad is None else p.grad.clone() for p in t.D.parameters()]
    g_phase(t.nets, t.loss, cond, real, fake)
    for k, v in t.D.named_parameters():
        assert torch.equal(v, before[k]), k
    for p, g in zip(t.D.parameters(), grads):
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)
    assert all(p.requires_grad for p in t.D.parameters())  # unfrozen again for the next D phase
