"""What several test files share: the tiny training settings, generated images, and the resume harness."""

import struct
import zlib

import numpy as np
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


def make_photo(rng: np.random.Generator, h: int = 48, w: int = 56) -> np.ndarray:
    """A synthetic colour 'photo': a smooth colour gradient with a few saturated rectangles, uint8 (H, W, 3)."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([x, y, 1 - x * y], -1) * rng.uniform(0.4, 1.0, 3)
    for _ in range(3):
        t, l = rng.integers(0, h - 8), rng.integers(0, w - 8)
        base[t:t + 8, l:l + 8] = rng.uniform(0, 1, 3)
    return (base * 255).astype(np.uint8)


def write_photos(folder, count: int, seed: int):
    """``count`` generated colour photos as ``folder/0.png`` ...; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(make_photo(rng)).save(folder / f"{i}.png")
    return folder


def gray(path, h=20, w=28):
    """A random gray PNG at ``path`` (its pixels a function of the path's length)."""
    Image.fromarray(np.random.default_rng(len(str(path))).integers(0, 256, (h, w), dtype=np.uint8)).save(path)


def png_header_only(path, width, height):
    """A PNG whose header claims width×height pixels (a decompression bomb's calling card)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def weights(trainer) -> dict:
    """Every network's weights of a trainer (G, its EMA, D, E, C: those it has), as ``NET.key``."""
    nets = trainer.nets.state_dict(("G", "G_ema", "D", "E", "C"))
    return {f"{n}.{k}": v for n, state in nets.items() for k, v in state.items()}


def straight_and_resumed(root, cfg, stop: int, extend: bool = False):
    """Trainers of ``cfg`` run to its end uninterrupted (``root/a``) and stopped at ``stop`` (checkpointed there),
    then resumed to the end (``root/b``). ``extend``: the second run is one of ``stop`` steps, resumed with more
    ``--steps`` (as ``pix2gan train --resume --steps N``)."""
    import dataclasses

    from pix2gan.train import Trainer

    straight = Trainer(cfg, root / "a", progress=False)
    straight.fit()
    if extend:
        Trainer(dataclasses.replace(cfg, steps=stop), root / "b", progress=False).fit()
        resumed = Trainer.resume(root / "b", {"steps": cfg.steps}, progress=False)
    else:
        Trainer(cfg, root / "b", progress=False).fit(stop_at=stop)
        resumed = Trainer.resume(root / "b", progress=False)
    assert resumed.step == stop
    resumed.fit()
    return straight, resumed


def assert_same_weights(a, b) -> dict:
    """Bit-identical weights of two trainers; returns them."""
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=k)
    return wa


def assert_same_checkpoints(a_path, b_path, nets=("G", "D")) -> dict:
    """The networks of two checkpoint files are bit-identical; returns the second checkpoint."""
    from pix2gan.checkpoint import load_checkpoint

    a, b = load_checkpoint(a_path), load_checkpoint(b_path)
    for net in nets:
        for k in a[net]:
            torch.testing.assert_close(a[net][k], b[net][k], rtol=0, atol=0, msg=f"{net}.{k}")
    return b
