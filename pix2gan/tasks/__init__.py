"""Task adapters: how a sample becomes ``(cond, real)`` tensors and how a generator output becomes pixels again.

The training loop never asks which task it runs; it calls ``task.open_data``, ``task.to_tensors`` and
``task.to_rgb``.
"""

from pix2gan.tasks.colorize import ColorizeTask

TASKS = {"colorize": ColorizeTask}

__all__ = ["TASKS", "ColorizeTask"]
