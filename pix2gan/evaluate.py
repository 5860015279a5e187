"""Evaluate a generator on held-out data: fixed crops, every metric, and the images for grids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pix2gan.data.source import fixed_batches
from pix2gan.metrics import evaluate_images, psnr, sample_spread

from pix2gan.nets.latent import prior_codes

EVAL_SEED = 20240601  # the crops drawn for evaluation: the same for every run and variant


@dataclass
class Evaluation:
    metrics: dict[str, float]
    cond: Tensor   # (N, 3, H, W) in [0, 1]: the inputs as pictures
    real: Tensor   # targets
    fake: Tensor   # predictions (the first sample)
    samples: Tensor | None = None  # (S, N, 3, H, W): every sample, when more than one was drawn


@torch.inference_mode()
def evaluate(G: torch.nn.Module, task, data, *, count: int = 64, size: int = 64, device: str | torch.device = "cpu",
             extra=None, samples: int = 1, sample_extra=None) -> Evaluation:
    """Run ``G`` (eval mode) on ``count`` fixed crops of ``data``; metrics on the pixels ``task.to_rgb`` gives.

    ``extra(pred, target) -> dict`` adds set-specific figures (e.g. the bimodal set's hue hit rate).

    ``samples`` > 1: a model with a latent code answers each crop that many times, sample ``s`` with codes drawn
    from the prior by seed ``EVAL_SEED + s`` (a one-answer model gives the same answer each time, and is measured
    the same way). The metrics are then averaged over the samples, next to ``best_psnr`` (each crop's best sample),
    ``sample_spread`` (:func:`~pix2gan.metrics.sample_spread`: CIE ab units for colorization, else [0, 1] pixels)
    and ``sample_extra(samples, target) -> dict`` (the bimodal set's coverage).
    """
    G = G.to(device).eval()
    latent = getattr(G, "latent_dim", 0)
    codes = [prior_codes(count, latent, EVAL_SEED + s).to(device) for s in range(samples)] if latent else None
    conds, reals, fakes, seen = [], [], [], 0
    for raw in fixed_batches(data, EVAL_SEED, count, size):
        cond, real = task.to_tensors(raw, device)
        n = cond.shape[0]
        outs = [G(cond, codes[s][seen:seen + n]) if latent else G(cond) for s in range(samples)]
        seen += n
        conds.append(task.cond_to_rgb(cond).cpu())
        reals.append(task.to_rgb(cond, real).cpu())
        fakes.append(torch.stack([task.to_rgb(cond, out).cpu() for out in outs]))
    cond, real, fake = torch.cat(conds), torch.cat(reals), torch.cat(fakes, 1)  # fake: (S, N, 3, H, W)
    per_sample = []
    for s in range(samples):
        metrics = evaluate_images(fake[s], real)
        if extra is not None:
            metrics.update(extra(fake[s], real))
        per_sample.append(metrics)
    metrics = {k: float(np.mean([m[k] for m in per_sample])) for k in per_sample[0]}
    if samples > 1:
        metrics["best_psnr"] = torch.stack([psnr(f, real, 1.0) for f in fake]).max(0).values.mean().item()
        metrics["sample_spread"] = sample_spread(fake, ab=task.spread_in_ab)
        if sample_extra is not None:
            metrics.update(sample_extra(fake, real))
    return Evaluation(metrics, cond, real, fake[0], fake if samples > 1 else None)


def sample_grid(G: torch.nn.Module, task, batch: Tensor, device: str | torch.device = "cpu") -> Tensor:
    """A picture ``(3, H', W')`` in [0, 1] of ``G`` (in eval mode) on ``batch`` (a drawn uint8 sample batch): one row
    per sample, cond | output | target; a latent model shows three answers (prior codes of seeds 0, 1, 2) where
    the output is."""
    cond, real = task.to_tensors(batch, device)
    was_training = G.training
    G.eval()
    with torch.inference_mode():
        latent = getattr(G, "latent_dim", 0)
        fakes = [G(cond, prior_codes(cond.shape[0], latent, s).to(device)) for s in range(3)] if latent else [G(cond)]
    G.train(was_training)
    rows = torch.stack([task.cond_to_rgb(cond), *(task.to_rgb(cond, f) for f in fakes), task.to_rgb(cond, real)], 1)
    from torchvision.utils import make_grid  # (imported here: torchvision takes 1.4 s to import)

    return make_grid(rows.flatten(0, 1).cpu(), nrow=len(fakes) + 2, padding=2)
