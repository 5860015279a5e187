"""Bad and odd inputs through the real CLI: one line each naming the file, the batch continues, nothing half-written,
the input never touched."""

import json
import warnings

import numpy as np
import pytest
import skimage.data
import tifffile
from PIL import Image, ImageOps

from pix2gan.checkpoint import load_checkpoint, save_checkpoint
from pix2gan.cli import main
from pix2gan.data.moving_digits import make_moving_digits

from helpers import TINY, gray, png_header_only


@pytest.fixture
def checkpoint(tiny_run):
    return tiny_run / "checkpoint.pt"


@pytest.fixture
def run(tiny_run):
    return tiny_run


def test_every_bad_or_odd_input(checkpoint, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    cam = skimage.data.camera()[::8, ::8]
    rgb = skimage.data.astronaut()[::16, ::16]
    good = {}  # name → expected (size, mode) of the output PNG

    (src / "zero.png").write_bytes(b"")
    Image.fromarray(cam).save(src / "trunc.jpg")
    (src / "trunc.jpg").write_bytes((src / "trunc.jpg").read_bytes()[:300])
    Image.fromarray(cam).save(src / "trunc.png")
    (src / "trunc.png").write_bytes((src / "trunc.png").read_bytes()[:200])
    (src / "text.jpg").write_text("I am text")
    png_header_only(src / "bomb.png", 30000, 30000)
    bad = {"zero.png": "empty file", "trunc.jpg": "cannot decode", "trunc.png": "cannot decode",
           "text.jpg": "not an image", "bomb.png": "decompression bomb"}

    Image.new("L", (1, 1), 128).save(src / "one.png"); good["one.png"] = ((1, 1), "RGB")
    Image.new("L", (2, 3), 50).save(src / "twothree.png"); good["twothree.png"] = ((2, 3), "RGB")
    Image.fromarray(cam.astype(np.uint16) * 257).save(src / "g16.png"); good["g16.png"] = ((64, 64), "RGB")
    tifffile.imwrite(src / "g16.tif", cam.astype(np.uint16) * 257); good["g16.tif.png"] = ((64, 64), "RGB")
    tifffile.imwrite(src / "rgb16.tiff", rgb.astype(np.uint16) * 257); good["rgb16.png"] = ((32, 32), "RGB")
    Image.fromarray(rgb).convert("CMYK").save(src / "cmyk.jpg"); good["cmyk.png"] = ((32, 32), "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb[:, :20]).save(src / "exif.jpg", exif=exif); good["exif.png"] = ((32, 20), "RGB")
    pal = Image.fromarray(cam).convert("P")
    pal.info["transparency"] = 0
    pal.save(src / "pal.png", transparency=0); good["pal.png"] = ((64, 64), "RGBA")
    Image.new("LA", (5, 7), (90, 200)).save(src / "la.png"); good["la.png"] = ((5, 7), "RGBA")
    frames = [Image.new("L", (9, 8), v) for v in (10, 200)]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:]); good["anim.png"] = ((9, 8), "RGB")
    (src / "spaced dir ünï").mkdir()
    Image.fromarray(cam).save(src / "spaced dir ünï" / "名前 x.png"); good["spaced dir ünï/名前 x.png"] = ((64, 64), "RGB")
    (src / "loop").symlink_to(src, target_is_directory=True)

    dst = tmp_path / "out"
    code = main(["colorize", str(src), str(dst), "--checkpoint", str(checkpoint), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == len(bad), lines
    for name, reason in bad.items():
        assert any(line.startswith(f"error: {src / name}: ") and reason in line for line in lines), (name, lines)
    assert f"colorized {len(good)}, skipped 0" in out and f"failed {len(bad)}" in out
    for rel, (size, mode) in good.items():
        img = Image.open(dst / rel)
        assert (img.size, img.mode) == (size, mode), rel
    assert not (dst / "loop").exists()


def test_a_250_byte_file_name_is_colorized(run, tmp_path, capsys):
    name = "x" * 246 + ".png"  # 250 bytes: the output's name is as long, its temporary name must be shorter
    (tmp_path / "in").mkdir()
    gray(tmp_path / "in" / name)
    assert main(["colorize", str(tmp_path / "in"), str(tmp_path / "out"), "--checkpoint",
                 str(run / "checkpoint.pt"), "--quiet"]) == 0
    assert (tmp_path / "out" / name).exists() and "colorized 1" in capsys.readouterr().out


def test_names_differing_only_in_case_get_distinct_outputs(run, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    gray(tmp_path / "in" / "x.png", 20, 28)
    gray(tmp_path / "in" / "x.PNG", 30, 18)
    assert main(["colorize", str(tmp_path / "in"), str(tmp_path / "out"), "--checkpoint",
                 str(run / "checkpoint.pt"), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x.PNG.png", "x.png"]
    assert Image.open(tmp_path / "out" / "x.PNG.png").size == (18, 30)
    assert "colorized 2, skipped 0" in capsys.readouterr().out


def test_an_extreme_aspect_ratio_is_bounded_and_a_failure_names_its_file(run, tmp_path, capsys, monkeypatch):
    import resource

    (tmp_path / "in").mkdir()
    gray(tmp_path / "in" / "strip.png", 3, 70000)
    gray(tmp_path / "in" / "boom.png")
    gray(tmp_path / "in" / "ok.png")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import pix2gan.colorizer

    real, boom = pix2gan.colorizer.pixels_u8, np.asarray(Image.open(tmp_path / "in" / "boom.png"))

    def flaky(img):  # any exception on one file, e.g. the allocator giving up (alone or in a batch of files)
        pixels = real(img)
        if pixels is not None and np.array_equal(pixels, boom):
            raise RuntimeError("can't allocate memory\nsecond line")
        return pixels

    monkeypatch.setattr(pix2gan.colorizer, "pixels_u8", flaky)
    assert main(["colorize", str(tmp_path / "in"), str(tmp_path / "out"), "--checkpoint",
                 str(run / "checkpoint.pt"), "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert f"error: {tmp_path / 'in' / 'boom.png'}: RuntimeError: can't allocate memory" in err
    assert "colorized 2, skipped 0 (already there; --overwrite to redo), failed 1" in out
    assert Image.open(tmp_path / "out" / "strip.png").size == (70000, 3)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 500  # MB, not gigabytes


def test_library_warnings_become_one_line_naming_the_file(run, tmp_path, capsys, monkeypatch):
    real = ImageOps.exif_transpose

    def corrupt_exif(img, **kw):
        warnings.warn("Corrupt EXIF data.  Expecting to read 12 bytes but only got 6.", UserWarning)
        return real(img, **kw)

    monkeypatch.setattr(ImageOps, "exif_transpose", corrupt_exif)
    gray(tmp_path / "a.png")
    assert main(["colorize", str(tmp_path / "a.png"), str(tmp_path / "out"), "--checkpoint",
                 str(run / "checkpoint.pt"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.strip() == f"warning: {tmp_path / 'a.png'}: Corrupt EXIF data.  Expecting to read 12 bytes but only " \
                          f"got 6."


def test_input_is_never_written_even_with_overwrite(run, tmp_path, capsys):
    gray(tmp_path / "x.png")
    before = (tmp_path / "x.png").read_bytes()
    assert main(["colorize", str(tmp_path / "x.png"), str(tmp_path), "--overwrite", "--checkpoint",
                 str(run / "checkpoint.pt"), "--quiet"]) == 2
    assert "is the input itself" in capsys.readouterr().err
    assert (tmp_path / "x.png").read_bytes() == before


def test_float_frames_in_0_255_are_read_as_pixels(tmp_path, capsys):
    frames = make_moving_digits(8, frames=6, size=32, seed=1).astype(np.float32)  # 0..255 floats
    np.save(tmp_path / "f.npy", frames)
    run = tmp_path / "run"
    assert main(["train", "--task", "nextframe", "--data", str(tmp_path / "f.npy"), "--layout", "TNHW",
                 "--context", "2", "--out", str(run), "--steps", "1", *TINY]) == 0
    assert "float frames in [0, 255]" in capsys.readouterr().err
    from pix2gan.data.sequences import open_sequences

    src = open_sequences(str(tmp_path / "f.npy"), 1, 3, "TNHW")
    np.testing.assert_array_equal(src.frames(0, 0, 6)[:, 0], frames[:, 0].astype(np.uint8))
    np.save(tmp_path / "big.npy", frames * 10)
    assert main(["train", "--task", "nextframe", "--data", str(tmp_path / "big.npy"), "--layout", "TNHW",
                 "--out", str(tmp_path / "r2"), "--steps", "1", *TINY]) == 2
    assert "expected [0, 1] or [0, 255]" in capsys.readouterr().err


@pytest.mark.parametrize("flag,value,message", [("--size", "7", "--size 7 is too small for a 2-layer PatchGAN"),
                                                ("--recon-weight", "nan", "--recon-weight must be a finite number"),
                                                ("--load-scale", "nan", "--load-scale must be a finite number"),
                                                ("--lr", "inf", "--lr must be a finite number")])
def test_bad_numbers_are_refused_before_anything_is_written(tmp_path, capsys, flag, value, message):
    out = tmp_path / "run"
    assert main(["train", "--data", "builtin:photos", "--out", str(out), "--steps", "1", *TINY, flag, value]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_checkpoints_whose_weights_do_not_fit(run, tmp_path, capsys):
    state = load_checkpoint(run / "checkpoint.pt")
    bad = dict(state, config={**state["config"], "ngf": 16})
    save_checkpoint(tmp_path / "mismatch.pt", {k: v for k, v in bad.items() if k not in ("format", "version")})
    nog = {k: v for k, v in state.items() if k not in ("format", "version", "G")}
    save_checkpoint(tmp_path / "nog.pt", nog)
    gray(tmp_path / "a.png")
    for ckpt, message in (("mismatch.pt", "its generator weights do not fit its configuration (size mismatch"),
                          ("nog.pt", "holds no generator weights")):
        assert main(["colorize", str(tmp_path / "a.png"), str(tmp_path / "out"), "--checkpoint",
                     str(tmp_path / ckpt), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {tmp_path / ckpt}: ") and message in err and "\n" not in err


def test_evaluate_uses_exactly_the_file_it_is_given(run, tmp_path):
    other = tmp_path / "other"
    assert main(["train", "--data", "builtin:photos", "--out", str(other), "--steps", "3", "--seed", "5", *TINY]) == 0
    import shutil

    shutil.copy(other / "checkpoint.pt", run / "other.pt")  # RUN/checkpoint.pt is another model
    figures = {}
    for name, path in (("mine", run / "checkpoint.pt"), ("other", other / "checkpoint.pt"),
                       ("copy", run / "other.pt")):
        assert main(["evaluate", "--checkpoint", str(path), "--data", "builtin:photos", "--count", "4", "--json",
                     str(tmp_path / f"{name}.json")]) == 0
        figures[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert figures["copy"] == figures["other"] != figures["mine"]
