"""The second bad-input battery, through the real CLI: each numbered failure of the hardening-II issue that this
release fixes, one test each."""

import json
import warnings

import numpy as np
import pytest
from PIL import Image, ImageOps

from pix2gan.checkpoint import load_checkpoint, save_checkpoint
from pix2gan.cli import main
from pix2gan.data.moving_digits import make_moving_digits

from conftest import TINY


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hard2")
    assert main(["train", "--data", "builtin:photos", "--out", str(root / "run"), "--steps", "2", *TINY]) == 0
    return root / "run"


def gray(path, h=20, w=28):
    Image.fromarray(np.random.default_rng(len(str(path))).integers(0, 256, (h, w), dtype=np.uint8)).save(path)


def test_1_a_250_byte_file_name_is_colorized(run, tmp_path, capsys):
    name = "x" * 246 + ".png"  # 250 bytes: the output's name is as long, its temporary name must be shorter
    (tmp_path / "in").mkdir()
    gray(tmp_path / "in" / name)
    assert main(["colorize", str(tmp_path / "in"), str(tmp_path / "out"), "--checkpoint",
                 str(run / "checkpoint.pt"), "--quiet"]) == 0
    assert (tmp_path / "out" / name).exists() and "colorized 1" in capsys.readouterr().out


def test_2_names_differing_only_in_case_get_distinct_outputs(run, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    gray(tmp_path / "in" / "x.png", 20, 28)
    gray(tmp_path / "in" / "x.PNG", 30, 18)
    assert main(["colorize", str(tmp_path / "in"), str(tmp_path / "out"), "--checkpoint",
                 str(run / "checkpoint.pt"), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x.PNG.png", "x.png"]
    assert Image.open(tmp_path / "out" / "x.PNG.png").size == (18, 30)
    assert "colorized 2, skipped 0" in capsys.readouterr().out


def test_3_an_extreme_aspect_ratio_is_bounded_and_a_failure_names_its_file(run, tmp_path, capsys, monkeypatch):
    import resource

    from pix2gan.colorizer import Colorizer

    (tmp_path / "in").mkdir()
    gray(tmp_path / "in" / "strip.png", 3, 70000)
    gray(tmp_path / "in" / "boom.png")
    gray(tmp_path / "in" / "ok.png")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    real, boom = Colorizer.colorize_rgb, np.asarray(Image.open(tmp_path / "in" / "boom.png")) / 255

    def flaky(self, rgb, *args, **kwargs):  # any exception on one file, e.g. the allocator giving up
        if rgb.shape[:2] == boom.shape and np.allclose(rgb[..., 0], boom):
            raise RuntimeError("can't allocate memory\nsecond line")
        return real(self, rgb, *args, **kwargs)

    monkeypatch.setattr(Colorizer, "colorize_rgb", flaky)
    assert main(["colorize", str(tmp_path / "in"), str(tmp_path / "out"), "--checkpoint",
                 str(run / "checkpoint.pt"), "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert f"error: {tmp_path / 'in' / 'boom.png'}: RuntimeError: can't allocate memory" in err
    assert "colorized 2, skipped 0 (already there; --overwrite to redo), failed 1" in out
    assert Image.open(tmp_path / "out" / "strip.png").size == (70000, 3)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 500  # MB, not gigabytes


def test_4_library_warnings_become_one_line_naming_the_file(run, tmp_path, capsys, monkeypatch):
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


def test_5_input_is_never_written_even_with_overwrite(run, tmp_path, capsys):
    gray(tmp_path / "x.png")
    before = (tmp_path / "x.png").read_bytes()
    assert main(["colorize", str(tmp_path / "x.png"), str(tmp_path), "--overwrite", "--checkpoint",
                 str(run / "checkpoint.pt"), "--quiet"]) == 2
    assert "is the input itself" in capsys.readouterr().err
    assert (tmp_path / "x.png").read_bytes() == before


def test_8_and_9_checkpoints_whose_weights_do_not_fit(run, tmp_path, capsys):
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


def test_10_float_frames_in_0_255_are_read_as_pixels(tmp_path, capsys):
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
def test_11_12_13_bad_numbers_are_refused_before_anything_is_written(tmp_path, capsys, flag, value, message):
    out = tmp_path / "run"
    assert main(["train", "--data", "builtin:photos", "--out", str(out), "--steps", "1", *TINY, flag, value]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_15_disk_full_names_the_file(tmp_path, capsys, monkeypatch):
    import pix2gan.checkpoint

    def full(path, data):
        raise OSError(28, "No space left on device")

    out = tmp_path / "run"
    assert main(["train", "--data", "builtin:photos", "--out", str(out), "--steps", "1", *TINY]) == 0
    monkeypatch.setattr(pix2gan.checkpoint, "atomic_write_bytes", full)
    assert main(["train", "--out", str(out), "--resume", "--steps", "2", "--quiet"]) == 2
    assert f"error: {out / 'checkpoint.pt'}: cannot write (No space left on device); training stopped" in \
        capsys.readouterr().err


def test_15_a_real_file_size_limit_names_the_file(tmp_path):
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


def test_16_17_a_torn_log_line_does_not_stop_resume_or_inspect(tmp_path, capsys):
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


def test_6_7_evaluate_uses_exactly_the_file_it_is_given(run, tmp_path):
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
