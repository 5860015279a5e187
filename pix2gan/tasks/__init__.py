"""Task adapters: how a sample becomes ``(cond, real)`` tensors and how a generator output becomes pixels again.

One small interface, used by training and inference alike (the loop never asks which task it runs):

- ``cond_channels``, ``out_channels``: known from the config alone; ``judged_channels``: the leading channels of
  the condition D and E see (colorize with hints: L alone, not the hints);
- ``to_tensors(batch, device)``: a drawn uint8 sample batch → ``(cond, real)`` in the networks' ranges;
- ``cond(pixels)``: the input part alone (inference), uint8 or float in [0, 1];
- ``to_rgb(cond, out)``, ``cond_to_rgb(cond)``: pictures ``(B, 3, H, W)`` in [0, 1] (metrics, grids);
- ``to_pixels(cond, out)``: an output as uint8 pixels (the files ``colorize``, ``predict`` and ``translate`` write);
- ``open_source(spec)``: the training or evaluation items of a folder or ``builtin:NAME`` (decoding is
  :mod:`pix2gan.data`'s job);
- ``contract()``: what an exported model takes and gives; ``command``: the inference command of its models;
  ``spread_in_ab``: whether several answers are compared in CIE ab (colour only) or in pixels.
"""

from pix2gan.tasks.colorize import ColorizeTask
from pix2gan.tasks.nextframe import NextFrameTask
from pix2gan.tasks.paired import PairedTask

TASKS = {"colorize": ColorizeTask, "nextframe": NextFrameTask, "paired": PairedTask}


def make_task(cfg):
    """The task adapter a (resolved) :class:`~pix2gan.config.TrainConfig` names."""
    return TASKS[cfg.task].from_config(cfg)


__all__ = ["TASKS", "make_task", "ColorizeTask", "NextFrameTask", "PairedTask"]
