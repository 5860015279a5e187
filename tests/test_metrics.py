"""Metrics against references: scikit-image, hand computations, and the direction blur must move them."""

import json

import kornia
import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.measure
import skimage.metrics
import torch

from pix2gan import metrics
from pix2gan.cli import main
from pix2gan.compare import parse_variant
from pix2gan.data.bimodal import HUES, SHAPE_L, hue_metrics, make_bimodal_colors
from pix2gan.errors import Pix2GanError


def batch(*arrays):
    return torch.stack([torch.from_numpy(a).permute(2, 0, 1).float() / 255 for a in arrays])


@pytest.fixture
def pair():
    img = skimage.data.astronaut()[100:164, 150:230]
    rng = np.random.default_rng(0)
    noisy = np.clip(img.astype(float) + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
    return img, noisy


def test_psnr_ssim_against_scikit_image(pair):
    img, noisy = pair
    p, t = batch(noisy), batch(img)
    ref_psnr = skimage.metrics.peak_signal_noise_ratio(img, noisy, data_range=255)
    ref_ssim = skimage.metrics.structural_similarity(img.astype(float) / 255, noisy.astype(float) / 255,
                                                     data_range=1.0, channel_axis=2, gaussian_weights=True,
                                                     sigma=1.5, use_sample_covariance=False)
    assert metrics.psnr(p, t, 1.0).item() == pytest.approx(ref_psnr, abs=1e-3)
    assert metrics.ssim(p, t, 1.0).item() == pytest.approx(ref_ssim, abs=1e-4)
    assert metrics.psnr(p * 255, t * 255, 255.0).item() == pytest.approx(ref_psnr, abs=1e-3)  # data_range explicit


def test_blur_effect_matches_scikit_image(pair):
    img, _ = pair
    gray = skimage.color.rgb2gray(img)
    ours = metrics.blur_effect(torch.from_numpy(gray)[None, None].float()).item()
    assert ours == pytest.approx(skimage.measure.blur_effect(gray), abs=1e-4)


def test_blurred_image_scores_lower_sharpness(pair):
    img, _ = pair
    sharp = batch(img)
    blurred = kornia.filters.gaussian_blur2d(sharp, (9, 9), (2.0, 2.0))
    for fn in (metrics.laplacian_variance, metrics.gradient_magnitude, metrics.high_frequency_fraction):
        assert fn(blurred).item() < 0.8 * fn(sharp).item(), fn.__name__
    assert metrics.blur_effect(blurred).item() > metrics.blur_effect(sharp).item()
    assert metrics.sharpness_difference(blurred, sharp).item() < metrics.sharpness_difference(sharp * 0.99, sharp).item()
    ratios = metrics.evaluate_images(blurred, sharp)
    assert ratios["grad_mag_ratio"] < 1 and ratios["laplacian_var_ratio"] < 1 and ratios["blur_effect_ratio"] > 1


def test_colourfulness_two_colour_image_by_hand():
    img = np.zeros((4, 4, 3), np.uint8)
    img[:, :2] = (255, 0, 0)
    img[:, 2:] = (0, 0, 255)
    # rg ∈ {255, 0}: σ 127.5, μ 127.5; yb ∈ {127.5, −255}: σ 191.25, μ −63.75
    expected = np.hypot(127.5, 191.25) + 0.3 * np.hypot(127.5, -63.75)
    assert metrics.colourfulness(batch(img)).item() == pytest.approx(expected, rel=1e-5)


def test_gray_images_have_no_colour():
    g = np.repeat(skimage.data.camera()[:32, :32, None], 3, 2)
    assert metrics.colourfulness(batch(g)).item() == pytest.approx(0, abs=1e-4)
    assert metrics.chroma(batch(g)).item() == pytest.approx(0, abs=0.05)
    assert metrics.colourfulness(batch(g)[:, :1]).item() == 0


def test_chroma_against_scikit_image():
    img = skimage.data.coffee()[:40, :40]
    lab = skimage.color.rgb2lab(img)
    assert metrics.chroma(batch(img)).item() == pytest.approx(np.hypot(lab[..., 1], lab[..., 2]).mean(), rel=1e-3)


def test_metric_shapes_and_errors():
    x = torch.rand(3, 3, 20, 24)
    for fn in (metrics.laplacian_variance, metrics.gradient_magnitude, metrics.high_frequency_fraction,
               metrics.colourfulness, metrics.chroma, metrics.blur_effect):
        assert fn(x).shape == (3,)
    with pytest.raises(ValueError, match=r"\(B, 1 or 3, H, W\)"):
        metrics.chroma(torch.rand(3, 20, 24))
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.evaluate_images(x, x[:, :, :10])


def test_bimodal_hues_have_equal_lightness_and_gray_cannot_tell_them_apart():
    images = np.stack([a for _, a in make_bimodal_colors(40, 64, seed=1)])
    lab = skimage.color.rgb2lab(images)
    ab = lab[..., 1:]
    dist = np.stack([np.linalg.norm(ab - h, axis=-1) for h in HUES])
    light = {k: lab[..., 0][dist[k] < 5] for k in (0, 1)}
    assert min(len(light[0]), len(light[1])) > 1000  # both hues occur
    assert abs(light[0].mean() - light[1].mean()) < 0.5 and abs(light[0].mean() - SHAPE_L) < 0.5
    assert abs(light[0].std() - light[1].std()) < 0.5  # same lightness distribution: the gray input has no clue
    assert 0.4 < len(light[0]) / (len(light[0]) + len(light[1])) < 0.6
    assert np.hypot(*HUES.mean(0)) < 1e-6  # the average of the two hues is gray


def test_hue_metrics_on_truth_and_on_gray():
    imgs = batch(*[a for _, a in make_bimodal_colors(4, 64, seed=2)])
    perfect = hue_metrics(imgs, imgs)
    assert perfect["hue_hit_rate"] > 0.99 and perfect["shape_chroma_ratio"] == pytest.approx(1, abs=0.01)
    gray = kornia.color.rgb_to_grayscale(imgs).expand(-1, 3, -1, -1)
    grayed = hue_metrics(gray, imgs)
    assert grayed["hue_hit_rate"] == 0 and grayed["shape_chroma_ratio"] < 0.05


def test_variant_syntax():
    v = parse_variant("l1*10+hinge")
    assert (v.recon, v.recon_weight, v.gan_loss, v.folder) == ("l1", 10.0, "hinge", "l1_10_hinge")
    assert parse_variant("l2").gan_loss is None and parse_variant("l2").recon_weight == 100
    assert parse_variant("none+nonsaturating").recon is None
    for bad, msg in [("l3", "explicit term"), ("l1+gan", "GAN loss"), ("none", "nothing to train"),
                     ("l1**2", "expected RECON")]:
        with pytest.raises(Pix2GanError, match=msg):
            parse_variant(bad)


def test_compare_and_evaluate_through_the_cli(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--data", "builtin:bimodal-colors", "--variants", "l2,l1*10+lsgan", "--steps", "4",
                 "--size", "32", "--depth", "4", "--ngf", "8", "--ndf", "8", "--batch-size", "4",
                 "--eval-count", "8", "--out", str(out), "--quiet"]) == 0
    assert {p.name for p in out.iterdir()} >= {"index.html", "metrics.csv", "metrics.json", "grid.png",
                                                "curves.png", "runs"}
    table = json.loads((out / "metrics.json").read_text())
    assert list(table) == ["l2", "l1*10+lsgan"]
    expected = {"psnr", "ssim", "l1", "sharpness_diff", "laplacian_var", "laplacian_var_ratio", "grad_mag",
                "grad_mag_ratio", "hf_fraction", "hf_fraction_ratio", "blur_effect", "blur_effect_ratio",
                "colourfulness", "colourfulness_ratio", "chroma", "chroma_ratio", "ripple", "ripple_ratio", "hue_hit_rate",
                "shape_chroma_ratio"}
    for row in table.values():
        assert set(row) == expected
    csv_lines = (out / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("variant,psnr") and len(csv_lines) == 3
    page = (out / "index.html").read_text()
    assert "<b>" in page and "l1*10+lsgan" in page and 'src="grid.png"' in page and "ripple_ratio" in page
    capsys.readouterr()

    # the same runs, evaluated again without training; then one run alone with evaluate --json
    assert main(["compare", "--runs", f"{out / 'runs' / 'l2'},{out / 'runs' / 'l1_10_lsgan'}", "--out",
                 str(tmp_path / "again"), "--eval-count", "8", "--quiet"]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["l2"]["psnr"] == pytest.approx(table["l2"]["psnr"], abs=1e-4)
    assert main(["evaluate", "--checkpoint", str(out / "runs" / "l2" / "checkpoint.pt"), "--count", "8",
                 "--json", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["psnr"] == pytest.approx(table["l2"]["psnr"], abs=1e-4)


def test_bimodal_builtin_is_drawn_at_the_training_scale_not_resampled():
    """Resampling would mix each hue with the gray around it into different lightness: a clue in the gray input."""
    from pix2gan.data.photos import open_photos

    data = open_photos("builtin:bimodal-colors", 40)
    drawn = make_bimodal_colors(2000, 40)
    assert len(data) == 2000
    for k in (0, 57, 199):
        assert torch.equal(data.read(k), torch.from_numpy(drawn[k][1]).permute(2, 0, 1))


def test_evaluate_runs_holds_one_generator_at_a_time(tmp_path, monkeypatch):
    """Comparing many runs must not keep every generator in memory: each is released before the next is loaded."""
    import gc
    import weakref

    import pix2gan.compare as compare

    out = tmp_path / "cmp"
    assert main(["compare", "--data", "builtin:bimodal-colors", "--variants", "l2,l1,l1+lsgan", "--steps", "2",
                 "--size", "32", "--depth", "4", "--ngf", "8", "--ndf", "8", "--batch-size", "4",
                 "--eval-count", "4", "--out", str(out), "--quiet"]) == 0
    alive, real_load = [], compare.load_generator

    def tracking_load(*args, **kwargs):
        gc.collect()
        assert not any(ref() is not None for ref in alive), "an earlier generator is still in memory"
        G, cfg = real_load(*args, **kwargs)
        alive.append(weakref.ref(G))
        return G, cfg

    monkeypatch.setattr(compare, "load_generator", tracking_load)
    runs = {p.name: p for p in sorted((out / "runs").iterdir())}
    results = compare.evaluate_runs(runs, None, 4)
    assert len(alive) == 3 and list(results) == list(runs)


def _upsampled_gradient(kind: str) -> torch.Tensor:
    """A smooth (linear) 48² map of 6 channels through one freshly initialised ×2 upsampling layer of ``kind``
    (``"truth"``: the map bilinearly resized), the first two output channels rescaled to ±10 Lab units of a and b
    over a flat L, with faint noise, the 16-pixel border (zero padding's) cut off: ``(1, 3, 64, 64)`` sRGB."""
    from pix2gan.nets import init_weights
    from pix2gan.nets.unet import up_layer

    torch.manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(-1, 1, 48), torch.linspace(-1, 1, 48), indexing="ij")
    feats = torch.stack([x, y, x + y, x - y, 2 * x - y, torch.ones_like(x)])[None]
    if kind == "truth":
        ab = torch.nn.functional.interpolate(feats, scale_factor=2.0, mode="bilinear")[:, :2]
    else:
        layer = up_layer(kind, 6, 2)
        init_weights(layer)
        with torch.no_grad():
            ab = layer(feats)
    ab = ab[..., 16:80, 16:80]
    ab = (ab - ab.mean((2, 3), keepdim=True)) / ab.std((2, 3), keepdim=True) * 10
    noise = torch.randn(1, 2, 64, 64, generator=torch.Generator().manual_seed(1)) * 0.5  # reality is not perfect
    lab = torch.cat([torch.full((1, 1, 64, 64), 60.0), ab + noise], 1)
    return kornia.color.lab_to_rgb(lab).clamp(0, 1)


def test_ripple_tells_a_checkerboard_upsampler_from_artefact_free_ones():
    truth = metrics.ripple(_upsampled_gradient("truth")).item()
    assert truth > 0
    assert metrics.ripple(_upsampled_gradient("resize")).item() <= 1.5 * truth
    transposed = metrics.ripple(_upsampled_gradient("transposed")).item()
    assert transposed > 100 * truth
    # ICNR starts sub-pixel convolution as nearest-neighbour upsampling: a faint 2-pixel staircase, no grid
    assert metrics.ripple(_upsampled_gradient("pixelshuffle")).item() < transposed / 100


def test_ripple_measures_stripes_in_flat_regions_only():
    y, x = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    stripes = 2 * torch.sin(x * 2 * torch.pi / 8)  # amplitude 2: mean square 2
    flat = kornia.color.lab_to_rgb(torch.stack([torch.full_like(x, 50), stripes, torch.zeros_like(x)])[None])
    assert metrics.ripple(flat).item() == pytest.approx(2.0, rel=0.1)  # less what the plane fit takes
    busy = kornia.color.lab_to_rgb(torch.stack([50 + 20 * torch.sin(x * y), stripes, torch.zeros_like(x)])[None])
    assert metrics.ripple(busy).item() == 0  # no smooth tile: nothing to see stripes on
    assert metrics.ripple(torch.rand(1, 1, 64, 64)).item() == 0  # gray
