"""The colorize backends: the fast one's table-driven conversions and pipelined folder against the torch reference
path (values against the reference, one-line failures, nothing half-written)."""

import numpy as np
import pytest
import torch
from PIL import Image

from pix2gan.batch import plan, process_pipelined
from pix2gan.cli import main
from pix2gan.colorizer import Colorizer
from pix2gan.errors import Pix2GanError
from pix2gan.models import check_backend
from pix2gan.runtime import CoreSharing
from pix2gan.tasks.colorize import ColorizeTask, lab_to_srgb_u8, lightness_u8

from helpers import gray


def test_lightness_from_tables_is_the_reference():
    task = ColorizeTask()
    levels = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    torch.testing.assert_close(lightness_u8(levels), task.cond(levels.expand(1, 3, -1, -1)), rtol=0, atol=0)
    rgb = torch.randint(0, 256, (2, 3, 9, 11), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(lightness_u8(rgb), task.cond(rgb), rtol=0, atol=1e-6)
    assert lightness_u8(levels).shape == (1, 1, 16, 16)


def test_srgb_from_tables_is_the_reference_within_one_level():
    gen = torch.Generator().manual_seed(1)
    light = torch.rand(1, 1, 40, 50, generator=gen) * 2 - 1
    ab = (torch.rand(1, 2, 40, 50, generator=gen) * 2 - 1) * 0.9  # far out of gamut too: both clip the same way
    fast = lab_to_srgb_u8(light, ab)
    ref = ColorizeTask().to_pixels(light, ab)[0].permute(1, 2, 0)
    assert fast.shape == (40, 50, 3) and fast.dtype == torch.uint8 and fast.is_contiguous()
    diff = (fast.int() - ref.int()).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 0.01
    zero = lab_to_srgb_u8(light, torch.zeros_like(ab)).int()  # no colour: gray (R, G, B within a level)
    assert (zero.amax(-1) - zero.amin(-1)).max() <= 1


def test_fast_and_torch_colorizers_give_the_same_colours(tiny_run):
    fast = Colorizer.from_checkpoint(tiny_run / "checkpoint.pt", "cpu", backend="fast")
    ref = Colorizer.from_checkpoint(tiny_run / "checkpoint.pt", "cpu", backend="torch")
    assert (fast.backend, ref.backend) == ("fast", "torch")
    rng = np.random.default_rng(0)
    gray_img = Image.fromarray(rng.integers(0, 256, (30, 41), dtype=np.uint8))
    rgba = Image.fromarray(rng.integers(0, 256, (17, 23, 4), dtype=np.uint8), "RGBA")
    for img in (gray_img, rgba, gray_img.convert("LA"), gray_img.convert("P")):
        a, b = np.asarray(fast(img)), np.asarray(ref(img))
        assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1, img.mode
    assert np.array_equal(np.asarray(fast(rgba))[..., 3], np.asarray(rgba)[..., 3])  # alpha kept
    deep = Image.fromarray((rng.random((12, 14)) * 65535).astype(np.uint16))  # 16-bit: the float path on both
    assert np.array_equal(np.asarray(fast(deep)), np.asarray(ref(deep)))
    with pytest.raises(Pix2GanError, match="--backend 'onnx': choose one of auto, fast, bf16, torch"):
        check_backend("onnx")


def test_a_resize_model_on_the_fast_backend_gives_the_reference_colours():
    import copy

    from pix2gan.config import TrainConfig
    from pix2gan.models import build_generator
    from pix2gan.nets.unet import FoldedResizeUp

    torch.manual_seed(0)
    G = build_generator(TrainConfig(depth=4, ngf=8, upsample="resize")).eval()
    fast = Colorizer(copy.deepcopy(G), 40, "cpu", strength=0.7, backend="fast")
    ref = Colorizer(G, 40, "cpu", strength=0.7, backend="torch")
    assert any(isinstance(m, FoldedResizeUp) for m in fast.G.modules())  # its output layer, folded
    assert not any(isinstance(m, FoldedResizeUp) for m in ref.G.modules())
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (45, 61), dtype=np.uint8))
    a, b = np.asarray(fast(img)).astype(int), np.asarray(ref(img)).astype(int)
    assert a.shape == b.shape == (45, 61, 3) and np.abs(a - b).max() <= 1
    # several at once: those of one working size in one batch, the others alone, each as if alone
    imgs = [img, Image.fromarray(rng.integers(0, 256, (45, 61, 4), dtype=np.uint8), "RGBA"),
            Image.fromarray(rng.integers(0, 256, (30, 50), dtype=np.uint8)),
            Image.fromarray((rng.random((45, 61)) * 65535).astype(np.uint16)), img.transpose(Image.FLIP_LEFT_RIGHT)]
    calls = []
    fast.G.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    together = [finish() for finish in fast.many_later(imgs)]
    assert sorted(calls) == [1, 1, 3]  # the three 45 × 61 8-bit images in one pass
    for alone, out in zip(imgs, together):
        assert out.mode == fast(alone).mode and np.abs(np.asarray(out, int) - np.asarray(fast(alone), int)).max() <= 1


@pytest.mark.parametrize("argv, policy", [(["colorize", "a", "b"], "PASSIVE"),
                                          (["translate", "a", "b", "--backend=fast"], "PASSIVE"),
                                          (["colorize", "a", "b", "--backend", "torch"], None),
                                          (["train", "--data", "x"], None)])
def test_pipelined_commands_let_idle_threads_sleep_before_torch_loads(argv, policy):
    import json
    import os
    import subprocess
    import sys

    code = ("import json, os, sys; from pix2gan import cli; assert 'torch' not in sys.modules; "
            f"cli._idle_threads_sleep({argv!r}); print(json.dumps(os.environ.get('OMP_WAIT_POLICY')))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == policy
    mine = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                          capture_output=True, text=True, check=True).stdout
    assert json.loads(mine) == "ACTIVE"  # the user's own setting wins


@pytest.mark.parametrize("native", [True, False])
def test_bf16_runs_where_the_cpu_has_it_natively_and_keeps_the_colours(tiny_run, tmp_path, capsys, monkeypatch,
                                                                       native):
    import skimage.color

    import pix2gan.runtime

    monkeypatch.setattr(pix2gan.runtime, "cpu_has_native_bf16", lambda: native)  # (emulated elsewhere: slow, same)
    assert check_backend("auto") == ("bf16" if native else "fast") and check_backend("auto", "cuda") == "fast"
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        gray(src / f"{i}.png")
    ckpt = str(tiny_run / "checkpoint.pt")
    assert main(["colorize", str(src), str(tmp_path / "ref"), "--checkpoint", ckpt, "--backend", "torch",
                 "--quiet"]) == 0
    code = main(["colorize", str(src), str(tmp_path / "bf16"), "--checkpoint", ckpt, "--backend", "bf16", "--quiet",
                 "--verbose"])
    err = capsys.readouterr().err
    if not native:
        assert code == 2 and "--backend bf16: this CPU has no native bf16" in err and len(err.splitlines()) == 1
        assert not (tmp_path / "bf16").exists()
        return
    assert code == 0 and "backend: bf16" in err
    for i in range(3):
        a, b = (skimage.color.rgb2lab(np.asarray(Image.open(tmp_path / k / f"{i}.png").convert("RGB")) / 255)
                for k in ("ref", "bf16"))
        assert skimage.color.deltaE_ciede2000(a, b).mean() < 1.0  # the bound on "the same colours"


def test_the_cli_backends_write_the_same_files_and_report_failures_alike(tiny_run, tmp_path, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png", "c.png"):
        gray(src / name)
    (src / "broken.png").write_bytes(b"not an image")
    outs = {}
    for backend in ("torch", "fast"):
        out = tmp_path / backend
        code = main(["colorize", str(src), str(out), "--checkpoint", str(tiny_run / "checkpoint.pt"), "--backend",
                     backend, "--quiet", "--verbose"])
        err = capsys.readouterr()
        assert code == 1 and "colorized 3, skipped 0" in err.out and "failed 1" in err.out
        assert f"error: {src / 'broken.png'}: not an image" in err.err and f"backend: {backend}" in err.err
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png", "c.png", "sub/b.png"]
        outs[backend] = out
    for name in ("a.png", "sub/b.png", "c.png"):
        a, b = (np.asarray(Image.open(outs[k] / name)).astype(int) for k in ("torch", "fast"))
        assert np.abs(a - b).max() <= 1
    assert main(["colorize", str(src), str(outs["fast"]), "--checkpoint", str(tiny_run / "checkpoint.pt"),
                 "--quiet"]) == 1
    assert "colorized 0, skipped 3" in capsys.readouterr().out  # existing outputs are skipped


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_pipeline_failure_at_any_stage_is_one_line_and_nothing_half_written(tmp_path, capsys, batch):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        (src / f"{i}.png").write_text(str(i))
    pairs = [(s, d, 0) for s, d in plan(src, tmp_path / "out")]

    def load(path):
        if path.name == "1.png":
            raise Pix2GanError(f"{path}: cannot decode")
        return int(path.read_text())

    def compute(value, sample):
        if value == 3:
            raise ValueError("no three")
        return value

    def save(value, tmp):
        tmp.write_text("half")
        if value == 5:
            raise OSError(28, "No space left on device")
        tmp.write_text(str(value * 10))

    batches = []

    def compute_many(values):  # fails as a whole when one of its files does
        batches.append(list(values))
        return [compute(v, 0) for v in values]

    timings = []
    summary = process_pipelined(pairs, load, compute, save, progress=False, timing=lambda *t: timings.append(t),
                                compute_many=compute_many, batch=batch)
    err = capsys.readouterr().err
    assert summary.done == 3 and len(summary.failed) == 3 and len(err.splitlines()) == 3
    # files of a batch whose decoding failed are left out of it; a batch that failed went again one by one
    assert batches == {1: [], 2: [[2, 3], [4, 5]], 3: [[0, 2], [3, 4, 5]]}[batch]
    assert (batch > 1 or len(timings) >= 1) and len(timings) <= 4  # computes after a save (batches: may be none)
    assert all(c >= 0 and b >= 0 for c, b in timings)
    assert f"{src / '1.png'}: cannot decode" in err and f"{src / '3.png'}: ValueError: no three" in err
    assert f"{tmp_path / 'out' / '5.png'}: cannot write (No space left on device)" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "2.png", "4.png"]  # no temporaries
    assert [(tmp_path / "out" / f"{i}.png").read_text() for i in (0, 2, 4)] == ["0", "20", "40"]


def test_the_network_spares_a_core_for_the_writer_unless_it_is_the_bottleneck(monkeypatch):
    monkeypatch.setattr(torch, "set_num_threads", lambda n: setattr(torch, "_test_threads", n))
    monkeypatch.setattr(torch, "get_num_threads", lambda: torch._test_threads)
    monkeypatch.setattr(torch, "_test_threads", 4, raising=False)
    for network_s, beside_s, after in ((2.0, 1.0, 4), (1.2, 1.0, 3)):
        with CoreSharing(probe=3, ratio=1.5) as cores:
            assert torch.get_num_threads() == 3  # measured first with a core of their own for reader and writer
            for _ in range(2):
                cores.record(network_s, beside_s)
            assert torch.get_num_threads() == 3
            cores.record(network_s, beside_s)
            assert torch.get_num_threads() == after  # the network the bottleneck: every core; else one spared
            cores.record(0.0, 9.0)  # decided once
            assert torch.get_num_threads() == after
        assert torch.get_num_threads() == 4
