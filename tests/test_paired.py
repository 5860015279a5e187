"""Paired A → B data (aligned and two-folder, both directions), translate, and the dataset scripts."""

import subprocess
import sys
from pathlib import Path

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pix2gan.cli import main
from pix2gan.data.paired import open_paired, split_aligned
from pix2gan.data.source import fixed_batches
from pix2gan.errors import Pix2GanError

from helpers import TINY, make_photo

ROOT = Path(__file__).resolve().parent.parent


def run_script(name, *args):
    return subprocess.run([sys.executable, str(ROOT / "datasets" / name), *map(str, args)], capture_output=True,
                          text=True)


@pytest.fixture
def two_folders(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "pairs"
    for k in range(4):
        a = make_photo(rng, 40, 48)
        (root / "A" / "sub").mkdir(parents=True, exist_ok=True)
        (root / "B" / "sub").mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(root / "A" / "sub" / f"{k}.jpg", quality=98)
        b = Image.fromarray(255 - a)  # B = negative of A
        (b.resize((96, 80), Image.BICUBIC) if k == 3 else b).save(root / "B" / "sub" / f"{k}.png")  # 3: other size
    Image.fromarray(make_photo(rng)).save(root / "A" / "lonely.png")
    return root


def test_split_aligned_odd_width_drops_the_middle_column():
    img = Image.fromarray(np.arange(7, dtype=np.uint8)[None].repeat(3, 0))
    a, b = split_aligned(img)
    assert np.asarray(a)[0].tolist() == [0, 1, 2] and np.asarray(b)[0].tolist() == [4, 5, 6]


def test_two_folders_pair_by_name_warn_and_resize(two_folders, capsys):
    data = open_paired(str(two_folders), 40, 3, 3, "AtoB")
    err = capsys.readouterr().err
    assert len(data) == 4 and "1 file(s) without a partner skipped" in err and "lonely.png" in err
    images = [data.read(i).float() for i in range(len(data))]
    assert all(img.shape[0] == 6 and min(img.shape[1:]) == 40 for img in images)  # short side scaled to load size
    # B is the negative of A (JPEG noise aside), also the pair whose B had another size and was resized to A
    assert all((img[:3] + img[3:] - 255).abs().mean() < 6 for img in images)
    back = open_paired(str(two_folders), 40, 3, 1, "BtoA")  # B is the input now; A becomes a gray target
    assert back.read(0).shape[0] == 4
    assert torch.equal(back.read(0)[:3], data.read(0)[3:])


def test_paired_crops_and_flips_are_shared(two_folders):
    data = open_paired(str(two_folders), 40, 3, 3, "AtoB")
    batch = fixed_batches(data, 3, 8, 32)[0].float()
    assert batch.shape == (8, 6, 32, 32)
    assert (batch[:, :3] + batch[:, 3:] - 255).abs().mean() < 6  # still negatives after crop + flip


def test_train_and_translate_aligned_both_directions(tmp_path, capsys):
    rng = np.random.default_rng(1)
    aligned = tmp_path / "aligned"
    aligned.mkdir()
    for k in range(4):
        a = make_photo(rng, 40, 40)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(aligned / f"{k}.png")
    (aligned / "broken.png").write_bytes(b"nope")
    for direction in ("AtoB", "BtoA"):
        run = tmp_path / direction
        assert main(["train", "--task", "paired", "--data", str(aligned), "--direction", direction,
                     "--b-channels", "1", "--out", str(run), "--steps", "8", "--max-bad-files", "0.5", *TINY]) == 0
        assert capsys.readouterr().err.count("broken.png") == 1  # drawn, reported once, replaced
        assert json.loads((run / "log.jsonl").read_text().splitlines()[-1])["data_bad"] == 1
    Image.fromarray(make_photo(rng, 37, 51)).save(tmp_path / "x.png")
    assert main(["translate", str(tmp_path / "x.png"), str(tmp_path / "y.png"), "--checkpoint",
                 str(tmp_path / "AtoB" / "checkpoint.pt"), "--quiet"]) == 0
    out = Image.open(tmp_path / "y.png")
    assert out.size == (51, 37) and out.mode == "L"  # the B side is gray
    assert main(["translate", str(tmp_path / "x.png"), str(tmp_path / "z.png"), "--checkpoint",
                 str(tmp_path / "BtoA" / "checkpoint.pt"), "--size", "20", "--quiet"]) == 0
    assert Image.open(tmp_path / "z.png").mode == "RGB" and min(Image.open(tmp_path / "z.png").size) == 20


def test_paired_errors(tmp_path):
    with pytest.raises(Pix2GanError, match="not a folder"):
        open_paired(str(tmp_path / "none"), 32, 3, 3, "AtoB")
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "A" / "a.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "B" / "b.png")
    with pytest.raises(Pix2GanError, match="no pairs"):
        open_paired(str(tmp_path), 32, 3, 3, "AtoB")


def test_combine_A_and_B_round_trip(two_folders, tmp_path):
    r = run_script("combine_A_and_B.py", "--a", two_folders / "A", "--b", two_folders / "B", "--out",
                   tmp_path / "AB")
    assert r.returncode == 0, r.stderr
    assert "wrote 4 aligned image(s)" in r.stdout and "lonely.png" in r.stderr
    ab = Image.open(tmp_path / "AB" / "sub" / "0.png")
    a, b = split_aligned(ab)
    assert a.size == b.size == (48, 40)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(Image.open(two_folders / "A" / "sub" / "0.jpg")))
    np.testing.assert_array_equal(np.asarray(b), np.asarray(Image.open(two_folders / "B" / "sub" / "0.png")))


def test_make_colorization_set_keeps_photos_apart(tmp_path):
    rng = np.random.default_rng(2)
    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(10):
        Image.fromarray(make_photo(rng, 80, 100)).save(photos / f"p{k}.png")
    Image.fromarray(np.full((80, 100), 90, np.uint8)).save(photos / "gray.png")
    r = run_script("make_colorization_set.py", photos, tmp_path / "set", "--tile", "32", "--val", "0.3")
    assert r.returncode == 0, r.stderr
    source = lambda p: p.name.split("__")[0]  # noqa: E731
    train = {source(p) for p in (tmp_path / "set" / "train").iterdir()}
    val = {source(p) for p in (tmp_path / "set" / "val").iterdir()}
    assert train and val and not train & val and len(val) == 3
    assert "gray" not in train | val


def test_dataset_scripts_write_their_sets(tmp_path):
    r = run_script("make_moving_digits.py", tmp_path / "d.npy", "--count", "3", "--stochastic")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "d.npy").shape == (20, 3, 64, 64)
    r = run_script("make_bimodal_colors.py", tmp_path / "bm", "--count", "3")
    assert r.returncode == 0 and len(list((tmp_path / "bm").glob("*.png"))) == 3
    r = run_script("make_gray_samples.py", tmp_path / "gray")
    assert r.returncode == 0 and (tmp_path / "gray" / "camera.png").exists()


def test_datasets_command_lists_builtins(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("photos", "bimodal-colors", "moving-digits", "moving-digits-stochastic"):
        assert f"builtin:{name} " in out
