"""The trainer: D phase, then G phase, every step; checkpoints, resume, log.jsonl, sample grids."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.utils import make_grid, save_image
from tqdm import tqdm

from pix2gan.batch import replacing
from pix2gan.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from pix2gan.config import TrainConfig, diff, resolve, save_json
from pix2gan.data import open_source
from pix2gan.data.source import (DataHealth, Draws, StepBatches, center_batch, default_workers, draw_loader,
                                 fingerprint, holdout_split)
from pix2gan.errors import Pix2GanError
from pix2gan.distributed import Dist
from pix2gan.diagnostics import ADVICE, Monitor, grad_norm, read_log
from pix2gan.losses import GAN_LOSSES, RECON_LOSSES, alpha_g, d_accuracy, gdl, gradient_penalty, r1_penalty
from pix2gan.nets import PatchDiscriminator, UNet, init_weights
from pix2gan.runtime import PhaseTimer, tune_cpu
from pix2gan.tasks import make_task


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise the named device (checked)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise Pix2GanError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    return dev


def build_generator(cfg: TrainConfig) -> UNet:
    task = make_task(cfg)
    return UNet(task.cond_channels, task.out_channels, cfg.depth, cfg.ngf, cfg.g_norm, cfg.dropout)


def build_discriminator(cfg: TrainConfig) -> PatchDiscriminator | None:
    """The PatchGAN for ``cfg`` (resolved), or None for an explicit-loss-only baseline (nothing is built)."""
    if cfg.gan_loss == "none":
        return None
    task = make_task(cfg)
    in_channels = task.out_channels + (task.cond_channels if cfg.disc == "conditional" else 0)
    return PatchDiscriminator(in_channels, cfg.ndf, cfg.d_layers, cfg.d_norm, cfg.spectral_norm)


def load_generator(path: Path, task: str | None = None) -> tuple[UNet, TrainConfig]:
    """The generator of a checkpoint (eval mode, on the CPU) and the config it was trained with."""
    state = load_checkpoint(Path(path), task=task)
    cfg = TrainConfig.from_dict(state["config"])
    G = build_generator(cfg)
    G.load_state_dict(state["G"])
    return G.eval(), cfg


def make_optimizer(cfg: TrainConfig, params, lr: float) -> torch.optim.Optimizer:
    """Adam (its fused kernel, much faster than the per-tensor loop over pix2pix's 54M parameters on a small CPU)
    or RMSprop, from the resolved config."""
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), fused=True)
    except RuntimeError:  # torch < 2.4 has no fused Adam on the CPU
        return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2))


def batch_generator(seed: int, step: int, k: int, stream: int = 0) -> torch.Generator:
    """A random stream of batch ``k`` of ``step`` (stream 1: the gradient penalty's ε; the crops have their own,
    :func:`pix2gan.data.source.sample_generator`): a pure function of its arguments, so resumed and multi-process
    runs draw exactly what a single run would."""
    state = np.random.SeedSequence([seed, step, k, stream]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


class Trainer:
    """Trains one run in ``run_dir``: ``config.json``, ``checkpoint.pt``, ``log.jsonl``, ``samples/``.

    ``Trainer(cfg, run_dir).fit()`` starts a new run; ``Trainer.resume(run_dir, overrides).fit()`` continues one
    exactly where its checkpoint stopped.
    """

    def __init__(self, cfg: TrainConfig, run_dir: Path, *, progress: bool = True, state: dict | None = None,
                 dist: Dist = Dist(), profile: bool = False, allow_data_change: bool = False):
        self.cfg = cfg = resolve(cfg)
        self.run_dir = Path(run_dir)
        self.dist = dist
        self.progress = progress and dist.is_main
        self.device = pick_device(cfg.device)
        if self.device.type == "cuda" and dist.enabled:
            self.device = torch.device("cuda", dist.local_rank)
        if self.device.type == "cpu":
            tune_cpu()
        self.timer = PhaseTimer(profile, self.device)  # profile=True: where each step's time goes (--profile)
        self.amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.precision]
        if self.amp_dtype is not None and self.device.type != "cuda":
            raise Pix2GanError(f"--precision {cfg.precision} needs a CUDA device; on {self.device.type} pix2gan "
                               f"trains in fp32")
        fp16 = cfg.precision == "fp16"
        self.scaler_g = torch.amp.GradScaler("cuda") if fp16 else None
        self.scaler_d = torch.amp.GradScaler("cuda") if fp16 else None
        self.task = make_task(cfg)
        self.gan = GAN_LOSSES.get(cfg.gan_loss)
        self.g_adv_loss = alpha_g if cfg.g_adv_form == "alpha" else (self.gan.g_loss if self.gan else None)
        self.recon_loss = RECON_LOSSES.get(cfg.recon)

        torch.manual_seed(cfg.seed)
        self.G = build_generator(cfg).to(self.device)
        self.D = build_discriminator(cfg)
        init_weights(self.G)
        self.opt_g = make_optimizer(cfg, self.G.parameters(), cfg.lr)
        self.opt_d = None
        if self.D is not None:
            init_weights(self.D)
            self.D.to(self.device)
            self.opt_d = make_optimizer(cfg, self.D.parameters(), cfg.d_lr)
        if dist.enabled:  # same weights everywhere; then each rank its own stream for dropout
            for net in (self.G, self.D):
                if net is not None:
                    dist.broadcast_module(net)
            torch.manual_seed(cfg.seed * 1000 + dist.rank + 1)
        self.source = source = open_source(cfg)  # a listing: nothing is decoded before it is drawn
        self.listing = fingerprint(source.names)
        train, held = holdout_split(source.names, cfg.holdout)
        self.data = source.subset(train) if held else source
        self.holdout = source.subset(held) if held else None
        self.health = DataHealth(len(source), cfg.max_bad_files)
        self._batches = None  # the DataLoader's iterator while fit() runs
        self._sample_batch: Tensor | None = None
        self.step = 0
        if state is not None:
            self._restore(state, allow_data_change)
        self.monitor = Monitor()
        self._stop_signal: int | None = None  # set by SIGINT/SIGTERM: finish the step, checkpoint, stop

    # ----------------------------------------------------------------------------------------------- run directory
    @classmethod
    def resume(cls, run_dir: Path, overrides: dict | None = None, *, progress: bool = True,
               dist: Dist = Dist(), profile: bool = False, allow_data_change: bool = False) -> Trainer:
        """Continue the run in ``run_dir``; ``overrides`` may change only ``steps``, logging, worker and device keys.

        The data must still list the same files (count and names' hash), unless ``allow_data_change``: then training
        goes on with the new listing (the batches differ from an uninterrupted run's)."""
        run_dir = Path(run_dir)
        state = load_checkpoint(run_dir / "checkpoint.pt")
        saved = state["config"]
        wanted = {**saved, **(overrides or {})}
        changed = diff(saved, dataclasses.asdict(resolve(TrainConfig.from_dict(wanted))))
        if changed:
            raise Pix2GanError(f"{run_dir}: cannot resume with a different configuration; differing keys: "
                               + ", ".join(f"{k} ({saved.get(k)!r} → {wanted.get(k)!r})" for k in changed))
        return cls(TrainConfig.from_dict(wanted), run_dir, progress=progress, state=state, dist=dist,
                   profile=profile, allow_data_change=allow_data_change)

    def _restore(self, state: dict, allow_data_change: bool = False) -> None:
        saved = state.get("data", {}).get("listing")
        if saved is not None and saved != self.listing:
            if not allow_data_change:
                raise Pix2GanError(f"{self.run_dir}: the data changed since the checkpoint ({self.cfg.data}: "
                                   f"{saved['count']} → {self.listing['count']} files, or other names); resume with "
                                   f"--allow-data-change to go on with the new listing (the batches will differ "
                                   f"from an uninterrupted run)")
            if self.dist.is_main:
                print(f"warning: the data changed since the checkpoint ({saved['count']} → {self.listing['count']} "
                      f"files); going on with the new listing (--allow-data-change)", file=sys.stderr)
        health = state.get("data", {})
        self.health.unfit.update(health.get("unfit", []))
        index = {name: i for i, name in enumerate(self.source.names)}
        for name, message in health.get("bad", {}).items():  # files fixed since then no longer count
            if name in index and not self.source.readable(index[name]):
                self.health.bad[name] = message
        self.G.load_state_dict(state["G"])
        self.opt_g.load_state_dict(state["opt_g"])
        if self.D is not None:
            self.D.load_state_dict(state["D"])
            self.opt_d.load_state_dict(state["opt_d"])
        self.step = int(state["step"])
        per_rank = state["rng"]["per_rank"]
        if len(per_rank) != self.dist.world and self.dist.is_main:
            print(f"warning: resuming a {len(per_rank)}-process run on {self.dist.world}; the random streams of "
                  f"dropout differ from an uninterrupted run", file=sys.stderr)
        rng = per_rank[self.dist.rank % len(per_rank)]
        torch.set_rng_state(rng["torch"])
        if self.device.type == "cuda" and rng.get("cuda") is not None:
            torch.cuda.set_rng_state(rng["cuda"], self.device)

    def save(self) -> None:
        """Write ``checkpoint.pt`` atomically: weights, optimizers, step, every rank's RNG states and the resolved
        config. Collective under torchrun (every rank calls it; rank 0 writes)."""
        rng = {"torch": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state(self.device).cpu() if self.device.type == "cuda" else None}
        per_rank = self.dist.gather(rng)
        if not self.dist.is_main:
            return
        state = {
            "config": dataclasses.asdict(self.cfg),
            "step": self.step,
            "world_size": self.dist.world,
            "G": self.G.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "rng": {"per_rank": per_rank},
            "data": {"listing": self.listing, "bad": dict(self.health.bad), "unfit": sorted(self.health.unfit)},
        }
        if self.D is not None:
            state.update(D=self.D.state_dict(), opt_d=self.opt_d.state_dict())
        save_checkpoint(self.run_dir / "checkpoint.pt", state)

    def _log(self, record: dict) -> None:
        with open(self.run_dir / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _trim_log(self) -> None:
        """On resume, drop log lines written after the checkpoint (they will be written again)."""
        path = self.run_dir / "log.jsonl"
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            kept = [ln for ln in lines if ln.strip() and json.loads(ln).get("step", 0) <= self.step]
            atomic_write_bytes(path, "".join(ln + "\n" for ln in kept).encode())

    def save_samples(self) -> Path:
        """``samples/step_NNNNNN.png``: rows of cond | output | target on fixed centre crops of held-out images when
        there are any, else of training images (G in eval mode)."""
        if self._sample_batch is None:
            self._sample_batch = center_batch(self.holdout or self.data, 4, self.cfg.size)
        cond, real = self.task.to_tensors(self._sample_batch, self.device)
        self.G.eval()
        with torch.inference_mode():
            fake = self.G(cond)
        self.G.train()
        rows = torch.stack([self.task.cond_to_rgb(cond), self.task.to_rgb(cond, fake),
                            self.task.to_rgb(cond, real)], 1).flatten(0, 1)
        path = self.run_dir / "samples" / f"step_{self.step:06d}.png"
        with replacing(path) as tmp:
            save_image(make_grid(rows.cpu(), nrow=3, padding=2), tmp)
        return path

    # ----------------------------------------------------------------------------------------------- one step
    @property
    def batches_per_step(self) -> int:
        return self.cfg.n_critic if self.D is not None else 1

    def open_batches(self):
        """The DataLoader's iterator over every batch from the current step on: this rank's slots of the global
        batch of ``batch_size × world`` (so N processes with batch B see what one process with batch N·B sees),
        each sample a pure function of (seed, step, k, slot) however many workers decode them."""
        b, r = self.cfg.batch_size, self.dist.rank
        workers = default_workers() if self.cfg.workers is None else self.cfg.workers
        loader = draw_loader(Draws(self.data, self.cfg.seed, self.cfg.size),
                             StepBatches(self.step, self.cfg.steps, self.batches_per_step, range(r * b, (r + 1) * b)),
                             workers, pin_memory=self.device.type == "cuda")
        return iter(loader)

    def batch(self, k: int = 0) -> tuple[Tensor, Tensor]:
        """Batch ``k`` of the current step as ``(cond, real)`` on the device (the next one the loader gives)."""
        with self.timer("data"):  # waiting for the loader
            if self._batches is None:
                self._batches = self.open_batches()
            raw, events = next(self._batches)
            for line in self.health.record(events):  # every rank reads its own files, so every rank reports
                tqdm.write(f"[rank {self.dist.rank}] {line}" if self.dist.enabled else line, file=sys.stderr)
        with self.timer("to tensors"):  # the task's conversion, on the device (colorize: sRGB → Lab)
            return self.task.to_tensors(raw, self.device)

    def penalty_eps(self, k: int) -> Tensor:
        """The gradient penalty's ε for batch ``k``: one per sample, ``(B, 1, 1, 1)``, drawn like the batch."""
        b, r = self.cfg.batch_size, self.dist.rank
        eps = torch.rand(b * self.dist.world, generator=batch_generator(self.cfg.seed, self.step, k, stream=1))
        return eps[r * b:(r + 1) * b].view(b, 1, 1, 1).to(self.device)

    def autocast(self):
        """Mixed precision on CUDA (``--precision bf16|fp16``); fp32 (a no-op) otherwise."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _backward(self, loss: Tensor, opt: torch.optim.Optimizer, scaler, net: nn.Module) -> None:
        """Gradients of ``loss`` for ``net``: averaged over ranks, unscaled (fp16's GradScaler)."""
        opt.zero_grad(set_to_none=True)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        self.dist.average_gradients(net.parameters())
        if scaler is not None:
            scaler.unscale_(opt)

    @staticmethod
    def _step(opt: torch.optim.Optimizer, scaler) -> None:
        if scaler is None:
            opt.step()
        else:  # skips the step when fp16 overflowed, and adapts the scale
            scaler.step(opt)
            scaler.update()

    def judge(self, cond: Tensor, image: Tensor) -> Tensor:
        """D's patch logits for ``image`` (seen with its condition when D is conditional)."""
        return self.D(torch.cat([cond, image], 1) if self.cfg.disc == "conditional" else image)

    def d_step(self, cond: Tensor, real: Tensor, fake: Tensor, measure: bool = False, k: int = 0) -> dict[str, float]:
        # D phase: minimise the adversarial D loss (+ gradient penalty, + R1); fake is detached, no gradient reaches G
        cfg, timer = self.cfg, self.timer
        with timer("D forward"), self.autocast():
            d_real, d_fake = self.judge(cond, real), self.judge(cond, fake)
            loss_d = self.gan.d_loss(d_real, d_fake)
        out = {}
        # penalties differentiate through D twice: computed in fp32 whatever the precision
        with timer("penalties"):
            if cfg.gp_weight > 0:  # WGAN-GP, every D step, weight cfg.gp_weight
                gp = gradient_penalty(lambda y: self.judge(cond, y), real, fake.float(), self.penalty_eps(k))
                loss_d = loss_d + cfg.gp_weight * gp
                out["gp"] = gp.item()
            if cfg.r1 > 0:  # R1 on real images, every D step, gain r1 / 2
                r1 = r1_penalty(lambda y: self.judge(cond, y), real)
                loss_d = loss_d + 0.5 * cfg.r1 * r1
                out["r1"] = r1.item()
        out["d_loss"] = loss_d.item()
        self._check_finite(out)
        with timer("D backward"):
            self._backward(loss_d, self.opt_d, self.scaler_d, self.D)
        if measure:
            with timer("diagnostics"):
                out["d_grad_norm"] = grad_norm(self.D.parameters())
                out["d_acc_real"], out["d_acc_fake"] = d_accuracy(d_real.detach().float(),
                                                                  d_fake.detach().float(), self.gan.threshold)
        with timer("optimizer"):
            self._step(self.opt_d, self.scaler_d)
            if cfg.clip > 0:  # WGAN weight clipping after every D step
                with torch.no_grad():
                    for p in self.D.parameters():
                        p.clamp_(-cfg.clip, cfg.clip)
        read = torch.sigmoid if self.gan.logistic else (lambda t: t)
        out.update(d_real=read(d_real.detach()).mean().item(),
                   d_fake=read(d_fake.detach()).mean().item())
        return out

    def train_step(self) -> dict[str, float]:
        """One generator update, preceded by ``n_critic`` discriminator updates (each on its own batch).

        On logging steps it also measures the diagnostics (gradient norms and shares, D accuracy, diversity).
        """
        cfg, timer, out = self.cfg, self.timer, {}
        measure = (self.step + 1) % cfg.log_every == 0
        n_d = cfg.n_critic if self.D is not None else 0
        for k in range(max(n_d, 1)):
            cond, real = self.batch(k)
            last = k == max(n_d, 1) - 1
            with timer("G forward"), torch.set_grad_enabled(last), self.autocast():  # last fake feeds the G phase
                fake = self.G(cond)
            if n_d:
                out = self.d_step(cond, real, fake.detach(), measure and last, k)

        # G phase: the discriminator is the learned loss, next to the weighted explicit term; D is frozen
        terms = {}
        with self.autocast():
            if self.D is not None:
                self.D.requires_grad_(False)
                with timer("D forward"):
                    d_real = self.judge(cond, real).detach() if self.gan.g_uses_real else None
                    g_adv = self.g_adv_loss(self.judge(cond, fake), d_real)
                terms["adv"] = cfg.adv_weight * g_adv
                out["g_adv"] = g_adv.item()
            if self.recon_loss is not None:
                g_recon = self.recon_loss(fake, real)
                terms["recon"] = cfg.recon_weight * g_recon
                out["g_recon"] = g_recon.item()
            if cfg.gdl_weight > 0:
                g_gdl = gdl(fake, real)
                terms["gdl"] = cfg.gdl_weight * g_gdl
                out["g_gdl"] = g_gdl.item()
            loss_g = sum(terms.values())
        out["g_loss"] = loss_g.item()
        self._check_finite(out)
        if measure:  # the signal each term sends to G's output: is the learned loss still speaking?
            with timer("diagnostics"):
                for name, term in terms.items():
                    (grad,) = torch.autograd.grad(term, fake, retain_graph=True)
                    out[f"grad_{name}"] = grad.norm().item()
        with timer("G backward"):
            self._backward(loss_g, self.opt_g, self.scaler_g, self.G)
        if measure:
            with timer("diagnostics"):
                out["g_grad_norm"] = grad_norm(self.G.parameters())
                out["lr"] = self.opt_g.param_groups[0]["lr"]
                if cfg.batch_size > 1:  # output diversity across the batch relative to the targets'
                    out["diversity"] = (fake.detach().float().std(0).mean()
                                        / real.std(0).mean().clamp_min(1e-8)).item()
        with timer("optimizer"):
            self._step(self.opt_g, self.scaler_g)
        if self.D is not None:
            self.D.requires_grad_(True)
        self.step += 1
        return out

    def _check_finite(self, values: dict[str, float]) -> None:
        """Stop before a NaN/inf loss reaches an optimizer; the checkpoint on disk is the last good state."""
        bad = [f"{k}={v}" for k, v in values.items() if not math.isfinite(v)]
        if self.dist.any(bool(bad), self.device):  # every rank stops together
            raise Pix2GanError(f"step {self.step + 1}: {', '.join(bad) or 'a non-finite loss on another rank'}; "
                               f"training stopped, {self.run_dir / 'checkpoint.pt'} keeps the last good state")

    # ----------------------------------------------------------------------------------------------- the loop
    def fit(self) -> dict[str, float]:
        """Train until ``cfg.steps``; checkpoint every ``checkpoint_every`` steps, at the end and on SIGINT/SIGTERM.

        Under torchrun every rank runs this loop; only rank 0 writes files and shows progress.
        """
        cfg, main = self.cfg, self.dist.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_json(self.run_dir / "config.json", cfg)
            self._trim_log()
            for record in read_log(self.run_dir):  # a resumed run remembers its window and its warnings
                self.monitor.update(record)
        self.G.train()
        if self.D is not None:
            self.D.train()
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train", unit="step", disable=not self.progress,
                   file=sys.stderr, dynamic_ncols=True)
        metrics: dict[str, float] = {}
        try:
            while self.step < cfg.steps and not self.dist.any(self._stop_signal is not None):
                t0 = time.perf_counter()
                metrics = self.train_step()
                metrics["sec"] = time.perf_counter() - t0
                bar.update(1)
                self._bookkeeping(metrics, bar)
                self.timer.add_step(time.perf_counter() - t0)
                if self.dist.any(self.health.over_limit(), self.device):
                    self.save()
                    raise Pix2GanError(f"{self.health.limit_message()}; training stopped at step {self.step}, "
                                       f"{self.run_dir / 'checkpoint.pt'} is saved: fix or remove the files, then "
                                       f"--resume (with --allow-data-change if files were removed)")
            if self.step % cfg.checkpoint_every:
                self.save()
            if self.step < cfg.steps:  # stopped by a signal, here or on another rank
                self._stop_signal = self._stop_signal or signal.SIGTERM
                bar.close()
                if main:
                    print(f"stopped by signal {self._stop_signal} at step {self.step}; checkpoint saved, continue "
                          f"with --resume", file=sys.stderr)
            elif self.step % cfg.sample_every and main:
                self.save_samples()
        finally:
            bar.close()
            self._batches = None  # the DataLoader's workers stop with their iterator
            for s, h in handlers.items():
                signal.signal(s, h)
        return metrics

    def _bookkeeping(self, metrics: dict[str, float], bar: tqdm) -> None:
        """After a step: the log line and its warnings, the sample grid, the checkpoint, each on its schedule."""
        cfg, main = self.cfg, self.dist.is_main
        with self.timer("log, samples, checkpoint"):
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                self.dist.check_in_sync(self.G, self.D)
                if main:
                    record = {"step": self.step, **{k: round(v, 6) for k, v in metrics.items()},
                              **self.health.counts}
                    fired = self.monitor.update(record)
                    for name in fired:
                        bar.write(f"warning: step {self.step}: {ADVICE[name]}", file=sys.stderr)
                    self._log({**record, "warnings": fired} if fired else record)
                    bar.set_postfix({k: f"{metrics[k]:.3g}" for k in ("d_loss", "g_adv", "g_recon") if k in metrics})
            if self.step % cfg.sample_every == 0 and main:
                self.save_samples()
            if self.step % cfg.checkpoint_every == 0:
                self.save()

    @property
    def interrupted(self) -> bool:
        """True when the last :meth:`fit` stopped early on SIGINT/SIGTERM (its checkpoint is saved)."""
        return self._stop_signal is not None

    def _on_signal(self, signum, frame) -> None:
        if self._stop_signal is not None:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self._stop_signal = signum
