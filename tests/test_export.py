"""Export: ONNX with any batch/height/width checked in onnxruntime, its contract in the metadata, safetensors round
trip, and the docs' colorize-without-torch example."""

import shutil
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from pix2gan.cli import main
from pix2gan.colorizer import Colorizer
from pix2gan.data.moving_digits import make_moving_digits
from pix2gan.export import PARITY_SIZES, onnx_contract
from pix2gan.tasks import make_task
from pix2gan.models import load_generator

# the smallest U-Net that still has a middle level: exporting traces every level, so depth sets the test's time
SMALL = ["--size", "16", "--depth", "3", "--ngf", "4", "--ndf", "4", "--d-layers", "1", "--batch-size", "2",
         "--steps", "2", "--workers", "0", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    np.save(root / "digits.npy", make_moving_digits(6, frames=6, size=32, seed=1))
    pairs = root / "pairs"
    pairs.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        a = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(pairs / f"{k}.png")
    args = {"colorize": ["--data", "builtin:photos"],
            "nextframe": ["--task", "nextframe", "--data", str(root / "digits.npy"), "--layout", "TNHW",
                          "--context", "2", "--frame-channels", "3"],
            "paired": ["--task", "paired", "--data", str(pairs), "--b-channels", "1"]}
    for task, extra in args.items():
        assert main(["train", "--out", str(root / task), *extra, *SMALL]) == 0
    return root


@pytest.mark.parametrize("task", ["colorize", "nextframe", "paired"])
def test_onnx_matches_pytorch_at_any_size_and_says_its_contract(runs, task, capsys):
    out = runs / f"{task}.onnx"
    assert main(["export", str(out), "--checkpoint", str(runs / task / "checkpoint.pt")]) == 0
    err = capsys.readouterr().err
    assert err.count("parity at") == len(PARITY_SIZES) and "37×53" in err and "48×80" in err
    meta = onnx_contract(out)
    assert meta["pix2gan_task"] == task and "[-1, 1]" in meta["input_meaning"]
    G, cfg = load_generator(runs / task / "checkpoint.pt")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [meta["input"]]
    assert [o.name for o in session.get_outputs()] == [meta["output"]]
    for shape in [(1, 1), (3, 130), (65, 33)]:  # sizes the parity check did not try, batch 3
        x = torch.rand(3, make_task(cfg).cond_channels, *shape) * 2 - 1
        with torch.inference_mode():
            ref = G(x).numpy()
        got = session.run(None, {meta["input"]: x.numpy()})[0]
        assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-4, shape


def test_export_refusals(runs, capsys):
    ckpt = str(runs / "colorize" / "checkpoint.pt")
    assert main(["export", str(runs / "model.bin"), "--checkpoint", ckpt]) == 2
    assert "--format onnx or --format safetensors" in capsys.readouterr().err
    (runs / "taken.safetensors").write_bytes(b"x")
    assert main(["export", str(runs / "taken.safetensors"), "--checkpoint", ckpt]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", str(runs / "x.onnx"), "--checkpoint", str(runs / "nothere.pt")]) == 2
    assert "no such checkpoint file" in capsys.readouterr().err
    assert not (runs / "x.onnx").exists()


def test_safetensors_round_trip_gives_identical_outputs(runs, tmp_path):
    out = tmp_path / "colorizer.safetensors"
    assert main(["export", str(out), "--checkpoint", str(runs / "colorize" / "checkpoint.pt")]) == 0
    assert out.read_bytes()[8:9] == b"{"  # a safetensors header, no pickle
    img = Image.fromarray(np.random.default_rng(3).integers(0, 256, (29, 41), dtype=np.uint8))
    a = Colorizer.from_checkpoint(runs / "colorize" / "checkpoint.pt", "cpu")(img)
    b = Colorizer.from_checkpoint(out, "cpu")(img)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    # every command takes it: colorize from the CLI
    (tmp_path / "in").mkdir()
    img.save(tmp_path / "in" / "g.png")
    assert main(["colorize", str(tmp_path / "in"), str(tmp_path / "out"), "--checkpoint", str(out), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "g.png")), np.asarray(a))
    # and evaluate, as it takes a checkpoint of any name
    shutil.copy(runs / "colorize" / "checkpoint.pt", tmp_path / "model.pt")
    for path in (out, tmp_path / "model.pt"):
        assert main(["evaluate", "--checkpoint", str(path), "--data", "builtin:photos", "--count", "4",
                     "--json", str(tmp_path / f"{path.name}.json")]) == 0
    assert (tmp_path / "model.pt.json").read_text() == (tmp_path / "colorizer.safetensors.json").read_text()


def test_onnx_says_a_checkpoint_s_inference_defaults(runs, tmp_path):
    from pix2gan.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(runs / "colorize" / "checkpoint.pt")
    state = {k: v for k, v in state.items() if k not in ("format", "version")}
    save_checkpoint(tmp_path / "with_defaults.pt", {**state, "strength": 0.7, "size": 96, "fade_flat": True})
    assert main(["export", str(tmp_path / "m.onnx"), "--checkpoint", str(tmp_path / "with_defaults.pt")]) == 0
    meta = onnx_contract(tmp_path / "m.onnx")
    assert meta["default_strength"].startswith("0.7:") and meta["default_size"].startswith("96:")
    assert meta["default_fade_flat"].startswith("true:") and "detail_weight" in meta["default_fade_flat"]


def test_the_bundled_colorizer_exports_with_its_strength_and_size(tmp_path):
    from pix2gan.colorizer import DEFAULT_WEIGHTS

    out = tmp_path / "default.safetensors"
    assert main(["export", str(out), "--checkpoint", str(DEFAULT_WEIGHTS)]) == 0
    bundled, exported = Colorizer.default("cpu"), Colorizer.from_checkpoint(out, "cpu")
    assert (exported.strength, exported.size, exported.fade_flat) == (bundled.strength, bundled.size, bundled.fade_flat)
    img = Image.fromarray(np.random.default_rng(4).integers(0, 256, (37, 50), dtype=np.uint8))
    assert np.array_equal(np.asarray(bundled(img)), np.asarray(exported(img)))


def test_docs_onnxruntime_example_colorizes_without_torch(runs, tmp_path):
    """docs/export.md's five lines, run in a process where importing torch fails."""
    readme = (__import__("pathlib").Path(__file__).parents[1] / "docs" / "export.md").read_text()
    snippet = readme.split("<!-- onnx-example -->")[1].split("```python")[1].split("```")[0]
    assert len(snippet.strip().splitlines()) == 5
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (33, 47), dtype=np.uint8)).save(tmp_path / "camera.png")
    assert main(["export", str(tmp_path / "colorizer.onnx"), "--checkpoint",
                 str(runs / "colorize" / "checkpoint.pt")]) == 0
    code = "import sys; sys.modules['torch'] = None  # any import of torch now fails\n" + snippet
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    out = Image.open(tmp_path / "camera_color.png")
    assert out.size == (47, 33) and out.mode == "RGB"


def test_a_latent_model_exports_with_its_code_as_an_input(tmp_path):
    """ONNX takes (image, z) and gives each code's answer; the safetensors file samples as the checkpoint does."""
    assert main(["train", "--out", str(tmp_path / "run"), "--data", "builtin:photos", "--latent-dim", "3",
                 *SMALL]) == 0
    ckpt = tmp_path / "run" / "checkpoint.pt"
    out = tmp_path / "latent.onnx"
    assert main(["export", str(out), "--checkpoint", str(ckpt)]) == 0
    meta = onnx_contract(out)
    assert meta["latent"] == "z" and "(B, 3)" in meta["latent_meaning"]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["L", "z"]
    G, _ = load_generator(ckpt)
    x, z = torch.rand(2, 1, 21, 34) * 2 - 1, torch.randn(2, 3)
    with torch.inference_mode():
        ref = G(x, z).numpy()
    got = session.run(None, {"L": x.numpy(), "z": z.numpy()})[0]
    assert np.abs(got - ref).max() < 1e-4
    assert np.abs(session.run(None, {"L": x.numpy(), "z": -z.numpy()})[0] - got).max() > 1e-4  # z matters
    assert main(["export", str(tmp_path / "latent.safetensors"), "--checkpoint", str(ckpt)]) == 0
    img = Image.fromarray(np.random.default_rng(3).integers(0, 256, (29, 41), dtype=np.uint8))
    a = Colorizer.from_checkpoint(ckpt, "cpu").samples(img, 2, seed=4)
    b = Colorizer.from_checkpoint(tmp_path / "latent.safetensors", "cpu").samples(img, 2, seed=4)
    assert all(np.array_equal(np.asarray(p), np.asarray(q)) for p, q in zip(a, b))


def test_an_export_that_differs_from_pytorch_is_not_written(runs, tmp_path, capsys, monkeypatch):
    """onnxruntime made to answer 0.01 off: refused at the default tolerance (nothing written), accepted above it."""
    import onnxruntime

    run = onnxruntime.InferenceSession.run
    monkeypatch.setattr(onnxruntime.InferenceSession, "run", lambda self, *a, **k: [y + 0.01 for y in run(self, *a, **k)])
    out = tmp_path / "off.onnx"
    assert main(["export", str(out), "--checkpoint", str(runs / "colorize" / "checkpoint.pt")]) == 2
    err = capsys.readouterr().err
    assert f"error: {out}: not written: the exported model differs from PyTorch by 1.00e-02 (> 0.001)" in err
    assert not out.exists() and not list(tmp_path.iterdir())
    assert main(["export", str(out), "--checkpoint", str(runs / "colorize" / "checkpoint.pt"), "--tolerance",
                 "0.02"]) == 0
    assert out.exists()
