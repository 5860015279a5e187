import numpy as np
import pytest
import torch
from PIL import Image

from helpers import TINY, make_photo, write_photos


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def photo_dir(tmp_path):
    """A folder of 6 small colour PNG/JPEG images (one in a sub-folder)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i in range(5):
        Image.fromarray(make_photo(rng)).save(root / f"p{i}.png")
    Image.fromarray(make_photo(rng, 40, 64)).save(root / "sub" / "p5.jpg", quality=95)
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One tiny colorize run through the CLI on generated photos, trained once for the whole session (6 steps,
    sample grids at 3 and 6): the checkpoint the command tests colorize, evaluate and break with."""
    from pix2gan.cli import main

    root = tmp_path_factory.mktemp("tiny-run")
    photos = write_photos(root / "photos", 4, seed=1)
    run = root / "run"
    assert main(["train", "--data", str(photos), "--out", str(run), "--steps", "6", "--sample-every", "3", *TINY]) == 0
    return run
