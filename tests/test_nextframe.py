"""Next-frame prediction: the moving-digits generator, the sequence readers, training and rollout via the CLI."""

import numpy as np
import pytest
import torch
from PIL import Image

from pix2gan.cli import main
from pix2gan.data.moving_digits import make_moving_digits
from pix2gan.data.sequences import open_sequences
from pix2gan.errors import Pix2GanError
from pix2gan.losses import gdl
from pix2gan.predictor import FramePredictor

from helpers import TINY


def test_moving_digits_shapes_and_determinism():
    a = make_moving_digits(3, frames=20, size=64, seed=5)
    assert a.shape == (20, 3, 64, 64) and a.dtype == np.uint8
    assert np.array_equal(a, make_moving_digits(3, seed=5))
    assert not np.array_equal(a, make_moving_digits(3, seed=6))
    assert (a.reshape(20 * 3, -1).max(1) == 255).all()  # every frame shows digits


def direction_changes(stochastic: bool) -> int:
    """Velocity changes of a lone digit, measured from the centroids of its pixels, away from the walls."""
    frames = make_moving_digits(40, frames=20, digits=1, seed=3, stochastic=stochastic)
    changes = 0
    yy, xx = np.mgrid[0:64, 0:64]
    for i in range(frames.shape[1]):
        w = frames[:, i].astype(float)
        cen = np.stack([(w * yy).sum((1, 2)) / w.sum((1, 2)), (w * xx).sum((1, 2)) / w.sum((1, 2))], 1)
        vel = np.diff(cen, axis=0)
        free = (cen > 20) & (cen < 44)  # centroid far enough from the walls that no bounce happens
        for t in range(len(vel) - 1):
            if free[t:t + 3].all() and np.abs(vel[t + 1] - vel[t]).max() > 2.0:
                changes += 1
    return changes


def test_stochastic_digits_change_direction_and_deterministic_do_not():
    assert direction_changes(stochastic=False) == 0
    assert direction_changes(stochastic=True) >= 5


def sequences(spec, channels=1, layout="auto", min_frames=1):
    """Every sequence of ``spec`` in full, ``(T, C, H, W)`` uint8, and the source's names."""
    src = open_sequences(spec, channels, min_frames, layout)
    return [src.frames(i, 0, len(s)) for i, s in enumerate(src.sequences)], src.names


def test_readers_folder_gif_and_both_npy_layouts(tmp_path, capsys):
    seq = make_moving_digits(6, frames=8, size=32, seed=0)  # (T, N, H, W)
    np.save(tmp_path / "tnhw.npy", seq)
    np.save(tmp_path / "nthw.npy", seq.transpose(1, 0, 2, 3))
    a, _ = sequences(str(tmp_path / "tnhw.npy"), 1, "TNHW")
    b, _ = sequences(str(tmp_path / "nthw.npy"), 1, "NTHW")
    assert len(a) == len(b) == 6 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].shape == (8, 1, 32, 32) and np.array_equal(a[2][:, 0], seq[:, 2])
    with pytest.raises(Pix2GanError, match=r"could be \(T, N, H, W\) or \(N, T, H, W\).*--layout"):
        sequences(str(tmp_path / "tnhw.npy"), 1, "auto")  # 8 frames × 6 sequences: ambiguous
    np.save(tmp_path / "mm.npy", make_moving_digits(40, frames=5, size=32))  # (5, 40, ...): clearly T first
    assert len(sequences(str(tmp_path / "mm.npy"), 1, "auto")[0]) == 40
    np.save(tmp_path / "rgb.npy", np.zeros((2, 6, 16, 16, 3), np.uint8))  # (N, T, H, W, C)
    assert sequences(str(tmp_path / "rgb.npy"), 3)[0][0].shape == (6, 3, 16, 16)
    np.save(tmp_path / "float.npy", np.full((7, 16, 16), 0.5, np.float32))  # one sequence, floats in [0, 1]
    assert sequences(str(tmp_path / "float.npy"))[0][0].max() == 128
    np.save(tmp_path / "objects.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(Pix2GanError, match="not a readable .npy array"):
        sequences(str(tmp_path / "objects.npy"))

    folder = tmp_path / "clips"
    for k in range(2):
        (folder / f"clip{k}").mkdir(parents=True)
        for t in range(10, -1, -1):  # written out of order; frame2 must sort before frame10
            Image.fromarray(np.full((20, 24), 20 * t, np.uint8)).save(folder / f"clip{k}" / f"frame{t}.png")
    frames = [Image.fromarray(np.full((20, 24, 3), v, np.uint8)) for v in (0, 80, 160, 240, 250, 255)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    (folder / "tiny").mkdir()
    for t in range(2):
        Image.fromarray(np.zeros((20, 24), np.uint8)).save(folder / "tiny" / f"{t}.png")
    seqs, names = sequences(str(folder), 1)
    assert names == ["clip0", "clip1", "tiny", "anim.gif"]
    assert [s.shape for s in seqs] == [(11, 1, 20, 24), (11, 1, 20, 24), (2, 1, 20, 24), (6, 1, 20, 24)]
    assert [int(v) for v in seqs[0][:4, 0, 0, 0]] == [0, 20, 40, 60]  # natural order
    assert [int(v) for v in seqs[3][:, 0, 0, 0]] == [0, 80, 160, 240, 250, 255]
    data = open_sequences(str(folder), 1, 5)
    assert len(data) == 3 and "skipped 1 sequence(s) shorter than context + 1 = 5" in capsys.readouterr().err
    window = data.read(0, torch.Generator().manual_seed(0))  # a random window of 5 consecutive frames
    assert window.shape == (5, 1, 20, 24) and window.dtype == torch.uint8
    assert (np.diff(window[:, 0, 0, 0].numpy().astype(int)) == 20).all()
    gif = data.read(2, torch.Generator().manual_seed(1))
    assert gif[:, 0, 0, 0].tolist() in ([0, 80, 160, 240, 250], [80, 160, 240, 250, 255])


def test_npy_windows_are_memory_mapped_not_loaded(tmp_path):
    """A 200 MB .npy: listing reads its header, a window reads its frames; the process does not grow by the file."""
    import resource

    big = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.uint8, shape=(50, 250, 128, 128))
    big[:, :, :8, :8] = 7
    big.flush()
    del big
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    src = open_sequences(str(tmp_path / "big.npy"), 1, 5, "TNHW")
    for i in range(0, 250, 10):
        assert src.read(i, torch.Generator().manual_seed(i))[:, 0, 0, 0].tolist() == [7] * 5
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert len(src) == 250 and grown_mb < 50, grown_mb


def test_gdl_by_hand():
    real = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])  # a vertical edge: |dx| = 1, |dy| = 0
    flat = torch.zeros_like(real)
    assert gdl(flat, real).item() == pytest.approx(0.0 + 1.0)  # dy term 0, dx term mean |1 - 0| = 1
    assert gdl(real, real).item() == 0


def test_train_and_predict_through_the_cli(tmp_path, capsys):
    np.save(tmp_path / "digits.npy", make_moving_digits(12, frames=10, size=32, seed=2))
    run = tmp_path / "run"
    assert main(["train", "--task", "nextframe", "--data", str(tmp_path / "digits.npy"), "--layout", "TNHW",
                 "--context", "3", "--gdl-weight", "1", "--out", str(run), "--steps", "6", "--holdout", "0.25",
                 *TINY]) == 0
    assert "pix2gan predict" in capsys.readouterr().out

    frames = make_moving_digits(1, frames=5, size=64, seed=9)[:, 0]
    frames = frames[:, :37, :45]  # odd size: the U-Net pads and crops
    (tmp_path / "in").mkdir()
    for t, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / "in" / f"f{t}.png")
    out = tmp_path / "pred"
    assert main(["predict", str(tmp_path / "in"), str(out), "--checkpoint", str(run / "checkpoint.pt"),
                 "--steps", "4"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["pred_001.png", "pred_002.png", "pred_003.png",
                                                    "pred_004.png", "rollout.gif", "rollout.mp4"]
    assert Image.open(out / "pred_004.png").size == (45, 37)
    gif = Image.open(out / "rollout.gif")
    assert gif.n_frames == 3 + 4 and gif.size == (45, 37)
    assert main(["predict", str(tmp_path / "in"), str(out), "--checkpoint", str(run / "checkpoint.pt")]) == 2
    assert "already holds a prediction" in capsys.readouterr().err

    predictor = FramePredictor.from_checkpoint(run / "checkpoint.pt", device="cpu")
    pred = predictor.predict(frames, steps=3)
    assert pred.shape == (3, 37, 45) and pred.dtype == np.uint8
    np.testing.assert_array_equal(pred[:1], predictor.predict(frames, steps=1))  # rollout starts the same
    with pytest.raises(Pix2GanError, match="needs at least 3"):
        predictor.predict(frames[:2])

    # a colorize checkpoint is refused by the frame predictor
    assert main(["train", "--data", "builtin:photos", "--out", str(tmp_path / "col"), "--steps", "1", *TINY]) == 0
    with pytest.raises(Pix2GanError, match="for the 'colorize' task, not 'nextframe'"):
        FramePredictor.from_checkpoint(tmp_path / "col" / "checkpoint.pt")
