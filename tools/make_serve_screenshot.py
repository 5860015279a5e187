"""docs/serve.png: the `pix2gan serve` page at 1280 × 800 in headless Chromium (Playwright with the system's
Chromium), with scikit-image's gray `camera` photo, two colour points and the strength at 1.

    python tools/make_serve_screenshot.py [--out docs/serve.png]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import skimage.data
from PIL import Image

from pix2gan.colorizer import Colorizer
from pix2gan.serve import make_app


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("docs/serve.png"))
    p.add_argument("--port", type=int, default=7861)
    args = p.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("needs Chromium: apt-get install chromium")
    import uvicorn
    from playwright.sync_api import sync_playwright

    server = uvicorn.Server(uvicorn.Config(make_app(Colorizer.default("cpu")), host="127.0.0.1", port=args.port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        photo = Path(tmp) / "camera.png"
        Image.fromarray(skimage.data.camera()).save(photo)
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"http://127.0.0.1:{args.port}/")
        page.wait_for_function("document.getElementById('model-info').textContent.startsWith('model:')")
        page.get_by_test_id("upload").set_input_files(str(photo))
        page.wait_for_function("document.querySelector('[data-testid=download]').href.startsWith('blob:')")
        result = page.get_by_test_id("result")
        for colour, (fx, fy) in (("#6f9fd8", (0.5, 0.15)), ("#5f8f3f", (0.5, 0.9)), ("#3a3040", (0.35, 0.45))):
            href = page.get_by_test_id("download").get_attribute("href")
            page.get_by_test_id("hint-color").fill(colour)
            box = result.bounding_box()
            result.click(position={"x": box["width"] * fx, "y": box["height"] * fy})
            page.wait_for_function(f"document.querySelector('[data-testid=download]').href !== {href!r}")
            page.wait_for_function("document.getElementById('result-figure').getAttribute('aria-busy') === 'false'")
        time.sleep(1.0)  # the suggestions of the last point
        page.screenshot(path=str(args.out))
        browser.close()
    server.should_exit = True
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
