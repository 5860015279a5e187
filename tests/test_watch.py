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

from helpers import TINY


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
        assert [v for _, v in got[t]] == pytest.approx([v for _, v in want[t]], rel=1e-6, nan_ok=True), t
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


def report(tmp_path, variants=("l2", "l1", "l1+nonsaturating", "l1*10+hinge", "none+lsgan")):
    """A compare report of five variants (figures computed on generated images; no training)."""
    import torch

    from pix2gan.compare import write_report
    from pix2gan.data.bimodal import hue_metrics
    from pix2gan.evaluate import Evaluation
    from pix2gan.metrics import evaluate_images

    g = torch.Generator().manual_seed(0)
    corners = torch.rand(8, 3, 2, 2, generator=g)  # smooth photos, so that their ripple is defined
    real = torch.nn.functional.interpolate(corners, 64, mode="bilinear", align_corners=True)
    results = {}
    for i, v in enumerate(variants):
        fake = (real + 0.1 * i * torch.randn(8, 3, 64, 64, generator=g)).clamp(0, 1)
        metrics = {**evaluate_images(fake, real), **hue_metrics(fake, real)}
        results[v] = Evaluation(metrics=metrics, cond=real.mean(1, keepdim=True).expand(-1, 3, -1, -1), real=real,
                                fake=fake)
    return write_report(results, {}, tmp_path / "report", "pix2gan compare: builtin:bimodal-colors")


def test_report_groups_the_metrics_and_is_self_contained(tmp_path):
    page = report(tmp_path)
    text = page.read_text()
    assert [h for h in re.findall(r"<h3>(\w+):", text)] == ["Fidelity", "Blur", "Colour", "Artefacts"]
    tables = re.findall(r"<table>(.*?)</table>", text, re.S)
    assert len(tables) == 4 and all(t.count("<tr>") == 6 for t in tables)  # header + 5 variants
    assert max(t.split("</tr>")[0].count("<th>") for t in tables) <= 5  # at most 4 metrics per table: it fits
    assert text.count("<b>") == sum(t.split("</tr>")[0].count("<th>") - 1 for t in tables)  # one best per metric
    assert "hue_hit_rate" in text and "higher is better" in text and "closest to 1 is best" in text
    assert not re.search(r"(src|href)=\"(https?:)?//", text)  # nothing fetched from elsewhere
    for ref in re.findall(r"(?:src|href)=\"([^\"]+)\"", text):
        assert (page.parent / ref).is_file(), ref


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to render with (apt-get install chromium)")
def test_report_fits_a_1280_px_window_in_a_real_browser(tmp_path):
    page = report(tmp_path)
    probe = page.with_name("probe.html")  # the page plus a script that writes its widths into the title
    probe.write_text(page.read_text().replace(
        "</body>", "<script>window.addEventListener('load', () => { document.title = 'widths ' + "
                   "document.documentElement.scrollWidth + ' ' + document.documentElement.clientWidth; });"
                   "</script></body>"))
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                          "--virtual-time-budget=3000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    scroll, client = map(int, re.search(r"<title>widths (\d+) (\d+)</title>", out.stdout).groups())
    assert client <= 1280 and scroll <= client  # no horizontal scrolling
