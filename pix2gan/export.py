"""Export a trained generator: ONNX (any batch, height and width) or safetensors (weights + JSON config).

The ONNX graph is the generator in inference form (eval mode: dropout removed, batch norm on its running
statistics); its pre/post-processing contract is written in the model's metadata (:func:`contract`). Before the file
is written, onnxruntime runs it at two odd sizes and its output must match PyTorch's within ``tolerance``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from pix2gan.checkpoint import save_safetensors
from pix2gan.files import atomic_write_bytes
from pix2gan.config import TrainConfig
from pix2gan.errors import Pix2GanError
from pix2gan.hints import AB_BINS, REFERENCE_DIM
from pix2gan.tasks import make_task

#: Sizes (H, W) the exported model is checked at: odd, and not multiples of any level's stride.
PARITY_SIZES = ((37, 53), (48, 80))
FORMATS = ("onnx", "safetensors")


def contract(cfg: TrainConfig) -> dict[str, str]:
    """What the exported model takes and gives, for the task of ``cfg`` (also the ONNX input/output names); a
    model with a latent code takes the code as a second input."""
    terms = make_task(cfg).contract()
    if cfg.latent_dim:
        terms.update(latent="z", latent_meaning=f"(B, {cfg.latent_dim}) float32: the latent code, one draw from "
                                                f"N(0, I) per answer (zeros: the prior's mean)")
    if getattr(cfg, "hints", False):
        terms.update(reference="reference", reference_meaning=(
            f"(B, {REFERENCE_DIM}) float32: a reference photo's colours (all zeros: none): its a*, b* histogram "
            f"over {AB_BINS}x{AB_BINS} bins of width 20 from -110 (row-major, a* first; sums to 1), its mean "
            f"chroma sqrt(a*^2 + b*^2)/110, and 1"))
    return terms


class _Inputs(torch.nn.Module):
    """``G`` with its extra inputs by position: ``forward(x, *extra)`` is ``G(x, **dict(zip(names, extra)))``."""

    def __init__(self, G: torch.nn.Module, names: list[str]):
        super().__init__()
        self.G, self.names = G, names

    def forward(self, x, *extra):
        return self.G(x, **dict(zip(self.names, extra)))


def export_safetensors(G: torch.nn.Module, cfg: TrainConfig, out: Path, defaults: dict | None = None) -> None:
    """The generator's weights (fp32), its config and its inference ``defaults`` (``strength``, ``size``), written
    atomically."""
    import dataclasses

    save_safetensors(out, {k: v.float() if v.is_floating_point() else v for k, v in G.state_dict().items()},
                     dataclasses.asdict(cfg), defaults)


def export_onnx(G: torch.nn.Module, cfg: TrainConfig, out: Path, tolerance: float = 1e-3,
                log=print, defaults: dict | None = None) -> float:
    """Export ``G`` (eval mode, CPU) with dynamic batch, height and width; check it in onnxruntime at
    :data:`PARITY_SIZES` and write ``out`` only when the largest difference is at most ``tolerance``.

    Returns the largest absolute difference found.
    """
    import dataclasses

    try:
        import onnx
        import onnxruntime as ort
    except ImportError as e:
        raise Pix2GanError(f"ONNX export needs onnx, onnxscript and onnxruntime ({e.name} is missing): "
                           f"pip install -e \".[export]\"") from None
    G = G.float().cpu().eval()
    terms = contract(cfg)
    task = make_task(cfg)
    example = torch.zeros(1, task.cond_channels, *PARITY_SIZES[0])
    batch_dim = torch.export.Dim("batch", min=1, max=4096)
    dims = {0: batch_dim, 2: torch.export.Dim("height", min=1, max=65536), 3: torch.export.Dim("width", min=1, max=65536)}
    # a latent model's code is an input (every answer from one file), and so is a hint model's reference
    extra = {name: dim for name, dim in (("z", cfg.latent_dim), ("reference", REFERENCE_DIM if cfg.hints else 0))
             if dim}
    module = _Inputs(G, list(extra)).eval()
    args = (example, *(torch.zeros(1, dim) for dim in extra.values()))
    shapes = (dims, tuple({0: batch_dim} for _ in extra)) if extra else (dims,)  # (x, the tuple *extra)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(module, args, path, dynamo=True, dynamic_shapes=shapes, verbose=False,
                          input_names=[terms["input"], *extra], output_names=[terms["output"]])
        model = onnx.load(str(path))
    meta = {"pix2gan_task": cfg.task, "pix2gan_config": json.dumps(dataclasses.asdict(cfg)), **terms}
    if defaults and "strength" in defaults:
        meta["default_strength"] = f"{defaults['strength']:g}: multiply the output by this before use (0 = gray)"
    if defaults and defaults.get("fade_flat"):
        meta["default_fade_flat"] = ("true: before the strength, multiply the output by "
                                     "pix2gan.tasks.colorize.detail_weight(L) (colour faded over flat areas)")
    if defaults and "size" in defaults:
        meta["default_size"] = f"{defaults['size']}: predict at this short side, then upsample the output"
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    data = model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    worst = 0.0
    gen = torch.Generator().manual_seed(0)
    for batch, (h, w) in enumerate(PARITY_SIZES, 1):
        x = torch.rand(batch, task.cond_channels, h, w, generator=gen) * 2 - 1
        if cfg.hints:  # hints as a user gives them: a 0/1 mask, ab where it is 1 (the fill divides by the mask)
            x[:, 3] = (x[:, 3] > 0.8).float()
            x[:, 1:3] *= x[:, 3:4]
        inputs = {terms["input"]: x}
        for name, dim in extra.items():
            inputs[name] = torch.randn(batch, dim, generator=gen) if name == "z" else torch.rand(batch, dim, generator=gen)
        with torch.inference_mode():
            ref = module(*inputs.values()).numpy()
        got = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
        diff = float(np.abs(got - ref).max())
        log(f"parity at {batch}×{task.cond_channels}×{h}×{w}: max |onnxruntime − PyTorch| = {diff:.2e}")
        worst = max(worst, diff)
    if worst > tolerance:
        raise Pix2GanError(f"{out}: not written: the exported model differs from PyTorch by {worst:.2e} "
                           f"(> {tolerance:g})")
    atomic_write_bytes(out, data)
    return worst


def onnx_contract(path: Path) -> dict[str, str]:
    """The metadata an exported ONNX file carries (see :func:`contract`)."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
