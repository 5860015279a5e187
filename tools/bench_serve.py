"""`pix2gan serve` latency: a hint click on a 1-megapixel photo, as the page sends it (the same photo again, one
more point each time), through a real server (uvicorn on 127.0.0.1, in this process) and HTTP.

    python tools/bench_serve.py [--clicks 8] [--size 1280x800] [--pause 1.0]

Prints the first request's seconds (upload, decode, colours), each click's, and their median and worst. ``--pause``
is the time between seeing a result and the next click (a person looks first); after a photo is shown the server
uses that time to factorise the points' solver, so ``--pause 0`` shows the worst case: a click that waits for it.
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import threading
import time
import warnings

import numpy as np
from PIL import Image

from pix2gan.colorizer import Colorizer
from pix2gan.runtime import cpu_description
from pix2gan.serve import make_app


def start_server(app) -> tuple[str, object]:
    """``app`` served by uvicorn on a free local port in a thread: its base URL and the server (``should_exit``)."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clicks", type=int, default=8)
    p.add_argument("--size", default="1280x800", help="photo size, WxH (default 1280x800: 1.02 megapixels)")
    p.add_argument("--pause", type=float, default=1.0, help="seconds between a result and the next click")
    args = p.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    warnings.simplefilter("ignore")
    import httpx
    import skimage.data

    photo = Image.fromarray(skimage.data.astronaut()).convert("L").resize((w, h), Image.BICUBIC)
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=92)
    data = buf.getvalue()
    url, server = start_server(make_app(Colorizer.default("cpu")))
    rng = np.random.default_rng(0)
    points, seconds = [], []
    with httpx.Client(timeout=60) as client:
        for i in range(args.clicks + 1):
            if i:
                time.sleep(args.pause)
                points.append({"x": int(rng.integers(w)), "y": int(rng.integers(h)),
                               "color": "#%02x%02x%02x" % tuple(int(v) for v in rng.integers(0, 256, 3))})
            t0 = time.perf_counter()
            r = client.post(f"{url}/api/colorize", files={"image": ("photo.jpg", data, "image/jpeg")},
                            data={"hints": json.dumps({"points": points})})
            seconds.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
    server.should_exit = True
    print(f"# {cpu_description()}; {w}×{h} photo, the bundled colorizer, {args.pause:g} s between clicks")
    print(f"first request (upload, decode, no points): {seconds[0]:.2f} s")
    print("each click: " + " ".join(f"{s:.2f}" for s in seconds[1:]))
    print(f"hint clicks 1…{args.clicks}: median {np.median(seconds[1:]):.2f} s, worst {max(seconds[1:]):.2f} s "
          f"(target ≤ 0.5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
