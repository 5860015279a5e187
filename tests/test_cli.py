"""End to end through the real command line, in temporary folders."""

import json
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
from PIL import Image

from pix2gan.cli import main
from pix2gan.losses import GAN_LOSSES

from helpers import TINY


def test_train_writes_the_run_layout(tiny_run):
    assert {p.name for p in tiny_run.iterdir()} >= {"config.json", "checkpoint.pt", "log.jsonl", "samples"}
    cfg = json.loads((tiny_run / "config.json").read_text())
    assert cfg["gan_loss"] == "nonsaturating" and cfg["recon"] == "l1" and cfg["recon_weight"] == 100.0
    assert cfg["lr"] == 2e-4 and cfg["beta1"] == 0.5  # the preset, resolved and saved
    log = [json.loads(line) for line in (tiny_run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [6]  # --log-every 10: the last step is always logged
    assert {"step", "d_loss", "g_adv", "g_recon"} <= set(log[-1])
    samples = sorted((tiny_run / "samples").glob("*.png"))
    assert [p.name for p in samples] == ["step_000003.png", "step_000006.png"]
    assert Image.open(samples[0]).size[0] > 3 * 32  # cond | output | target


def make_inputs(folder):
    """A gray PNG, a 16-bit PNG, an RGBA PNG, an odd-size JPEG, a palette PNG, a corrupt file (in a sub-folder)."""
    (folder / "nested dir").mkdir(parents=True)
    cam = skimage.data.camera()[::8, ::8]
    Image.fromarray(cam).save(folder / "gray.png")
    Image.fromarray(cam.astype(np.uint16) * 257).save(folder / "deep16.png")
    rgba = np.dstack([skimage.data.astronaut()[::16, ::16], np.full((32, 32), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "nested dir" / "rgba.png")
    Image.fromarray(skimage.data.coffee()[:37, :53]).save(folder / "odd size.jpg")
    Image.fromarray(cam).convert("P").save(folder / "palette.png")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (folder / "notes.txt").write_text("not an image, ignored")


def test_colorize_folder_mixed_inputs(tiny_run, tmp_path, capsys):
    src, dst = tmp_path / "in", tmp_path / "out"
    make_inputs(src)
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    code = main(["colorize", str(src), str(dst), "--checkpoint", str(tiny_run / "checkpoint.pt"), "--quiet"])
    err = capsys.readouterr()
    assert code == 1  # one file failed
    assert f"error: {src / 'corrupt.jpg'}: " in err.err
    assert "colorized 5, skipped 0" in err.out and "failed 1" in err.out
    expect = {"gray.png": ((64, 64), "RGB"), "deep16.png": ((64, 64), "RGB"), "odd size.png": ((53, 37), "RGB"),
              "nested dir/rgba.png": ((32, 32), "RGBA"), "palette.png": ((64, 64), "RGB")}
    for rel, (size, mode) in expect.items():
        img = Image.open(dst / rel)
        assert (img.size, img.mode) == (size, mode), rel
    assert np.all(np.asarray(Image.open(dst / "nested dir" / "rgba.png"))[..., 3] == 128)
    assert not (dst / "corrupt.png").exists()
    assert not list(dst.rglob(".*"))  # no temporary files left
    assert before == {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}  # input untouched

    # second run: everything exists → skipped; --overwrite redoes them
    assert main(["colorize", str(src), str(dst), "--checkpoint", str(tiny_run / "checkpoint.pt"), "--quiet"]) == 1
    assert "colorized 0, skipped 5" in capsys.readouterr().out


def test_colorize_keeps_the_input_luminance(tiny_run, tmp_path):
    """The output's L channel is the input's gray, at full resolution (only ab is predicted)."""
    from skimage.color import rgb2lab

    cam = skimage.data.camera()[100:197, 50:163]  # 97×113, odd
    Image.fromarray(cam).save(tmp_path / "cam.png")
    assert main(["colorize", str(tmp_path / "cam.png"), str(tmp_path / "cam_out.png"),
                 "--checkpoint", str(tiny_run / "checkpoint.pt"), "--quiet"]) == 0
    out = np.asarray(Image.open(tmp_path / "cam_out.png"))
    l_in = rgb2lab(np.repeat(cam[..., None], 3, 2))[..., 0]
    l_out = rgb2lab(out)[..., 0]
    assert out.shape == (97, 113, 3)
    assert np.median(np.abs(l_in - l_out)) < 1.5  # only gamut clipping and 8-bit rounding change L
    # pixel for pixel, not only on average: L recombined after a 3×3 blur leaves the median at 0.4 but puts the
    # 99th percentile at 14 (measured); the input's own L keeps it near 0.1
    assert np.percentile(np.abs(l_in - l_out), 99) < 1.0


def png_zlib_level(path) -> int:
    """The FLEVEL field (0: fastest … 3: smallest) of a PNG's first IDAT zlib stream."""
    data = path.read_bytes()
    i = data.index(b"IDAT")
    return data[i + 5] >> 6  # the zlib header's second byte, after CMF


def test_colorize_writes_fast_pngs_unless_told(tiny_run, tmp_path, capsys):
    """PNG outputs at zlib level 1 by default, 9 with --png-compression 9: the same pixels; a level outside 0–9
    is refused in one line."""
    Image.fromarray(skimage.data.camera()[::4, ::4]).save(tmp_path / "cam.png")
    outs = {}
    for level in (None, "9"):
        out = tmp_path / f"out_{level}.png"
        extra = [] if level is None else ["--png-compression", level]
        assert main(["colorize", str(tmp_path / "cam.png"), str(out), "--checkpoint", str(tiny_run / "checkpoint.pt"),
                     "--quiet", *extra]) == 0
        outs[level] = out
    assert png_zlib_level(outs[None]) == 0 and png_zlib_level(outs["9"]) == 3
    np.testing.assert_array_equal(np.asarray(Image.open(outs[None])), np.asarray(Image.open(outs["9"])))
    with pytest.raises(SystemExit):
        main(["colorize", str(tmp_path / "cam.png"), str(tmp_path / "x.png"), "--png-compression", "10"])
    assert "--png-compression" in capsys.readouterr().err


def test_colorize_refuses_to_write_into_its_input(tiny_run, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(skimage.data.camera()[::8, ::8]).save(src / "a.png")
    for out in (src, src / "sub"):
        assert main(["colorize", str(src), str(out), "--checkpoint", str(tiny_run / "checkpoint.pt")]) == 2
        assert "must not be the input folder or inside it" in capsys.readouterr().err
    assert main(["colorize", str(src / "a.png"), str(src / "a.png"), "--checkpoint",
                 str(tiny_run / "checkpoint.pt")]) == 2
    assert "refusing to overwrite the input" in capsys.readouterr().err


def test_one_line_errors(tmp_path, capsys, tiny_run):
    cases = [
        (["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r"), *TINY], "nope: not a folder"),
        (["train", "--data", "builtin:nope", "--out", str(tmp_path / "r"), *TINY], "unknown built-in set"),
        (["train", "--out", str(tiny_run), *TINY], "already holds a run; add --resume"),
        (["train", "--out", str(tiny_run), "--resume", "--lr", "0.1", *TINY], "differing keys: lr"),
        (["colorize", str(tmp_path / "a.png"), str(tmp_path / "o.png"), "--checkpoint", str(tmp_path / "x.pt")],
         "x.pt: no such checkpoint file"),
    ]
    (tmp_path / "bogus.pt").write_bytes(b"garbage")
    Image.fromarray(skimage.data.camera()[::8, ::8]).save(tmp_path / "a.png")
    cases.append((["colorize", str(tmp_path / "a.png"), str(tmp_path / "o.png"), "--checkpoint",
                   str(tmp_path / "bogus.pt")], "not a readable checkpoint"))
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], (argv, err)


def test_resume_through_cli_continues(tmp_path, photo_dir, capsys):
    run = tmp_path / "r"
    assert main(["train", "--data", str(photo_dir), "--out", str(run), "--steps", "2", *TINY]) == 0
    assert main(["train", "--out", str(run), "--resume", "--steps", "4", "--quiet"]) == 0
    assert "step 4/4" in capsys.readouterr().out


@pytest.mark.parametrize("name", [*GAN_LOSSES, "none"])
def test_every_loss_trains_20_steps_from_the_cli(name, tmp_path, photo_dir):
    run = tmp_path / name
    extra = ["--recon", "l2"] if name == "none" else []
    assert main(["train", "--data", str(photo_dir), "--out", str(run), "--steps", "20", "--gan-loss", name,
                 "--log-every", "5", *extra, *TINY]) == 0
    for line in (run / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
    assert record.pop("phase") == ("explicit" if name == "none" else "adversarial")
    assert all(np.isfinite(v) for v in record.values())


def test_losses_command_lists_every_name(capsys):
    assert main(["losses"]) == 0
    out = capsys.readouterr().out
    for name in GAN_LOSSES:
        assert f"\n{name} " in "\n" + out


def test_console_script_help_and_error(tmp_path):
    """The installed entry point: --help on every command, and a one-line error without traceback."""
    for cmd in ([], ["train"], ["colorize"], ["losses"]):
        r = subprocess.run([sys.executable, "-m", "pix2gan", *cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage: pix2gan" in r.stdout
    r = subprocess.run([sys.executable, "-m", "pix2gan", "colorize", str(tmp_path / "missing.png"),
                        str(tmp_path / "o"), "--checkpoint", str(tmp_path / "c.pt")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {tmp_path / 'missing.png'}: no such file or folder"
