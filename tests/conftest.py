import numpy as np
import pytest
import torch
from PIL import Image

# Tiny networks: 32 px crops, 4 U-Net levels, 8 channels. A training step takes milliseconds on 2 CPU cores.
TINY = ["--size", "32", "--depth", "4", "--ngf", "8", "--ndf", "8", "--d-layers", "2", "--batch-size", "2",
        "--quiet"]


def tiny(**kw):
    """A TrainConfig of the tiny networks above (4 steps, CPU), ``kw`` overriding."""
    from pix2gan.config import TrainConfig

    base = dict(size=32, depth=4, ngf=8, ndf=8, d_layers=2, batch_size=2, steps=4, log_every=1, sample_every=1000,
                checkpoint_every=1000, device="cpu")
    return TrainConfig(**{**base, **kw})


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


def make_photo(rng: np.random.Generator, h: int = 48, w: int = 56) -> np.ndarray:
    """A synthetic colour 'photo': a smooth colour gradient with a few saturated rectangles, uint8 (H, W, 3)."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([x, y, 1 - x * y], -1) * rng.uniform(0.4, 1.0, 3)
    for _ in range(3):
        t, l = rng.integers(0, h - 8), rng.integers(0, w - 8)
        base[t:t + 8, l:l + 8] = rng.uniform(0, 1, 3)
    return (base * 255).astype(np.uint8)


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
