"""Reading a run back: the ``pix2gan inspect`` summary and its ``diagnostics.png``."""

from __future__ import annotations

import contextlib
from pathlib import Path

from pix2gan.checkpoint import load_checkpoint
from pix2gan.diagnostics import ADVICE, read_log
from pix2gan.errors import Pix2GanError
from pix2gan.rundir import RunDir


def summarize(run_dir: Path) -> str:
    """A few lines: the run's configuration, where it stands, its last figures and every warning with its step."""
    run = RunDir(run_dir)
    cfg = run.read_config()
    log = read_log(run_dir)
    lines = [f"run {run_dir}: task {cfg['task']}, gan loss {cfg['gan_loss'] or 'none'}, recon {cfg['recon'] or 'none'}×{cfg['recon_weight']:g}"
             f", data {cfg['data']}"]
    if not log:
        return "\n".join(lines + ["no logged steps yet"])
    last = log[-1]
    lines.append(f"step {last['step']} of {cfg['steps']}")
    keys = ["d_loss", "g_adv", "g_recon", "d_real", "d_fake", "d_acc_real", "d_acc_fake", "grad_adv", "grad_recon",
            "diversity", "sec"]
    recent = [r for r in log if r.get("step", 0) > last["step"] - 10 * max(1, cfg.get("log_every", 1))]
    means = {k: sum(r[k] for r in recent if k in r) / sum(1 for r in recent if k in r)
             for k in keys if any(k in r for r in recent)}
    lines.append("last figures (mean of the last 10 logged steps): "
                 + ", ".join(f"{k} {v:.4g}" for k, v in means.items()))
    metric = cfg.get("val_metric", "psnr")
    validated = [r for r in log if f"val_{metric}" in r]
    if validated:
        best = load_checkpoint(run.best)["best"] if run.best.exists() else None
        lines.append(f"validation: {metric} {validated[-1][f'val_{metric}']:.4g} at step {validated[-1]['step']}"
                     + (f"; best {best['value']:.4g} at step {best['step']} (best.pt)" if best else ""))
    warned = [(r["step"], w) for r in log for w in r.get("warnings", [])]
    if warned:
        lines += [f"warning at step {step}: {name}: {ADVICE[name]}" for step, name in warned]
    else:
        lines.append("no warnings: no vanishing gradient, mode collapse or non-convergence detected")
    return "\n".join(lines)


@contextlib.contextmanager
def figure(path: Path, rows: int, cols: int, **kwargs):
    """A matplotlib figure of ``rows`` × ``cols`` axes, written to ``path`` (atomically) when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pix2gan.files import save_figure_atomic

    fig, axes = plt.subplots(rows, cols, **kwargs)
    try:
        yield fig, axes
        fig.tight_layout()
        save_figure_atomic(fig, path)
    finally:
        plt.close(fig)


def plot_curves(ax, curves: dict[str, tuple[list[dict], str]], title: str, log_scale: bool = False) -> None:
    """One line per ``label: (log records, key)``: the key's logged values against their steps (positive ones on a
    log scale)."""
    for label, (records, key) in curves.items():
        pts = [(r["step"], r[key]) for r in records if key in r and (not log_scale or r[key] > 0)]
        if pts:
            ax.plot(*zip(*pts), label=label, lw=1)
    ax.set_title(title, fontsize=10)
    if log_scale and ax.lines:
        ax.set_yscale("log")
    if ax.lines:
        ax.legend(fontsize=8)


def plot_diagnostics(run_dir: Path, path: Path | None = None) -> Path:
    """Write ``diagnostics.png``: losses, D's view, gradient signal at G's output, output diversity."""
    run_dir = Path(run_dir)
    log = [r for r in read_log(run_dir) if "step" in r]
    if not log:
        raise Pix2GanError(f"{run_dir}: log.jsonl has no logged steps to plot")
    path = Path(path) if path else run_dir / "diagnostics.png"
    run = RunDir(run_dir)
    metric = run.read_config().get("val_metric", "psnr") if run.config.exists() else "psnr"
    panels = [
        ("losses", ["d_loss", "g_adv", "g_recon"], False),
        ("discriminator (D(real), D(fake), accuracy)", ["d_real", "d_fake", "d_acc_real", "d_acc_fake"], False),
        ("gradient norm at G's output, by term", ["grad_adv", "grad_recon"], True),
        ("output diversity / target diversity", ["diversity"], False),
        (f"validation on the held-out split ({metric}; --val-every)", [f"val_{metric}"], False),
        ("learning rate (G)", ["lr"], False),
    ]
    with figure(path, 3, 2, figsize=(11, 10), sharex=True) as (fig, axes):
        for ax, (title, keys, log_scale) in zip(axes.flat, panels):
            plot_curves(ax, {key: (log, key) for key in keys}, title, log_scale)
            for r in log:
                for w in r.get("warnings", []):
                    ax.axvline(r["step"], color="red", ls="--", lw=0.8)
                    ax.text(r["step"], ax.get_ylim()[1], w, color="red", fontsize=7, rotation=90, va="top")
        for ax in axes[2]:
            ax.set_xlabel("step")
        fig.suptitle(str(run_dir), fontsize=10)
    return path
