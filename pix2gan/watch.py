"""Watching a run in TensorBoard: ``RUN/tb/`` event files written from the same records as ``log.jsonl`` (which
stays the source of truth) and the same sample PNGs, live (``train --tensorboard``) or afterwards (``pix2gan inspect
RUN --tensorboard``), so both give the same curves. ``tensorboard --logdir runs/`` overlays runs side by side."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from pix2gan.diagnostics import ADVICE, read_log
from pix2gan.errors import Pix2GanError
from pix2gan.rundir import RunDir

#: TensorBoard sections, by the log keys they hold (first match wins; anything else goes under "other/").
SECTIONS = [
    ("validation", re.compile(r"^val_")),
    ("loss", re.compile(r"^(d_loss|g_loss|g_adv|g_recon|g_gdl|gp|r1)$")),
    ("latent", re.compile(r"^(c_loss|g_code|g_latent|g_adv_sampled)$")),
    ("discriminator", re.compile(r"^(d_real|d_fake|d_acc_real|d_acc_fake)$")),
    ("gradients", re.compile(r"^(grad_|g_grad_norm|d_grad_norm)")),
    ("generator", re.compile(r"^diversity$")),
    ("schedule", re.compile(r"^(lr|sec)$")),
    ("data", re.compile(r"^data_")),
]
SAMPLE = re.compile(r"^step_(\d+)\.png$")


def tag(key: str) -> str:
    """The TensorBoard tag of a log key: ``section/key``."""
    section = next((name for name, pattern in SECTIONS if pattern.search(key)), "other")
    return f"{section}/{key.removeprefix('val_') if section == 'validation' else key}"


class EventLog:
    """``folder``'s TensorBoard events: :meth:`record` takes a log.jsonl record, :meth:`sample` a sample PNG.
    ``purge_step``: a resumed run hides the events an earlier process logged at or after that step (they were
    trimmed from log.jsonl too)."""

    def __init__(self, folder: Path, purge_step: int | None = None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise Pix2GanError("--tensorboard needs the tensorboard package: pip install tensorboard (or "
                               "pip install -e \".[watch]\")") from None
        self.writer = SummaryWriter(str(folder), purge_step=purge_step)
        self.phase: str | None = None

    def record(self, record: dict) -> None:
        step = record["step"]
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(tag(key), value, step)
        for warning in record.get("warnings", []):
            self.writer.add_text("warnings", f"**{warning}** (step {step}): {ADVICE.get(warning, '')}", step)
        if record.get("phase") not in (None, self.phase):
            self.phase = record["phase"]
            self.writer.add_text("phase", f"step {step}: {self.phase}", step)

    def sample(self, step: int, path: Path) -> None:
        """The sample grid PNG written at ``step`` (rows of input | output | target)."""
        with Image.open(path) as img:
            self.writer.add_image("samples", np.asarray(img.convert("RGB")), step, dataformats="HWC")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def has_events(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("events.out.tfevents.*"))


def convert(run_dir: Path) -> tuple[Path, int, int]:
    """Write ``RUN/tb/`` from an existing run's log.jsonl and samples/ (for runs trained without
    ``--tensorboard``); returns (folder, records, samples). Refuses when the folder already holds events."""
    run = RunDir(run_dir)
    run.read_config()  # a run folder, or one line saying it is not
    folder = run.path / "tb"
    if has_events(folder):
        raise Pix2GanError(f"{folder}: already holds TensorBoard events; remove it to convert log.jsonl again")
    records = [r for r in read_log(run_dir) if "step" in r]
    samples = sorted((int(m[1]), p) for p in run.samples.glob("step_*.png") if (m := SAMPLE.match(p.name)))
    events = EventLog(folder)
    try:
        for record in records:
            events.record(record)
        for step, path in samples:
            events.sample(step, path)
    finally:
        events.close()
    return folder, len(records), len(samples)
