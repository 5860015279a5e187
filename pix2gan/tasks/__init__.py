"""Task adapters: how a sample becomes ``(cond, real)`` tensors and how a generator output becomes pixels again.

The training loop never asks which task it runs; it calls ``task.open_data``, ``task.to_tensors`` and
``task.to_rgb``. A task knows its channel counts (``cond_channels``, ``out_channels``) from the config alone.
"""

from pix2gan.tasks.colorize import ColorizeTask
from pix2gan.tasks.nextframe import NextFrameTask
from pix2gan.tasks.paired import PairedTask

TASKS = {"colorize": ColorizeTask, "nextframe": NextFrameTask, "paired": PairedTask}


def make_task(cfg):
    """The task adapter a (resolved) :class:`~pix2gan.config.TrainConfig` names."""
    return TASKS[cfg.task].from_config(cfg)


__all__ = ["TASKS", "make_task", "ColorizeTask", "NextFrameTask", "PairedTask"]
