"""Evaluate a generator on held-out data: fixed crops, every metric, and the images for grids."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pix2gan.data.source import fixed_batches
from pix2gan.metrics import evaluate_images

EVAL_SEED = 20240601  # the crops drawn for evaluation: the same for every run and variant


@dataclass
class Evaluation:
    metrics: dict[str, float]
    cond: Tensor   # (N, 3, H, W) in [0, 1]: the inputs as pictures
    real: Tensor   # targets
    fake: Tensor   # predictions


@torch.inference_mode()
def evaluate(G: torch.nn.Module, task, data, *, count: int = 64, size: int = 64, device: str | torch.device = "cpu",
             extra=None) -> Evaluation:
    """Run ``G`` (eval mode) on ``count`` fixed crops of ``data``; metrics on the pixels ``task.to_rgb`` gives.

    ``extra(pred, target) -> dict`` adds set-specific figures (e.g. the bimodal set's hue hit rate).
    """
    G = G.to(device).eval()
    conds, reals, fakes = [], [], []
    for raw in fixed_batches(data, EVAL_SEED, count, size):
        cond, real = task.to_tensors(raw, device)
        fake = G(cond)
        conds.append(task.cond_to_rgb(cond).cpu())
        reals.append(task.to_rgb(cond, real).cpu())
        fakes.append(task.to_rgb(cond, fake).cpu())
    cond, real, fake = torch.cat(conds), torch.cat(reals), torch.cat(fakes)
    metrics = evaluate_images(fake, real)
    if extra is not None:
        metrics.update(extra(fake, real))
    return Evaluation(metrics, cond, real, fake)
