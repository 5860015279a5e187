"""Failure-mode detectors fire on runs that exhibit them and stay silent on healthy ones; inspect reports them."""

import torch
from torch import nn

from pix2gan.cli import main
from pix2gan.config import TrainConfig
from pix2gan.diagnostics import Monitor, Thresholds, read_log
from pix2gan.train import Trainer, make_optimizer


def run(tmp_path, name, steps=200, **kw):
    base = dict(size=32, depth=5, ngf=8, ndf=16, d_layers=2, batch_size=4, steps=steps, log_every=5,
                sample_every=10**6, checkpoint_every=10**6, device="cpu")
    t = Trainer(TrainConfig(**{**base, **kw}), tmp_path / name, progress=False)
    return t


def warnings_of(run_dir):
    return [w for r in read_log(run_dir) for w in r.get("warnings", [])]


def test_vanishing_gradient_separates_minimax_from_nonsaturating(tmp_path):
    """Same data, a discriminator learning 100× faster than G: the saturating G loss loses its gradient, NS keeps it."""
    for loss, expected in [("minimax", ["vanishing_gradient"]), ("nonsaturating", [])]:
        t = run(tmp_path, loss, gan_loss=loss, lr=2e-5, d_lr=2e-3)
        t.fit()
        assert warnings_of(t.run_dir) == expected, loss


class IgnoresItsInput(nn.Module):
    """A generator that outputs one learned colour whatever the input: collapse by construction."""

    def __init__(self):
        super().__init__()
        self.colour = nn.Parameter(torch.zeros(1, 2, 1, 1))

    def forward(self, cond):
        return self.colour.expand(cond.shape[0], -1, *cond.shape[-2:])


def test_mode_collapse_fires_for_a_generator_that_ignores_its_input(tmp_path):
    t = run(tmp_path, "collapse", steps=160)
    t.nets.G = IgnoresItsInput()
    t.nets.opt_g = make_optimizer(t.cfg, t.G.parameters(), t.cfg.lr)
    t.fit()
    assert "mode_collapse" in warnings_of(t.run_dir)


def test_healthy_run_is_silent(tmp_path):
    t = run(tmp_path, "healthy", steps=160)
    t.fit()
    assert warnings_of(t.run_dir) == []
    last = read_log(t.run_dir)[-1]
    for key in ("d_loss", "g_adv", "g_recon", "d_real", "d_fake", "d_acc_real", "d_acc_fake", "grad_adv",
                "grad_recon", "g_grad_norm", "d_grad_norm", "lr", "diversity", "sec"):
        assert key in last, key


def test_non_convergence_on_constructed_records():
    m = Monitor(Thresholds(window=5, warmup_steps=0))
    fired = []
    for i in range(10):  # D at chance, explicit loss climbing 5% per record
        fired += m.update({"step": i, "d_acc_real": 0.52, "d_acc_fake": 0.47, "g_recon": 0.1 * 1.05 ** i})
    assert fired == ["non_convergence"]
    m = Monitor(Thresholds(window=5, warmup_steps=0))
    for i in range(10):  # D at chance but the explicit loss falls: learning, not failing
        assert m.update({"step": i, "d_acc_real": 0.5, "d_acc_fake": 0.5, "g_recon": 0.1 * 0.95 ** i}) == []


def test_warnings_fire_once_and_survive_resume():
    m = Monitor(Thresholds(window=2, warmup_steps=0))
    records = [{"step": i, "diversity": 0.01} for i in range(6)]
    assert [w for r in records for w in m.update(r)] == ["mode_collapse"]
    resumed = Monitor(Thresholds(window=2, warmup_steps=0))
    resumed.update({"step": 2, "diversity": 0.01, "warnings": ["mode_collapse"]})
    assert resumed.update({"step": 3, "diversity": 0.01}) == []


def test_inspect_prints_summary_and_writes_png(tmp_path, capsys):
    t = run(tmp_path, "insp", steps=20)
    t.fit()
    assert main(["inspect", str(t.run_dir)]) == 0
    out = capsys.readouterr().out
    assert "step 20 of 20" in out and "no warnings" in out and "d_loss" in out
    png = t.run_dir / "diagnostics.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["inspect", str(tmp_path)]) == 2
    assert "not a pix2gan run folder" in capsys.readouterr().err
