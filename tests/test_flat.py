"""Colour faded over flat areas (``Colorizer(fade_flat=True)``, ``pix2gan colorize --flat``): the guess is kept where
the photo has detail, faded towards gray where it has none, changing at the photo's own edges."""

import numpy as np
import pytest
import skimage.color
import torch
from PIL import Image

from pix2gan import Colorizer
from pix2gan.cli import main
from pix2gan.tasks.colorize import detail_weight


def half_flat(h: int = 128, w: int = 128, seed: int = 0) -> torch.Tensor:
    """L/50 − 1 ``(1, 1, h, w)``: the left half one flat gray, the right half fine texture around another."""
    light = torch.full((1, 1, h, w), -0.2)
    noise = torch.rand(1, 1, h, w - w // 2, generator=torch.Generator().manual_seed(seed))
    light[..., w // 2:] = 0.3 + 0.8 * (noise - 0.5)
    return light


def test_detail_weight_fades_a_flat_half_and_keeps_a_textured_one_changing_at_their_edge():
    w = detail_weight(half_flat())
    assert w.shape == (1, 1, 128, 128) and 0 <= w.min() and w.max() <= 1
    assert w[..., :, :44].max() < 0.05  # flat: faded, from 20 pixels off the edge (the filter's reach)
    assert w[..., :, 66:].mean() > 0.6 and w[..., :, 66:].min() > 0.3  # detail: kept
    # the same detail under a plain box of the same radius glows into the flat half; the guided filter, steered by the
    # photo's edge, keeps about half of that 4 pixels from it
    import kornia

    from pix2gan.tasks.colorize import FLAT_FULL, FLAT_KNEE, FLAT_RADIUS

    g = kornia.filters.sobel(half_flat())
    box = kornia.filters.box_blur(g / (g + FLAT_KNEE), 2 * round(FLAT_RADIUS * 128) + 1) / FLAT_FULL
    assert w[..., 64, 60] < 0.6 * box[..., 64, 60]


@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (3, 7), (40, 1)])
def test_detail_weight_on_tiny_images(shape):
    w = detail_weight(torch.rand(1, 1, *shape, generator=torch.Generator().manual_seed(1)) * 2 - 1)
    assert w.shape == (1, 1, *shape) and torch.isfinite(w).all() and 0 <= w.min() and w.max() <= 1


class Constant(torch.nn.Module):
    """A generator painting every pixel the same ab (a strong orange)."""

    def forward(self, x):
        return torch.tensor([0.3, 0.4]).view(1, 2, 1, 1).expand(x.shape[0], 2, *x.shape[-2:])


def chroma(img: Image.Image) -> np.ndarray:
    lab = skimage.color.rgb2lab(np.asarray(img.convert("RGB")) / 255)
    return np.hypot(lab[..., 1], lab[..., 2])


def test_the_colorizer_fades_the_guess_over_flat_areas_only_when_asked():
    light = half_flat(96, 128)
    gray = Image.fromarray(np.round((light[0, 0].numpy() + 1) * 50 * 2.55).astype(np.uint8))
    kept = chroma(Colorizer(Constant(), 96, "cpu", 1.0, backend="torch")(gray))
    faded = chroma(Colorizer(Constant(), 96, "cpu", 1.0, backend="torch", fade_flat=True)(gray))
    assert kept[:, :56].mean() > 40 and kept[:, 72:].mean() > 40  # as painted everywhere
    assert faded[:, :56].mean() < 0.1 * kept[:, :56].mean()  # flat: towards gray
    assert faded[:, 72:].mean() > 0.9 * kept[:, 72:].mean()  # detail: kept


def test_colour_points_are_followed_on_a_faded_flat_wall():
    wall = Image.fromarray(np.full((64, 96), 140, np.uint8))
    model = Colorizer.default("cpu", fade_flat=True)
    assert chroma(model(wall)).mean() < 3  # the unsteered guess: (nearly) gray
    blue = model(wall, hints=model.hints(96, 64, [{"x": 48, "y": 32, "color": "#3060c0", "size": 5}]))
    lab = skimage.color.rgb2lab(np.asarray(blue) / 255)[32, 48]
    assert lab[2] < -20  # the clicked blue (b* < 0) is there


def test_flat_option_and_the_file_s_own_default(tmp_path, capsys):
    from pix2gan.colorizer import DEFAULT_WEIGHTS

    assert Colorizer.default("cpu").fade_flat == bool(torch.load(DEFAULT_WEIGHTS, weights_only=True).get("fade_flat"))
    assert not Colorizer.default("cpu", fade_flat=False).fade_flat
    wall = np.full((48, 64), 120, np.uint8)
    wall[:, 32:] = np.random.default_rng(0).integers(60, 200, (48, 32))
    Image.fromarray(wall).save(tmp_path / "in.png")
    for flat in ("fade", "keep"):
        assert main(["colorize", str(tmp_path / "in.png"), str(tmp_path / f"{flat}.png"), "--flat", flat,
                     "--strength", "1", "--quiet"]) == 0
    fade, keep = chroma(Image.open(tmp_path / "fade.png")), chroma(Image.open(tmp_path / "keep.png"))
    assert fade[:, :24].mean() < 0.5 * keep[:, :24].mean()
    with pytest.raises(SystemExit) as bad:  # argparse's own one-line usage error
        main(["colorize", str(tmp_path / "in.png"), str(tmp_path / "x.png"), "--flat", "some"])
    assert bad.value.code == 2 and "--flat" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def test_replace_changes_settings_and_shares_the_network():
    from pix2gan.errors import Pix2GanError

    model = Colorizer(Constant(), 96, "cpu", 1.0, backend="torch", fade_flat=True)
    other = model.replace(strength=0.5, size=64, fade_flat=False)
    assert (other.strength, other.size, other.fade_flat, other.G) == (0.5, 64, False, model.G)
    assert (model.strength, model.size, model.fade_flat) == (1.0, 96, True)
    with pytest.raises(Pix2GanError, match="--strength"):
        model.replace(strength=-1)
    with pytest.raises(TypeError, match="backend"):
        model.replace(backend="fast")
