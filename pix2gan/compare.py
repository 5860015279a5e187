"""``pix2gan compare``: train loss variants under identical conditions, evaluate them on the same held-out crops,
and write a report (index.html, metrics.csv, metrics.json, grid.png, curves.png)."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from pix2gan.checkpoint import load_checkpoint
from pix2gan.files import atomic_write_bytes, replacing
from pix2gan.config import NONE, TrainConfig, resolve
from pix2gan.data.photos import BUILTIN_SETS
from pix2gan.diagnostics import read_log
from pix2gan.errors import Pix2GanError
from pix2gan.evaluate import Evaluation, evaluate
from pix2gan.losses import GAN_LOSSES, RECON_LOSSES
from pix2gan.metrics import DIRECTION, goodness
from pix2gan.report import figure, plot_curves
from pix2gan.rundir import RunDir
from pix2gan.tasks import make_task
from pix2gan.models import load_generator, pick_device
from pix2gan.train import Trainer

_VARIANT = re.compile(r"^(?P<recon>[a-z0-9]+)(\*(?P<weight>[0-9.eE+-]+))?(\+(?P<gan>(?!z[0-9])[a-z][a-z0-9-]*?))?"
                      r"(\+z(?P<latent>[0-9]+)(?P<kl>kl)?)?$")


@dataclass(frozen=True)
class Variant:
    """``RECON[*WEIGHT][+GANLOSS][+zZ[kl]]``: e.g. ``l2``, ``l1+nonsaturating``, ``l1*10+hinge``, ``none+lsgan``;
    ``l1+nonsaturating+z8``: a latent code of 8 (Alpha-GAN's code discriminator), ``+z8kl``: with the KL code
    loss."""

    label: str
    recon: str | None  # None: no explicit term
    recon_weight: float
    gan_loss: str | None  # None: no discriminator
    latent_dim: int = 0
    code_loss: str = "adversarial"

    @property
    def folder(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]", "_", self.label)


def parse_variant(text: str, default_weight: float = 100.0) -> Variant:
    m = _VARIANT.match(text.strip())
    if not m:
        raise Pix2GanError(f"variant {text!r}: expected RECON[*WEIGHT][+GANLOSS], e.g. l1+nonsaturating or l1*10+hinge")
    recon, gan = m["recon"], m["gan"] or NONE
    if recon not in (*RECON_LOSSES, NONE):
        raise Pix2GanError(f"variant {text!r}: explicit term {recon!r} is not one of {', '.join([*RECON_LOSSES, NONE])}")
    if gan not in (*GAN_LOSSES, NONE):
        raise Pix2GanError(f"variant {text!r}: GAN loss {gan!r} is not one of {', '.join(GAN_LOSSES)}")
    recon, gan = (None if name == NONE else name for name in (recon, gan))
    if recon is None and gan is None:
        raise Pix2GanError(f"variant {text!r}: nothing to train")
    latent = int(m["latent"]) if m["latent"] else 0
    if m["latent"] and (latent < 1 or gan is None or recon is None):
        raise Pix2GanError(f"variant {text!r}: a latent code needs Z ≥ 1, an explicit term and a GAN loss, e.g. "
                           f"l1+nonsaturating+z8")
    try:
        weight = float(m["weight"]) if m["weight"] else default_weight
    except ValueError:
        raise Pix2GanError(f"variant {text!r}: weight {m['weight']!r} is not a number") from None
    return Variant(text.strip(), recon, weight, gan, latent, "kl" if m["kl"] else "adversarial")


#: What ``pix2gan compare`` trains when not told otherwise: small and fast, every variant alike.
COMPARE_DEFAULTS = dict(data="builtin:bimodal-colors", steps=1500, size=32, batch_size=32, depth=5, ngf=32, ndf=32,
                        holdout=0.2, seed=0)
#: The training options ``pix2gan compare`` offers (every variant gets the same), ``data`` first.
COMPARE_OPTIONS = ("data", "task", *(k for k in COMPARE_DEFAULTS if k != "data"), "tensorboard", "precision", "device")


def compare_config(**values) -> TrainConfig:
    """The configuration every variant starts from: :data:`COMPARE_DEFAULTS`, then ``values``; checkpoints (and,
    with TensorBoard, sample grids) four times per run."""
    cfg = TrainConfig(**{**COMPARE_DEFAULTS, **values})
    every = max(1, cfg.steps // 4)
    return dataclasses.replace(cfg, sample_every=every if cfg.tensorboard else 10**9, checkpoint_every=every)


def parse_variants(text: str) -> list[Variant]:
    """``--variants``: comma-separated, each listed once."""
    variants = [parse_variant(v) for v in text.split(",") if v.strip()]
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise Pix2GanError(f"--variants {text!r}: a variant is listed twice")
    return variants


def compare(base: TrainConfig, variants: str, out: Path, *, eval_count: int = 64, samples: int = 8,
            ema: bool = True, progress: bool = True, title: str | None = None,
            baselines: dict[str, torch.nn.Module] | None = None) -> tuple[dict[str, Evaluation], dict[str, Path]]:
    """``pix2gan compare``: train every variant of ``variants`` from ``base`` into ``out/runs/``, evaluate them
    (next to ``baselines``, label → a generator) on the same held-out crops and write the report into ``out``.
    Returns the evaluations and the run folders."""
    runs = train_variants(base, parse_variants(variants), out, progress=progress)
    results = evaluate_runs(runs, None, eval_count, pick_device(base.device), ema=ema,
                            samples=samples, baselines=baselines)
    write_report(results, runs, out, title or f"pix2gan compare: {base.data}")
    return results, runs


def train_variants(base: TrainConfig, variants: list[Variant], out: Path, progress: bool = True) -> dict[str, Path]:
    """Train each variant from ``base`` (same seed, data split, architecture, steps) into ``out/runs/<variant>``.

    A variant whose run already finished with the same configuration is not trained again; an unfinished one resumes.
    """
    runs = {}
    for v in variants:
        cfg = dataclasses.replace(base, recon=v.recon, recon_weight=v.recon_weight, gan_loss=v.gan_loss,
                                  latent_dim=v.latent_dim, code_loss=v.code_loss)
        run_dir = out / "runs" / v.folder
        if progress:
            print(f"[{v.label}] training {cfg.steps} steps → {run_dir}", file=sys.stderr)
        if RunDir(run_dir).checkpoint.exists():
            trainer = Trainer.resume(run_dir, {"steps": cfg.steps}, progress=progress)
            if trainer.step >= cfg.steps and progress:
                print(f"[{v.label}] already trained", file=sys.stderr)
            if dataclasses.asdict(trainer.cfg) != dataclasses.asdict(resolve(cfg)):
                raise Pix2GanError(f"{run_dir}: holds a run with another configuration; use a new --out")
        else:
            trainer = Trainer(cfg, run_dir, progress=progress)
        trainer.fit()
        if trainer.interrupted:
            raise KeyboardInterrupt
        runs[v.label] = run_dir
    return runs


def evaluate_runs(runs: dict[str, Path], data: str | None, count: int, device: str = "cpu",
                  ema: bool = True, samples: int = 8,
                  baselines: dict[str, torch.nn.Module] | None = None) -> dict[str, Evaluation]:
    """Evaluate every run (a run folder or a checkpoint file of any name) on the same crops: the held-out split of
    ``data`` (default: the first run's data) with the first run's holdout fraction, or all of ``data`` when the runs
    held nothing out. ``ema``: each run's EMA generator when it has one (the raw G otherwise). When any run has a
    latent code, every run answers each crop ``samples`` times (a one-answer run the same each time), so the
    diversity figures sit side by side; otherwise once. ``baselines`` (label → a generator for the runs' task, e.g.
    "copy the last frame") are evaluated first, on the same crops."""
    paths = {label: RunDir(run).checkpoint if Path(run).is_dir() else Path(run) for label, run in runs.items()}
    # one generator in memory at a time: the configs alone (tensors mapped, not read) decide the samples
    if not any(load_checkpoint(p, mmap=True)["config"].get("latent_dim") for p in paths.values()):
        samples = 1
    first = None
    results = {}
    for label, run in runs.items():  # a run folder, or any checkpoint file (.pt or .safetensors)
        G, cfg = load_generator(paths[label], ema=ema)
        if first is None:
            first = cfg
            task = make_task(cfg)
            spec = data or cfg.data
            source = task.open_source(spec)
            held = source.split(cfg.holdout)[1] if spec == cfg.data else None
            eval_set = held or source
            builtin = BUILTIN_SETS.get(spec.removeprefix("builtin:")) if spec.startswith("builtin:") else None
            extra = builtin.extra_metrics if builtin else None
            sample_extra = builtin.sample_metrics if builtin else None
            for name, module in (baselines or {}).items():
                results[name] = evaluate(module, task, eval_set, count=count, size=cfg.size, device=device,
                                         extra=extra)
        elif cfg.task != first.task:
            raise Pix2GanError(f"{run}: a {cfg.task} run cannot be compared with {first.task} runs")
        results[label] = evaluate(G, task, eval_set, count=count, size=first.size, device=device, extra=extra,
                                  samples=samples, sample_extra=sample_extra)
        del G  # before the next one is loaded
    return results


def markdown_table(results: dict[str, Evaluation], columns: list[str], first: str = "variant") -> str:
    """The chosen metrics of every result as a markdown table (columns a result lacks are left out)."""
    columns = [c for c in columns if all(c in r.metrics for r in results.values())]
    lines = [f"| {first} | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {label} | " + " | ".join(f"{r.metrics[c]:.3f}" for c in columns) + " |"
              for label, r in results.items()]
    return "\n".join(lines)


#: The report's metric tables: (title, what the group tells, [(metric, one-line meaning)]). Metrics a run does not
#: have are left out; those in no group (raw no-reference values) are in metrics.csv and metrics.json.
GROUPS = [
    ("Fidelity", "how close each prediction is to its ground truth", [
        ("psnr", "peak signal-to-noise ratio in dB; rewards the average answer, so L2 tends to win it"),
        ("ssim", "structural similarity (0–1)"),
        ("l1", "mean absolute pixel error"),
        ("sharpness_diff", "how well the image gradients match the truth's, in dB (Mathieu et al.)"),
    ]),
    ("Blur", "prediction / ground truth: 1 is as sharp as reality, below 1 blurred (above 1 for blur_effect)", [
        ("laplacian_var_ratio", "variance of the Laplacian (edge energy)"),
        ("grad_mag_ratio", "mean gradient magnitude"),
        ("hf_fraction_ratio", "share of the spectrum's energy at high frequencies"),
        ("blur_effect_ratio", "Crété-Roffet blur estimate (higher: blurrier)"),
    ]),
    ("Colour", "prediction / ground truth: 1 is as colourful as reality, 0 is gray", [
        ("colourfulness_ratio", "Hasler & Süsstrunk colourfulness"),
        ("chroma_ratio", "mean CIE Lab chroma"),
        ("hue_hit_rate", "share of shape pixels given the right one of the two hues (bimodal set)"),
        ("shape_chroma_ratio", "chroma on the shapes over the truth's (bimodal set: an averaging loss paints them gray)"),
    ]),
    ("Artefacts", "prediction / ground truth: 1 is as clean as reality, above 1 the network adds a pattern", [
        ("ripple_ratio", "periodic colour ripple (stripes, checkerboard at 2–16 px) where the lightness is smooth"),
    ]),
]


def write_report(results: dict[str, Evaluation], runs: dict[str, Path], out: Path, title: str) -> Path:
    """index.html (metric tables by group, best in bold; sample grid with the variants named over its columns;
    loss curves; no external assets), metrics.csv, metrics.json, grid.png, curves.png."""
    out.mkdir(parents=True, exist_ok=True)
    labels = list(results)
    names = list(next(iter(results.values())).metrics)
    table = {label: results[label].metrics for label in labels}
    atomic_write_bytes(out / "metrics.json", (json.dumps(table, indent=2) + "\n").encode())
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["variant", *names])
    for label in labels:
        writer.writerow([label, *(f"{table[label][n]:.6g}" for n in names)])
    atomic_write_bytes(out / "metrics.csv", buf.getvalue().encode())

    first = results[labels[0]]
    n = min(8, first.cond.shape[0])
    grid = labelled_grid([first.cond[:n], first.real[:n]] + [results[label].fake[:n] for label in labels],
                         ["input", "ground truth", *labels])
    with replacing(out / "grid.png") as tmp:
        grid.save(tmp)
    has_curves = _plot_curves(runs, out / "curves.png")

    def best(name):
        vals = {lb: table[lb][name] for lb in labels if table[lb][name] == table[lb][name]}  # drop NaN
        if len(vals) < 2:
            return None
        return max(vals, key=lambda lb: goodness(name, vals[lb]))

    sections = []
    for group, meaning, metrics in GROUPS:
        metrics = [(m, what) for m, what in metrics if m in names]
        if not metrics:
            continue
        winners = {m: best(m) for m, _ in metrics}
        head = "".join(f"<th>{html.escape(m)}</th>" for m, _ in metrics)
        rows = "\n".join(
            f"<tr><th>{html.escape(label)}</th>"
            + "".join(f"<td><b>{table[label][m]:.4g}</b></td>" if winners[m] == label else
                      f"<td>{table[label][m]:.4g}</td>" for m, _ in metrics) + "</tr>" for label in labels)
        notes = "".join(f"<li><code>{html.escape(m)}</code> ({_better(m)}): {html.escape(what)}</li>"
                        for m, what in metrics)
        sections.append(f"<h3>{group}: {html.escape(meaning)}</h3>\n<table><tr><th>variant</th>{head}</tr>\n"
                        f"{rows}\n</table>\n<ul class=notes>{notes}</ul>")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{html.escape(title)}</title>
<style>
body{{font-family:sans-serif;margin:1.5em auto;max-width:1180px;padding:0 1em;line-height:1.4}}
table{{border-collapse:collapse;font-size:14px;margin:.3em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} tr>th:first-child{{text-align:left}}
ul.notes{{font-size:13px;color:#444;margin:.2em 0 1.2em}} img{{max-width:100%;height:auto}}
</style>
</head><body>
<h1>{html.escape(title)}</h1>
<h2>Metrics on held-out crops</h2>
<p>Best of each metric in bold. Every figure, raw values included, is also in
<a href="metrics.csv">metrics.csv</a> and <a href="metrics.json">metrics.json</a>.</p>
{chr(10).join(sections)}
<h2>Held-out samples</h2>
<p><img src="grid.png" alt="held-out samples: input, ground truth, then one column per variant"></p>
{'<h2>Training curves</h2><p><img src="curves.png" alt="training curves"></p>' if has_curves else ''}
</body></html>
"""
    atomic_write_bytes(out / "index.html", page.encode())
    return out / "index.html"


def _better(name: str) -> str:
    how = DIRECTION.get(name, "max")
    return "closest to 1 is best" if how == "one" else "higher is better" if how == "max" else "lower is better"


def labelled_grid(columns: list[torch.Tensor], names: list[str], cell: int = 112) -> Image.Image:
    """Columns of images ``(n, 3, h, w)`` in [0, 1] side by side, each scaled (nearest) to about ``cell`` px wide,
    with its name written above it."""
    from PIL import ImageDraw, ImageFont
    from torchvision.utils import make_grid  # (imported here: torchvision takes 1.4 s to import)

    scale = max(1, cell // columns[0].shape[-1])
    strips = []
    for col in columns:
        img = make_grid(col.float().clamp(0, 1), nrow=1, padding=2, pad_value=1.0)  # (3, H, W): one column
        pixels = img.mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
        strips.append(Image.fromarray(pixels).resize((img.shape[2] * scale, img.shape[1] * scale), Image.NEAREST))
    head = 32
    sheet = Image.new("RGB", (sum(st.width for st in strips), head + strips[0].height), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=12)
    x = 0
    for strip, name in zip(strips, names):
        sheet.paste(strip, (x, head))
        lines = _wrap(name, font, strip.width - 4, draw)
        for k, line in enumerate(lines):
            width = draw.textlength(line, font=font)
            draw.text((x + (strip.width - width) / 2, 16 - 7 * len(lines) + 14 * k), line, fill="black", font=font)
        x += strip.width
    return sheet


def _wrap(text: str, font, width: int, draw) -> list[str]:
    """``text`` in at most two lines of ``width`` px, broken after a + or * when it is too long."""
    if draw.textlength(text, font=font) <= width:
        return [text]
    cuts = [i + 1 for i, c in enumerate(text) if c in "+*"]
    for cut in reversed(cuts):
        if draw.textlength(text[:cut], font=font) <= width:
            return [text[:cut], text[cut:]]
    return [text[:len(text) // 2], text[len(text) // 2:]]


def _plot_curves(runs: dict[str, Path], path: Path) -> bool:
    """curves.png: the explicit term, G's adversarial term and D's loss of every run, side by side."""
    logs = {label: read_log(run_dir) for label, run_dir in runs.items()}
    if not any(logs.values()):
        return False
    with figure(path, 1, 3, figsize=(14, 3.8)) as (fig, axes):
        for ax, key, title in zip(axes, ("g_recon", "g_adv", "d_loss"),
                                  ("explicit term (unweighted)", "G adversarial term", "D loss")):
            plot_curves(ax, {label: (log, key) for label, log in logs.items()}, title)
            ax.set_xlabel("step")
    return True
