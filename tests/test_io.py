"""Checkpoints that can't run code, atomic writes, image decoding, Lab conversion against scikit-image."""

import os
import pickle
import zipfile

import numpy as np
import pytest
import skimage.color
import skimage.data
import torch
from PIL import Image

from pix2gan.checkpoint import load_checkpoint, save_checkpoint
from pix2gan.files import atomic_write_bytes
from pix2gan.data.images import alpha_channel, list_images, read_image, to_rgb_float, to_rgb_uint8
from pix2gan.errors import Pix2GanError
from pix2gan.tasks.colorize import ColorizeTask, lab_tensors_to_rgb, rgb_to_lab_tensors


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickle_carrying_code_is_refused_and_never_runs(tmp_path):
    marker = str(tmp_path / "pwned")
    torch.save({"format": "pix2gan-checkpoint", "payload": Evil(marker)}, tmp_path / "evil.pt")
    with pytest.raises(Pix2GanError, match="could run code"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not os.path.exists(marker)
    # an old-style plain pickle is not even opened
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Evil(marker)))
    with pytest.raises(Pix2GanError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "evil.pkl")
    assert not os.path.exists(marker)


def test_truncated_and_foreign_checkpoints(tmp_path):
    save_checkpoint(tmp_path / "ok.pt", {"config": {"task": "colorize"}, "w": torch.ones(3)})
    assert load_checkpoint(tmp_path / "ok.pt", task="colorize")["w"].sum() == 3
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(Pix2GanError, match="cut.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(Pix2GanError, match="not a pix2gan checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(Pix2GanError, match="for the 'colorize' task, not 'nextframe'"):
        load_checkpoint(tmp_path / "ok.pt", task="nextframe")


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    atomic_write_bytes(path, b"old")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new" * 1000)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_read_image_errors_name_the_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    Image.fromarray(skimage.data.camera()).save(tmp_path / "cut.png")
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 3])
    for name, reason in [("empty.png", "empty file"), ("text.jpg", "not an image"), ("cut.png", "cannot decode"),
                         ("missing.png", "no such file")]:
        with pytest.raises(Pix2GanError, match=f"{name}: {reason}"):
            read_image(tmp_path / name)
    Image.fromarray(skimage.data.camera()).save(tmp_path / "big.png")
    with pytest.raises(Pix2GanError, match="more than 1000 pixels, refused"):
        read_image(tmp_path / "big.png", max_pixels=1000)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.fromarray(skimage.data.astronaut()[:20, :30])
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert read_image(tmp_path / "rot.jpg").size == (20, 30)


def test_modes_convert_to_rgb(tmp_path):
    gray16 = Image.fromarray(np.array([[0, 65535], [32768, 1000]], np.uint16))
    f = to_rgb_float(gray16)
    assert f.shape == (2, 2, 3) and f[0, 1, 0] == 1.0 and abs(f[1, 0, 0] - 32768 / 65535) < 1e-6
    assert to_rgb_uint8(gray16)[0, 1].tolist() == [255, 255, 255]
    la = Image.new("LA", (3, 2), (100, 7))
    assert to_rgb_uint8(la)[0, 0].tolist() == [100, 100, 100] and alpha_channel(la)[0, 0] == 7
    assert alpha_channel(Image.new("L", (2, 2))) is None
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 255, 0))  # red
    assert to_rgb_uint8(cmyk)[0, 0].tolist() == [255, 0, 0]


def test_list_images_recursive_sorted_no_hidden(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for p in ["z.png", "a.JPG", "b/c.tif", ".hidden/x.png", "note.txt", ".dot.png"]:
        (tmp_path / p).write_bytes(b"x")
    (tmp_path / "b" / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a.JPG", "z.png", "b/c.tif"]


def test_lab_matches_scikit_image_and_round_trips():
    rgb = skimage.data.astronaut()[::8, ::8].astype(np.float32) / 255
    light, ab = rgb_to_lab_tensors(torch.from_numpy(rgb).permute(2, 0, 1)[None])
    lab_ref = skimage.color.rgb2lab(rgb)
    np.testing.assert_allclose((light[0, 0].numpy() + 1) * 50, lab_ref[..., 0], atol=0.05)
    np.testing.assert_allclose(ab[0].permute(1, 2, 0).numpy() * 110, lab_ref[..., 1:], atol=0.1)
    back = lab_tensors_to_rgb(light, ab)[0].permute(1, 2, 0).numpy()
    assert np.abs(back - rgb).max() < 2e-3
    assert light.min() >= -1 and light.max() <= 1 and ab.abs().max() <= 1


def test_colorize_task_tensors():
    batch = torch.from_numpy(skimage.data.coffee()[:32, :48]).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    cond, real = ColorizeTask().to_tensors(batch)
    assert cond.shape == (2, 1, 32, 48) and real.shape == (2, 2, 32, 48)
    gray = ColorizeTask().cond_to_rgb(cond)
    assert torch.allclose(gray[:, 0], gray[:, 1], atol=1e-3) and torch.allclose(gray[:, 1], gray[:, 2], atol=1e-3)


def test_checkpoint_is_a_plain_zip_of_tensors(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"config": {"task": "colorize"}, "G": {"w": torch.zeros(2)}})
    assert zipfile.is_zipfile(tmp_path / "c.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=True)  # plain tensors and values: the safe loader takes it
    assert state["format"] == "pix2gan-checkpoint" and state["config"] == {"task": "colorize"}
    assert torch.equal(state["G"]["w"], torch.zeros(2))
