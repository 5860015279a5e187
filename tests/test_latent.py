"""Latent models (Alpha-GAN's encoder and code discriminator): shapes, the code losses against hand-computed
values, z reaching the output, every GAN loss for D and C, exact resume, two processes, sampling commands and the
diversity metrics."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from pix2gan.cli import main
from pix2gan.config import resolve
from pix2gan.errors import Pix2GanError
from pix2gan.losses import GAN_LOSSES, kl_to_prior
from pix2gan.nets import Encoder, UNet, prior_codes
from pix2gan.step import Codes, LossSettings, c_phase
from pix2gan.models import build_code_discriminator, build_encoder, build_generator
from pix2gan.train import Trainer

from helpers import TINY, assert_same_weights, straight_and_resumed, tiny


@pytest.mark.parametrize("task,extra,cond_ch,out_ch", [("colorize", {}, 1, 2),
                                                       ("nextframe", {"context": 3}, 3, 1)])
@pytest.mark.parametrize("inject", ["input", "all"])
def test_shapes_of_g_e_and_c_for_both_tasks(task, extra, cond_ch, out_ch, inject):
    cfg = resolve(tiny(task=task, latent_dim=5, latent_inject=inject, code_loss="adversarial", **extra))
    G, E, C = build_generator(cfg), build_encoder(cfg), build_code_discriminator(cfg)
    cond, z = torch.rand(3, cond_ch, 37, 29) * 2 - 1, torch.randn(3, 5)
    assert G(cond, z).shape == (3, out_ch, 37, 29)
    assert E(torch.cat([cond, torch.rand(3, out_ch, 37, 29)], 1)).shape == (3, 5)
    assert C(z).shape == (3, 1)
    G.eval()
    torch.testing.assert_close(G(cond), G(cond, torch.zeros(3, 5)))  # no code: the prior's mean
    with pytest.raises(ValueError, match=r"z must be \(3, 5\)"):
        G(cond, torch.randn(3, 4))
    kl = resolve(tiny(task=task, latent_dim=5, code_loss="kl", **extra))
    assert build_encoder(kl)(torch.rand(2, cond_ch + out_ch, 9, 9)).shape == (2, 10)  # mean and log-variance
    assert build_code_discriminator(kl) is None
    # z enters only the outermost down convolution ("input") or every level's ("all")
    widened = [m.in_channels for m in G.modules() if isinstance(m, torch.nn.Conv2d)]
    plain = [m.in_channels for m in UNet(cond_ch, out_ch, cfg.depth, cfg.ngf).modules()
             if isinstance(m, torch.nn.Conv2d)]
    added = [a - b for a, b in zip(widened, plain)]
    assert added == ([5] + [0] * (len(added) - 1) if inject == "input" else [5] * len(added))


def test_a_model_without_a_latent_code_keeps_its_weights_layout():
    """The bundled colorizer's state dict still loads: latent_dim 0 is pix2pix's G, key for key."""
    a, b = UNet(1, 2, 5, 8), UNet(1, 2, 5, 8, latent_dim=3)
    assert list(a.state_dict()) == list(b.state_dict())
    assert Encoder(3, 4, nef=8, levels=4)(torch.rand(1, 3, 1, 1)).shape == (1, 4)  # any size, even 1×1


def test_kl_term_against_the_formula():
    mu, logvar = torch.tensor([[0.5, -1.0], [0.0, 2.0]]), torch.tensor([[0.0, math.log(4.0)], [-1.0, 0.5]])
    by_hand = []
    for m, lv in zip(mu.tolist(), logvar.tolist()):  # KL(N(m, e^lv) ‖ N(0, 1)) = ½(m² + e^lv − 1 − lv), summed
        by_hand.append(sum(0.5 * (a * a + math.exp(v) - 1 - v) for a, v in zip(m, lv)))
    assert kl_to_prior(mu, logvar).item() == pytest.approx(sum(by_hand) / 2, rel=1e-6)
    assert kl_to_prior(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0  # the prior itself


def test_adversarial_code_loss_against_hand_computed_values(tmp_path, photo_dir):
    """C's loss is the GAN loss with prior draws as real and E's codes as fake; E's term is G's loss on C's logits."""
    t = Trainer(tiny(data=str(photo_dir), latent_dim=3, code_loss="adversarial"), tmp_path / "r", progress=False)
    C = t.nets.C
    prior, z = torch.randn(4, 3), torch.randn(4, 3) + 2
    with torch.no_grad():
        l_r, l_f = C(prior).flatten().tolist(), C(z).flatten().tolist()
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731
    expected = np.mean([softplus(-v) for v in l_r]) + np.mean([softplus(v) for v in l_f])
    out = c_phase(t.nets, t.loss, Codes(z, z, None, prior))
    assert out["c_loss"] == pytest.approx(expected, rel=1e-5)
    # E's term in the G phase: nonsaturating, softplus(-C(z)), on the codes E gave
    s = LossSettings.from_config(t.cfg, torch.device("cpu"))
    with torch.no_grad():
        term = s.g_adv_loss(C(z), None).item()
    assert term == pytest.approx(np.mean([softplus(-v) for v in C(z).flatten().tolist()]), rel=1e-5)


def test_z_changes_the_output_of_a_briefly_trained_model(tmp_path, photo_dir):
    t = Trainer(tiny(data=str(photo_dir), latent_dim=4, steps=6, code_loss="adversarial"), tmp_path / "r",
                progress=False)
    t.fit()
    G = t.G.eval()
    cond = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        a, b = G(cond, prior_codes(2, 4, 0)), G(cond, prior_codes(2, 4, 1))
        again = G(cond, prior_codes(2, 4, 0))
    assert (a - b).abs().mean() > 1e-3
    torch.testing.assert_close(a, again, rtol=0, atol=0)
    record = json.loads((tmp_path / "r" / "log.jsonl").read_text().splitlines()[-1])
    for key in ("c_loss", "g_code", "g_latent", "g_adv_sampled"):
        assert np.isfinite(record[key]), key


@pytest.mark.parametrize("gan_loss", list(GAN_LOSSES))
def test_every_gan_loss_trains_d_and_c(tmp_path, photo_dir, gan_loss):
    t = Trainer(tiny(data=str(photo_dir), latent_dim=3, gan_loss=gan_loss, code_loss="adversarial", steps=2),
                tmp_path / "r", progress=False)
    c_before = {k: v.clone() for k, v in t.nets.C.state_dict().items()}
    t.fit()
    record = json.loads((tmp_path / "r" / "log.jsonl").read_text().splitlines()[-1])
    assert np.isfinite(record["c_loss"]) and np.isfinite(record["d_loss"])
    assert any(not torch.equal(c_before[k], v) for k, v in t.nets.C.state_dict().items())
    if t.cfg.clip:  # weight clipping holds C too
        assert all(p.abs().max() <= t.cfg.clip + 1e-7 for p in t.nets.C.parameters())


@pytest.mark.parametrize("extra", [dict(code_loss="adversarial", gan_loss="wgan-gp"),
                                   dict(code_loss="kl", latent_inject="all")])
def test_resume_with_a_latent_model_is_bit_identical(tmp_path, photo_dir, extra):
    straight, resumed = straight_and_resumed(tmp_path, tiny(steps=6, data=str(photo_dir), latent_dim=3, **extra), 3,
                                             extend=True)
    a = assert_same_weights(straight, resumed)
    assert any(k.startswith("E.") for k in a)
    assert any(k.startswith("C.") for k in a) == (extra["code_loss"] == "adversarial")


def test_latent_refusals():
    with pytest.raises(Pix2GanError, match="--latent-dim needs a discriminator"):
        resolve(tiny(latent_dim=4, gan_loss="none"))
    with pytest.raises(Pix2GanError, match="--latent-dim must be 0 or more"):
        resolve(tiny(latent_dim=-1))
    with pytest.raises(Pix2GanError, match="--code-loss 'vae'"):
        resolve(tiny(latent_dim=4, code_loss="vae"))
    assert resolve(tiny(latent_dim=4, code_loss="kl")).code_weight == 0.01
    assert resolve(tiny(latent_dim=4)).code_loss == "kl"  # the default: it met the coverage target, adversarial not
    assert resolve(tiny(latent_dim=4, code_loss="adversarial")).code_weight == 1.0


def _latent_colorizer(tmp_path, photo_dir) -> str:
    assert main(["train", "--data", str(photo_dir), "--out", str(tmp_path / "run"), "--steps", "3",
                 "--latent-dim", "4", *TINY]) == 0
    return str(tmp_path / "run" / "checkpoint.pt")


def test_colorize_samples_are_named_and_differ(tmp_path, photo_dir, capsys):
    ckpt = _latent_colorizer(tmp_path, photo_dir)
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48), dtype=np.uint8), "L").save(src / "a.png")
    assert main(["colorize", str(src), str(tmp_path / "out"), "--checkpoint", ckpt, "--samples", "3", "--quiet"]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["a_s0.png", "a_s1.png", "a_s2.png"]
    imgs = [np.asarray(Image.open(tmp_path / "out" / n), dtype=np.int16) for n in names]
    assert np.abs(imgs[0] - imgs[1]).mean() > 0.1
    # sample i of seed S is sample 0 of seed S + i; one sample: the plain name
    assert main(["colorize", str(src / "a.png"), str(tmp_path / "one"), "--checkpoint", ckpt, "--seed", "2",
                 "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "one" / "a.png"), dtype=np.int16), imgs[2])
    # a one-answer model: one output, said so
    assert main(["train", "--data", str(photo_dir), "--out", str(tmp_path / "plain"), "--steps", "1", *TINY]) == 0
    capsys.readouterr()
    assert main(["colorize", str(src), str(tmp_path / "plain_out"), "--checkpoint",
                 str(tmp_path / "plain" / "checkpoint.pt"), "--samples", "3", "--quiet"]) == 0
    assert "no latent code" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "plain_out").iterdir()) == ["a.png"]
    with pytest.raises(SystemExit):
        main(["colorize", str(src), str(tmp_path / "x"), "--samples", "0"])
    assert "--samples: must be at least 1, got 0" in capsys.readouterr().err


def test_predict_samples_write_one_folder_per_future(tmp_path):
    from pix2gan.data.moving_digits import make_moving_digits

    seqs = make_moving_digits(4, 8, 32, seed=0)
    np.save(tmp_path / "seq.npy", seqs)
    assert main(["train", "--task", "nextframe", "--data", str(tmp_path / "seq.npy"), "--context", "2", "--layout", "TNHW",
                 "--out", str(tmp_path / "run"), "--steps", "2", "--latent-dim", "3", *TINY]) == 0
    out = tmp_path / "pred"
    assert main(["predict", str(tmp_path / "seq.npy"), str(out), "--checkpoint", str(tmp_path / "run" /
                 "checkpoint.pt"), "--steps", "3", "--samples", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["sample_0", "sample_1"]
    for folder in out.iterdir():
        assert sorted(p.name for p in folder.iterdir()) == ["pred_001.png", "pred_002.png", "pred_003.png",
                                                            "rollout.gif", "rollout.mp4"]
    a, b = (np.asarray(Image.open(out / f"sample_{i}" / "pred_003.png"), dtype=np.int16) for i in (0, 1))
    assert np.abs(a - b).mean() > 0.01


def test_sample_spread_and_coverage_against_hand_made_answers():
    from pix2gan.data.bimodal import HUES, SHAPE_L, coverage_metrics
    from pix2gan.metrics import sample_spread
    from pix2gan.tasks.colorize import lab_tensors_to_rgb

    def picture(hue_left, hue_right):
        """A 16×16 gray picture with two 4×4 shapes painted hue_left / hue_right (None: gray)."""
        ab = torch.zeros(1, 2, 16, 16)
        for hue, cols in ((hue_left, slice(2, 6)), (hue_right, slice(10, 14))):
            if hue is not None:
                ab[0, :, 6:10, cols] = torch.tensor(HUES[hue], dtype=torch.float32).view(2, 1, 1) / 110
        light = torch.full((1, 1, 16, 16), SHAPE_L / 50 - 1)
        return lab_tensors_to_rgb(light, ab)

    target = picture(0, 1)
    both = torch.stack([picture(0, 1), picture(1, 0)])
    same = torch.stack([picture(0, 1), picture(0, 1)])
    gray = torch.stack([picture(None, None), picture(None, None)])
    assert coverage_metrics(both, target)["coverage"] == 1.0
    assert coverage_metrics(same, target)["coverage"] == 0.0
    half = coverage_metrics(torch.stack([picture(0, 1), picture(1, 1)]), target)
    assert half["coverage"] == 0.5 and half["hue_hit_min"] == pytest.approx(1.0)
    assert coverage_metrics(gray, target) == {"coverage": 0.0, "hue_hit_min": 0.0}
    # spread: the two samples differ on 32 of 256 pixels, by the distance between the hues (2 × chroma 50) there
    chroma = float(np.hypot(*HUES[0]))
    assert sample_spread(both, ab=True) == pytest.approx(32 / 256 * 2 * chroma, rel=0.02)
    assert sample_spread(same, ab=True) == 0.0


def test_compare_parses_latent_variants():
    from pix2gan.compare import parse_variant

    v = parse_variant("l1+nonsaturating+z8kl")
    assert (v.recon, v.gan_loss, v.latent_dim, v.code_loss) == ("l1", "nonsaturating", 8, "kl")
    v = parse_variant("l1*10+hinge+z4")
    assert (v.recon_weight, v.gan_loss, v.latent_dim, v.code_loss) == (10.0, "hinge", 4, "adversarial")
    assert parse_variant("l1+wgan-gp").latent_dim == 0
    with pytest.raises(Pix2GanError, match="a latent code needs"):
        parse_variant("l2+z8")


def test_the_readmes_latent_command_runs(tmp_path):
    """The README's latent train command (what tools/bench_latent.py --parts cli measures) is valid as written: one
    step of it trains and leaves a latent checkpoint with the weights it names."""
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("pix2gan train ") and "--latent-dim" in ln)
    words = shlex.split(line)[1:]
    words[words.index("--out") + 1] = str(tmp_path / "z")
    assert main([*words, "--steps", "1", "--quiet"]) == 0
    cfg = json.loads((tmp_path / "z" / "config.json").read_text())
    assert cfg["latent_dim"] > 0 and cfg["recon_weight"] == 10.0 and cfg["code_loss"] == "kl"
