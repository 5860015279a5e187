"""Colour hints: the simulation's statistics, the hints file contract and its bad inputs, hint models in training
(resume bit-identical), in the colorizer and the CLI, and exported."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from pix2gan.cli import main
from pix2gan import colorizer
from pix2gan.colorizer import Colorizer
from pix2gan.errors import Pix2GanError
from pix2gan.hints import (AB_BINS, MAX_PATCH, P_POINT, P_REFERENCE, REFERENCE_DIM, Point, Steering,
                           colour_distribution, draw_patch, draw_point_count, follow_points, follow_reference, hint_map,
                           lightness_palette, parse_hints, reference_vector, simulate_hints, srgb_to_ab)
from pix2gan.propagate import spread
from pix2gan.data.source import Stream, seeded_generator

from helpers import TINY, assert_same_weights, gray, make_photo, straight_and_resumed, tiny


# ----------------------------------------------------------------------------------------------- the simulation
def test_point_counts_follow_the_geometric_law():
    counts = np.array([draw_point_count(seeded_generator(7, i)) for i in range(20000)])
    assert abs((counts == 0).mean() - P_POINT) < 0.01             # none 1/8 of the time
    assert abs(counts.mean() - (1 - P_POINT) / P_POINT) < 0.2      # 7 on average
    for k in (1, 5, 10):                                           # P(n ≥ k) = (1 − p)^k
        assert abs((counts >= k).mean() - (1 - P_POINT) ** k) < 0.015


def test_patches_are_uniform_in_size_and_centred_normally():
    side = 1000  # the patch is tiny beside σ = 250: its centre is the draw, clipped only beyond 2σ
    draws = np.array([draw_patch(seeded_generator(3, i), side, side) for i in range(9000)])
    tops, lefts, sizes = draws.T
    assert set(sizes) == set(range(1, MAX_PATCH + 1))
    assert np.abs(np.bincount(sizes)[1:] / len(sizes) - 1 / MAX_PATCH).max() < 0.015
    for start in (tops, lefts):
        offset = np.abs(start + (sizes - 1) // 2 - side / 2) / (side / 4)  # in σ
        assert abs((offset < 1).mean() - 0.6827) < 0.015 and abs((offset < 0.5).mean() - 0.3829) < 0.015
        assert abs(np.median(start + (sizes - 1) // 2) - side / 2) < 10
    small = np.array([draw_patch(seeded_generator(4, i), 12, 10) for i in range(500)])  # clipped inside
    assert (small[:, 0] >= 0).all() and (small[:, 0] + small[:, 2] <= 12).all() and (small[:, 1] + small[:, 2] <= 10).all()


def test_simulated_hints_hold_the_patch_mean_and_a_reference_half_of_the_time():
    ab = torch.rand(1, 2, 40, 40) * 2 - 1
    given, hinted = 0, 0
    for i in range(400):
        maps, ref = simulate_hints(ab, [seeded_generator(5, i)])
        given += int(ref[0, -1].item() == 1)
        if maps[0, 2].any():
            hinted += 1
            ys, xs = torch.nonzero(maps[0, 2], as_tuple=True)
            y, x = int(ys[0]), int(xs[0])
            assert maps[0, :2, y, x].abs().max() <= 1
    assert abs(given / 400 - P_REFERENCE) < 0.08
    assert abs(hinted / 400 - (1 - P_POINT)) < 0.06
    a, b = simulate_hints(ab, [seeded_generator(5, 3)]), simulate_hints(ab, [seeded_generator(5, 3)])
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # a pure function of the stream


def test_one_simulated_point_is_its_squares_mean():
    ab = torch.rand(1, 2, 30, 30) * 2 - 1
    for i in range(200):  # find streams that draw exactly one point; replay the draw to know where it went
        gen = seeded_generator(9, i)
        if draw_point_count(gen) != 1:
            continue
        top, left, p = draw_patch(gen, 30, 30)
        maps, _ = simulate_hints(ab, [seeded_generator(9, i)])
        want = torch.zeros(30, 30)
        want[top:top + p, left:left + p] = 1
        assert torch.equal(maps[0, 2], want)
        assert torch.allclose(maps[0, :2, top, left], ab[0, :, top:top + p, left:left + p].mean((1, 2)))
        return
    pytest.fail("no stream drew one point")


def test_the_reference_vector_is_a_histogram_with_chroma_and_indicator():
    ab = torch.zeros(2, 2, 8, 8)
    ab[1, 0] = 0.5  # a* = 55: every pixel in one bin
    v = colour_distribution(ab)
    assert v.shape == (2, REFERENCE_DIM)
    assert torch.allclose(v[:, :AB_BINS * AB_BINS].sum(1), torch.ones(2))
    assert v[0, :-2].argmax() == (AB_BINS // 2) * AB_BINS + AB_BINS // 2  # gray: the centre bin
    assert v[1, -2].item() == pytest.approx(0.5) and v[0, -2].item() == 0 and (v[:, -1] == 1).all()


# ----------------------------------------------------------------------------------------------- the hints file
def test_the_hints_contract_reads_both_colour_forms_and_sizes():
    doc = {"points": [{"x": 120, "y": 45, "color": "#3a6ea5"}, {"x": 300, "y": 210, "color": [200, 40, 40],
                                                                  "size": 9}]}
    points = parse_hints(doc, 400, 300)
    assert points == [Point(120, 45, (0x3a, 0x6e, 0xa5)), Point(300, 210, (200, 40, 40), 9)]
    assert parse_hints({"points": [p.to_json() for p in points]}, 400, 300) == points
    assert parse_hints({}, 10, 10) == [] and parse_hints({"points": []}, 10, 10) == []


@pytest.mark.parametrize("doc, message", [
    ({"points": [{"x": 10, "y": 5, "color": "#ff0000"}]}, "outside the 10×5 image"),
    ({"points": [{"x": -1, "y": 0, "color": "#ff0000"}]}, "outside"),
    ({"points": [{"x": 1.5, "y": 0, "color": "#ff0000"}]}, "must be integers"),
    ({"points": [{"x": 1, "y": 0, "color": "red"}]}, "color must be"),
    ({"points": [{"x": 1, "y": 0, "color": [300, 0, 0]}]}, "color must be"),
    ({"points": [{"x": 1, "y": 0, "color": [1, 2]}]}, "color must be"),
    ({"points": [{"x": 1, "y": 0, "color": "#ff0000", "size": -3}]}, "size must be"),
    ({"points": [{"x": 1, "y": 0, "color": "#ff0000", "size": 10 ** 9}]}, "size must be"),
    ({"points": [{"x": 1, "y": 0, "colour": "#ff0000"}]}, "unknown keys ['colour']"),
    ({"points": [{"x": 1, "y": 0}]}, "missing ['color']"),
    ({"point": []}, "unknown keys ['point']"),
    ([], "expected an object"),
])
def test_bad_hints_are_refused_in_one_line(doc, message):
    with pytest.raises(Pix2GanError, match=None) as e:
        parse_hints(doc, 10, 5, "h.json")
    assert str(e.value).startswith("h.json") and message in str(e.value)


def test_a_point_covers_its_square_at_the_models_scale():
    maps = hint_map([Point(0, 0, (255, 0, 0)), Point(99, 49, (0, 0, 255), size=20)], (50, 100), (25, 50))
    # the second: a 10×10 square at the model’s scale, centred at (24, 49), clipped by the corner to 5×5
    assert maps[0, 2, 0, 0] == 1 and maps[0, 2].sum() == 1 + 5 * 5 and maps[0, 2, 20:, 45:].all()
    assert torch.allclose(maps[0, :2, 0, 0], srgb_to_ab([(255, 0, 0)])[0])


# ----------------------------------------------------------------------------------------------- a hint model
@pytest.fixture(scope="module")
def hint_run(tmp_path_factory):
    """A tiny hint model (a few steps: these tests check the plumbing; how well a trained model follows hints is
    measured by tools/bench_hints.py)."""
    out = tmp_path_factory.mktemp("hints") / "run"
    assert main(["train", "--out", str(out), "--hints", "--steps", "4", *TINY]) == 0
    return out / "checkpoint.pt"


def test_resume_with_hints_is_bit_identical(tmp_path):
    straight, resumed = straight_and_resumed(tmp_path, tiny(hints=True, steps=6), stop=3)
    assert_same_weights(straight, resumed)


def test_training_hints_are_a_pure_function_of_seed_step_and_slot(tmp_path):
    from pix2gan.train import Trainer

    cfg = tiny(hints=True, batch_size=4, steps=2)
    a, b = Trainer(cfg, tmp_path / "a", progress=False), Trainer(cfg, tmp_path / "b", progress=False)
    cond_a, real_a, ref_a = a.batch()
    cond_b, real_b, ref_b = b.batch()
    assert cond_a.shape[1] == 4 and torch.equal(cond_a, cond_b) and torch.equal(ref_a, ref_b)
    hinted = cond_a[:, 3] > 0  # the hint map holds the truth's colour where it has a point
    assert hinted.any() and (cond_a[:, 1:3].permute(1, 0, 2, 3)[:, ~hinted] == 0).all()
    # each slot its own stream: the samples' points differ, and a slot's are its own whatever the batch around it
    assert len({tuple(torch.nonzero(m).flatten().tolist()) for m in hinted}) > 1
    maps, refs = simulate_hints(real_a, [seeded_generator(cfg.seed, 0, 0, Stream.HINTS, slot) for slot in range(4)])
    assert torch.equal(cond_a[:, 1:], maps) and torch.equal(ref_a, refs)


class Recorder(torch.nn.Module):
    """A generator that remembers what it was given."""

    def __init__(self, G):
        super().__init__()
        self.G, self.calls = G, []

    def forward(self, x, z=None, reference=None):
        self.calls.append((x.clone(), reference))
        return self.G(x, z, reference)


def test_hints_reach_the_generator_at_their_pixels_at_the_models_scale(hint_run):
    model = Colorizer.from_checkpoint(hint_run, "cpu", size=32)
    model.steer = Steering(points_to_network=True)  # (by default the points are followed after the network alone)
    model.G = Recorder(model.G)
    img = Image.fromarray(make_photo(np.random.default_rng(0), 64, 96)).convert("L")
    ref = Image.fromarray(make_photo(np.random.default_rng(1), 40, 40))
    out = model(img, hints=[{"x": 10, "y": 20, "color": "#3a6ea5"}, {"x": 95, "y": 63, "color": [200, 40, 40],
                                                                       "size": 6}], reference=ref)
    assert out.size == img.size
    (x, reference), = model.G.calls
    m = colorizer.MIRROR
    assert x.shape == (1, 4, 32 + 2 * m, 48 + 2 * m)  # the working size (short side 32) and the mirrored margin
    assert torch.equal(x[0, 0, m:-m, :m], x[0, 0, m:-m, m + 1:2 * m + 1].flip(-1))  # L mirrored at the left edge
    assert torch.equal(x[0, 0, :m, m:-m], x[0, 0, m + 1:2 * m + 1, m:-m].flip(-2))  # and at the top
    inner = torch.zeros_like(x[0, 3], dtype=torch.bool)
    inner[m:-m, m:-m] = True
    assert not x[0, 1:, ~inner].any()  # no hint in the margin
    x = x[..., m:-m, m:-m]
    mask = torch.zeros(32, 48)
    mask[10, 5] = 1            # (10, 20) → one pixel at the half scale
    mask[30:32, 46:48] = 1     # (95, 63), size 6 → a 3×3 square, clipped at the corner
    assert torch.equal(x[0, 3], mask)
    assert torch.allclose(x[0, 1:3, 10, 5], srgb_to_ab([(0x3a, 0x6e, 0xa5)])[0])
    assert torch.allclose(x[0, 1:3, 31, 47], srgb_to_ab([(200, 40, 40)])[0])
    rgb = torch.from_numpy(np.array(ref)).permute(2, 0, 1)[None].float() / 255
    assert torch.allclose(reference, reference_vector(rgb, 32)) and reference[0, -1] == 1
    model(img)  # no hints: zeros, no reference
    x, reference = model.G.calls[-1]
    assert not x[0, 1:].any() and reference is None
    model.steer = Steering()  # the default: points followed after the network, which does not see them
    model(img, hints=[{"x": 10, "y": 20, "color": "#3a6ea5"}])
    assert not model.G.calls[-1][0][0, 1:].any()


def test_the_cli_steers_a_hint_model_and_refuses_bad_hints_one_image_at_a_time(hint_run, tmp_path, capsys):
    src, hints = tmp_path / "in", tmp_path / "hints"
    (src / "sub").mkdir(parents=True)
    (hints / "sub").mkdir(parents=True)
    for name in ("a", "b", "c", "d", "sub/e"):
        gray(src / f"{name}.png")
    (hints / "a.json").write_text(json.dumps({"points": [{"x": 3, "y": 4, "color": "#ff0000", "size": 6}]}))
    (hints / "b.json").write_text("{not json")
    (hints / "c.json").write_text(json.dumps({"points": [{"x": 300, "y": 4, "color": "#ff0000"}]}))
    (hints / "sub" / "e.json").write_text(json.dumps({"points": [{"x": 3, "y": 4, "color": "#00ff00"}]}))
    (hints / "orphan.json").write_text(json.dumps({"points": []}))
    out = tmp_path / "out"
    code = main(["colorize", str(src), str(out), "--checkpoint", str(hint_run), "--hints", str(hints), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{hints / 'b.json'}: not valid JSON" in err and f"{hints / 'c.json'}: point 0: (300, 4) is outside" in err
    assert f"{hints / 'orphan.json'}: a hints file with no image" in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png", "d.png", "sub/e.png"]
    plain = tmp_path / "plain"
    assert main(["colorize", str(src / "a.png"), str(plain), "--checkpoint", str(hint_run), "--quiet"]) == 0
    assert not np.array_equal(np.asarray(Image.open(out / "a.png")), np.asarray(Image.open(plain / "a.png")))
    # one image, one file; and a reference photo
    one = tmp_path / "one.png"
    assert main(["colorize", str(src / "d.png"), str(one), "--checkpoint", str(hint_run), "--quiet",
                 "--hints", str(hints / "a.json"), "--reference", str(out / "a.png")]) == 0
    alone = tmp_path / "alone.png"
    assert main(["colorize", str(src / "d.png"), str(alone), "--checkpoint", str(hint_run), "--quiet",
                 "--hints", str(hints / "a.json")]) == 0
    assert not np.array_equal(np.asarray(Image.open(one)), np.asarray(Image.open(alone)))  # the reference counts


@pytest.mark.parametrize("argv, message", [
    (["--hints", "HINTS/a.json"], "for a folder INPUT give a folder"),
    (["--reference", "NOPE.jpg"], "NOPE.jpg: no such file"),
])
def test_bad_hint_arguments_stop_before_any_work(hint_run, tmp_path, capsys, argv, message):
    src = tmp_path / "in"
    src.mkdir()
    gray(src / "a.png")
    (tmp_path / "HINTS").mkdir()
    (tmp_path / "HINTS" / "a.json").write_text("{}")
    argv = [a.replace("HINTS", str(tmp_path / "HINTS")).replace("NOPE", str(tmp_path / "NOPE")) for a in argv]
    assert main(["colorize", str(src), str(tmp_path / "out"), "--checkpoint", str(hint_run), "--quiet", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_model_without_hint_inputs_refuses_hints(tiny_run, tmp_path, capsys):
    gray(tmp_path / "a.png")
    (tmp_path / "a.json").write_text("{}")
    assert main(["colorize", str(tmp_path / "a.png"), str(tmp_path / "o.png"), "--checkpoint",
                 str(tiny_run / "checkpoint.pt"), "--hints", str(tmp_path / "a.json"), "--quiet"]) == 2
    assert "trained without hint inputs" in capsys.readouterr().err
    with pytest.raises(Pix2GanError, match="trained without hint inputs"):
        Colorizer.from_checkpoint(tiny_run / "checkpoint.pt", "cpu")(Image.open(tmp_path / "a.png"),
                                                                     hints=[{"x": 0, "y": 0, "color": "#ffffff"}])


def test_export_carries_the_hint_inputs(hint_run, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from pix2gan.export import onnx_contract

    out = tmp_path / "m.onnx"
    assert main(["export", str(out), "--checkpoint", str(hint_run)]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape[1]) for i in session.get_inputs()] == [("L_hints", 4), ("reference", REFERENCE_DIM)]
    meta = onnx_contract(out)
    assert "mask" in meta["input_meaning"] and "histogram" in meta["reference_meaning"]
    model = Colorizer.from_checkpoint(hint_run, "cpu")
    x = torch.rand(1, 4, 24, 20) * 2 - 1
    x[:, 3] = (x[:, 3] > 0.8).float()  # hints as given: a 0/1 mask, ab where it is 1
    x[:, 1:3] *= x[:, 3:4]
    ref = colour_distribution(torch.rand(1, 2, 8, 8) * 2 - 1)
    with torch.inference_mode():
        want = model.G(x, reference=ref).numpy()
    got = session.run(None, {"L_hints": x.numpy(), "reference": ref.numpy()})[0]
    assert np.abs(got - want).max() < 1e-3
    assert math.isfinite(float(got.sum()))


def test_evaluate_runs_the_hint_sweep(hint_run, tmp_path, capsys):
    from helpers import write_photos

    photos = write_photos(tmp_path / "photos", 2, seed=0)
    out = tmp_path / "sweep.json"
    assert main(["evaluate", "--checkpoint", str(hint_run), "--data", str(photos), "--hint-sweep",
                 "--json", str(out)]) == 0
    curve = json.loads(out.read_text())
    assert list(curve) == ["0", "1", "2", "5", "10", "20", "50", "100", "200"]
    assert all(math.isfinite(r["psnr"]) and r["delta_e"] >= 0 for r in curve.values())
    assert curve["0"] != curve["200"]  # the clicks reach the model
    assert "points  psnr" in capsys.readouterr().out


def test_the_first_suggestion_is_the_colour_colorize_paints_there_even_at_the_edges():
    """The bundled model on a plain wall at its working size, default strength: the first suggestion at a corner and
    at the centre is the painted pixel's colour (the same network pass, margin and strength)."""
    wall = Image.fromarray(np.full((256, 320), 150, np.uint8)).convert("RGB")
    model = Colorizer.default("cpu", backend="torch")
    painted = np.asarray(model(wall)).astype(int)
    for x, y in ((0, 0), (319, 255), (160, 128)):
        first = np.array([int(model.suggest(wall, x, y, k=1)[0][i:i + 2], 16) for i in (1, 3, 5)])
        assert np.abs(first - painted[y, x]).max() <= 2, (x, y, first, painted[y, x])


def test_suggestions_start_with_the_models_own_colour_and_stay_apart(hint_run):
    import skimage.color

    model = Colorizer.from_checkpoint(hint_run, "cpu", size=32)
    img = Image.fromarray(make_photo(np.random.default_rng(2), 32, 32))
    colours = model.suggest(img, 10, 20, k=5)
    assert 1 <= len(colours) <= 5 and all(len(c) == 7 and c[0] == "#" for c in colours)
    painted = np.asarray(model(img))[20, 10]  # at the model's own size: the pixel's own prediction
    first = np.array([int(colours[0][i:i + 2], 16) for i in (1, 3, 5)])
    assert np.abs(first.astype(int) - painted.astype(int)).max() <= 3
    lab = skimage.color.rgb2lab(np.array([[[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colours]], np.uint8))[0]
    for i in range(len(lab)):
        for j in range(i):
            assert skimage.color.deltaE_ciede2000(lab[i], lab[j]) >= 9.5  # apart (8-bit rounding aside)
    with pytest.raises(Pix2GanError, match="outside"):
        model.suggest(img, 32, 0)


# ----------------------------------------------------------------------------------------------- steering after G
def test_spread_fills_flat_regions_and_stops_at_edges():
    light = np.full((12, 16), 0.5)
    fixed = np.zeros((12, 16), bool)
    fixed[3, 4] = True
    values = np.zeros((12, 16, 2))
    values[3, 4] = (0.3, -0.2)
    flat = spread(light, values, fixed)
    assert np.allclose(flat, (0.3, -0.2))  # one point colours a flat image whole (Levin's colorization)
    light[:, 8:] = 0.9  # an edge between two regions, a point on each side
    fixed[3, 12], values[3, 12] = True, (-0.4, 0.1)
    two = spread(light, values, fixed)
    assert np.abs(two[:, :8] - (0.3, -0.2)).max() < 0.05 and np.abs(two[:, 8:] - (-0.4, 0.1)).max() < 0.05
    assert not spread(light, values, np.zeros_like(fixed)).any()


def test_points_are_followed_exactly_and_keep_the_models_colours_around_them():
    light = torch.zeros(1, 1, 10, 14)
    light[..., 7:] = 0.6
    ab = torch.full((1, 2, 10, 14), 0.2)
    maps = torch.zeros(1, 3, 10, 14)
    maps[0, :2, 2, 2], maps[0, 2, 2, 2] = torch.tensor([-0.3, 0.4]), 1
    for keep in (0.0, 0.5, 1.0):
        out = follow_points(light, ab, maps, keep)
        assert torch.allclose(out[0, :, 2, 2], torch.tensor([-0.3, 0.4]))
    assert torch.allclose(follow_points(light, ab, maps, 1.0), torch.tensor([-0.3, 0.4]).view(1, 2, 1, 1)
                          .expand_as(ab), atol=1e-5)  # flat model colours: the point's colour everywhere
    assert torch.equal(follow_points(light, ab, torch.zeros_like(maps)), ab)  # no points: the model's colours


def test_a_reference_palette_gives_each_lightness_its_colours():
    ref = np.zeros((20, 20, 3), np.uint8)
    ref[:10], ref[10:] = (30, 40, 140), (235, 220, 60)  # a dark blue and a light yellow
    palette = lightness_palette(torch.from_numpy(ref).permute(2, 0, 1)[None].float() / 255, 32)
    assert palette.shape[0] == 16 and torch.allclose(palette.sum(1), torch.ones(16))
    light = torch.tensor([[-0.45, 0.75]]).view(1, 1, 1, 2)  # about L 27 and L 87
    gray_model = torch.zeros(1, 2, 1, 2)
    out = follow_reference(light, gray_model, palette, spread_ab=1e6)
    assert out[0, 1, 0, 0] < -0.2 and out[0, 1, 0, 1] > 0.3  # b*: blue where dark, yellow where light
    red_model = torch.tensor([0.5, 0.3]).view(1, 2, 1, 1).expand(1, 2, 1, 2)
    assert (follow_reference(light, red_model, palette, spread_ab=1e6) - out).abs().max() < 1e-4  # σ large: the mean


def test_the_colorizer_paints_the_points_colour_at_any_strength(hint_run):
    import skimage.color

    rgb = make_photo(np.random.default_rng(3), 40, 48)
    img = Image.fromarray(rgb)  # the colorizer reads its CIE L alone (PIL's gray would be another lightness)
    points = [{"x": x, "y": y, "color": [int(v) for v in rgb[y, x]]} for x, y in ((5, 6), (40, 30), (20, 33))]
    for strength in (0.0, 1.0):
        model = Colorizer.from_checkpoint(hint_run, "cpu", size=32, strength=strength)
        out = np.asarray(model(img, hints=points))
        got = skimage.color.rgb2lab(np.stack([out[p["y"], p["x"]] for p in points])[None])[0]
        want = skimage.color.rgb2lab(np.array([[p["color"] for p in points]], np.uint8))[0]
        assert skimage.color.deltaE_ciede2000(got, want).max() < 2
    raw = Colorizer.from_checkpoint(hint_run, "cpu", size=32)
    raw.steer = None  # the network's own output: the steering above is what put the colours there
    assert not np.array_equal(np.asarray(raw(img, hints=points)), out)


def test_the_memo_keeps_the_colours_before_the_points_and_nothing_else(hint_run):
    from pix2gan.colorizer import Memo

    rgb = make_photo(np.random.default_rng(4), 40, 48)
    img, ref = Image.fromarray(rgb), Image.fromarray(make_photo(np.random.default_rng(5), 30, 30))
    fresh = Colorizer.from_checkpoint(hint_run, "cpu", size=32)
    memo = Colorizer.from_checkpoint(hint_run, "cpu", size=32)
    memo.memo = Memo(2)
    one, two = [{"x": 5, "y": 6, "color": "#2a5cc8"}], [{"x": 5, "y": 6, "color": "#2a5cc8"},
                                                        {"x": 30, "y": 20, "color": "#c83030"}]
    for points, reference in ((one, None), (two, None), (two, ref), (one, ref), (None, None)):
        assert np.array_equal(np.asarray(memo(img, hints=points, reference=reference)),
                              np.asarray(fresh(img, hints=points, reference=reference)))
    assert len(memo.memo.items) == 2  # without and with the reference (the points do not reach the network)
    small = Memo(size=4, max_values=100)
    for i in range(3):
        small.put(i, torch.zeros(40))
    small.put("big", torch.zeros(101))
    assert list(small.items) == [1, 2]  # 120 numbers: the oldest dropped; one over the bound never kept


def test_spread_solves_the_same_system_in_any_order(monkeypatch):
    import pix2gan.propagate as propagate

    for h, w in ((1, 9), (7, 5), (33, 20)):
        order = propagate.dissection_order(h, w, leaf=4)
        assert sorted(order.tolist()) == list(range(h * w))
    rng = np.random.default_rng(0)
    light, values = rng.random((9, 13)), rng.random((9, 13, 2))
    fixed = rng.random((9, 13)) < 0.1
    fixed[0, 0] = True
    got = spread(light, values, fixed)
    assert np.allclose(got[fixed], values[fixed])
    for c in range(2):  # each free pixel a weighted mean of its neighbours: within the fixed values' range
        assert values[fixed, c].min() - 1e-9 <= got[~fixed, c].min() <= got[~fixed, c].max() <= \
            values[fixed, c].max() + 1e-9
    monkeypatch.setattr(propagate, "dissection_order", lambda h, w, leaf=64: np.arange(h * w))
    assert np.allclose(spread(light, values, fixed), got, atol=1e-10)  # the pixels in their own order


def test_a_spreader_gives_the_direct_solves_answer_for_each_new_point_and_stays_bounded():
    from pix2gan.propagate import SCREEN, Spreader

    rng = np.random.default_rng(1)
    light = np.clip(np.add.outer(np.linspace(0, 1, 30), np.linspace(0, 0.5, 40)) + rng.normal(0, 0.02, (30, 40)), 0, 1)
    light[:, 25:] = 0.95  # an edge the colour should stop at
    values = rng.normal(0, 0.3, (30, 40, 2))
    spreader = Spreader(light, max_columns=3)
    a, b, c, d, e = (3, 4), (20, 30), (15, 10), (28, 39), (0, 0)
    for points in ((a, b, c), (a, d), (c,), (e,), (b, d, e), (a, b)):  # several new at once, kept ones reused
        fixed = np.zeros((30, 40), bool)
        fixed[tuple(np.array(points).T)] = True
        got = spreader(values, fixed)
        assert np.allclose(got, spread(light, values, fixed, SCREEN), atol=1e-8), points
        assert np.allclose(got[fixed], values[fixed])
        assert len(spreader.columns) <= 3  # the last points' columns only
    assert np.abs(spread(light, values, fixed, SCREEN) - spread(light, values, fixed)).max() < 1e-4  # ≈ Levin's
    fixed[10:14, 10:14] = True  # more fixed pixels than it keeps columns: one direct solve, the same system
    assert np.allclose(spreader(values, fixed), spread(light, values, fixed, SCREEN), atol=1e-8)
    assert not spreader(values, np.zeros_like(fixed)).any()
