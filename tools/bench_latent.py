"""Several answers per input: the latent model (Alpha-GAN's encoder + code discriminator, or BicycleGAN's KL) against
one-answer models, on the same budget.

    python tools/bench_latent.py --out runs/latent                    # all three parts, about 50 min on 2 cores
    python tools/bench_latent.py --out runs/latent --parts bimodal    # the table alone, about 15 min

- ``bimodal``: ``builtin:bimodal-colors`` (every shape yellow or blue at random, equal lightness): L2, L1 + non-
  saturating (one answer) and the latent variants, trained exactly as ``pix2gan compare`` trains them; 8 samples
  per held-out crop. Prints the table (coverage: the share of held-out shapes painted in both hues among the 8
  samples; each sample's hue-hit rate; PSNR of the mean sample and of the best of 8) and draws one held-out image's 8
  colourings into OUT/bimodal_samples.png.
- ``digits``: ``builtin:moving-digits-stochastic`` (digits turn at random): one-answer and latent next-frame models;
  8 rollouts of 6 frames from 16 held-out contexts: the spread of the rollouts at each step, and one context's 8
  rollouts drawn into OUT/digit_rollouts.png.
- ``photo``: a latent colorizer trained on the offline photos of tools/make_default_colorizer.py (the same sources,
  palapeli-data and scikit-learn held out whole), then several colourings of one held-out photo in gray into
  OUT/photo_samples.png. A few dozen photos: a demonstration that the code is used, not a claim of quality.
- ``cli``: the user's path, not compare's: the README's latent ``pix2gan train`` command as it stands in README.md
  (one run per ``--cli-seeds`` seed), then ``pix2gan colorize --samples 8`` on 24 freshly generated images in gray.

    python tools/bench_latent.py --out runs/latent --parts cli --cli-images-seed 2026   # both seeds, ~25 min
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pix2gan.files import save_image_atomic
from pix2gan.colorizer import Colorizer
from pix2gan.compare import (compare, compare_config, labelled_grid, markdown_table, parse_variant, parse_variants,
                             train_variants)
from pix2gan.config import TrainConfig, resolve
from pix2gan.data.source import holdout_split
from pix2gan.metrics import psnr, sample_spread
from pix2gan.predictor import FramePredictor
from pix2gan.runtime import cpu_description
from pix2gan.tasks import make_task

from common import gather_photos, shrink, write_crops  # tools/common.py

COLUMNS = ["hue_hit_rate", "hue_hit_min", "coverage", "shape_chroma_ratio", "psnr", "best_psnr", "sample_spread"]
HEADER = {"hue_hit_rate": "hue-hit (mean of 8)", "hue_hit_min": "hue-hit (worst sample)",
          "coverage": "coverage (both hues among 8)", "shape_chroma_ratio": "shape chroma ratio",
          "psnr": "PSNR (mean sample)", "best_psnr": "PSNR (best of 8)", "sample_spread": "ab spread"}


def bimodal(args) -> None:
    """The table and the picture on builtin:bimodal-colors, trained as ``pix2gan compare`` trains."""
    variants = parse_variants(args.variants)
    base = compare_config(steps=args.steps, seed=args.seed, device=args.device, latent_inject=args.inject)
    t0 = time.perf_counter()
    results, runs = compare(base, args.variants, args.out / "bimodal", progress=not args.quiet,
                            title="several answers: builtin:bimodal-colors")
    print(f"\nbuiltin:bimodal-colors, {args.steps} steps each, 64 held-out crops × 8 samples "
          f"({(time.perf_counter() - t0) / 60:.0f} min)\n")
    table = markdown_table(results, COLUMNS).splitlines()
    table[0] = "| variant | " + " | ".join(HEADER[c] for c in COLUMNS) + " |"
    print("\n".join(table), flush=True)
    # one held-out image: the gray input, the truth, the one-answer model, then the latent model's 8 samples
    latent = next(label for label, v in zip(runs, variants) if v.latent_dim)
    one = next((label for label, v in zip(runs, variants) if not v.latent_dim and v.gan_loss is not None), None)
    pick = int(args.pick)
    columns = [results[latent].cond[pick:pick + 1], results[latent].real[pick:pick + 1]]
    names = ["gray input", "truth"]
    if one is not None:
        columns.append(results[one].fake[pick:pick + 1])
        names.append(f"{one} (one answer)")
    for s in range(8):
        columns.append(results[latent].samples[s, pick:pick + 1])
        names.append(f"sample {s}")
    sheet = labelled_grid(columns, names, cell=128)
    save_image_atomic(sheet, args.out / "bimodal_samples.png")
    print(f"wrote {args.out / 'bimodal_samples.png'} (held-out crop {pick}; {latent})")


def digits(args) -> None:
    """Rollout spread of one-answer and latent next-frame models on the stochastic moving digits."""
    base = TrainConfig(task="nextframe", data="builtin:moving-digits-stochastic", size=64, context=4,
                       steps=args.digit_steps, batch_size=16, ngf=32, ndf=32, depth=6, holdout=0.1, seed=args.seed,
                       device=args.device, sample_every=10**9, checkpoint_every=max(1, args.digit_steps // 4),
                       latent_inject=args.inject)
    variants = [parse_variant(v) for v in ("l1+nonsaturating", args.digit_latent)]
    t0 = time.perf_counter()
    runs = train_variants(base, variants, args.out / "digits", progress=not args.quiet)
    source = make_task(resolve(base)).open_source(base.data)
    held = holdout_split(source.names, base.holdout)[1]
    steps, samples, contexts = 6, 8, 16
    print(f"\nbuiltin:moving-digits-stochastic, {args.digit_steps} steps each, {contexts} held-out contexts × "
          f"{samples} rollouts of {steps} frames ({(time.perf_counter() - t0) / 60:.0f} min)\n")
    print("| model | " + " | ".join(f"spread at frame {t + 1}" for t in range(steps))
          + " | PSNR frame 1 (mean) | PSNR frame 1 (best of 8) |")
    print("|---|" + "---|" * (steps + 2))
    pictures = {}
    for label, run in runs.items():
        predictor = FramePredictor.from_checkpoint(run / "checkpoint.pt", args.device)
        spreads, mean_psnr, best_psnr = [], [], []
        for c in range(contexts):
            index = held[c]  # holdout_split gives indices
            window = source.frames(index, 0, 5)  # (5, C, H, W) uint8: 4 context frames, then the truth
            frames = window[:4].transpose(0, 2, 3, 1)[..., 0]
            truth = torch.from_numpy(window[4:4 + 1].astype(np.float32) / 255)  # (1, 1, H, W)
            rolls = np.stack([predictor.predict(frames, steps, seed=s) for s in range(samples)])  # (S, T, H, W)
            r = torch.from_numpy(rolls.astype(np.float32) / 255)
            spreads.append([sample_spread(r[:, t, None, None].expand(-1, 1, 3, -1, -1)) for t in range(steps)])
            scores = [psnr(r[s, :1, None], truth, 1.0).item() for s in range(samples)]
            mean_psnr.append(np.mean(scores))
            best_psnr.append(max(scores))
            if c == 0:
                pictures[label] = (frames, rolls)
        spread = np.mean(spreads, 0)
        print(f"| {label} | " + " | ".join(f"{v:.4f}" for v in spread)
              + f" | {np.mean(mean_psnr):.2f} | {np.mean(best_psnr):.2f} |", flush=True)
    # the latent model's 8 rollouts of the first held-out context, one row each, after its last context frame
    label = variants[1].label
    frames, rolls = pictures[label]
    rows = [np.concatenate([frames[-1], *roll], 1) for roll in rolls]
    sheet = np.concatenate([np.pad(r, ((2, 2), (0, 0)), constant_values=255) for r in rows], 0)
    save_image_atomic(Image.fromarray(sheet).resize((sheet.shape[1] * 2, sheet.shape[0] * 2), Image.NEAREST),
                      args.out / "digit_rollouts.png")
    print(f"wrote {args.out / 'digit_rollouts.png'} (last context frame, then {steps} predicted; one rollout a row)")


def photo(args) -> None:
    """A latent colorizer on the offline photos; several colourings of one held-out photo."""
    photos, missing = gather_photos()
    for line in missing:
        print(f"missing: {line}")
    held_sources = {"palapeli-data", "scikit-learn"}
    used = [ph for ph in photos if not ph.skipped]
    train = [ph for ph in used if ph.source not in held_sources]
    held = [ph for ph in used if ph.source in held_sources]
    data = args.out / "photo" / "data"
    if not data.exists():
        rng = np.random.default_rng(args.seed)
        n = sum(len(write_crops(ph.image, f"{ph.source}_{ph.name}", data, rng, round(args.photo_size * 1.25),
                                (1.0, 1.6, 2.4, 3.6), 12)) for ph in train)
        print(f"{n} training crops of {len(train)} photos; {len(held)} held-out photos")
    cfg = TrainConfig(data=str(data), size=args.photo_size, batch_size=8, ngf=32, ndf=32, depth=6,
                      steps=args.photo_steps, seed=args.seed, device=args.device, recon_weight=100.0,
                      pretrain_g_steps=args.photo_steps // 6, pretrain_d_steps=args.photo_steps // 30,
                      lr_schedule="linear", ema_half_life=2000, d_augment="translation,cutout",
                      latent_dim=8, latent_inject=args.inject, sample_every=500, checkpoint_every=250)
    t0 = time.perf_counter()
    run = train_variants(cfg, [parse_variant("l1+nonsaturating+z8")], args.out / "photo",
                         progress=not args.quiet)["l1+nonsaturating+z8"]
    print(f"\nlatent colorizer on {len(train)} offline photos, {args.photo_steps} steps "
          f"({(time.perf_counter() - t0) / 60:.0f} min)")
    colorizer = Colorizer.from_checkpoint(run / "checkpoint.pt", args.device, size=192)
    target = next(ph for ph in held if ph.name == args.photo)
    gray = shrink(target.image, 192).convert("L").convert("RGB")
    panels = [np.array(gray), *(np.array(colorizer(gray, seed=s)) for s in range(5)),
              np.array(shrink(target.image, 192))]
    strip = np.concatenate([np.pad(p, ((0, 0), (0, 4), (0, 0)), constant_values=255) for p in panels], 1)
    save_image_atomic(Image.fromarray(strip), args.out / "photo_samples.png")
    spread = sample_spread(torch.stack([torch.from_numpy(p).permute(2, 0, 1)[None].float() / 255
                                        for p in panels[1:6]]), ab=True)
    print(f"wrote {args.out / 'photo_samples.png'} (gray {target.source} {target.name}, colourings seeds 0-4, the "
          f"original); ab spread of the 5 colourings: {spread:.2f}")


def readme_latent_command(readme: Path = Path(__file__).resolve().parents[1] / "README.md") -> list[str]:
    """The options of the README's latent ``pix2gan train ... --latent-dim`` command, read from README.md itself (so
    the benchmark measures what the README tells a user to run), without ``--out``."""
    import shlex

    line = next(ln for ln in readme.read_text().splitlines()
                if ln.startswith("pix2gan train ") and "--latent-dim" in ln)
    words = shlex.split(line.split("#")[0])[2:]
    at = words.index("--out")
    return words[:at] + words[at + 2:]


def cli(args) -> None:
    """The user's path: the README's latent train command (default code loss), then ``pix2gan colorize
    --samples 8`` on 24 freshly generated bimodal images (another generator seed, 32 px) given in gray (their own
    CIE L, as R = G = B), for each ``--cli-seeds`` training seed: shape coverage and each sample's hue-hit rate."""
    import subprocess

    from pix2gan.data.bimodal import coverage_metrics, hue_metrics, make_bimodal_colors
    from pix2gan.tasks.colorize import ColorizeTask

    fresh = make_bimodal_colors(24, 32, seed=args.cli_images_seed)
    gray_dir = args.out / "cli" / "gray"
    task = ColorizeTask()
    for name, arr in fresh:
        light = task.cond(torch.from_numpy(arr).permute(2, 0, 1)[None])
        save_image_atomic(Image.fromarray((task.cond_to_rgb(light)[0, 0] * 255 + 0.5).byte().numpy()),
                          gray_dir / f"{name}.png")
    target = torch.from_numpy(np.stack([a for _, a in fresh])).permute(0, 3, 1, 2).float() / 255
    gray = torch.stack([torch.from_numpy(np.asarray(Image.open(gray_dir / f"{name}.png").convert("RGB")).copy())
                        .permute(2, 0, 1) for name, _ in fresh]).float() / 255
    print(f"\nthe README's latent command (pix2gan train {' '.join(readme_latent_command())}), then colorize "
          f"--samples 8 on 24 fresh 32 px images (generator seed {args.cli_images_seed}) in gray:\n")
    print("| training seed | coverage (both hues among 8) | hue-hit, worst sample | hue-hit, mean of 8 |")
    print("|---|---|---|---|")
    for seed in (int(s) for s in args.cli_seeds.split(",")):
        run, out = args.out / "cli" / f"run_s{seed}", args.out / "cli" / f"out_s{seed}"
        if not (run / "checkpoint.pt").exists():
            subprocess.run([sys.executable, "-m", "pix2gan", "train", "--out", str(run), "--seed", str(seed),
                            "--quiet", *readme_latent_command(), *args.cli_train.split()], check=True)
        subprocess.run([sys.executable, "-m", "pix2gan", "colorize", str(gray_dir), str(out), "--checkpoint",
                        str(run / "checkpoint.pt"), "--samples", "8", "--seed", "0", "--overwrite", "--quiet",
                        *args.cli_colorize.split()], check=True, stdout=subprocess.DEVNULL)
        samples = torch.stack([torch.stack([torch.from_numpy(np.array(Image.open(out / f"{name}_s{i}.png")
                                                                       .convert("RGB"))).permute(2, 0, 1)
                                            for name, _ in fresh]) for i in range(8)]).float() / 255
        m = coverage_metrics(samples, target)
        hits = [hue_metrics(samples[i], target)["hue_hit_rate"] for i in range(8)]
        print(f"| {seed} | {m['coverage']:.3f} | {min(hits):.3f} | {np.mean(hits):.3f} |", flush=True)
        # the first 8 images: gray, samples 0-7 (a row each: one code for every image), the truth; 2× nearest
        rows = [gray[:8], *samples[:, :8], target[:8]]
        grid = torch.cat([torch.cat(list(F.pad(r, (1, 1, 1, 1), value=1.0)), 2) for r in rows], 1)
        picture = Image.fromarray((grid.permute(1, 2, 0) * 255 + 0.5).byte().numpy())
        save_image_atomic(picture.resize((picture.width * 2, picture.height * 2), Image.NEAREST),
                          args.out / "cli" / f"samples_s{seed}.png")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/latent"))
    p.add_argument("--parts", default="bimodal,digits,photo")
    p.add_argument("--variants", default="l2,l1+nonsaturating,l1+nonsaturating+z8,l1+nonsaturating+z8kl",
                   help="bimodal variants (compare syntax; the first latent one is drawn)")
    p.add_argument("--inject", default="all", choices=["input", "all"], help="where z enters G (default all)")
    p.add_argument("--steps", type=int, default=1500, help="bimodal training steps (compare's default)")
    p.add_argument("--pick", type=int, default=1, help="which held-out bimodal crop to draw")
    p.add_argument("--digit-steps", type=int, default=1000)
    p.add_argument("--digit-latent", default="l1+nonsaturating+z8")
    p.add_argument("--photo-steps", type=int, default=2000)
    p.add_argument("--photo-size", type=int, default=96)
    p.add_argument("--photo", default="flower", help="the held-out photo to colour (default scikit-learn's flower)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cli-seeds", default="0,1", help="cli: training seeds of the README's command")
    p.add_argument("--cli-images-seed", type=int, default=12345, help="cli: the fresh images' generator seed")
    p.add_argument("--cli-train", default="", help="cli: more train options (quoted)")
    p.add_argument("--cli-colorize", default="", help="cli: more colorize options (quoted)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    print(f"# {cpu_description()} ({platform.machine()}), {torch.get_num_threads()} threads, torch {torch.__version__}",
          flush=True)
    for part in args.parts.split(","):
        {"bimodal": bimodal, "digits": digits, "photo": photo, "cli": cli}[part](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
