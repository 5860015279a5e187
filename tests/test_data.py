"""Data at scale: per-item sources, seeded draws whatever the workers, stable hold-out, bad and gray files, listing
changes on resume, reduced-scale JPEG decoding."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pix2gan.checkpoint import load_checkpoint
from pix2gan.cli import main
from pix2gan.data.images import read_image
from pix2gan.data.photos import PhotoFolder
from pix2gan.data.source import Draws, StepBatches, draw_loader, fingerprint, holdout_split
from pix2gan.errors import Pix2GanError
from pix2gan.train import Trainer

from helpers import TINY, make_photo, tiny


def loader_batches(source, workers, slots=range(4), start=0, stop=3, per_step=2):
    loader = draw_loader(Draws(source, 7, 32), StepBatches(start, stop, per_step, slots), workers)
    return [batch for batch, _ in loader]


def test_draws_do_not_depend_on_workers_resume_point_or_rank_slices(photo_dir):
    source = PhotoFolder(photo_dir, 40)
    inline = loader_batches(source, 0)
    assert len(inline) == 6 and inline[0].shape == (4, 3, 32, 32) and inline[0].dtype == torch.uint8
    assert not torch.equal(inline[0], inline[1])  # every batch its own draw
    workers = loader_batches(source, 2)
    assert all(torch.equal(a, b) for a, b in zip(inline, workers))
    resumed = loader_batches(source, 1, start=1)  # a run resumed at step 1 gets step 1's batches
    assert all(torch.equal(a, b) for a, b in zip(inline[2:], resumed))
    # two ranks read disjoint slots of the global batch; together, exactly what one process reads
    rank0, rank1 = loader_batches(source, 1, range(0, 2)), loader_batches(source, 0, range(2, 4))
    assert all(torch.equal(torch.cat([a, b]), c) for a, b, c in zip(rank0, rank1, inline))


def test_holdout_is_stable_when_files_are_added():
    names = [f"photos/{i:05d}.jpg" for i in range(1000)]
    train, held = holdout_split(names, 0.1)
    assert sorted([*train, *held]) == list(range(1000)) and 70 < len(held) < 130
    more = names + [f"more/{i:05d}.jpg" for i in range(1000)]
    train2, held2 = holdout_split(sorted(more), 0.1)
    by_name = lambda names_, idx: {names_[i] for i in idx}  # noqa: E731
    assert by_name(names, held) == by_name(sorted(more), held2) & set(names)
    assert by_name(names, train) == by_name(sorted(more), train2) & set(names)
    assert [len(x) for x in holdout_split(["a", "b"], 0.01)] == [1, 1]  # never empty, never all
    with pytest.raises(Pix2GanError, match="cannot hold out"):
        holdout_split(["a"], 0.5)


def test_a_file_broken_mid_run_is_reported_once_replaced_and_counted(tmp_path, photo_dir, capsys):
    trainer = Trainer(tiny(data=str(photo_dir), steps=12, max_bad_files=0.5, workers=0), tmp_path / "run",
                      progress=False)
    (photo_dir / "p2.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # after the listing: met when drawn
    trainer.fit()
    err = capsys.readouterr().err
    assert err.count("p2.png") == 1 and "replaced by another sample" in err
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 12 and log[-1]["data_bad"] == 1
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["data"]["bad"].keys() == {"p2.png"}


def test_too_many_bad_files_stop_with_a_resumable_checkpoint(tmp_path, photo_dir, capsys):
    for name in ("p0.png", "p1.png"):
        (photo_dir / name).write_bytes(b"not an image")
    args = ["train", "--data", str(photo_dir), "--out", str(tmp_path / "run"), "--steps", "20", *TINY]
    assert main(args + ["--max-bad-files", "0.2"]) == 2
    err = capsys.readouterr().err
    assert "of 6 files could not be read" in err and "> --max-bad-files 0.2" in err and "--resume" in err
    stopped = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"]
    assert 0 < stopped < 20
    for name in ("p0.png", "p1.png"):  # fixed: the same listing, so the run resumes as it was
        Image.fromarray(make_photo(np.random.default_rng(5))).save(photo_dir / name)
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--quiet"]) == 0
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 20


def test_resume_on_a_changed_listing_is_refused_unless_allowed(tmp_path, photo_dir, capsys):
    args = ["--data", str(photo_dir), "--out", str(tmp_path / "run"), *TINY]
    assert main(["train", "--steps", "2", *args]) == 0
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["data"]["listing"]
    assert saved == fingerprint(["p0.png", "p1.png", "p2.png", "p3.png", "p4.png", "sub/p5.jpg"])
    Image.fromarray(make_photo(np.random.default_rng(9))).save(photo_dir / "new.png")
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--steps", "4", "--quiet"]) == 2
    assert "the data changed since the checkpoint" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--steps", "4", "--quiet",
                 "--allow-data-change"]) == 0
    assert "going on with the new listing" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["data"]["listing"]["count"] == 7


def test_gray_photos_are_left_out_of_colorization_with_a_count(tmp_path, photo_dir, capsys):
    gray = np.asarray(Image.fromarray(make_photo(np.random.default_rng(3))).convert("L"))
    Image.fromarray(np.repeat(gray[..., None], 3, 2)).save(photo_dir / "gray_rgb.jpg", quality=90)  # RGB, but gray
    Image.fromarray(gray).save(photo_dir / "gray_l.png")
    assert main(["train", "--data", str(photo_dir), "--out", str(tmp_path / "run"), "--steps", "10",
                 "--log-every", "1", *TINY]) == 0
    out, err = capsys.readouterr()
    assert "a gray photo" in err and "0 unreadable file(s) replaced by other samples, 2 left out as unfit" in out
    last = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    assert last["data_unfit"] == 2 and "data_bad" not in last
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["data"]
    assert state["unfit"] == ["gray_l.png", "gray_rgb.jpg"] and not state["bad"]


def test_large_jpegs_are_decoded_at_a_reduced_scale(tmp_path):
    rng = np.random.default_rng(0)
    big = np.asarray(Image.fromarray(make_photo(rng, 60, 80)).resize((1600, 1200), Image.BICUBIC))
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=92)
    full, reduced = read_image(tmp_path / "big.jpg"), read_image(tmp_path / "big.jpg", min_short=286)
    assert full.size == (1600, 1200) and reduced.size == (400, 300)  # 1/4: the smallest keeping 286 px
    assert read_image(tmp_path / "big.jpg", min_short=301).size == (800, 600)
    source = PhotoFolder(tmp_path, 286)
    x = source.read(0).float()
    ref = torch.from_numpy(np.array(full.resize((381, 286), Image.BICUBIC))).permute(2, 0, 1).float()
    assert x.shape == (3, 286, 381) and (x - ref).abs().mean() < 2.0


@pytest.mark.parametrize("task", ["colorize", "nextframe", "paired"])
def test_training_and_held_out_items_are_disjoint(tmp_path, photo_dir, task):
    from pix2gan.data.moving_digits import make_moving_digits

    if task == "nextframe":
        np.save(tmp_path / "d.npy", make_moving_digits(20, frames=6, size=32, seed=0))
        extra = dict(task=task, data=str(tmp_path / "d.npy"), layout="TNHW", context=2)
    elif task == "paired":
        (tmp_path / "ab").mkdir()
        for k in range(10):
            a = make_photo(np.random.default_rng(k), 40, 40)
            Image.fromarray(np.concatenate([a, 255 - a], 1)).save(tmp_path / "ab" / f"{k}.png")
        extra = dict(task=task, data=str(tmp_path / "ab"))
    else:
        extra = dict(data=str(photo_dir))
    t = Trainer(tiny(holdout=0.3, **extra), tmp_path / "run", progress=False)
    train, held = set(t.data.names), set(t.holdout.names)
    assert train and held and not train & held and train | held == set(t.source.names)


def test_a_listing_of_200000_names_is_two_arrays_not_200000_strings():
    """The compact listing (a synthetic one, no files): the same names, fingerprint and hold-out as a list of
    strings, in a few MB, built without holding a list of every name."""
    import gc
    import sys
    import tracemalloc

    from pix2gan.data.source import Names, fingerprint

    strings = [f"n{i // 1000:04d}/image_{i:08d}.JPEG" for i in range(200_000)] + ["é/ü ß.png"]
    tracemalloc.start()
    names = Names.from_strings(iter(strings))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    held_bytes = names.blob.nbytes + names.starts.nbytes
    as_list = sys.getsizeof(strings) + sum(sys.getsizeof(n) for n in strings)
    assert held_bytes < 0.5 * as_list and peak < 3 * held_bytes
    assert len(gc.get_referents(names)) <= 3  # the two arrays and its class: no object per name
    assert len(names) == len(strings) and names[0] == strings[0] and names[-1] == "é/ü ß.png"
    assert names[123_456] == strings[123_456] and names.index(strings[150_001]) == 150_001
    assert fingerprint(names) == fingerprint(strings)
    train, held = holdout_split(names, 0.01)
    ltrain, lheld = holdout_split(strings, 0.01)
    assert np.array_equal(train, ltrain) and np.array_equal(held, lheld) and 1500 < len(held) < 2500
    part = names.take(held[:5])
    assert list(part) == [strings[i] for i in held[:5]] and isinstance(part, Names)
