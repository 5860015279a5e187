"""`pix2gan serve` latency: a hint click on a 1-megapixel photo, as the page sends it (the same photo again, one
more point each time), through the API in-process (Starlette's test client: no network in the figure).

    python tools/bench_serve.py [--clicks 8] [--size 1280x800]

Prints the median and worst seconds per click, and the first request's (decoding the upload).
"""

from __future__ import annotations

import argparse
import io
import json
import time
import warnings

import numpy as np
from PIL import Image

from pix2gan.colorizer import Colorizer
from pix2gan.runtime import cpu_description
from pix2gan.serve import make_app


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clicks", type=int, default=8)
    p.add_argument("--size", default="1280x800", help="photo size, WxH (default 1280x800: 1.02 megapixels)")
    args = p.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

    import skimage.data

    photo = Image.fromarray(skimage.data.astronaut()).convert("L").resize((w, h), Image.BICUBIC)
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=92)
    data = buf.getvalue()
    client = TestClient(make_app(Colorizer.default("cpu")))
    rng = np.random.default_rng(0)
    points, seconds = [], []
    for i in range(args.clicks + 1):
        if i:
            points.append({"x": int(rng.integers(w)), "y": int(rng.integers(h)),
                           "color": "#%02x%02x%02x" % tuple(int(v) for v in rng.integers(0, 256, 3))})
        t0 = time.perf_counter()
        r = client.post("/api/colorize", files={"image": ("photo.jpg", data, "image/jpeg")},
                        data={"hints": json.dumps({"points": points})})
        seconds.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
    print(f"# {cpu_description()}; {w}×{h} photo, the bundled colorizer")
    print(f"first request (decode, no points): {seconds[0]:.2f} s")
    print(f"hint clicks 1…{args.clicks}: median {np.median(seconds[1:]):.2f} s, worst {max(seconds[1:]):.2f} s "
          f"(target ≤ 0.5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
