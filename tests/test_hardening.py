"""Bad inputs through the real CLI: one line each, the batch continues; kills and resumes lose nothing."""

import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
import skimage.data
import tifffile
import torch
from PIL import Image

from pix2gan.checkpoint import load_checkpoint
from pix2gan.cli import main

from conftest import TINY


def png_header_only(path, width, height):
    """A PNG whose header claims width×height pixels (a decompression bomb's calling card)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("hard")
    assert main(["train", "--data", "builtin:photos", "--out", str(root / "run"), "--steps", "2", *TINY]) == 0
    return root / "run" / "checkpoint.pt"


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


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, photo_dir):
    """Files decoded by 2 worker processes, killed, resumed with 1: the weights of a run decoded in-process."""
    common = ["--data", str(photo_dir), "--checkpoint-every", "3", "--log-every", "1", *TINY]
    assert main(["train", "--out", str(tmp_path / "straight"), "--steps", "30", "--workers", "0", *common]) == 0

    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "pix2gan", "train", "--out", str(run), "--steps", "30",
                             "--workers", "2", *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (run / "checkpoint.pt").exists() and load_checkpoint(run / "checkpoint.pt")["step"] >= 6:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(run / "checkpoint.pt")["step"]
    assert 0 < killed_at < 30, "the run finished before it could be killed"
    # a kill during a write may leave a temporary file; the resume removes it
    assert main(["train", "--out", str(run), "--resume", "--workers", "1", "--quiet"]) == 0
    assert not [p for p in os.listdir(run) if ".tmp" in p]
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(run / "checkpoint.pt")
    for net in ("G", "D"):
        for k in a[net]:
            torch.testing.assert_close(a[net][k], b[net][k], rtol=0, atol=0, msg=f"{net}.{k}")
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 31))


@pytest.mark.parametrize("how", ["SIGTERM to the trainer", "Ctrl-C to the process group, workers included"])
def test_sigterm_checkpoints_and_exits(tmp_path, photo_dir, how):
    run = tmp_path / "term"
    proc = subprocess.Popen([sys.executable, "-m", "pix2gan", "train", "--out", str(run), "--steps", "100000",
                             "--data", str(photo_dir), "--workers", "2", "--checkpoint-every", "100000", *TINY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "config.json").exists():
        time.sleep(0.05)
    time.sleep(1.0)
    if how.startswith("SIGTERM"):
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "checkpoint saved, continue with --resume" in err
    assert load_checkpoint(run / "checkpoint.pt")["step"] > 0
