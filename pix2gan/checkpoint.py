"""Checkpoints: plain state_dicts + the JSON config, written atomically, loaded with ``weights_only=True``; an
exported generator in safetensors (weights + config in its metadata) loads the same way."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import torch

from pix2gan.errors import Pix2GanError
from pix2gan.files import atomic_write_bytes

FORMAT = "pix2gan-checkpoint"
VERSION = 1


def save_checkpoint(path: Path, state: dict) -> None:
    """Atomically save ``state`` (tensors, numbers, strings, lists, dicts only) with the format marker."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **state}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, task: str | None = None, mmap: bool = False) -> dict:
    """Load a pix2gan checkpoint on the CPU with ``weights_only=True`` (no code in the file can run). ``mmap``: map
    a ``.pt`` file's tensors instead of reading them (for a look at its config; a tensor is read when touched).

    Raises:
        Pix2GanError: missing, truncated or foreign file, a pickle that asks to run code, or (with ``task``)
            a checkpoint trained for another task.
    """
    path = Path(path)
    if not path.is_file():
        raise Pix2GanError(f"{path}: no such checkpoint file")
    if path.suffix.lower() == ".safetensors":
        state = load_safetensors(path)
    else:
        state = _load_torch(path, mmap)
    if task is not None and state["config"]["task"] != task:
        raise Pix2GanError(f"{path}: a checkpoint for the {state['config']['task']!r} task, not {task!r}")
    return state


def _load_torch(path: Path, mmap: bool = False) -> dict:
    if not zipfile.is_zipfile(path):
        raise Pix2GanError(f"{path}: not a readable checkpoint (not a torch.save archive; truncated or another format)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        raise Pix2GanError(f"{path}: refused: it holds Python objects other than tensors and plain values, and "
                           f"loading them could run code") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise Pix2GanError(f"{path}: not a readable checkpoint (truncated or corrupt: {str(e).splitlines()[0]})") \
            from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise Pix2GanError(f"{path}: not a pix2gan checkpoint")
    if state.get("version", 0) > VERSION:
        raise Pix2GanError(f"{path}: written by a newer pix2gan (format {state['version']}, this one reads {VERSION})")
    return state


#: The ``format`` metadata value of a generator exported as safetensors.
SAFETENSORS_FORMAT = "pix2gan-generator"


#: Entries a checkpoint may carry beside its config that inference uses as its defaults (the bundled colorizer's
#: ``--strength``, ``--size`` and ``--flat``, chosen on held-out photos).
INFERENCE_DEFAULTS = ("strength", "size", "fade_flat")


def save_safetensors(path: Path, weights: dict, config: dict, defaults: dict | None = None) -> None:
    """Atomically write a generator's ``weights`` (tensors only, no pickle) with its JSON ``config`` (and its
    inference ``defaults``, see :data:`INFERENCE_DEFAULTS`) in the file's metadata."""
    from safetensors.torch import save

    meta = {"format": SAFETENSORS_FORMAT, "version": str(VERSION), "config": json.dumps(config)}
    if defaults:
        meta["inference_defaults"] = json.dumps(defaults)
    data = save({k: v.contiguous() for k, v in weights.items()}, metadata=meta)
    atomic_write_bytes(path, data)


def load_safetensors(path: Path) -> dict:
    """``{"config": ..., "G": weights, **inference defaults}`` from a file :func:`save_safetensors` wrote (read as
    data: nothing runs)."""
    try:
        from safetensors import safe_open
    except ImportError:
        raise Pix2GanError(f"{path}: reading .safetensors needs the safetensors package "
                           f"(pip install -e \".[export]\")") from None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            weights = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
        raise Pix2GanError(f"{path}: not a readable safetensors file ({str(e).splitlines()[0]})") from None
    if meta.get("format") != SAFETENSORS_FORMAT or "config" not in meta:
        raise Pix2GanError(f"{path}: not a pix2gan generator (its metadata has no pix2gan config)")
    return {"config": json.loads(meta["config"]), "G": weights, **json.loads(meta.get("inference_defaults", "{}"))}
