"""Measure the bundled colorizer again as it runs today, without training it again: after a change to the inference
path (not the weights), the default ``--strength`` by the same rule on the *select* photos as
tools/make_default_colorizer.py, then the card's *report* figures (the table and the frontier over ``--strength``).

    python tools/measure_bundled.py              # print the figures
    python tools/measure_bundled.py --install    # and write the chosen strength into pix2gan/weights/, and draw
                                                 # the card's pictures again (the file as it stood: "previous")
    python tools/measure_bundled.py --flat fade  # measured with colour faded over flat areas (--install writes it)

The same groups as make_default_colorizer.py's defaults (its SELECT_SOURCES and REPORT_SOURCES) and the same rule
(its strength_on_select); whole photos at short side 256. plasma-workspace-wallpapers is never read.
"""

from __future__ import annotations

import argparse
import io
import sys

import numpy as np
import torch

from common import gather_photos, shrink
from make_default_colorizer import (CARD, COLOUR, MARGIN, REPORT_SOURCES, SELECT_SOURCES, at_colour, draw_pictures,
                                    fmt, md_table, per_photo_frontier, photo_metrics, psnr_gains, strength_on_select,
                                    summary)
from pix2gan.checkpoint import load_checkpoint
from pix2gan.colorizer import DEFAULT_WEIGHTS, Colorizer
from pix2gan.files import atomic_write_bytes
from pix2gan.runtime import cpu_description

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--install", action="store_true", help="write the chosen strength into the bundled weights")
    p.add_argument("--flat", choices=("fade", "keep"), default=None,
                   help="colorize with the guessed colour faded over flat areas or kept (pix2gan colorize --flat; "
                        "default: the bundled file's own); --install writes it too")
    args = p.parse_args()
    print(f"# {cpu_description()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    photos, _ = gather_photos(stamps=False)
    group = lambda sources: [(f"{ph.source}_{ph.name}", np.asarray(shrink(ph.image, 256).convert("RGB")))  # noqa: E731
                             for ph in photos if not ph.skipped and ph.source in sources]
    select, report = group(SELECT_SOURCES), group(REPORT_SOURCES)
    if not select or not report:
        print("error: the select or report photos are not installed (see make_default_colorizer.py --help)",
              file=sys.stderr)
        return 1
    model = Colorizer.default("cpu", fade_flat=None if args.flat is None else args.flat == "fade")
    shipped = Colorizer.default("cpu")  # as the file stands
    print(f"flat areas: {'faded' if model.fade_flat else 'kept'}")
    gray, _, strength = strength_on_select(model, select)
    print(f"select ({len(select)} photos): gray {fmt(gray)}; strength {strength:g} (the largest within {MARGIN} dB "
          f"of gray's PSNR)\n")
    per = per_photo_frontier(model, report)
    report_frontier = [(s, summary(rows)) for s, rows in per]
    rows = {"gray (the input, strength 0)": dict(report_frontier)[0.0], "new, strength 1": dict(report_frontier)[1.0],
            f"**default (strength {strength:g}, size {model.size})**": dict(report_frontier)[strength]}
    if (shipped.strength, shipped.fade_flat) != (strength, model.fade_flat):
        flat = "faded" if shipped.fade_flat else "kept"
        rows = {f"before: strength {shipped.strength:g}, flat areas {flat}": photo_metrics(shipped, report), **rows}
    model.strength = strength
    gains = psnr_gains(report, per, strength)
    print("report photos, PSNR of the default against gray's: "
          + ", ".join(f"{name} {d:+.2f}" for name, d in sorted(gains, key=lambda r: r[1])) + "\n")
    print(f"report ({len(report)} photos):\n\n{md_table(rows, 'model')}\n")
    print(md_table({f"{s:g}" + (" (default)" if s == strength else ""): m for s, m in report_frontier
                    if round(s * 10) % 2 == 0 or s == strength}, "strength"))
    at = at_colour(report_frontier)
    print(f"\nreport PSNR where the median colourfulness ratio reaches {COLOUR}: {at:.2f} dB "
          f"({at - dict(report_frontier)[0.0]['psnr']:+.2f} dB against gray)")
    if args.install:
        state = load_checkpoint(DEFAULT_WEIGHTS)
        state["strength"], state["fade_flat"] = strength, model.fade_flat
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(DEFAULT_WEIGHTS, buf.getvalue())
        print(f"\nwrote {DEFAULT_WEIGHTS} (strength {strength:g}, flat areas {'faded' if model.fade_flat else 'kept'})")
        worst = draw_pictures(model, shipped, report, gains, CARD.parent)
        print(f"drew the card's pictures in {CARD.parent} (gray | the file as it stood | now | real; worst: "
              f"{', '.join(worst)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
