"""Colour hints measured on photos never trained on or chosen on: the hint sweep (PSNR and ΔE2000 against the
number of simulated clicks, 0 … 200), the colour at the hinted pixels, and the reference photo as a global hint.

    python tools/bench_hints.py --out runs/hints                     # the bundled model, against the baselines
    python tools/bench_hints.py --model new.pt --no-hint-model old.pt --plot docs/hint_sweep.png
    python tools/bench_hints.py --model new.pt --choose    # the steering settings, on the selection photos
    python tools/bench_hints.py --timing                   # seconds per photo: no hints, 10 points, a reference

Photos for choosing (``--choose``: pix2gan.hints' KEEP and REFERENCE_SPREAD): the photographs of Debian's
lomiri-wallpapers-16.04 and the bundled recipe's held-out palapeli-data photos — never trained on, never reported.

Photos: OpenCV's sample photographs (Debian's opencv-doc: `apt-get install opencv-doc`), a source no model of this
project trains on or is chosen on, scaled to short side 256. Methods, all given exactly the same clicks
(pix2gan.hint_sweep): the model with hints as the colorizer runs it (the network, then the points and reference
followed: pix2gan.hints.Steering) and its network alone; the model trained alike without hint inputs (no points: its
curve is flat); Levin et al. 2004 and a nearest-point fill (tools/levin.py); gray. Each method's figures are kept in
OUT/sweep.json and not computed again (delete the file to redo them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import skimage.color
from PIL import Image

from pix2gan.colorizer import DEFAULT_WEIGHTS, Colorizer
from pix2gan.hint_sweep import COUNTS, colorizer_method, figures, simulated_clicks, sweep
from pix2gan.hints import Hints, Steering
from pix2gan.runtime import cpu_description

from common import shrink  # tools/common.py
from levin import levin, mean_tint, nearest_fill

OPENCV = Path("/usr/share/doc/opencv-doc/examples/data")
#: OpenCV's sample photographs (looked at one by one): one of each stereo or before/after pair, no logos,
#: drawings, paintings, renders, text or gray photos.
REPORT_PHOTOS = ("aero1.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "building.jpg", "butterfly.jpg",
                 "chicky_512.png", "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg", "left.jpg",
                 "leuvenA.jpg", "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png",
                 "squirrel_cls.jpg", "stuff.jpg")


#: The photos the steering settings are chosen on (folder, package, names): looked at one by one, photographs only.
SELECT_PHOTOS = (
    ("/usr/share/backgrounds", "lomiri-wallpapers-16.04",
     ("Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg",
      "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg",
      "free_by_Peter_Nerlich.jpg", "friends_by_Aitzol_Berasategi.jpg", "greentock_by_Peter_Nerlich.jpg",
      "life_by_Aitzol_Berasategi.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
      "seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg")),
    ("/usr/share/palapeli/collection", "palapeli-data",
     ("castle-maintenon.jpg", "cincinnati-bridge.jpg", "citrus-fruits.jpg", "european-honey-bee.jpg",
      "panther-chameleon-female.jpg")),
)


def load_photos(groups) -> list[tuple[str, np.ndarray]]:
    """``(folder, package, names)`` groups → (name, sRGB uint8 at short side 256); exits naming what is missing."""
    photos = []
    for folder, package, names in groups:
        missing = [n for n in names if not (Path(folder) / n).is_file()]
        if missing:
            sys.exit(f"missing {', '.join(missing)}: apt-get install {package}")
        photos += [(n, np.array(shrink(Image.open(Path(folder) / n).convert("RGB"), 256))) for n in names]
    return photos


def report_photos() -> list[tuple[str, np.ndarray]]:
    return load_photos([(str(OPENCV), "opencv-doc", REPORT_PHOTOS)])


def choose(model: Colorizer, keeps=(0.0, 0.25, 0.5, 0.75, 1.0), spreads=(10, 20, 40, 80, 1e6)) -> None:
    """Print what the steering settings give on the selection photos: PSNR at 10 and 100 clicks for each ``keep``
    (against Levin's; and with the points given to the network too), and the own-colour reference's PSNR for each ``reference_spread`` (against the mean tint)."""
    photos = load_photos(SELECT_PHOTOS)
    print(f"# choosing on {len(photos)} selection photos (lomiri-wallpapers-16.04, palapeli-data)")
    methods = {"levin": levin}
    for keep in keeps:
        steered = model.replace(steer=Steering(keep=keep))
        methods[f"keep {keep:g}"] = colorizer_method(steered)
    shown = model.replace(steer=Steering(keep=0.25, points_to_network=True))
    methods["keep 0.25, points given to the network too"] = colorizer_method(shown)
    for name, curve in sweep(methods, photos, (10, 100)).items():
        print(f"{name}: PSNR {curve[10]['psnr']:.2f} dB at 10 clicks, {curve[100]['psnr']:.2f} at 100")
    rows = {"mean tint": [figures(mean_tint(rgb, rgb), rgb)["psnr"] for _, rgb in photos]}
    for spread in spreads:
        steered = model.replace(steer=Steering(reference_spread=spread))
        rows[f"reference spread {spread:g}"] = [
            figures(np.asarray(steered(Image.fromarray(rgb), reference=Image.fromarray(rgb))), rgb)["psnr"]
            for _, rgb in photos]
    for name, values in rows.items():
        print(f"{name}: PSNR {np.mean(values):.2f} dB with the photo's own colours as the reference")


def hinted_pixel_delta_e(colorizer: Colorizer, photos, count: int, seed: int = 0) -> float:
    """Median ΔE2000 between the output at each clicked pixel and the click's colour at the output's lightness."""
    errors = []
    for i, (_, rgb) in enumerate(photos):
        points = simulated_clicks(rgb, count, seed + i)
        out = np.asarray(colorizer(Image.fromarray(rgb), hints=Hints(tuple(points))))
        got = skimage.color.rgb2lab(out[[p.y for p in points], [p.x for p in points]][None])[0]
        want = skimage.color.rgb2lab(np.array([[p.rgb for p in points]], np.uint8))[0]
        want[:, 0] = got[:, 0]  # equal lightness: the hint sets colour, the photo its lightness
        errors += skimage.color.deltaE_ciede2000(got, want).tolist()
    return float(np.median(errors))


def reference_figures(colorizer: Colorizer, photos) -> dict[str, dict[str, float]]:
    """Each photo colorized with its own colour version as the reference, against tinting the gray photo with
    that reference's mean colour, and gray."""
    rows = {"model + reference": [], "mean tint": [], "model, no reference": []}
    for _, rgb in photos:
        img = Image.fromarray(rgb)
        rows["model + reference"].append(figures(np.asarray(colorizer(img, reference=img)), rgb))
        rows["mean tint"].append(figures(mean_tint(rgb, rgb), rgb))
        rows["model, no reference"].append(figures(np.asarray(colorizer(img)), rgb))
    return {k: {m: float(np.mean([r[m] for r in v])) for m in ("psnr", "delta_e")} for k, v in rows.items()}


def timing(model: Colorizer, repeat: int = 3) -> None:
    """Median seconds to colorize one 1024 × 640 photo (an OpenCV sample, resized) with no hints, 10 simulated
    points, and a reference photo."""
    photo = Image.open(OPENCV / "fruits.jpg").convert("RGB").resize((1024, 640), Image.BICUBIC)
    rgb = np.asarray(photo)
    cases = {"no hints": {}, "10 points": {"hints": Hints(tuple(simulated_clicks(rgb, 10, 0)))},
             "reference": {"reference": Image.open(OPENCV / "orange.jpg").convert("RGB")}}
    for name, kwargs in cases.items():
        seconds = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            model(photo, **kwargs)
            seconds.append(time.perf_counter() - t0)
        print(f"1024 × 640, {name}: {np.median(seconds):.2f} s (median of {repeat})")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, curve in results.items():
        counts = sorted(int(n) for n in curve)
        xs = [max(n, 0.5) for n in counts]  # 0 points drawn at 0.5 on the log axis
        for ax, key in zip(axes, ("psnr", "delta_e")):
            ax.plot(xs, [curve[str(n)][key] for n in counts], marker="o", ms=3, label=name)
    for ax, label in zip(axes, ("PSNR (dB) ↑", "ΔE2000 ↓")):
        ax.set_xscale("log")
        ax.set_xlabel("simulated clicks (0 drawn at 0.5)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/hints"))
    p.add_argument("--model", type=Path, default=DEFAULT_WEIGHTS, help="a hint model (default: the bundled one)")
    p.add_argument("--no-hint-model", type=Path, default=None, help="the model trained alike without hint inputs")
    p.add_argument("--methods", default="model,network alone,points given to the network too,no-hint model,levin,"
                                        "nearest,gray",
                   help="comma-separated, of: model (the colorizer as shipped: the network, then the steering), "
                        "network alone (no steering), points given to the network too, no-hint model, levin, "
                        "nearest, gray")
    p.add_argument("--plot", type=Path, default=None, help="write the sweep's figure here")
    p.add_argument("--timing", action="store_true", help="time one photo-sized colorization with and without hints")
    p.add_argument("--choose", action="store_true", help="print the steering settings' figures on the selection "
                   "photos (and nothing on the report photos)")
    args = p.parse_args()
    if args.choose:
        choose(Colorizer.from_checkpoint(args.model, "cpu"))
        return 0
    if args.timing:
        print(f"# {cpu_description()}")
        timing(Colorizer.from_checkpoint(args.model, "cpu"))
        return 0

    photos = report_photos()
    print(f"# {cpu_description()}; {len(photos)} photos (OpenCV's samples, short side 256); counts {COUNTS}")
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "sweep.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    model = Colorizer.from_checkpoint(args.model, "cpu")
    makers = {"model": lambda: colorizer_method(model), "levin": lambda: levin, "nearest": lambda: nearest_fill,
              "network alone": lambda: colorizer_method(model.replace(steer=None)),
              "points given to the network too": lambda: colorizer_method(
                  model.replace(steer=Steering(points_to_network=True))),
              "gray": lambda: colorizer_method(model.replace(strength=0.0)),
              "no-hint model": lambda: colorizer_method(Colorizer.from_checkpoint(args.no_hint_model, "cpu"))}
    for name in args.methods.split(","):
        if name in results or (name == "no-hint model" and args.no_hint_model is None):
            continue
        t0 = time.perf_counter()
        counts = (0,) if name in ("gray", "no-hint model") else COUNTS  # they take no points: flat curves
        curve = sweep({name: makers[name]()}, photos, counts, progress=print)[name]
        results[name] = {str(n): curve[counts[0] if len(counts) == 1 else n] for n in COUNTS}
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
        store.write_text(json.dumps(results, indent=1))
    print("\n| method | " + " | ".join(f"{n}" for n in COUNTS) + " |")
    print("|---|" + "---|" * len(COUNTS))
    for name, curve in results.items():
        print(f"| {name} | " + " | ".join(f"{curve[str(n)]['psnr']:.2f}" for n in COUNTS) + " |")
    if model.takes_hints:
        for n in (10, 100):
            print(f"median ΔE2000 at the hinted pixels, {n} clicks: {hinted_pixel_delta_e(model, photos, n):.2f}")
        for k, v in reference_figures(model, photos).items():
            print(f"reference, {k}: PSNR {v['psnr']:.2f} dB, ΔE2000 {v['delta_e']:.2f}")
    if args.plot:
        plot(results, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
