"""The bundled demonstration colorizer works right after install, with no checkpoint and no download."""

import numpy as np
import skimage.color
import skimage.data
from PIL import Image

from pix2gan import Colorizer
from pix2gan.cli import main
from pix2gan.colorizer import DEFAULT_WEIGHTS


def test_bundled_weights_are_small_fp16_and_safe():
    import torch

    assert DEFAULT_WEIGHTS.stat().st_size < 30 * 2**20
    state = torch.load(DEFAULT_WEIGHTS, weights_only=True)
    assert state["config"]["task"] == "colorize"
    assert all(v.dtype == torch.float16 for v in state["G"].values() if v.is_floating_point())


def test_colorize_without_checkpoint_gives_colour_at_the_same_size(tmp_path, capsys):
    cam = skimage.data.camera()[::2, ::2][:201, :255]  # odd, non-square
    Image.fromarray(cam).save(tmp_path / "camera.png")
    assert main(["colorize", str(tmp_path / "camera.png"), str(tmp_path / "out.png")]) == 0
    assert "bundled demonstration colorizer" in capsys.readouterr().err
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == (201, 255, 3)
    lab = skimage.color.rgb2lab(out)
    assert np.hypot(lab[..., 1], lab[..., 2]).mean() > 2.0  # colour, not gray


def test_default_colorizer_python_api():
    out = Colorizer.default(device="cpu")(Image.fromarray(skimage.data.camera()[::8, ::8]))
    assert out.size == (64, 64) and out.mode == "RGB"
