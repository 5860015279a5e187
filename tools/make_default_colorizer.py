"""Train the default colorizer shipped in pix2gan/weights/ and its L2 twin, measure both on held-out *sources*, and
write the model card (docs/default_colorizer.md).

    python tools/make_default_colorizer.py --previous prev.pt       # prev.pt: the bundled file this one replaces
    python tools/make_default_colorizer.py --evaluate-only ...      # the card again from the trained runs

Data (all offline; the tool lists what it found and what it left out, and why): scikit-image's scene photos,
matplotlib's grace_hopper.jpg, scikit-learn's china.jpg and flower.jpg, and the photographs (not the illustrations)
in Debian's mate-backgrounds, palapeli-data, lomiri-wallpapers(-16.04/-20.04), ukui-wallpapers, opencv-doc and
stellarium-data packages. Whole sources form three groups: *train*; *select*, on which every choice is made (the
upsampler, which checkpoint, EMA or not, ``--size``, ``--strength``; best.pt by its PSNR); *report*, measured once
for the card and never used to choose. plasma-workspace-wallpapers is never read (an independent test set).

Training photos are cut into many crops at several scales (seeded), so a few dozen photos give ~50 views each, from
the whole scene down to a quarter of it.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import skimage.color

from pix2gan import metrics
from pix2gan.checkpoint import FORMAT, VERSION, load_checkpoint
from pix2gan.files import atomic_write_bytes, save_image_atomic
from pix2gan.colorizer import Colorizer
from pix2gan.compare import parse_variant, train_variants
from pix2gan.config import TrainConfig
from pix2gan.models import check_backend
from pix2gan.runtime import cpu_description

from common import (NO_PHOTOGRAPHS, Photo, composite, gather_photos,  # tools/common.py (tools/: the script's folder)
                    shrink, write_crops)

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "pix2gan" / "weights" / "default_colorizer.pt"
#: The commit holding the bundled model this recipe replaced, and what it was.
PREVIOUS_COMMIT = "b2e9a8d"
PREVIOUS_TEXT = ("the hint model of 21 training photos whose choices were made on the same held-out photos its card "
                 "reported on")
CARD = ROOT / "docs" / "default_colorizer.md"


def recipe(args, data: Path, val: Path, upsample: str) -> tuple[TrainConfig, TrainConfig]:
    """The shipped model's configuration and its L2 twin's (same data, seed, nets, steps and schedule)."""
    gan = TrainConfig(
        data=str(data), size=args.size, load_scale=1.25, batch_size=args.batch, ngf=32, ndf=32, depth=6, hints=True,
        upsample=upsample, steps=args.steps, seed=args.seed, device=args.device, precision=args.precision,
        recon_weight=100.0, adv_weight=1.0,
        pretrain_g_steps=args.steps // 6, pretrain_d_steps=args.steps // 30,  # NoGAN warm-up
        lr_schedule="linear", lr_decay_start=args.steps // 2, ema_half_life=250 * args.batch,
        d_augment="translation,cutout", val_data=str(val), val_every=250, val_count=96, val_metric="psnr",
        sample_every=500, checkpoint_every=250, log_every=10)
    l2 = dataclasses.replace(gan, pretrain_g_steps=0, pretrain_d_steps=0, d_augment="")
    return gan, l2


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/default_colorizer"))
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--size", type=int, default=128, help="training crop (default 128)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto",
                   help="training precision: auto (bf16 where the CPU has it natively, else fp32), fp32, bf16")
    p.add_argument("--upsample", default="transposed,resize,pixelshuffle",
                   help="the upsamplers trained; the select group chooses (default transposed,resize,pixelshuffle)")
    p.add_argument("--select-sources", default=",".join(SELECT_SOURCES),
                   help=f"sources every choice is made on (default {','.join(SELECT_SOURCES)})")
    p.add_argument("--report-sources", default=",".join(REPORT_SOURCES),
                   help=f"sources measured once for the card (default {','.join(REPORT_SOURCES)})")
    p.add_argument("--leave-out", default="opencv-doc",
                   help="sources not used at all (default opencv-doc: the hint benchmark's report photos, "
                        "tools/bench_hints.py)")
    p.add_argument("--upsampler-comparison", type=Path,
                   help="candidates.json of an earlier run of this tool that trained several --upsample values: its "
                        "select-group table goes in the card")
    p.add_argument("--previous", type=Path, help="the bundled model this one replaces, for the card's table")
    p.add_argument("--evaluate-only", action="store_true", help="measure the runs already trained in --out")
    p.add_argument("--no-install", action="store_true", help="train and measure, but write neither weights nor card")
    p.add_argument("--no-twin", action="store_true", help="leave the L2 twin out (not trained, not in the card)")
    p.add_argument("--twin-only", action="store_true",
                   help="train only the L2 twin (first --upsample) and print its select and report rows at strength "
                        "1 and at the strength rule's choice; neither weights nor card are written")
    p.add_argument("--learning-curve", default="",
                   help="percentages of the training photos (e.g. 25,50; nested, seeded subsets of whole photos and "
                        "cut-outs) each trained like the shipped model with the first --upsample and measured on the "
                        "report group for the card: what more photos buy (default: none)")
    args = p.parse_args()
    if args.precision == "auto":
        args.precision = "bf16" if check_backend("auto") == "bf16" else "fp32"

    groups = {**{s: "select" for s in args.select_sources.split(",")},
              **{s: "report" for s in args.report_sources.split(",")},
              **{s: "left out" for s in args.leave_out.split(",") if s}}
    photos, missing = gather_photos(stamps=True)
    used = [ph for ph in photos if not ph.skipped]
    data, select_dir, report_dir = (args.out / "data" / g for g in ("train", "select", "report"))
    train = [ph for ph in used if ph.source not in groups]
    scenes, stamps = [ph for ph in train if ph.image.mode != "RGBA"], [ph for ph in train if ph.image.mode == "RGBA"]
    curve = [int(c) for c in args.learning_curve.split(",") if c]
    print(f"# {cpu_description()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    rng = np.random.default_rng(args.seed)
    crops: dict[str, list[str]] = {}  # training photo or cut-out → its crops' file names
    tile = round(args.size * 1.25)
    if not args.evaluate_only:
        data.mkdir(parents=True, exist_ok=True)
        for ph in scenes:
            crops[f"{ph.source}_{ph.name}"] = write_crops(ph.image, f"{ph.source}_{ph.name}", data, rng, tile,
                                                          (1.0, 1.6, 2.4, 3.6), 12)
        for ph in stamps:  # each cut-out twice, over crops of two training photos drawn at random
            names = [f"{ph.source}_{ph.name}_c{k}.png" for k in range(COMPOSITES)]
            for name in names:
                background = scenes[int(rng.integers(len(scenes)))].image
                save_image_atomic(composite(ph.image, background, rng, tile), data / name)
            crops[f"{ph.source}_{ph.name}"] = names
        n = sum(len(v) for v in crops.values())
        for ph in used:  # whole photos at short side 256: select (validation, every choice) and report (the card)
            if groups.get(ph.source) in ("select", "report"):
                folder = select_dir if groups[ph.source] == "select" else report_dir
                save_image_atomic(shrink(ph.image, 256), folder / f"{ph.source}_{ph.name}.png")
        for pct in curve:  # nested seeded subsets of whole photos and cut-outs: the same crops, hard-linked
            sub = args.out / "data" / f"train_{pct}"
            sub.mkdir(parents=True, exist_ok=True)
            for ph in subset(scenes, pct, args.seed) + subset(stamps, pct, args.seed):
                for name in crops[f"{ph.source}_{ph.name}"]:
                    if not (sub / name).exists():
                        (sub / name).hardlink_to(data / name)
        print(f"{n} training crops; " + ", ".join(f"{g}: {sum(groups.get(ph.source) == g for ph in used)} photos"
                                                  for g in ("select", "report", "left out")))
    counts = {s: sum(len(v) for k, v in crops.items() if k.startswith(s + "_")) for s in dict.fromkeys(
        ph.source for ph in train)} if crops else json.loads((args.out / "crops.json").read_text())
    atomic_write_bytes(args.out / "crops.json", json.dumps(counts).encode())
    listing = data_listing(photos, missing, groups, counts)
    print(listing)
    timing = args.out / "minutes.json"
    minutes = json.loads(timing.read_text()) if timing.exists() else {}
    if args.twin_only:
        return twin_rows(args, data, select_dir, report_dir)
    runs, twin = {}, None
    for up in args.upsample.split(","):
        gan, l2 = recipe(args, data, select_dir, up)
        print(f"recipe: {json.dumps({k: v for k, v in dataclasses.asdict(gan).items() if v not in ('', None)})}",
              flush=True)
        for label, cfg in (("l1+nonsaturating", gan), ("l2", l2))[:1 if args.no_twin or twin else 2]:
            t0 = time.perf_counter()
            run = train_variants(cfg, [parse_variant(label)], args.out / up, progress=not args.evaluate_only)[label]
            if not args.evaluate_only:
                key = f"{label} {up}"  # a resumed run adds its minutes; a finished one, skipped, adds none
                minutes[key] = minutes.get(key, 0) + (time.perf_counter() - t0) / 60
                timing.write_text(json.dumps(minutes))
            if label == "l2":
                twin = run
            else:
                runs[up] = run
    curve_runs = {}
    for pct in curve:  # the learning curve: the shipped recipe on fewer photos
        cfg = recipe(args, args.out / "data" / f"train_{pct}", select_dir, args.upsample.split(",")[0])[0]
        t0 = time.perf_counter()
        run = train_variants(cfg, [parse_variant("l1+nonsaturating")], args.out / f"curve_{pct}",
                             progress=not args.evaluate_only)["l1+nonsaturating"]
        if not args.evaluate_only:
            key = f"learning curve {pct}%"
            minutes[key] = minutes.get(key, 0) + (time.perf_counter() - t0) / 60
            timing.write_text(json.dumps(minutes))
        curve_runs[pct] = (run, len(subset(scenes, pct, args.seed)), len(subset(stamps, pct, args.seed)))

    card = measure_and_choose(runs, twin, load_photos(select_dir), load_photos(report_dir), args.previous)
    card.curve = learning_curve(card, curve_runs, len(scenes), len(stamps))
    atomic_write_bytes(args.out / "candidates.json", json.dumps(card.candidates, indent=1).encode())
    if args.upsampler_comparison:
        card.comparison = json.loads(args.upsampler_comparison.read_text())
    if args.no_install:
        return 0
    shipped = {"format": FORMAT, "version": VERSION, "config": card.config, "step": card.step, "strength": card.strength,
               "size": card.new.size, "fade_flat": card.new.fade_flat,
               "G": {k: v.half() if v.is_floating_point() else v for k, v in card.weights.items()}}
    buf = io.BytesIO()
    torch.save(shipped, buf)
    atomic_write_bytes(WEIGHTS, buf.getvalue())
    print(f"wrote {WEIGHTS} ({len(buf.getvalue()) / 2**20:.1f} MiB, fp16, strength {card.strength:g}, "
          f"size {card.new.size})")
    write_card(card, listing, recipe(args, data, select_dir, card.config["upsample"])[0], minutes, args)
    print(f"wrote {CARD}")
    return 0


def twin_rows(args, data: Path, select_dir: Path, report_dir: Path) -> int:
    """``--twin-only``: the L2 twin of the recipe, trained alone; its rows for the card (select, then report)."""
    l2 = recipe(args, data, select_dir, args.upsample.split(",")[0])[1]
    run = train_variants(l2, [parse_variant("l2")], args.out / "twin", progress=True)["l2"]
    twin = Colorizer.from_checkpoint(run / "best.pt", "cpu", size=256, strength=1.0, fade_flat=FADE_FLAT)
    photos = {"select": load_photos(select_dir), "report": load_photos(report_dir)}
    strength = strength_on_select(twin, photos["select"])[2]
    for group, rows in photos.items():
        for s in (1.0, strength):
            twin.strength = s
            print(f"L2 twin, {group}, strength {s:g}, size {twin.size}: {fmt(photo_metrics(twin, rows))}", flush=True)
    return 0


def load_photos(folder: Path) -> list[tuple[str, np.ndarray]]:
    """The PNGs of a select or report folder: (name, sRGB uint8 array), sorted by name."""
    return [(p.stem, np.array(Image.open(p).convert("RGB"))) for p in sorted(folder.glob("*.png"))]


#: Each Tux Paint cut-out is pasted over this many crops of training photos.
COMPOSITES = 2


def subset(items: list, pct: int, seed: int) -> list:
    """The first ``pct`` % of ``items`` in a seeded order: nested (25 % ⊂ 50 % ⊂ 100 %)."""
    order = np.random.default_rng(seed).permutation(len(items))
    return [items[i] for i in order[:round(len(items) * pct / 100)]]


KEYS = ["psnr", "ssim", "delta_e", "colourfulness_ratio", "chroma_ratio", "ripple_ratio"]
HEADER = ["PSNR (dB) ↑", "SSIM ↑", "ΔE2000 ↓", "colourfulness ratio (median)", "chroma ratio (median)",
          "ripple ratio ↓"]


def per_photo(colorizer: Colorizer, photos: list[tuple[str, np.ndarray]]) -> list[dict[str, float]]:
    """Colorize each whole photo from its L alone and compare with the real one: PSNR, SSIM and ΔE2000
    (scikit-image), colourfulness and chroma ratios (prediction / truth), and both images' ripple — measured at the
    size colour is predicted at, where a decoder's stripes have their periods of 2, 4, 8, 16 pixels."""
    rows = []
    for _, rgb in photos:
        pred = np.array(colorizer(Image.fromarray(rgb)))
        p = torch.from_numpy(pred).permute(2, 0, 1)[None].float() / 255
        t = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        work = colorizer.working_size(*rgb.shape[:2])
        rows.append({
            "psnr": metrics.psnr(p, t, 1.0).item(), "ssim": metrics.ssim(p, t, 1.0).item(),
            "delta_e": float(skimage.color.deltaE_ciede2000(skimage.color.rgb2lab(rgb), skimage.color.rgb2lab(pred)).mean()),
            "colourfulness_ratio": (metrics.colourfulness(p) / metrics.colourfulness(t)).item(),
            "chroma_ratio": (metrics.chroma(p) / metrics.chroma(t)).item(),
            "ripple": metrics.ripple(resized(p, work)).item(), "ripple_truth": metrics.ripple(resized(t, work)).item(),
        })
    return rows


def resized(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``img`` (B, 3, H, W) in [0, 1] at ``size`` (antialiased bilinear)."""
    return torch.nn.functional.interpolate(img, size=size, mode="bilinear", antialias=True).clamp(0, 1)


def photo_metrics(colorizer: Colorizer, photos: list[tuple[str, np.ndarray]]) -> dict[str, float]:
    """:func:`per_photo` summarised: mean PSNR, SSIM and ΔE2000, median colourfulness and chroma ratios, and the
    ripple ratio (the photos' total ripple over the real photos')."""
    return summary(per_photo(colorizer, photos))


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    out = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "delta_e")}
    out.update({k: float(np.median([r[k] for r in rows])) for k in ("colourfulness_ratio", "chroma_ratio")})
    truth = sum(r["ripple_truth"] for r in rows)
    out["ripple_ratio"] = sum(r["ripple"] for r in rows) / truth if truth > 0 else float("nan")
    return out


@dataclass
class Card:
    select: dict[str, dict[str, float]]    # model → metrics on the select photos (what the choices saw)
    table: dict[str, dict[str, float]]     # model → metrics on the report photos
    candidates: dict[str, dict[str, float]]
    frontier: list[tuple[float, dict[str, float]]]         # on the report photos, shown, not chosen on
    select_frontier: list[tuple[float, dict[str, float]]]  # on the select photos: the strength's choice
    sizes: list[tuple[int, dict[str, float], float]]
    choice: str
    strength: float
    config: dict
    step: int
    weights: dict
    previous: Colorizer | None
    new: Colorizer
    report_rows: list[tuple[str, float]]    # report photo → PSNR of the new default − PSNR of gray
    report: list                            # the report photos
    comparison: dict | None = None          # an earlier run's candidates (several upsamplers), for the card
    curve: list = dataclasses.field(default_factory=list)  # (photos, cut-outs, report metrics at the defaults)


#: The default groups of whole sources: every choice is made on the select group, the card reports the report group.
SELECT_SOURCES = ("palapeli-data", "scikit-learn", "lomiri-wallpapers", "gcompris-qt-data")
REPORT_SOURCES = ("lomiri-wallpapers-16.04",)

#: The default --strength is the largest on this grid whose select-group PSNR stays within MARGIN dB of the gray
#: output's (the acceptance line allows 1 dB; half of it is kept in reserve for photos the choice never saw).
STRENGTHS = [round(0.1 * i, 1) for i in range(0, 16)]
MARGIN = 0.5
#: The guess is faded over flat areas (pix2gan colorize --flat fade): on the 127 select photos it raised the PSNR
#: where the median colourfulness ratio reaches 0.6 from 0.40 dB below gray's to 0.11 dB above (the card). Every
#: colorizer measured here (candidates, sizes, the twin, the learning curve) runs with it.
FADE_FLAT = True
#: A generator whose ripple on the select photos exceeds this many times the real photos' is not chosen.
RIPPLE_LIMIT = 1.5
#: The --size values tried (short side at which colour is predicted); of those whose select ripple stays within
#: RIPPLE_LIMIT, the one with the least ΔE2000 is shipped.
SIZES = (96, 128, 160, 192, 256, 320)


def choose_strength(frontier: list[tuple[float, dict[str, float]]], gray: dict[str, float]) -> float:
    """The default --strength: the largest of ``frontier`` (select photos) whose PSNR stays within :data:`MARGIN` dB
    of ``gray``'s (0 when none does)."""
    ok = [s for s, m in frontier if m["psnr"] >= gray["psnr"] - MARGIN]
    return max(ok) if ok else 0.0


def strength_on_select(colorizer: Colorizer, select: list) -> tuple[dict, list, float]:
    """The strength rule run on the select photos: gray's figures (strength 0, at ``colorizer``'s size), the frontier
    over :data:`STRENGTHS` (printed), and :func:`choose_strength`'s pick."""
    gray = photo_metrics(colorizer.replace(strength=0.0), select)
    frontier = strength_frontier(colorizer, select, "select")
    return gray, frontier, choose_strength(frontier, gray)


def strength_frontier(colorizer: Colorizer, photos: list, label: str = "") -> list[tuple[float, dict[str, float]]]:
    """:func:`photo_metrics` at each of :data:`STRENGTHS` (``colorizer.strength`` is left at the last); each line
    printed when ``label`` names the photos."""
    return [(s, summary(rows)) for s, rows in per_photo_frontier(colorizer, photos, label)]


def per_photo_frontier(colorizer: Colorizer, photos: list, label: str = "") -> list[tuple[float, list[dict]]]:
    """:func:`per_photo` at each of :data:`STRENGTHS`, as :func:`strength_frontier` (which summarises it)."""
    out = []
    for s in STRENGTHS:
        colorizer.strength = s
        out.append((s, per_photo(colorizer, photos)))
        if label:
            print(f"{label}, strength {s:g}: {fmt(summary(out[-1][1]))}", flush=True)
    return out


def psnr_gains(photos: list, frontier: list[tuple[float, list[dict]]], strength: float) -> list[tuple[str, float]]:
    """Each photo's PSNR at ``strength`` minus its PSNR at strength 0 (gray), from a :func:`per_photo_frontier`."""
    rows = dict(frontier)
    return [(name, r["psnr"] - g["psnr"]) for (name, _), r, g in zip(photos, rows[strength], rows[0.0])]


def measure_and_choose(runs: dict[str, Path], twin: Path | None, select: list, report: list,
                       previous: Path | None) -> Card:
    """Every choice (upsampler, checkpoint, EMA, size, strength) on the select photos; then the card's figures on
    the report photos, measured once."""
    loaded, candidates = {}, {}
    for up, run in runs.items():
        for label, (path, ema) in {f"{up}: best.pt, EMA": (run / "best.pt", True),
                                   f"{up}: final, EMA": (run / "checkpoint.pt", True)}.items():
            loaded[label] = (Colorizer.from_checkpoint(path, "cpu", ema=ema, strength=1.0, fade_flat=FADE_FLAT), path)
            candidates[label] = photo_metrics(loaded[label][0], select)
            print(f"candidate {label}: {fmt(candidates[label])}", flush=True)
    # the least colour error (ΔE2000) at full strength among those without visible ripple; strength then trades
    # colour for safety
    clean = [k for k in candidates if candidates[k]["ripple_ratio"] <= RIPPLE_LIMIT] or list(candidates)
    choice = min(clean, key=lambda k: candidates[k]["delta_e"])
    new, path = loaded[choice]
    state = load_checkpoint(path)  # its config and step
    weights = new.G.state_dict()
    sizes = []
    for size in SIZES:  # the scale colour is predicted at (--size), at strength 1: the least colour error again
        c = new.replace(size=size, strength=1.0)
        t0 = time.perf_counter()
        m = photo_metrics(c, select)
        sizes.append((size, m, (time.perf_counter() - t0) / len(select)))
        print(f"size {size}: {fmt(m)}, {sizes[-1][2]:.3f} s/photo (with measuring)", flush=True)
    clean = [row for row in sizes if row[1]["ripple_ratio"] <= RIPPLE_LIMIT] or sizes  # as for the generator
    new.size = min(clean, key=lambda row: row[1]["delta_e"])[0]
    gray_select, select_frontier, strength = strength_on_select(new, select)
    print(f"chose {choice}, size {new.size}, strength {strength:g} on the select photos; now the report photos",
          flush=True)

    # --- the report group, measured once
    per = per_photo_frontier(new, report)
    frontier = [(s, summary(rows)) for s, rows in per]
    table = {"gray (the input, strength 0)": dict(frontier)[0.0]}
    prev = None
    if previous is not None:
        prev = Colorizer.from_checkpoint(previous, "cpu")
        table["previous bundled model"] = photo_metrics(prev, report)
    if twin is not None:
        twin_model = Colorizer.from_checkpoint(twin / "best.pt", "cpu", fade_flat=FADE_FLAT)
        table["L2 twin"] = photo_metrics(twin_model, report)
    report_rows = psnr_gains(report, per, strength)
    new.strength = strength
    if strength != 1.0:
        table["new, strength 1"] = dict(frontier)[1.0]
    table[f"**new default (strength {strength:g}, size {new.size})**"] = dict(frontier)[strength]
    return Card({"gray (strength 0)": gray_select, "new default": dict(select_frontier)[strength]}, table,
                candidates, frontier, select_frontier, sizes, choice, strength, state["config"], state["step"],
                weights, prev, new, report_rows, report)


def learning_curve(card: Card, runs: dict[int, tuple[Path, int, int]], scenes: int, stamps: int) -> list:
    """Report-group figures, at the shipped model's size and strength, of the same recipe trained on fewer photos
    (the checkpoint of the kind chosen: best.pt or the last), then of the shipped model itself (100 %)."""
    rows = []
    kind = "best.pt" if "best.pt" in card.choice else "checkpoint.pt"
    for pct, (run, n_scenes, n_stamps) in sorted(runs.items()):
        c = Colorizer.from_checkpoint(run / kind, "cpu", ema=True, fade_flat=FADE_FLAT)
        c.size = card.new.size
        frontier = strength_frontier(c, card.report)
        rows.append((f"{pct} %", n_scenes, n_stamps, dict(frontier)[card.strength], at_colour(frontier)))
        print(f"learning curve {pct} %: {fmt(rows[-1][3])}; PSNR at colourfulness {COLOUR}: {rows[-1][4]:.3f}",
              flush=True)
    if rows:
        rows.append(("100 % (shipped)", scenes, stamps, dict(card.frontier)[card.strength], at_colour(card.frontier)))
    return rows


#: The acceptance line's colour: the learning curve compares models at this median colourfulness ratio.
COLOUR = 0.6


def at_colour(frontier: list[tuple[float, dict[str, float]]], target: float = COLOUR) -> float:
    """PSNR where the median colourfulness ratio reaches ``target`` along a strength frontier (linear between the
    two strengths around it; nan when it never does): models compared at equal boldness, not equal strength."""
    for (_, a), (_, b) in zip(frontier, frontier[1:]):
        if a["colourfulness_ratio"] <= target <= b["colourfulness_ratio"]:
            t = (target - a["colourfulness_ratio"]) / max(1e-9, b["colourfulness_ratio"] - a["colourfulness_ratio"])
            return a["psnr"] + t * (b["psnr"] - a["psnr"])
    return float("nan")


def fmt(m: dict[str, float]) -> str:
    return ", ".join(f"{k} {m[k]:.3f}" for k in KEYS)


def md_table(rows: dict[str, dict[str, float]], first: str) -> str:
    lines = [f"| {first} | " + " | ".join(HEADER) + " |", "|---|" + "---|" * len(HEADER)]
    lines += [f"| {label} | " + " | ".join(f"{m[k]:.3f}" for k in KEYS) + " |" for label, m in rows.items()]
    return "\n".join(lines)


def panels(images: list[np.ndarray], width: int = 256) -> Image.Image:
    """Images side by side, each scaled to ``width``, 4 px white between."""
    scaled = [Image.fromarray(a).resize((width, round(a.shape[0] * width / a.shape[1])), Image.LANCZOS) for a in images]
    h = max(s.height for s in scaled)
    out = Image.new("RGB", (len(scaled) * (width + 4) - 4, h), "white")
    for i, s in enumerate(scaled):
        out.paste(s, (i * (width + 4), 0))
    return out


def picture_sheet(new: Colorizer, previous: Colorizer | None, photos: list, names: list[str]) -> Image.Image:
    """Rows of gray input | previous model | new default | real photo for the named ``photos``."""
    rows = []
    for name in names:
        rgb = dict(photos)[name]
        gray = np.asarray(new.replace(strength=0.0)(Image.fromarray(rgb)))
        row = [gray] + ([np.asarray(previous(Image.fromarray(rgb)))] if previous else [])
        rows.append(panels(row + [np.asarray(new(Image.fromarray(rgb))), rgb]))
    sheet = Image.new("RGB", (rows[0].width, sum(r.height + 4 for r in rows) - 4), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + 4
    return sheet


def draw_pictures(new: Colorizer, previous: Colorizer | None, report: list, gains: list[tuple[str, float]],
                  docs: Path) -> list[str]:
    """The card's pictures in ``docs``: three report photos, the three worst by their PSNR ``gains`` over gray
    (photo name → dB), each as gray | ``previous`` | ``new`` | real; and scikit-image's camera before and after.
    Returns the worst three's names."""
    import skimage.data

    by_gain = sorted(gains, key=lambda r: r[1])  # PSNR over gray, worst first
    worst = [n for n, _ in by_gain[:3]]
    others = [n for n, _ in by_gain[3:]][::max(1, (len(by_gain) - 3) // 3)][:3]
    save_image_atomic(picture_sheet(new, previous, report, others), docs / "default_colorizer_heldout.png")
    save_image_atomic(picture_sheet(new, previous, report, worst), docs / "default_colorizer_worst.png")
    cam = skimage.data.camera()
    save_image_atomic(panels([np.stack([cam] * 3, -1), np.asarray(new(Image.fromarray(cam)))], 384),
                      docs / "camera_before_after.png")
    return worst


def write_card(card: Card, listing: str, cfg: TrainConfig, minutes: dict, args) -> None:
    """docs/default_colorizer.md and its pictures, from the measurements."""
    docs = CARD.parent
    worst = draw_pictures(card.new, card.previous, card.report, card.report_rows, docs)
    gains = dict(card.report_rows)
    gray, new = card.table["gray (the input, strength 0)"], card.frontier
    chosen = dict(new)[card.strength]
    size_mb = WEIGHTS.stat().st_size / 2**20
    n_train = sum(int(m) for m in re.findall(r"\(train\): (\d+) photos?[,; ]", listing))
    n_cut = sum(int(m) for m in re.findall(r"\(train\): (\d+) photographed cut-out", listing))
    n_select = sum(int(m) for m in re.findall(r"\(\*\*select\*\*\): (\d+) photo", listing))
    columns = "gray input | " + ("previous bundled model | " if card.previous else "") + "new default | real photo"
    frontier = {f"{s:g}" + (" (default)" if s == card.strength else ""): m for s, m in new
                if round(s * 10) % 2 == 0 or s == card.strength}
    sizes = "\n".join(f"| {size}{' (default)' if size == card.new.size else ''} | {m['psnr']:.3f} | "
                       f"{m['delta_e']:.3f} | {m['colourfulness_ratio']:.3f} | {m['ripple_ratio']:.2f} | {sec:.3f} |"
                       for size, m, sec in card.sizes)
    meets = (chosen["psnr"] >= gray["psnr"] - 1.0 and chosen["colourfulness_ratio"] >= 0.6
             and chosen["ripple_ratio"] <= 1.5)
    verdict = ("meets the acceptance line (PSNR ≥ gray − 1.0 dB, median colourfulness ratio ≥ 0.6, ripple ≤ 1.5× "
               "the real photos')" if meets else
               "does **not** meet the whole acceptance line (PSNR ≥ gray − 1.0 dB, median colourfulness ratio ≥ 0.6, "
               "ripple ≤ 1.5× the real photos') at once: the frontier below is what this data allows")
    hints_text = (" It takes colour hints — clicked colours and a reference photo (`pix2gan colorize --hints H "
                  "--reference PHOTO`; [hints.md](hints.md) has the format and the hint sweep)."
                  if card.new.takes_hints else "")
    total_minutes = sum(minutes.values())
    curve_text = "No learning curve (report PSNR against 25/50/100 % of the training photos) was measured."
    if card.curve:
        d_gray = [row[4] - gray["psnr"] for row in card.curve]
        curve_text = f"""## What more photos buy

The learning curve: the same recipe on nested, seeded subsets of the training photos and cut-outs, each measured
on the report group at the shipped size, at the shipped strength {card.strength:g} and — since a paler model scores a
higher PSNR at any one strength — along its own strength frontier, where its median colourfulness ratio reaches
{COLOUR} (the acceptance line's colour; linear between the two strengths around it):

| training set | photos | cut-outs | PSNR at strength {card.strength:g} (dB) | colourfulness ratio | ΔE2000 | ripple ratio | PSNR at colourfulness {COLOUR} (dB) | vs gray (dB) |
|---|---|---|---|---|---|---|---|---|
""" + "\n".join(f"| {label} | {a} | {b} | {m['psnr']:.2f} | {m['colourfulness_ratio']:.2f} | {m['delta_e']:.2f} | "
                f"{m['ripple_ratio']:.2f} | {p:.2f} | {d:+.2f} |"
                for (label, a, b, m, p), d in zip(card.curve, d_gray)) + f"""

At equal colour, from {card.curve[0][0]} to all of the photos the report PSNR moves {d_gray[-1] - d_gray[0]:+.2f} dB
({(d_gray[-1] - d_gray[0]) / max(1e-9, np.log2(100 / float(card.curve[0][0].split()[0]))):+.2f} dB per doubling of
the photos; {len(card.curve)} points, one seed each: a direction, not a forecast). The acceptance line asks for
gray − 1.0 dB there.
"""
    comparison = "" if not card.comparison else f"""
  The upsampler itself was chosen the same way in an earlier run of this tool that trained all three
  (`--upsample resize,pixelshuffle,transposed`, the same groups and recipe, without the Tux Paint cut-outs; its
  ripple measured at the photo's scale rather than the working scale; its figures kept in
  {args.upsampler_comparison}): **{min((k for k, m in card.comparison.items()
  if m["ripple_ratio"] <= RIPPLE_LIMIT), key=lambda k: card.comparison[k]["delta_e"],
  default="none within the ripple limit")}**.

{md_table(card.comparison, "generator (earlier run)")}
"""
    text = f"""# Model card: the bundled colorizer

`pix2gan/weights/default_colorizer.pt` ({size_mb:.1f} MiB: fp16 generator, its JSON-able config and its default
`--strength`, loaded with `weights_only=True`) is what `pix2gan colorize INPUT OUTPUT` uses when no `--checkpoint` is
given. It was trained on {n_train} offline photos and {n_cut} photographed objects pasted over them — never enough
for a general colorizer. Whole sources are split in
three groups: **train**, **select** ({n_select} photos: every choice — upsampler, checkpoint, `--size`, `--strength` —
was made on them) and **report** ({len(card.report)} photos of a wallpaper set nobody here chose anything on, measured
once for this card). On the report group, at its defaults (strength {card.strength:g}, size {card.new.size}), its PSNR
is {chosen['psnr']:.2f} dB against {gray['psnr']:.2f} dB for leaving the photo gray, with
{chosen['colourfulness_ratio']:.2f} of the real photos' colourfulness (median) and {chosen['ripple_ratio']:.2f}× their
periodic ripple: it {verdict}.{hints_text} Train your own on your photos for real use
(`pix2gan train --data YOUR_FOLDER ...`).

![report photos](default_colorizer_heldout.png)

*Report photos, never trained or chosen on: {columns}.*

![the three worst report photos](default_colorizer_worst.png)

*The three report photos where it loses the most PSNR against gray: {", ".join(f"{n} ({gains[n]:+.2f} dB)" for n in worst)}.*

![camera, before and after](camera_before_after.png)

*scikit-image's `camera` (a gray photo) and the bundled model's output.*

## Measured on the report group

Whole photos (short side 256), colorized from their L channel alone and compared with the real photo: PSNR and SSIM
on sRGB, ΔE2000 mean colour difference (scikit-image), the colourfulness (Hasler & Süsstrunk) and chroma of the
prediction over the real photo's (1 = as colourful as reality; gray = 0), and the ripple ratio: periodic colour
ripple at 2–16 px on smooth regions (`pix2gan.metrics.ripple`, the transposed convolutions' stripes and checkerboard)
over the real photos' (1 = as clean as reality).

{md_table(card.table, "model")}

The previous bundled model is the one this one replaces ({PREVIOUS_TEXT}); it was trained on fewer photos, with
transposed convolutions. Each model runs at its own default `--size`.{"" if "L2 twin" in card.table else " No L2 twin was trained for this model (2-core CPU time; `--no-twin`)."}

### Colour against safety: the frontier over `--strength` (report group; shown, not chosen on)

{md_table(frontier, "strength")}

## The choices, on the select group

- **Upsampler and checkpoint**: of the generators below (one run per `--upsample`, its best.pt by select PSNR and its
  last step, both EMA), the least colour error (ΔE2000, strength 1) among those whose ripple stays within
  {RIPPLE_LIMIT}× the real photos': **{card.choice}** (step {card.step}).

{md_table(card.candidates, "generator")}
{comparison}
- **`--size N`**, the short side at which colour is predicted (the L channel stays at full resolution), as DeOldify's
  `render_factor`: the least ΔE2000 at strength 1 among the sizes whose ripple stays within {RIPPLE_LIMIT}× the real
  photos' (select photos at short side 256):

| --size | PSNR (dB) ↑ | ΔE2000 ↓ | colourfulness ratio | ripple ratio | s / photo (with measuring) |
|---|---|---|---|---|---|
{sizes}

- **`--strength S`** scales the predicted colour (0: the gray input exactly, 1: as predicted, above 1: bolder). The
  default {card.strength:g} is the largest on a 0.1 grid up to {STRENGTHS[-1]:g} whose select PSNR stays within
  {MARGIN} dB of gray's (half the 1 dB allowance kept in reserve for photos never chosen on). A `--checkpoint` of
  your own defaults to 1.

{md_table({f"{s:g}" + (" (default)" if s == card.strength else ""): m for s, m in card.select_frontier
           if round(s * 10) % 2 == 0 or s == card.strength}, "strength (select)")}

## How it was made

`python tools/make_default_colorizer.py --steps {cfg.steps} --upsample {args.upsample} --previous prev.pt{" --no-twin" if args.no_twin else ""}{f" --learning-curve {args.learning_curve}" if args.learning_curve else ""}{f" --upsampler-comparison {args.upsampler_comparison}" if card.comparison else ""}`
(prev.pt: the file this one replaced, `git show {PREVIOUS_COMMIT}:pix2gan/weights/default_colorizer.pt > prev.pt`),
{cpu_description()}, torch {torch.__version__}, training in {cfg.precision}: {total_minutes:.0f} min for all runs
(wall clock, including any other load on the machine at the time). `--evaluate-only` writes this card again from
the trained runs.

**Data** (all offline; every photo scaled to short side 256 first). Training photos are cut into 2 crops of the
whole scene and 12 random crops at each of 1.6×, 2.4× and 3.6× zoom ({round(cfg.size * 1.25)} px, drawn as
{cfg.size} px training crops with flips). Each Tux Paint cut-out (a photographed object on a transparent
background) is pasted, at 45–90 % of the crop, over a crop of {COMPOSITES} training photos drawn at random. Photographs only: each package's images were looked at one by one.
Debian's `plasma-workspace-wallpapers` is never read: it is kept as an independent test set.

{listing}

**Licences** (Debian's copyright files): scikit-image's, matplotlib's and scikit-learn's photos ship under those
projects' BSD-style licences (their own notes name each photo's origin); mate-backgrounds GPL-2+ and CC-BY-SA-4.0;
palapeli-data GPL/LGPL/CC0; lomiri-wallpapers CC-BY-4.0, CC-BY-SA-3.0/4.0 and CC0; stellarium-data GPL-2+ with
landscapes under CC-BY-3.0 / CC-BY-SA; opencv-doc's files BSD/Apache-2.0, though a few classic test images in it
(baboon, fruits) predate OpenCV and have no stated licence of their own; tuxpaint-stamps-default GPL-2. These allow training and shipping weights
with attribution; the attribution is this list.

**Recipe**: pix2pix U-Net (depth {cfg.depth}, ngf {cfg.ngf}, batch norm, dropout 0.5, decoder upsampling
`{card.config["upsample"]}`, hint inputs), 70×70 PatchGAN (ndf {cfg.ndf}); L1 (λ = {cfg.recon_weight:g}) +
non-saturating GAN (weight {cfg.adv_weight:g}); Adam 2e-4 (0.5, 0.999); {cfg.steps} steps of batch
{cfg.batch_size}: {cfg.pretrain_g_steps} steps of G alone on L1 (NoGAN warm-up), then {cfg.pretrain_d_steps} of D
alone, then adversarial; LR constant, then linear to 0 from step {cfg.lr_decay_start}; EMA generator (half-life
{cfg.ema_half_life:g} images); D sees DiffAugment ({cfg.d_augment}); validation on the select photos every
{cfg.val_every} steps keeps best.pt. Not swept (2-core CPU time): λ and the GAN weight (pix2pix's), the network
size, the crop size, the training length.

{curve_text if card.curve else ""}
## Limits

{n_train} training photos: landscapes and fields, aerial views, flowers, fruit, animals, a few people, streets and
objects; and {n_cut} cut-out objects (animals, fruit, vegetables, tools, instruments, vehicles). Photos unlike them get
pale or wrong colour. The report group is {len(card.report)} wallpapers of one
package; figures on it move by tenths of a dB from photo to photo, and say nothing general.{"" if card.curve else " " + curve_text} For the safest colour, lower `--strength`:
the report frontier's PSNR peaks at {max(new, key=lambda r: r[1]['psnr'])[0]:g} ({max(m['psnr'] for _, m in new):.2f} dB).
"""
    with_text = text.replace("\n\n\n", "\n\n")
    atomic_write_bytes(CARD, with_text.encode())


def data_listing(photos: list[Photo], missing: list[str], groups: dict[str, str], crops: dict[str, int]) -> str:
    """The card's data section: per source, its group, the photos used (and for training sources their crops), and
    those left out with why."""
    lines = []
    for source in dict.fromkeys(ph.source for ph in photos):
        mine = [ph for ph in photos if ph.source == source]
        used = [ph.name for ph in mine if not ph.skipped]
        role = {"select": "**select**", "report": "**report**", "left out": "left out: the hint benchmark's report photos"
                }.get(groups.get(source, ""), "train")
        cut = any(ph.image is not None and ph.image.mode == "RGBA" for ph in mine)
        what = "photographed cut-out" if cut else "photo"
        line = f"- {source} ({role}): {len(used)} {what}{'s' * (len(used) != 1)}"
        line += f", {crops[source]} training crops" if crops.get(source) else ""
        line += f" — {', '.join(used)}" if used else ""
        left = [f"{ph.name} ({ph.skipped})" for ph in mine if ph.skipped]
        lines.append(line + (f"; left out: {', '.join(left)}" if left else ""))
    lines += [f"- not found, not used: {m}" for m in missing]
    lines += [f"- {package}: looked at, not used: {why}" for package, why in NO_PHOTOGRAPHS.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
