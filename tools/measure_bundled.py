"""Measure the bundled colorizer again as it runs today, without training it again: after a change to the inference
path (not the weights), the default ``--strength`` by the same rule on the *select* photos as
tools/make_default_colorizer.py, then the card's *report* figures (the table and the frontier over ``--strength``).

    python tools/measure_bundled.py              # print the figures
    python tools/measure_bundled.py --install    # and write the chosen strength into pix2gan/weights/

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
from make_default_colorizer import (COLOUR, MARGIN, REPORT_SOURCES, SELECT_SOURCES, at_colour, fmt, md_table,
                                    strength_frontier, strength_on_select)
from pix2gan.checkpoint import load_checkpoint
from pix2gan.colorizer import DEFAULT_WEIGHTS, Colorizer
from pix2gan.files import atomic_write_bytes
from pix2gan.runtime import cpu_description

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--install", action="store_true", help="write the chosen strength into the bundled weights")
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
    model = Colorizer.default("cpu")
    gray, _, strength = strength_on_select(model, select)
    print(f"select ({len(select)} photos): gray {fmt(gray)}; strength {strength:g} (the largest within {MARGIN} dB "
          f"of gray's PSNR)\n")
    report_frontier = strength_frontier(model, report)
    rows = {"gray (the input, strength 0)": dict(report_frontier)[0.0], "new, strength 1": dict(report_frontier)[1.0],
            f"**default (strength {strength:g}, size {model.size})**": dict(report_frontier)[strength]}
    print(f"report ({len(report)} photos):\n\n{md_table(rows, 'model')}\n")
    print(md_table({f"{s:g}" + (" (default)" if s == strength else ""): m for s, m in report_frontier
                    if round(s * 10) % 2 == 0 or s == strength}, "strength"))
    at = at_colour(report_frontier)
    print(f"\nreport PSNR where the median colourfulness ratio reaches {COLOUR}: {at:.2f} dB "
          f"({at - dict(report_frontier)[0.0]['psnr']:+.2f} dB against gray)")
    if args.install:
        state = load_checkpoint(DEFAULT_WEIGHTS)
        state["strength"] = strength
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(DEFAULT_WEIGHTS, buf.getvalue())
        print(f"\nwrote {DEFAULT_WEIGHTS} (strength {strength:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
