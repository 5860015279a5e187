"""The training loop: schedules, warm-up phases, EMA, validation and bookkeeping around the D and G phases of
``step.py``; checkpoints, exact resume, log.jsonl, sample grids, best.pt in the run folder (``rundir.py``)."""

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
from torchvision.utils import make_grid, save_image
from tqdm import tqdm

from pix2gan.checkpoint import load_checkpoint, replacing, save_checkpoint
from pix2gan.config import TrainConfig, diff, resolve
from pix2gan.data import open_source
from pix2gan.data.source import (DataHealth, Draws, StepBatches, center_batch, default_workers, draw_loader,
                                 fingerprint, holdout_split, seeded_generator)
from pix2gan.diagnostics import ADVICE, Monitor
from pix2gan.distributed import Dist
from pix2gan.errors import Pix2GanError
from pix2gan.evaluate import evaluate
from pix2gan.losses import NONE
from pix2gan.metrics import goodness
from pix2gan.nets import CodeDiscriminator, Encoder, PatchDiscriminator, UNet, init_weights, prior_codes
from pix2gan.rundir import RunDir
from pix2gan.runtime import PhaseTimer, cpu_has_native_bf16, tune_cpu
from pix2gan.step import (Codes, Hooks, LossSettings, Nets, c_phase, d_phase, ema_beta, ema_update, encode, g_phase,
                          lr_factor, phase_of)
from pix2gan.tasks import make_task
from pix2gan.watch import EventLog


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
    return UNet(task.cond_channels, task.out_channels, cfg.depth, cfg.ngf, cfg.g_norm, cfg.dropout,
                cfg.latent_dim, cfg.latent_inject)


def build_encoder(cfg: TrainConfig) -> Encoder | None:
    """E for a latent model (the target with its condition → a code, or a mean and log-variance for the kl code
    loss), as wide as D; None when ``latent_dim`` is 0."""
    if not cfg.latent_dim:
        return None
    task = make_task(cfg)
    out_dim = cfg.latent_dim * (2 if cfg.code_loss == "kl" else 1)
    return Encoder(task.cond_channels + task.out_channels, out_dim, cfg.ndf, levels=min(4, cfg.depth))


def build_code_discriminator(cfg: TrainConfig) -> CodeDiscriminator | None:
    """C for a latent model with the adversarial code loss (spectral norm as the GAN loss's preset says); else
    None."""
    if not cfg.latent_dim or cfg.code_loss != "adversarial":
        return None
    return CodeDiscriminator(cfg.latent_dim, spectral_norm=cfg.spectral_norm)


def build_discriminator(cfg: TrainConfig) -> PatchDiscriminator | None:
    """The PatchGAN for ``cfg`` (resolved), or None for an explicit-loss-only baseline (nothing is built)."""
    if cfg.gan_loss == NONE:
        return None
    task = make_task(cfg)
    in_channels = task.out_channels + (task.cond_channels if cfg.disc == "conditional" else 0)
    return PatchDiscriminator(in_channels, cfg.ndf, cfg.d_layers, cfg.d_norm, cfg.spectral_norm)


def load_generator(path: Path, task: str | None = None, ema: bool = True) -> tuple[UNet, TrainConfig]:
    """The generator of a checkpoint, best.pt or exported .safetensors (eval mode, on the CPU) and the config it was
    trained with: its EMA weights when it has them and ``ema``, else the raw G."""
    return generator_from_state(load_checkpoint(Path(path), task=task), path, ema)


def generator_from_state(state: dict, path: Path, ema: bool = True) -> tuple[UNet, TrainConfig]:
    """:func:`load_generator` for a checkpoint already loaded from ``path`` (named in errors)."""
    cfg = TrainConfig.from_dict(state["config"])
    if "G" not in state:
        raise Pix2GanError(f"{path}: holds no generator weights (no 'G' in it)")
    G = build_generator(cfg)
    key = "G_ema" if ema and "G_ema" in state else "G"
    try:
        G.load_state_dict(state[key])
    except RuntimeError as e:
        first = next((ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()), str(e))
        raise Pix2GanError(f"{path}: its generator weights do not fit its configuration ({first})") from None
    return G.eval(), cfg


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


def batch_generator(seed: int, step: int, k: int, stream: int = 0) -> torch.Generator:
    """A random stream of batch ``k`` of ``step`` (stream 1: the gradient penalty's ε; the crops have their own,
    :func:`pix2gan.data.source.sample_generator`): a pure function of its arguments, so resumed and multi-process
    runs draw exactly what a single run would."""
    return seeded_generator(seed, step, k, stream)


def _write(path: Path, write) -> None:
    """``write()``, which writes ``path``; a failure (disk full, permissions) as one line naming the file."""
    try:
        write()
    except OSError as e:
        raise Pix2GanError(f"{path}: cannot write ({e.strerror or e}); training stopped") from None


class Trainer:
    """Trains one run in ``run_dir`` (see :class:`~pix2gan.rundir.RunDir`).

    ``Trainer(cfg, run_dir).fit()`` starts a new run; ``Trainer.resume(run_dir, overrides).fit()`` continues one
    exactly where its checkpoint stopped.
    """

    def __init__(self, cfg: TrainConfig, run_dir: Path, *, progress: bool = True, state: dict | None = None,
                 dist: Dist = Dist(), profile: bool = False, allow_data_change: bool = False):
        self.cfg = cfg = resolve(cfg)
        self.run = RunDir(run_dir)
        self.dist = dist
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

        torch.manual_seed(cfg.seed)
        G, D = build_generator(cfg).to(self.device), build_discriminator(cfg)
        init_weights(G)
        if D is not None:
            init_weights(D)
            D.to(self.device)
        E, C = build_encoder(cfg), build_code_discriminator(cfg)  # built after G and D: a latent-free run draws
        for net in (E, C):                                         # exactly what it drew before they existed
            if net is not None:
                init_weights(net)
                net.to(self.device)
        if dist.enabled:  # same weights everywhere; then each rank its own stream for dropout and augmentation
            for net in (G, D, E, C):
                if net is not None:
                    dist.broadcast_module(net)
            torch.manual_seed(cfg.seed * 1000 + dist.rank + 1)
        fp16 = cfg.precision == "fp16"
        g_params = list(G.parameters()) + (list(E.parameters()) if E is not None else [])  # E learns with G
        self.nets = Nets(G, D, make_optimizer(cfg, g_params, cfg.lr),
                         make_optimizer(cfg, D.parameters(), cfg.d_lr) if D is not None else None,
                         torch.amp.GradScaler("cuda") if fp16 else None, torch.amp.GradScaler("cuda") if fp16 else None,
                         E, C, make_optimizer(cfg, C.parameters(), cfg.d_lr) if C is not None else None)
        self.G_ema = copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema_half_life > 0 else None
        self.hooks = Hooks(phase=self.timer, check=self._check_finite, average=dist.average_gradients)

        self.source = source = open_source(cfg)  # a listing: nothing is decoded before it is drawn
        self.listing = fingerprint(source.names)
        train, held = holdout_split(source.names, cfg.holdout)
        self.data = source.subset(train) if held else source
        self.holdout = source.subset(held) if held else None
        if cfg.val_data:  # a separate held-out set (whole sources, say) takes the place of the split
            self.holdout = open_source(cfg, cfg.val_data)
        self.health = DataHealth(len(source), cfg.max_bad_files)
        self._batches = None  # the DataLoader's iterator while fit() runs
        self._sample_batch: Tensor | None = None
        self.step = 0
        self.best: dict | None = None  # {"step", "metric", "value"} of best.pt
        if state is not None:
            self._restore(state, allow_data_change)
        self.monitor = Monitor()
        self.events: EventLog | None = None  # RUN/tb/ while fit() runs with --tensorboard
        self._stop_signal: int | None = None  # set by SIGINT/SIGTERM: finish the step, checkpoint, stop

    @property
    def G(self) -> UNet:
        return self.nets.G

    @property
    def D(self) -> PatchDiscriminator | None:
        return self.nets.D

    @property
    def run_dir(self) -> Path:
        return self.run.path

    # ----------------------------------------------------------------------------------------------- checkpoints
    @classmethod
    def resume(cls, run_dir: Path, overrides: dict | None = None, *, progress: bool = True,
               dist: Dist = Dist(), profile: bool = False, allow_data_change: bool = False) -> Trainer:
        """Continue the run in ``run_dir``; ``overrides`` may change only ``steps``, logging, worker and device keys.

        The data must still list the same files (count and names' hash), unless ``allow_data_change``: then training
        goes on with the new listing (the batches differ from an uninterrupted run's)."""
        state = load_checkpoint(RunDir(run_dir).checkpoint)
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
                raise Pix2GanError(f"{self.run}: the data changed since the checkpoint ({self.cfg.data}: "
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
        self.nets.opt_g.load_state_dict(state["opt_g"])
        if self.D is not None:
            self.D.load_state_dict(state["D"])
            self.nets.opt_d.load_state_dict(state["opt_d"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["G_ema"])
        if self.nets.E is not None:
            self.nets.E.load_state_dict(state["E"])
        if self.nets.C is not None:
            self.nets.C.load_state_dict(state["C"])
            self.nets.opt_c.load_state_dict(state["opt_c"])
        self.step, self.best = int(state["step"]), state.get("best")
        per_rank = state["rng"]["per_rank"]
        if len(per_rank) != self.dist.world and self.dist.is_main:
            print(f"warning: resuming a {len(per_rank)}-process run on {self.dist.world}; the random streams of "
                  f"dropout differ from an uninterrupted run", file=sys.stderr)
        rng = per_rank[self.dist.rank % len(per_rank)]
        torch.set_rng_state(rng["torch"])
        if self.device.type == "cuda" and rng.get("cuda") is not None:
            torch.cuda.set_rng_state(rng["cuda"], self.device)

    def _generators(self) -> dict:
        out = {"config": dataclasses.asdict(self.cfg), "step": self.step, "G": self.G.state_dict()}
        if self.G_ema is not None:
            out["G_ema"] = self.G_ema.state_dict()
        return out

    def save(self) -> None:
        """Write ``checkpoint.pt`` atomically: weights (and the EMA generator), optimizers, step, every rank's RNG
        states, the data listing, the best validation and the resolved config. Collective under torchrun (every
        rank calls it; rank 0 writes)."""
        rng = {"torch": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state(self.device).cpu() if self.device.type == "cuda" else None}
        per_rank = self.dist.gather(rng)
        if not self.dist.is_main:
            return
        state = {**self._generators(), "world_size": self.dist.world, "opt_g": self.nets.opt_g.state_dict(),
                 "rng": {"per_rank": per_rank},
                 "data": {"listing": self.listing, "bad": dict(self.health.bad), "unfit": sorted(self.health.unfit)}}
        if self.best is not None:
            state["best"] = self.best
        if self.D is not None:
            state.update(D=self.D.state_dict(), opt_d=self.nets.opt_d.state_dict())
        if self.nets.E is not None:
            state["E"] = self.nets.E.state_dict()
        if self.nets.C is not None:
            state.update(C=self.nets.C.state_dict(), opt_c=self.nets.opt_c.state_dict())
        _write(self.run.checkpoint, lambda: save_checkpoint(self.run.checkpoint, state))

    @property
    def G_eval(self) -> UNet:
        """The generator that samples and validation use: the EMA one when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    def save_samples(self) -> Path:
        """``samples/step_NNNNNN.png``: rows of cond | output | target on fixed centre crops of held-out images when
        there are any, else of training images (the EMA G when there is one, in eval mode); a latent model shows
        three answers (prior codes of seeds 0, 1, 2) where the output is."""
        if self._sample_batch is None:
            self._sample_batch = center_batch(self.holdout or self.data, 4, self.cfg.size)
        cond, real = self.task.to_tensors(self._sample_batch, self.device)
        G, was_training = self.G_eval, self.G_eval.training
        G.eval()
        with torch.inference_mode():
            if self.cfg.latent_dim:
                fakes = [G(cond, prior_codes(cond.shape[0], self.cfg.latent_dim, s).to(self.device)) for s in range(3)]
            else:
                fakes = [G(cond)]
        G.train(was_training)
        rows = torch.stack([self.task.cond_to_rgb(cond), *(self.task.to_rgb(cond, f) for f in fakes),
                            self.task.to_rgb(cond, real)], 1).flatten(0, 1)
        path = self.run.sample(self.step)
        with replacing(path) as tmp:
            save_image(make_grid(rows.cpu(), nrow=len(fakes) + 2, padding=2), tmp)
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
            best = {**self._generators(), "best": self.best}
            _write(self.run.best, lambda: save_checkpoint(self.run.best, best))
        return {f"val_{k}": v for k, v in result.metrics.items()}

    # ----------------------------------------------------------------------------------------------- one step
    def batches_per_step(self, step: int) -> int:
        """Batches step ``step`` draws: one per D update in the adversarial phase, one otherwise."""
        return self.cfg.n_critic if phase_of(self.cfg, step, self.D is not None) == "adversarial" else 1

    def open_batches(self):
        """The DataLoader's iterator over every batch from the current step on: this rank's slots of the global
        batch of ``batch_size × world`` (so N processes with batch B see what one process with batch N·B sees),
        each sample a pure function of (seed, step, k, slot) however many workers decode them."""
        b, r = self.cfg.batch_size, self.dist.rank
        workers = default_workers() if self.cfg.workers is None else self.cfg.workers
        return iter(draw_loader(Draws(self.data, self.cfg.seed, self.cfg.size),
                                StepBatches(self.step, self.cfg.steps, self.batches_per_step, range(r * b, (r + 1) * b)),
                                workers, pin_memory=self.device.type == "cuda"))

    def batch(self) -> tuple[Tensor, Tensor]:
        """The next batch of the current step as ``(cond, real)`` on the device."""
        with self.timer("data"):  # waiting for the loader
            if self._batches is None:
                self._batches = self.open_batches()
            raw, events = next(self._batches)
            for line in self.health.record(events):  # every rank reads its own files, so every rank reports
                tqdm.write(f"[rank {self.dist.rank}] {line}" if self.dist.enabled else line, file=sys.stderr)
        with self.timer("to tensors"):  # the task's conversion, on the device (colorize: sRGB → Lab)
            return self.task.to_tensors(raw, self.device)

    def penalty_eps(self, k: int, stream: int = 1) -> Tensor | None:
        """The gradient penalty's ε for batch ``k``: one per sample, ``(B, 1, 1, 1)``, drawn like the batch (stream
        4: the code discriminator's)."""
        if self.loss.gp_weight <= 0:
            return None
        b, r = self.cfg.batch_size, self.dist.rank
        eps = torch.rand(b * self.dist.world, generator=batch_generator(self.cfg.seed, self.step, k, stream=stream))
        return eps[r * b:(r + 1) * b].view(b, 1, 1, 1).to(self.device)

    def normal_draws(self, k: int, stream: int) -> Tensor:
        """``(B, Z)`` draws from N(0, I) for batch ``k`` (stream 2: the prior codes of the sampling path; 3: the
        kl code loss's reparametrisation noise), a pure function of (seed, step, k) like the batch itself."""
        b, r, z = self.cfg.batch_size, self.dist.rank, self.cfg.latent_dim
        draws = torch.randn(b * self.dist.world, z, generator=batch_generator(self.cfg.seed, self.step, k, stream))
        return draws[r * b:(r + 1) * b].to(self.device)

    def generate(self, cond: Tensor, real: Tensor, k: int) -> tuple[Tensor, Codes | None]:
        """G's output for batch ``k``: ``G(cond)``; for a latent model the reconstruction G(cond, E's code of
        ``real``) and the codes, with the sample G(cond, z ~ N(0, I)) in ``codes.sampled``."""
        if self.nets.E is None:
            with self.loss.autocast():
                return self.G(cond), None
        with self.timer("E forward"):
            z, mu, logvar = encode(self.nets.E, self.loss, cond, real, self.normal_draws(k, stream=3))
        codes = Codes(z, mu, logvar, self.normal_draws(k, stream=2))
        with self.loss.autocast():
            fake = self.G(cond, z)
            codes.sampled = self.G(cond, codes.prior)
        return fake, codes

    def train_step(self) -> dict[str, float]:
        """One step of the current phase: ``n_critic`` D updates (each on its own batch) then one G update
        (adversarial); G alone on the explicit terms (pretrain-g); one D update on the frozen G's output
        (pretrain-d). Sets the learning rates first and updates the EMA after a G update."""
        cfg, step, nets = self.cfg, self.step, self.nets
        phase = phase_of(cfg, step, self.D is not None)
        factor = lr_factor(cfg, step)
        for opt, base in ((nets.opt_g, cfg.lr), (nets.opt_d, cfg.d_lr)):
            for group in opt.param_groups if opt is not None else ():
                group["lr"] = base * factor
        measure = (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps
        out: dict[str, float] = {}
        n_d = {"adversarial": cfg.n_critic if self.D is not None else 0, "pretrain-d": 1, "pretrain-g": 0,
               "explicit": 0}[phase]
        train_g = phase != "pretrain-d"
        for k in range(max(n_d, 1)):
            cond, real = self.batch()
            with_graph = train_g and k == max(n_d, 1) - 1  # the last fake feeds the G phase
            with self.timer("G forward"), torch.set_grad_enabled(with_graph):
                fake, codes = self.generate(cond, real, k)
            if n_d:  # a latent model's D sees its reconstructions and its samples
                fakes = fake if codes is None else torch.cat([fake, codes.sampled])
                out = d_phase(nets, self.loss, cond, real, fakes.detach(), self.penalty_eps(k),
                              measure and k == n_d - 1, self.hooks)
        if train_g:
            if nets.C is not None:
                eps = self.penalty_eps(0, stream=4)
                out.update(c_phase(nets, self.loss, codes, eps.flatten(1) if eps is not None else None, self.hooks))
            out.update(g_phase(nets, self.loss, cond, real, fake, phase == "adversarial", measure, self.hooks,
                               codes))
            if self.G_ema is not None:
                with self.timer("EMA"):
                    ema_update(self.G_ema, self.G, ema_beta(cfg, step, self.dist.world))
        self.step += 1
        return {**out, "lr": nets.opt_g.param_groups[0]["lr"]}

    def _check_finite(self, values: dict[str, float]) -> None:
        """Stop before a NaN/inf loss reaches an optimizer; the checkpoint on disk is the last good state."""
        bad = [f"{k}={v}" for k, v in values.items() if not np.isfinite(v)]
        if self.dist.any(bool(bad), self.device):  # every rank stops together
            raise Pix2GanError(f"step {self.step + 1}: {', '.join(bad) or 'a non-finite loss on another rank'}; "
                               f"training stopped, {self.run.checkpoint} keeps the last good state")

    # ----------------------------------------------------------------------------------------------- the loop
    def fit(self, stop_at: int | None = None) -> dict[str, float]:
        """Train until ``cfg.steps`` (or ``stop_at``, checkpointed there like an interruption); checkpoint every
        ``checkpoint_every`` steps, at the end and on SIGINT/SIGTERM.

        Under torchrun every rank runs this loop; only rank 0 writes files and shows progress.
        """
        cfg, main = self.cfg, self.dist.is_main
        stop = min(cfg.steps, stop_at if stop_at is not None else cfg.steps)
        if main:
            self.run.lock()
            self.run.remove_stale_temporaries()
            _write(self.run.config, lambda: self.run.write_config(cfg.to_json() + "\n"))
            self.run.trim_log(self.step)
            for record in self.run.read_log():  # a resumed run remembers its window and its warnings
                self.monitor.update(record)
        self.G.train()
        for net in (self.D, self.nets.E, self.nets.C):
            if net is not None:
                net.train()
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train", unit="step", disable=not self.progress,
                   file=sys.stderr, dynamic_ncols=True)
        metrics: dict[str, float] = {}
        shown = None  # the phase in the bar's description
        try:
            if cfg.tensorboard and main:  # a resumed run hides what an earlier process logged after its checkpoint
                self.events = EventLog(self.run.path / "tb", purge_step=self.step + 1 if self.step else None)
            while self.step < stop and not self.dist.any(self._stop_signal is not None):
                t0 = time.perf_counter()
                phase = phase_of(cfg, self.step, self.D is not None)
                metrics = {**self.train_step(), "sec": time.perf_counter() - t0}
                bar.update(1)
                if phase != shown:
                    bar.set_description(f"train [{phase}]")
                    shown = phase
                self._bookkeeping(phase, metrics, bar)
                self.timer.add_step(time.perf_counter() - t0)
                if self.dist.any(self.health.over_limit(), self.device):
                    self.save()
                    raise Pix2GanError(f"{self.health.limit_message()}; training stopped at step {self.step}, "
                                       f"{self.run.checkpoint} is saved: fix or remove the files, then "
                                       f"--resume (with --allow-data-change if files were removed)")
            if self.step % cfg.checkpoint_every:
                self.save()
            if self.step < stop:  # stopped by a signal, here or on another rank
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
            if self.events is not None:
                self.events.close()
                self.events = None
            self.run.unlock()
        return metrics

    def _bookkeeping(self, phase: str, metrics: dict[str, float], bar: tqdm) -> None:
        """After a step: validation, the log line and its warnings, the sample grid, the checkpoint, each on its
        schedule."""
        cfg, main, step = self.cfg, self.dist.is_main, self.step
        with self.timer("log, samples, checkpoint"):
            validated = bool(cfg.val_every) and (step % cfg.val_every == 0 or step == cfg.steps)
            if validated and main:
                metrics = {**metrics, **self.validate()}
            if step % cfg.log_every == 0 or step == cfg.steps or validated:  # the same on every rank: collective
                self.dist.check_in_sync(self.G, self.D, self.nets.E, self.nets.C)
                if main:
                    record = {"step": step, "phase": phase, **{k: round(v, 6) for k, v in metrics.items()},
                              **self.health.counts}
                    fired = self.monitor.update(record)
                    for name in fired:
                        bar.write(f"warning: step {step}: {ADVICE[name]}", file=sys.stderr)
                    record = {**record, "warnings": fired} if fired else record
                    self.run.append_log(record)
                    if self.events is not None:
                        self.events.record(record)
                    bar.set_postfix({k: f"{metrics[k]:.3g}" for k in ("d_loss", "g_adv", "g_recon",
                                                                       f"val_{cfg.val_metric}") if k in metrics})
            if step % cfg.sample_every == 0 and main:
                self.save_samples()
            if step % cfg.checkpoint_every == 0:
                self.save()

    @property
    def interrupted(self) -> bool:
        """True when the last :meth:`fit` stopped early on SIGINT/SIGTERM (its checkpoint is saved)."""
        return self._stop_signal is not None

    def _on_signal(self, signum, frame) -> None:
        if self._stop_signal is not None:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self._stop_signal = signum
