"""The training loop: the D and G phases of ``step.py`` on seeded batches, with validation, samples, checkpoints
and an exact resume, in the run folder of ``rundir.py``.

``Trainer(cfg, run_dir).fit()`` reads top to bottom: :meth:`Trainer.fit` is the loop (one step, then the
bookkeeping on its schedule), :meth:`Trainer.train_step` one step of the current :class:`~pix2gan.step.Phase`.
"""

from __future__ import annotations

import copy
import dataclasses
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from pix2gan.checkpoint import load_checkpoint, save_checkpoint
from pix2gan.config import TrainConfig, diff, resolve
from pix2gan.data.source import (DataHealth, Draws, RankDraws, StepBatches, Stream, center_batch, default_workers,
                                 draw_loader, fingerprint, worker_message)
from pix2gan.diagnostics import ADVICE, Monitor
from pix2gan.distributed import Dist
from pix2gan.errors import Pix2GanError
from pix2gan.evaluate import evaluate, sample_grid
from pix2gan.files import replacing
from pix2gan.hints import simulate_hints
from pix2gan.metrics import goodness
from pix2gan.models import (build_code_discriminator, build_discriminator, build_encoder, build_generator,
                            pick_device)
from pix2gan.nets import init_weights
from pix2gan.rundir import RunDir
from pix2gan.runtime import PhaseTimer, cpu_has_native_bf16, tune_cpu
from pix2gan.step import (Codes, Hooks, LossSettings, Nets, Phase, c_phase, d_phase, ema_beta, ema_update, encode,
                          g_phase, lr_factor, phase_of)
from pix2gan.tasks import make_task
from pix2gan.watch import EventLog


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a mixed precision the device cannot run fast: fp16 needs CUDA; bf16 needs CUDA or a CPU that
    multiplies bf16 natively (AVX512-BF16 or AMX), where other CPUs would emulate it, slower than fp32."""
    if precision == "fp32" or device.type == "cuda":
        return
    if precision == "bf16" and device.type == "cpu":
        if cpu_has_native_bf16():
            return
        raise Pix2GanError("--precision bf16: this CPU has no native bf16 arithmetic (AVX512-BF16 or AMX), so bf16 "
                           "would be emulated and slower than fp32; train in fp32 (the default)")
    raise Pix2GanError(f"--precision {precision} needs a CUDA device (bf16 also runs on CPUs with AVX512-BF16 or "
                       f"AMX); on {device.type} pix2gan trains in fp32")


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


def build_nets(cfg: TrainConfig, device: torch.device, dist: Dist) -> Nets:
    """G, D (E, C for a latent model), initialised from ``cfg.seed`` (the same on every rank), their optimisers and
    the EMA copy of G."""
    torch.manual_seed(cfg.seed)
    G, D = build_generator(cfg), build_discriminator(cfg)
    _init(G, D, device=device)
    E, C = build_encoder(cfg), build_code_discriminator(cfg)  # built after G and D: a latent-free run draws
    _init(E, C, device=device)                                # exactly what it drew before they existed
    if dist.enabled:  # the same weights everywhere; then each rank its own stream for dropout and augmentation
        for net in (G, D, E, C):
            if net is not None:
                dist.broadcast_module(net)
        torch.manual_seed(cfg.seed * 1000 + dist.rank + 1)
    scaler = (lambda: torch.amp.GradScaler("cuda")) if cfg.precision == "fp16" else (lambda: None)
    g_params = list(G.parameters()) + (list(E.parameters()) if E is not None else [])  # E learns with G
    return Nets(G, D, make_optimizer(cfg, g_params, cfg.lr),
                make_optimizer(cfg, D.parameters(), cfg.d_lr) if D is not None else None, scaler(), scaler(), E, C,
                make_optimizer(cfg, C.parameters(), cfg.d_lr) if C is not None else None,
                copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema_half_life > 0 else None)


def _init(*nets, device: torch.device) -> None:
    for net in nets:
        if net is not None:
            init_weights(net)
            net.to(device)


def next_batch(batches, data: str):
    """The loader's next batch; an error raised in a worker as its own one line naming the data, not PyTorch's
    traceback around it."""
    try:
        return next(batches)
    except Pix2GanError as e:
        raise Pix2GanError(f"{data}: {worker_message(e)}") from None


def rng_state(device: torch.device) -> dict:
    """This process's random state (dropout, augmentation): the CPU's and the device's."""
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device).cpu() if device.type == "cuda" else None}


def set_rng_state(per_rank: list[dict], dist: Dist, device: torch.device) -> None:
    """Restore this rank's :func:`rng_state` of a checkpoint (with a warning when the process count changed)."""
    if len(per_rank) != dist.world and dist.is_main:
        print(f"warning: resuming a {len(per_rank)}-process run on {dist.world}; the random streams of dropout "
              f"differ from an uninterrupted run", file=sys.stderr)
    rng = per_rank[dist.rank % len(per_rank)]
    torch.set_rng_state(rng["torch"])
    if device.type == "cuda" and rng.get("cuda") is not None:
        torch.cuda.set_rng_state(rng["cuda"], device)


def check_listing(saved: dict | None, now: dict, run: RunDir, data: str, allow_change: bool, say: bool) -> None:
    """Refuse to resume on a data listing other than the checkpoint's, unless ``allow_change`` (then warn when
    ``say``)."""
    if saved is None or saved == now:
        return
    if not allow_change:
        raise Pix2GanError(f"{run}: the data changed since the checkpoint ({data}: {saved['count']} → {now['count']} "
                           f"files, or other names); resume with --allow-data-change to go on with the new listing "
                           f"(the batches will differ from an uninterrupted run)")
    if say:
        print(f"warning: the data changed since the checkpoint ({saved['count']} → {now['count']} files); going on "
              f"with the new listing (--allow-data-change)", file=sys.stderr)


def resumed_config(saved: dict, overrides: dict, run_dir: Path) -> TrainConfig:
    """A checkpoint's configuration with ``overrides``; an error naming the keys when they change what was trained."""
    wanted = {**saved, **overrides}
    changed = diff(saved, dataclasses.asdict(resolve(TrainConfig.from_dict(wanted))))
    if changed:
        raise Pix2GanError(f"{run_dir}: cannot resume with a different configuration; differing keys: "
                           + ", ".join(f"{k} ({saved.get(k)!r} → {wanted.get(k)!r})" for k in changed))
    return TrainConfig.from_dict(wanted)


class StopSignals:
    """SIGINT/SIGTERM while training: the first lets the step finish and the checkpoint be written; a second
    stops at once."""

    def __init__(self):
        self.received: int | None = None

    def __enter__(self) -> StopSignals:
        self._old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)

    def _on_signal(self, signum, frame) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum


class Trainer:
    """Trains one run in ``run_dir`` (see :class:`~pix2gan.rundir.RunDir`).

    ``Trainer(cfg, run_dir).fit()`` starts a new run; ``Trainer.resume(run_dir, overrides).fit()`` continues one
    exactly where its checkpoint stopped. Under torchrun every rank runs it; only rank 0 writes files.
    """

    def __init__(self, cfg: TrainConfig, run_dir: Path, *, progress: bool = True, state: dict | None = None,
                 dist: Dist = Dist(), profile: bool = False, allow_data_change: bool = False):
        self.cfg = cfg = resolve(cfg)
        self.run, self.dist = RunDir(run_dir), dist
        self.progress = progress and dist.is_main
        self.device = pick_device(cfg.device)
        if self.device.type == "cuda" and dist.enabled:
            self.device = torch.device("cuda", dist.local_rank)
        if self.device.type == "cpu":
            tune_cpu()
        self.timer = PhaseTimer(profile, self.device)  # profile=True: where each step's time goes (--profile)
        check_precision(cfg.precision, self.device)
        self.task = make_task(cfg)
        self.loss = LossSettings.from_config(cfg, self.device)
        self.nets = build_nets(cfg, self.device, dist)
        self.hooks = Hooks(phase=self.timer, check=self._check_finite, average=dist.average_gradients)

        self.source = self.task.open_source(cfg.data)  # a listing: nothing is decoded before it is drawn
        self.listing = fingerprint(self.source.names)
        self.data, self.holdout = self.source.split(cfg.holdout)
        if cfg.val_data:  # a separate held-out set (whole sources, say) takes the place of the split
            self.holdout = self.task.open_source(cfg.val_data)
        self.health = DataHealth(len(self.source), cfg.max_bad_files)
        self.rand = RankDraws(cfg.seed, cfg.batch_size, dist.rank, dist.world)
        self._batches = None  # the DataLoader's iterator while fit() runs
        self._sample_batch: Tensor | None = None
        self.step = 0
        self.best: dict | None = None  # {"step", "metric", "value"} of best.pt
        if state is not None:
            self.load_state_dict(state, allow_data_change)
        self.monitor = Monitor()
        self.events: EventLog | None = None  # RUN/tb/ while fit() runs with --tensorboard
        self.signals = StopSignals()

    @property
    def G(self):
        return self.nets.G

    @property
    def D(self):
        return self.nets.D

    @property
    def G_eval(self):
        """The generator that samples and validation use: the EMA one when there is one."""
        return self.nets.G_ema if self.nets.G_ema is not None else self.nets.G

    run_dir = property(lambda self: self.run.path)

    @property
    def interrupted(self) -> bool:
        """True when the last :meth:`fit` stopped early on SIGINT/SIGTERM (its checkpoint is saved)."""
        return self.signals.received is not None

    # ----------------------------------------------------------------------------------------------- the loop
    def fit(self, stop_at: int | None = None) -> dict[str, float]:
        """Train until ``cfg.steps`` (or ``stop_at``, checkpointed there like an interruption); checkpoint every
        ``checkpoint_every`` steps, at the end and on SIGINT/SIGTERM."""
        cfg, main = self.cfg, self.dist.is_main
        stop = min(cfg.steps, stop_at if stop_at is not None else cfg.steps)
        for record in self.run.start(cfg.to_json(), self.step) if main else ():
            self.monitor.update(record)  # a resumed run remembers its window and its warnings
        for net in self.nets.modules():
            net.train()
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train", unit="step", disable=not self.progress,
                   file=sys.stderr, dynamic_ncols=True)
        metrics: dict[str, float] = {}
        try:
            with self.signals:
                if cfg.tensorboard and main:  # a resumed run hides what was logged after its checkpoint
                    self.events = EventLog(self.run.path / "tb", purge_step=self.step + 1 if self.step else None)
                while self.step < stop and not self.dist.any(self.signals.received is not None):
                    t0 = time.perf_counter()
                    phase = phase_of(cfg, self.step, self.D is not None)
                    metrics = {**self.train_step(phase), "sec": time.perf_counter() - t0}
                    bar.update(1)
                    bar.set_description(f"train [{phase.name}]", refresh=False)
                    self.bookkeeping(phase, metrics, bar)
                    self.timer.add_step(time.perf_counter() - t0)
                    self.stop_if_data_broken()
                if self.step % cfg.checkpoint_every:
                    self.save()
                if self.step < stop:  # stopped by a signal, here or on another rank
                    self.signals.received = self.signals.received or signal.SIGTERM
                    bar.close()
                    if main:
                        print(f"stopped by signal {self.signals.received} at step {self.step}; checkpoint saved, "
                              f"continue with --resume", file=sys.stderr)
                elif self.step % cfg.sample_every and main:
                    self.save_samples()
        finally:
            bar.close()
            self._batches = None  # the DataLoader's workers stop with their iterator
            if self.events is not None:
                self.events.close()
                self.events = None
            self.run.unlock()
        return metrics

    def train_step(self, phase: Phase | None = None) -> dict[str, float]:
        """One step of ``phase`` (default: the current step's): its D updates, each on its own batch, then a G
        update (with the adversarial term in the adversarial phase); learning rates set first, the EMA updated
        after G."""
        cfg, nets = self.cfg, self.nets
        phase = phase or phase_of(cfg, self.step, self.D is not None)
        factor = lr_factor(cfg, self.step)
        for opt, base in ((nets.opt_g, cfg.lr), (nets.opt_d, cfg.d_lr)):
            for group in opt.param_groups if opt is not None else ():
                group["lr"] = base * factor
        measure = (self.step + 1) % cfg.log_every == 0 or self.step + 1 == cfg.steps
        out: dict[str, float] = {}
        for k in range(phase.batches):
            cond, real, reference = self.batch(k)
            with self.timer("G forward"), torch.set_grad_enabled(phase.train_g and k == phase.batches - 1):
                fake, codes = self.generate(cond, real, k, reference)  # the last fake feeds the G phase
            cond = cond[:, :self.task.judged_channels]  # what D and E see of it (not a hint model's hints)
            if phase.d_updates:  # a latent model's D sees its reconstructions and its samples
                fakes = fake if codes is None else torch.cat([fake, codes.sampled])
                out = d_phase(nets, self.loss, cond, real, fakes.detach(), self.penalty_eps(k),
                              measure and k == phase.d_updates - 1, self.hooks)
        if phase.train_g:
            if nets.C is not None:
                eps = self.penalty_eps(0, Stream.CODE_PENALTY)
                out.update(c_phase(nets, self.loss, codes, eps.flatten(1) if eps is not None else None, self.hooks))
            out.update(g_phase(nets, self.loss, cond, real, fake, phase.adversarial, measure, self.hooks, codes))
            if nets.G_ema is not None:
                with self.timer("EMA"):
                    ema_update(nets.G_ema, nets.G, ema_beta(cfg, self.step, self.dist.world))
        self.step += 1
        return {**out, "lr": nets.opt_g.param_groups[0]["lr"]}

    def bookkeeping(self, phase: Phase, metrics: dict[str, float], bar: tqdm) -> None:
        """After a step: validation, the log line and its warnings, the sample grid, the checkpoint, each on its
        schedule."""
        cfg, main, step = self.cfg, self.dist.is_main, self.step
        with self.timer("log, samples, checkpoint"):
            validated = bool(cfg.val_every) and (step % cfg.val_every == 0 or step == cfg.steps)
            if validated and main:
                metrics = {**metrics, **self.validate()}
            if step % cfg.log_every == 0 or step == cfg.steps or validated:  # the same on every rank: collective
                self.dist.check_in_sync(*self.nets.modules())
                if main:
                    self.log(phase, metrics, bar)
            if step % cfg.sample_every == 0 and main:
                self.save_samples()
            if step % cfg.checkpoint_every == 0:
                self.save()

    # ----------------------------------------------------------------------------------------------- one step's parts
    def open_batches(self):
        """The DataLoader's iterator over every batch from the current step on: this rank's slots of the global
        batch of ``batch_size × world`` (so N processes with batch B see what one process with batch N·B sees),
        each sample a pure function of (seed, step, k, slot) however many workers decode them."""
        workers = default_workers() if self.cfg.workers is None else self.cfg.workers
        per_step = lambda step: phase_of(self.cfg, step, self.D is not None).batches  # noqa: E731
        return iter(draw_loader(Draws(self.data, self.cfg.seed, self.cfg.size),
                                StepBatches(self.step, self.cfg.steps, per_step, self.rand.slots),
                                workers, pin_memory=self.device.type == "cuda"))

    def batch(self, k: int = 0) -> tuple[Tensor, Tensor, Tensor | None]:
        """The next batch (batch ``k`` of the current step) as ``(cond, real, reference)`` on the device; a hint
        model's ``cond`` holds hints simulated from ``real``, each sample's from its own stream, and ``reference``
        the reference vectors (None without hints)."""
        with self.timer("data"):  # waiting for the loader
            if self._batches is None:
                self._batches = self.open_batches()
            raw, events = next_batch(self._batches, self.cfg.data)
            for line in self.health.record(events):  # every rank reads its own files, so every rank reports
                tqdm.write(f"[rank {self.dist.rank}] {line}" if self.dist.enabled else line, file=sys.stderr)
        with self.timer("to tensors"):  # the task's conversion, on the device (colorize: sRGB → Lab)
            cond, real = self.task.to_tensors(raw, self.device)
        if not self.cfg.hints:
            return cond, real, None
        with self.timer("hints"):
            maps, reference = simulate_hints(real, self.rand.per_sample(self.step, k, Stream.HINTS))
            return self.task.with_hints(cond[:, :1], maps), real, reference

    def penalty_eps(self, k: int, stream: Stream = Stream.PENALTY) -> Tensor | None:
        """The gradient penalty's ε for batch ``k``, one per sample ``(B, 1, 1, 1)``; None without a penalty."""
        eps = self.rand.tensor(self.step, k, stream, ()) if self.loss.gp_weight > 0 else None
        return eps.view(-1, 1, 1, 1).to(self.device) if eps is not None else None

    def generate(self, cond: Tensor, real: Tensor, k: int,
                 reference: Tensor | None = None) -> tuple[Tensor, Codes | None]:
        """G's output for batch ``k``: ``G(cond)`` (a hint model's with its ``reference``); for a latent model the
        reconstruction G(cond, E's code of ``real``) and the codes, with the sample G(cond, z ~ N(0, I)) in
        ``codes.sampled``."""
        hinted = {"reference": reference} if reference is not None else {}
        if self.nets.E is None:
            with self.loss.autocast():
                return self.G(cond, **hinted), None
        z_dim = (self.cfg.latent_dim,)
        with self.timer("E forward"):
            z, mu, logvar = encode(self.nets.E, self.loss, cond[:, :self.task.judged_channels], real,
                                   self.rand.tensor(self.step, k, Stream.KL_NOISE, z_dim, True).to(self.device))
        codes = Codes(z, mu, logvar, self.rand.tensor(self.step, k, Stream.PRIOR, z_dim, True).to(self.device))
        with self.loss.autocast():
            fake = self.G(cond, z, **hinted)
            codes.sampled = self.G(cond, codes.prior, **hinted)
        return fake, codes

    def _check_finite(self, values: dict[str, float]) -> None:
        """Stop before a NaN/inf loss reaches an optimizer; the checkpoint on disk is the last good state."""
        bad = [f"{k}={v}" for k, v in values.items() if not np.isfinite(v)]
        if self.dist.any(bool(bad), self.device):  # every rank stops together
            raise Pix2GanError(f"step {self.step + 1}: {', '.join(bad) or 'a non-finite loss on another rank'}; "
                               f"training stopped, {self.run.checkpoint} keeps the last good state")

    def stop_if_data_broken(self) -> None:
        if self.dist.any(self.health.over_limit(), self.device):
            self.save()
            raise Pix2GanError(f"{self.health.limit_message()}; training stopped at step {self.step}, "
                               f"{self.run.checkpoint} is saved: fix or remove the files, then --resume (with "
                               f"--allow-data-change if files were removed)")

    # ----------------------------------------------------------------------------------------------- what it writes
    def log(self, phase: Phase, metrics: dict[str, float], bar: tqdm) -> None:
        """One ``log.jsonl`` record (and TensorBoard's events), with the warnings it fires."""
        record = {"step": self.step, "phase": phase.name, **{k: round(v, 6) for k, v in metrics.items()},
                  **self.health.counts}
        fired = self.monitor.update(record)
        for name in fired:
            bar.write(f"warning: step {self.step}: {ADVICE[name]}", file=sys.stderr)
        record = {**record, "warnings": fired} if fired else record
        self.run.append_log(record)
        if self.events is not None:
            self.events.record(record)
        shown = ("d_loss", "g_adv", "g_recon", f"val_{self.cfg.val_metric}")
        bar.set_postfix({k: f"{metrics[k]:.3g}" for k in shown if k in metrics})

    def save_samples(self) -> Path:
        """``samples/step_NNNNNN.png``: :func:`~pix2gan.evaluate.sample_grid` on fixed centre crops of held-out
        images when there are any, else of training images."""
        if self._sample_batch is None:
            self._sample_batch = center_batch(self.holdout or self.data, 4, self.cfg.size)
        from torchvision.utils import save_image  # (imported here: torchvision takes 1.4 s to import)

        grid = sample_grid(self.G_eval, self.task, self._sample_batch, self.device)
        path = self.run.sample(self.step)
        with replacing(path) as tmp:
            save_image(grid, tmp)
        if self.events is not None:
            self.events.sample(self.step, path)
        return path

    def validate(self) -> dict[str, float]:
        """The ``evaluate`` figures of the held-out split (``val_count`` fixed crops, the EMA G when there is one);
        ``best.pt`` is rewritten when ``val_metric`` improved."""
        G, was_training = self.G_eval, self.G_eval.training
        result = evaluate(G, self.task, self.holdout, count=self.cfg.val_count, size=self.cfg.size,
                          device=self.device)
        G.train(was_training)
        value, metric = result.metrics[self.cfg.val_metric], self.cfg.val_metric
        if goodness(metric, value) > (goodness(metric, self.best["value"]) if self.best else -np.inf):
            self.best = {"step": self.step, "metric": metric, "value": value}
            best = {"config": dataclasses.asdict(self.cfg), "step": self.step, "best": self.best,
                    **self.nets.state_dict(Nets.GENERATORS)}
            self.run.write(self.run.best, lambda: save_checkpoint(self.run.best, best))
        return {f"val_{k}": v for k, v in result.metrics.items()}

    # ----------------------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """What ``checkpoint.pt`` holds, but the RNG states (see :meth:`save`)."""
        return {"config": dataclasses.asdict(self.cfg), "step": self.step, "world_size": self.dist.world,
                **({"elastic_run_id": self.dist.run_id} if self.dist.run_id else {}),
                **({"best": self.best} if self.best is not None else {}), **self.nets.state_dict(),
                "data": {"listing": self.listing, **self.health.state_dict()}}

    def load_state_dict(self, state: dict, allow_data_change: bool = False) -> None:
        check_listing(state.get("data", {}).get("listing"), self.listing, self.run, self.cfg.data, allow_data_change,
                      self.dist.is_main)
        self.health.load_state_dict(state.get("data", {}), self.source)
        self.nets.load_state_dict(state)
        self.step, self.best = int(state["step"]), state.get("best")
        set_rng_state(state["rng"]["per_rank"], self.dist, self.device)

    def save(self) -> None:
        """Write ``checkpoint.pt`` atomically: :meth:`state_dict` and every rank's RNG states. Collective under
        torchrun (every rank calls it; rank 0 writes)."""
        per_rank = self.dist.gather(rng_state(self.device))
        if self.dist.is_main:
            state = {**self.state_dict(), "rng": {"per_rank": per_rank}}
            self.run.write(self.run.checkpoint, lambda: save_checkpoint(self.run.checkpoint, state))

    @classmethod
    def resume(cls, run_dir: Path, overrides: dict | None = None, *, progress: bool = True,
               dist: Dist = Dist(), profile: bool = False, allow_data_change: bool = False) -> Trainer:
        """Continue the run in ``run_dir``; ``overrides`` may change only ``steps``, logging, worker and device keys.

        The data must still list the same files (count and names' hash), unless ``allow_data_change``: then training
        goes on with the new listing (the batches differ from an uninterrupted run's)."""
        state = load_checkpoint(RunDir(run_dir).checkpoint)
        return cls(resumed_config(state["config"], overrides or {}, run_dir), run_dir, progress=progress,
                   state=state, dist=dist, profile=profile, allow_data_change=allow_data_change)
