"""Training diagnostics: the three classic GAN failure modes detected from the logged figures.

Every threshold lives in :class:`Thresholds`. A condition must hold on ``window`` consecutive logged records
(every ``log_every`` steps) before its warning fires; each warning fires once per run and is recorded in
``log.jsonl`` on the record where it fired.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import torch


def grad_norm(params) -> float:
    """L2 norm of all parameter gradients together (parameters without a gradient are skipped)."""
    grads = [p.grad.detach().flatten() for p in params if p.grad is not None]
    return torch.cat(grads).norm().item() if grads else 0.0


@dataclass(frozen=True)
class Thresholds:
    window: int = 5                 # consecutive logged records a condition must hold
    warmup_steps: int = 100         # records before this step are not judged (G starts near zero output)
    d_confident: float = 0.95       # vanishing: D labels at least this fraction of fake patches fake ...
    adv_collapse: float = 0.05      # ... and the adversarial gradient at G's output fell below 5% of its peak
    diversity_low: float = 0.1      # collapse: batch std of outputs below 10% of the targets' batch std
    coin_flip: float = 0.1          # non-convergence: D accuracy within 0.5 ± 0.1 ...
    recon_rise: float = 0.1         # ... while the explicit loss rose by 10% over the window


ADVICE = {
    "vanishing_gradient": "the discriminator wins and the generator's adversarial gradient has vanished; try "
                          "--gan-loss nonsaturating (or lsgan/hinge), a lower D learning rate, or --r1",
    "mode_collapse": "the outputs vary far less than the targets (mode collapse); try a stronger explicit term "
                     "(--recon-weight), --gan-loss wgan-gp or hinge, or a lower learning rate",
    "non_convergence": "the discriminator is guessing (accuracy near 0.5) while the explicit loss rises; lower the "
                       "learning rates, or add --r1 / spectral norm to steady D",
}


class Monitor:
    """Feed it each logged record; it returns the names of warnings that fire for the first time."""

    def __init__(self, thresholds: Thresholds = Thresholds()):
        self.t = thresholds
        self.history: deque[dict] = deque(maxlen=2 * thresholds.window)
        self.peak_adv = 0.0
        self.fired: set[str] = set()

    def _holds(self, test) -> bool:
        recent = list(self.history)[-self.t.window:]
        return (len(recent) == self.t.window and recent[0]["step"] >= self.t.warmup_steps
                and all(test(r) for r in recent))

    def update(self, record: dict) -> list[str]:
        self.fired |= set(record.get("warnings", []))
        self.history.append(record)
        self.peak_adv = max(self.peak_adv, record.get("grad_adv", 0.0))
        t, new = self.t, []

        def vanishing(r):
            return ("d_acc_fake" in r and "grad_adv" in r and r["d_acc_fake"] >= t.d_confident
                    and r["grad_adv"] < t.adv_collapse * self.peak_adv)

        def collapsed(r):
            return r.get("diversity", 1.0) < t.diversity_low

        def coin_flip(r):
            return "d_acc_real" in r and abs((r["d_acc_real"] + r["d_acc_fake"]) / 2 - 0.5) < t.coin_flip

        checks = {"vanishing_gradient": self._holds(vanishing), "mode_collapse": self._holds(collapsed)}
        recent = list(self.history)[-t.window:]
        rising = (len(recent) == t.window and all("g_recon" in r for r in recent)
                  and recent[-1]["g_recon"] > (1 + t.recon_rise) * recent[0]["g_recon"])
        checks["non_convergence"] = self._holds(coin_flip) and rising
        for name, hit in checks.items():
            if hit and name not in self.fired:
                self.fired.add(name)
                new.append(name)
        return new


def read_log(run_dir: Path) -> list[dict]:
    """The records of ``RUN/log.jsonl`` (none when it does not exist yet)."""
    from pix2gan.rundir import RunDir

    return RunDir(run_dir).read_log()
