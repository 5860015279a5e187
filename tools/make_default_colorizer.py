"""Train the default colorizer shipped in pix2gan/weights/ and its L2 twin, measure both on held-out *sources*, and
write the model card (docs/default_colorizer.md).

    python tools/make_default_colorizer.py --previous prev.pt       # prev.pt: the bundled file this one replaces
    python tools/make_default_colorizer.py --evaluate-only ...      # the card again from the trained runs

Data (all offline; the tool lists what it found and what it left out, and why): scikit-image's scene photos,
matplotlib's grace_hopper.jpg, scikit-learn's china.jpg and flower.jpg, and the photographs (not the illustrations)
in Debian's mate-backgrounds, palapeli-data, lomiri-wallpapers-20.04 and ukui-wallpapers packages. Whole sources are
held out (default: palapeli-data and scikit-learn): no photo of a held-out source is trained on, and every choice —
which checkpoint (best.pt by held-out PSNR), EMA or not, the default ``--strength`` — is made on them alone.

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
from pix2gan.runtime import cpu_description

from common import Photo, gather_photos, shrink, write_crops  # tools/common.py (tools/ is the script's folder)

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "pix2gan" / "weights" / "default_colorizer.pt"
#: The commit holding the bundled model this recipe replaced, and what it was.
PREVIOUS_COMMIT = "6488a89"
PREVIOUS_TEXT = ("the same recipe, data and seed without hint inputs (the model trained alike without them, against "
                 "which the no-hint figures are compared)")
CARD = ROOT / "docs" / "default_colorizer.md"


def recipe(args, data: Path, val: Path) -> tuple[TrainConfig, TrainConfig]:
    """The shipped model's configuration and its L2 twin's (same data, seed, nets, steps and schedule)."""
    gan = TrainConfig(
        data=str(data), size=args.size, load_scale=1.25, batch_size=args.batch, ngf=32, ndf=32, depth=6, hints=True,
        steps=args.steps, seed=args.seed, device=args.device,
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
    p.add_argument("--holdout-sources", default="palapeli-data,scikit-learn",
                   help="comma-separated sources held out whole (default palapeli-data,scikit-learn)")
    p.add_argument("--previous", type=Path, help="the bundled model this one replaces, for the card's table")
    p.add_argument("--evaluate-only", action="store_true", help="measure the runs already trained in --out")
    p.add_argument("--no-install", action="store_true", help="train and measure, but write neither weights nor card")
    p.add_argument("--no-twin", action="store_true", help="leave the L2 twin out (not trained, not in the card)")
    args = p.parse_args()

    held_sources = set(args.holdout_sources.split(","))
    photos, missing = gather_photos()
    used = [ph for ph in photos if not ph.skipped]
    train = [ph for ph in used if ph.source not in held_sources]
    held = [ph for ph in used if ph.source in held_sources]
    data, val = args.out / "data" / "train", args.out / "data" / "heldout"
    print(f"# {cpu_description()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    listing = data_listing(photos, missing, held_sources)
    print(listing)
    rng = np.random.default_rng(args.seed)
    if not args.evaluate_only:
        n = sum(write_crops(ph.image, f"{ph.source}_{ph.name}", data, rng, round(args.size * 1.25),
                            (1.0, 1.6, 2.4, 3.6), 12) for ph in train)
        for ph in held:  # whole photos at short side 256, for validation crops and the card's measurements
            save_image_atomic(shrink(ph.image, 256), val / f"{ph.source}_{ph.name}.png")
        print(f"{n} training crops of {len(train)} photos; {len(held)} held-out photos")
    gan, l2 = recipe(args, data, val)
    print(f"recipe: {json.dumps({k: v for k, v in dataclasses.asdict(gan).items() if v not in ('', None)})}",
          flush=True)
    timing = args.out / "minutes.json"
    minutes = json.loads(timing.read_text()) if timing.exists() else {}
    runs = {}
    for label, cfg in (("l1+nonsaturating", gan), ("l2", l2))[:1 if args.no_twin else 2]:
        t0 = time.perf_counter()
        runs[label] = train_variants(cfg, [parse_variant(label)], args.out / "compare",
                                     progress=not args.evaluate_only)[label]
        if not args.evaluate_only:
            minutes[label] = (time.perf_counter() - t0) / 60
    timing.write_text(json.dumps(minutes))

    heldout = [(p.stem, np.array(Image.open(p).convert("RGB"))) for p in sorted(val.glob("*.png"))]
    card = measure_and_choose(runs, heldout, args.previous)
    if args.no_install:
        return 0
    shipped = {"format": FORMAT, "version": VERSION, "config": card.config, "step": card.step, "strength": card.strength,
               "size": card.new.size, "G": {k: v.half() if v.is_floating_point() else v for k, v in card.weights.items()}}
    buf = io.BytesIO()
    torch.save(shipped, buf)
    atomic_write_bytes(WEIGHTS, buf.getvalue())
    print(f"wrote {WEIGHTS} ({len(buf.getvalue()) / 2**20:.1f} MiB, fp16, strength {card.strength:g}, "
          f"size {card.new.size})")
    write_card(card, listing, gan, minutes, heldout, args)
    print(f"wrote {CARD}")
    return 0


KEYS = ["psnr", "ssim", "delta_e", "colourfulness_ratio", "chroma_ratio"]
HEADER = ["PSNR (dB) ↑", "SSIM ↑", "ΔE2000 ↓", "colourfulness ratio (median)", "chroma ratio (median)"]


def photo_metrics(colorizer: Colorizer, photos: list[tuple[str, np.ndarray]]) -> dict[str, float]:
    """Colorize each whole held-out photo from its L alone and compare with the real one: mean PSNR, SSIM and
    ΔE2000 (scikit-image), median colourfulness and chroma ratios (prediction / truth)."""
    rows = []
    for _, rgb in photos:
        pred = np.array(colorizer(Image.fromarray(rgb)))
        p = torch.from_numpy(pred).permute(2, 0, 1)[None].float() / 255
        t = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        rows.append({
            "psnr": metrics.psnr(p, t, 1.0).item(), "ssim": metrics.ssim(p, t, 1.0).item(),
            "delta_e": float(skimage.color.deltaE_ciede2000(skimage.color.rgb2lab(rgb), skimage.color.rgb2lab(pred)).mean()),
            "colourfulness_ratio": (metrics.colourfulness(p) / metrics.colourfulness(t)).item(),
            "chroma_ratio": (metrics.chroma(p) / metrics.chroma(t)).item(),
        })
    out = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "delta_e")}
    out.update({k: float(np.median([r[k] for r in rows])) for k in ("colourfulness_ratio", "chroma_ratio")})
    return out


@dataclass
class Card:
    table: dict[str, dict[str, float]]     # model → metrics on the held-out photos
    candidates: dict[str, dict[str, float]]
    frontier: list[tuple[float, dict[str, float]]]
    sizes: list[tuple[int, dict[str, float], float]]
    choice: str
    strength: float
    config: dict
    step: int
    weights: dict
    previous: Colorizer | None
    new: Colorizer


#: The default --strength is the largest on this grid, up to 1 (never bolder than the model's own prediction), whose
#: held-out PSNR stays within MARGIN dB of the gray output's (the acceptance line is 1 dB; half of it is kept in
#: reserve, as the choice is made on these photos).
STRENGTHS = [round(0.1 * i, 1) for i in range(0, 16)]
MARGIN = 0.5
#: The --size values tried (short side at which colour is predicted); the one with the least ΔE2000 is shipped.
SIZES = (96, 128, 160, 192, 256, 320)


def measure_and_choose(runs: dict[str, Path], heldout: list, previous: Path | None) -> Card:
    """Every figure of the card, and every choice (checkpoint, EMA, strength) made on the held-out photos."""
    gan = runs["l1+nonsaturating"]
    generators = {"best.pt, EMA": (gan / "best.pt", True), "final, EMA": (gan / "checkpoint.pt", True),
                  "final, raw G": (gan / "checkpoint.pt", False)}
    loaded, candidates = {}, {}
    for label, (path, ema) in generators.items():
        loaded[label] = Colorizer.from_checkpoint(path, "cpu", ema=ema, strength=1.0)
        candidates[label] = photo_metrics(loaded[label], heldout)
        print(f"candidate {label}: {fmt(candidates[label])}", flush=True)
    # the generator with the least colour error (ΔE2000) at full strength; strength then trades colour for safety
    choice = min(candidates, key=lambda k: candidates[k]["delta_e"])
    new = loaded[choice]
    state = load_checkpoint(generators[choice][0])  # its config and step
    weights = new.G.state_dict()
    # the scale colour is predicted at (--size), at strength 1: the least colour error again
    sizes = []
    for size in SIZES:
        c = Colorizer(new.G, size, "cpu", 1.0, new.task)
        t0 = time.perf_counter()
        for _, rgb in heldout:
            c(Image.fromarray(rgb))
        seconds = (time.perf_counter() - t0) / len(heldout)
        sizes.append((size, photo_metrics(c, heldout), seconds))
        print(f"size {size}: {fmt(sizes[-1][1])}, {seconds:.3f} s/photo", flush=True)
    new.size = min(sizes, key=lambda row: row[1]["delta_e"])[0]
    gray = photo_metrics(Colorizer(new.G, new.size, "cpu", 0.0, new.task), heldout)
    frontier = []
    for s in STRENGTHS:
        new.strength = s
        frontier.append((s, photo_metrics(new, heldout)))
        print(f"strength {s:g}: {fmt(frontier[-1][1])}", flush=True)
    ok = [s for s, m in frontier if s <= 1.0 and m["psnr"] >= gray["psnr"] - MARGIN]
    strength = max(ok) if ok else 0.0
    new.strength = strength
    table = {"gray (the input, strength 0)": gray}
    prev = None
    if previous is not None:
        prev = Colorizer.from_checkpoint(previous, "cpu")
        table["previous bundled model"] = photo_metrics(prev, heldout)
    if "l2" in runs:
        table["L2 twin"] = photo_metrics(Colorizer.from_checkpoint(runs["l2"] / "best.pt", "cpu"), heldout)
    if strength != 1.0:
        table["new, strength 1"] = dict(frontier)[1.0]
    table[f"**new default (strength {strength:g}, size {new.size})**"] = dict(frontier)[strength]
    cfg = state["config"]
    return Card(table, candidates, frontier, sizes, choice, strength, cfg, state["step"], weights, prev, new)


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


def write_card(card: Card, listing: str, cfg: TrainConfig, minutes: dict, heldout: list, args) -> None:
    """docs/default_colorizer.md and its pictures, from the measurements."""
    docs = CARD.parent
    picks = [(n, rgb) for n, rgb in heldout if any(k in n for k in ("castle", "citrus", "china"))][:3] or heldout[:3]
    rows = []
    for _, rgb in picks:
        gray = np.asarray(Colorizer(card.new.G, card.new.size, "cpu", 0.0, card.new.task)(Image.fromarray(rgb)))
        row = [gray] + ([np.asarray(card.previous(Image.fromarray(rgb)))] if card.previous else [])
        rows.append(panels(row + [np.asarray(card.new(Image.fromarray(rgb))), rgb]))
    sheet = Image.new("RGB", (rows[0].width, sum(r.height + 4 for r in rows) - 4), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + 4
    save_image_atomic(sheet, docs / "default_colorizer_heldout.png")
    import skimage.data

    cam = skimage.data.camera()
    save_image_atomic(panels([np.stack([cam] * 3, -1), np.asarray(card.new(Image.fromarray(cam)))], 384),
                      docs / "camera_before_after.png")
    gray, new = card.table["gray (the input, strength 0)"], card.frontier
    chosen = dict(new)[card.strength]
    size_mb = WEIGHTS.stat().st_size / 2**20
    n_train = sum(int(m) for m in re.findall(r"\(trained on\): (\d+) photo", listing))
    columns = "gray input | " + ("previous bundled model | " if card.previous else "") + "new default | real photo"
    frontier = {f"{s:g}" + (" (default)" if s == card.strength else ""): m for s, m in new
                if round(s * 10) % 2 == 0 or s == card.strength}
    sizes = "\n".join(f"| {size}{' (default)' if size == card.new.size else ''} | {m['psnr']:.3f} | "
                       f"{m['delta_e']:.3f} | {m['colourfulness_ratio']:.3f} | {sec:.3f} |"
                       for size, m, sec in card.sizes)
    meets = chosen["psnr"] >= gray["psnr"] - 1.0 and chosen["colourfulness_ratio"] >= 0.6
    verdict = ("meets the acceptance line (PSNR ≥ gray − 1.0 dB and median colourfulness ratio ≥ 0.6)" if meets else
               "does **not** meet both halves of the acceptance line (PSNR ≥ gray − 1.0 dB and median colourfulness "
               "ratio ≥ 0.6) at once: the frontier below is what this data allows")
    twin_text = ("The L2 twin has the same data, seed, network, steps and schedule, with the L2 loss alone (no "
                 "discriminator); its `best.pt` by held-out PSNR is measured. " if "L2 twin" in card.table else "")
    twin_minutes = (f" and {minutes['l2']:.0f} min for its L2 twin" if "L2 twin" in card.table and "l2" in minutes
                    else "")
    previous_text = PREVIOUS_TEXT if card.new.takes_hints else "an earlier recipe"
    hints_text = (" It takes colour hints — clicked colours and a reference photo (`pix2gan colorize --hints H "
                  "--reference PHOTO`; [hints.md](hints.md) has the format and the hint sweep)."
                  if card.new.takes_hints else "")
    text = f"""# Model card: the bundled colorizer

`pix2gan/weights/default_colorizer.pt` ({size_mb:.1f} MiB: fp16 generator, its JSON-able config and its default
`--strength`, loaded with `weights_only=True`) is what `pix2gan colorize INPUT OUTPUT` uses when no `--checkpoint` is
given. It was trained on {n_train} offline photos — never enough for a general colorizer — and **measured on whole
sources it never saw**. There, at its defaults (strength {card.strength:g}, size {card.new.size}), its PSNR is {chosen['psnr']:.2f} dB against
{gray['psnr']:.2f} dB for leaving the photo gray, with {chosen['colourfulness_ratio']:.2f} of the real photos'
colourfulness (median): it {verdict}.{hints_text} Train your own on your photos for real use
(`pix2gan train --data YOUR_FOLDER ...`).

![held-out photos](default_colorizer_heldout.png)

*Photos from the held-out sources, never trained on: {columns}.*

![camera, before and after](camera_before_after.png)

*scikit-image's `camera` (a gray photo) and the bundled model's output.*

## The knobs

- `--strength S` scales the predicted colour: 0 gives the gray input back exactly, 1 the colours as predicted, above 1
  more saturated ones. The default {card.strength:g} is the largest value on a 0.1 grid up to 1 (never bolder than
  the model's own prediction) whose held-out PSNR stays within {MARGIN} dB of the gray output's (half the 1 dB allowance, kept in reserve because the choice is made on the
  same photos it is reported on). A `--checkpoint` of your own defaults to 1.
- `--size N` is the short side at which colour is predicted (the L channel always stays at full resolution), as
  DeOldify's `render_factor`. Smaller: broader, calmer colour and faster; larger: finer colour regions, more time
  (about size²). The default {card.new.size} has the least colour error (ΔE2000) on the held-out photos at strength 1
  (short side 256, so 256 is their own scale; seconds per photo on this CPU):

| --size | PSNR (dB) ↑ | ΔE2000 ↓ | colourfulness ratio | s / photo |
|---|---|---|---|---|
{sizes}

## Measured on the held-out sources

Whole photos (short side 256) of the held-out sources, colorized from their L channel alone and compared with the
real photo: PSNR and SSIM on sRGB, ΔE2000 mean colour difference (scikit-image), and the colourfulness (Hasler &
Süsstrunk) and chroma of the prediction over the real photo's (1 = as colourful as reality; gray = 0).

{md_table(card.table, "model")}

{twin_text}The previous bundled model is the one this one replaces: {previous_text}. Each model runs at its own default
`--size`. Gray has the least ΔE2000: on photos this unlike the training set, any guessed colour costs more colour
error than none.

### Colour against safety: the frontier over `--strength`

{md_table(frontier, "strength")}

### Which generator was shipped

At strength 1 and the training scale ({card.config["size"] * card.config["load_scale"]:g}), the generator with the
least colour error (ΔE2000) on the held-out photos: **{card.choice}**
(step {card.step}).

{md_table(card.candidates, "generator")}

## How it was made

`python tools/make_default_colorizer.py --steps {cfg.steps} --previous prev.pt{" --no-twin" if args.no_twin else ""}`
(prev.pt: the file this one replaced, `git show {PREVIOUS_COMMIT}:pix2gan/weights/default_colorizer.pt > prev.pt`),
{cpu_description()}, torch {torch.__version__}: {minutes.get("l1+nonsaturating", float("nan")):.0f} min for this
model{twin_minutes} (wall clock, including any other load on the machine at the time). `--evaluate-only` writes this
card again from the trained runs.

**Data** (all offline; every photo scaled to short side 256 first). Whole sources are held out; the rest is cut into
2 crops of the whole scene and 12 random crops at each of 1.6×, 2.4× and 3.6× zoom per photo
({round(cfg.size * 1.25)} px, drawn as {cfg.size} px training crops with flips):

{listing}

**Recipe**: pix2pix U-Net (depth {cfg.depth}, ngf {cfg.ngf}, batch norm, dropout 0.5), 70×70 PatchGAN (ndf
{cfg.ndf}); L1 (λ = {cfg.recon_weight:g}) + non-saturating GAN (weight {cfg.adv_weight:g}); Adam 2e-4 (0.5, 0.999);
{cfg.steps} steps of batch {cfg.batch_size}: {cfg.pretrain_g_steps} steps of G alone on L1 (NoGAN warm-up), then
{cfg.pretrain_d_steps} of D alone, then adversarial; LR constant, then linear to 0 from step {cfg.lr_decay_start};
EMA generator (half-life {cfg.ema_half_life:g} images); D sees DiffAugment ({cfg.d_augment}); validation on the
held-out photos every {cfg.val_every} steps keeps best.pt. Not swept (2-core CPU time): λ and the GAN weight (pix2pix's),
the network size (the 30 MB limit), the crop size.

## Limits

{n_train} training photos: landscapes, flowers, insects, a cat, a few people and objects. Photos unlike them
(interiors, crowds, vehicles, text) get pale or wrong colour. The held-out sources are {len(heldout)} photos; figures
on them move by tenths of a dB from photo to photo. In the pictures above it leans to warm, autumn-like colour (the
camera photo's grass turns orange) and leaves faint vertical streaks in some flat skies. For the safest colour, lower
`--strength`: the frontier's PSNR peaks at {max(new, key=lambda r: r[1]['psnr'])[0]:g}
({max(m['psnr'] for _, m in new):.2f} dB), with less colour.
"""
    with_text = text.replace("\n\n\n", "\n\n")
    atomic_write_bytes(CARD, with_text.encode())


def data_listing(photos: list[Photo], missing: list[str], held_sources: set[str]) -> str:
    """The card's data section: per source, the photos used (train or held out) and those left out with why."""
    lines = []
    for source in dict.fromkeys(ph.source for ph in photos):
        mine = [ph for ph in photos if ph.source == source]
        used = [ph.name for ph in mine if not ph.skipped]
        role = "**held out**" if source in held_sources else "trained on"
        line = f"- {source} ({role}): {len(used)} photo{'s' * (len(used) != 1)}"
        line += f" — {', '.join(used)}" if used else ""
        left = [f"{ph.name} ({ph.skipped})" for ph in mine if ph.skipped]
        lines.append(line + (f"; left out: {', '.join(left)}" if left else ""))
    lines += [f"- not found, not used: {m}" for m in missing]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
