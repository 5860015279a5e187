"""`pix2gan serve`: the API (sizes kept, hints honoured, every bad input a 4xx with JSON, no path traversal, the
queue's bounds, concurrent clients) and the page in a real browser (headless Chromium through Playwright)."""

import asyncio
import io
import json
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from pix2gan.cli import main
from pix2gan.colorizer import Colorizer
from pix2gan.serve import ApiError, ModelQueue, make_app

from helpers import png_header_only

starlette = pytest.importorskip("starlette")  # the serve extra (in dev)
from starlette.testclient import TestClient  # noqa: E402


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def gradient(w: int = 96, h: int = 64) -> Image.Image:
    """A gray left-to-right ramp (mid-gray at the centre)."""
    return Image.fromarray(np.tile(np.linspace(40, 220, w).astype(np.uint8), (h, 1)), "L")


@pytest.fixture(scope="module")
def client():
    return TestClient(make_app(Colorizer.default("cpu"), max_upload_mb=1))


def test_the_api_colorizes_at_the_inputs_size_and_follows_a_hint(client):
    info = client.get("/api/model").json()
    assert info["task"] == "colorize" and info["hints"] is True and info["latent"] == 0 and info["size"] > 0
    img = gradient(97, 61)
    hints = {"points": [{"x": 48, "y": 30, "color": "#ff0000"}]}
    r = client.post("/api/colorize", files={"image": ("g.png", png(img), "image/png")},
                    data={"hints": json.dumps(hints), "strength": "0.5", "size": "64"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    out = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)
    assert out.shape == (61, 97, 3)
    r0, g0, b0 = out[30, 48]
    assert r0 > g0 + 60 and r0 > b0 + 60  # red where it was clicked
    plain = client.post("/api/colorize", files={"image": ("g.png", png(img), "image/png")})
    assert plain.status_code == 200 and plain.content != r.content
    colours = client.post("/api/suggest", files={"image": ("g.png", png(img), "image/png")},
                          data={"x": "10", "y": "5", "k": "5"}).json()["colors"]
    assert 1 <= len(colours) <= 5 and all(c.startswith("#") and len(c) == 7 for c in colours)


def test_the_flat_field_fades_or_keeps_the_guess_as_colorize_flat_does(client):
    assert client.get("/api/model").json()["flat"] == ("fade" if Colorizer.default("cpu").fade_flat else "keep")
    half = np.full((64, 96), 130, np.uint8)
    half[:, 48:] = np.random.default_rng(3).integers(40, 220, (64, 48))
    img = Image.fromarray(half)
    got = {}
    for flat in ("fade", "keep"):
        r = client.post("/api/colorize", files={"image": ("h.png", png(img), "image/png")},
                        data={"flat": flat, "strength": "1"})
        assert r.status_code == 200
        got[flat] = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
        local = Colorizer.default("cpu", strength=1.0, fade_flat=flat == "fade")(img)
        assert np.array_equal(got[flat], np.asarray(local))
    assert not np.array_equal(got["fade"], got["keep"])


def test_after_a_photo_is_shown_its_points_solver_is_ready_and_clicks_match_a_fresh_colorizer():
    from pix2gan.propagate import Spreader

    model = Colorizer.default("cpu")
    client = TestClient(make_app(model))
    img, files = gradient(90, 70), {"image": ("g.png", png(gradient(90, 70)), "image/png")}
    assert client.post("/api/colorize", files=files).status_code == 200  # no points: the solver factorised after
    assert any(isinstance(v, Spreader) for v in model.memo.items.values())
    points = [{"x": 10, "y": 10, "color": "#2050e0"}]
    for more in ({"x": 80, "y": 60, "color": "#e03020"}, {"x": 45, "y": 35, "color": "#30c040"}):
        points.append(more)
        r = client.post("/api/colorize", files=files, data={"hints": json.dumps({"points": points})})
        fresh = Colorizer.default("cpu")(img, hints=points)  # no memo: a direct solve
        got = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)
        assert np.abs(got - np.asarray(fresh).astype(int)).max() <= 1


@pytest.mark.parametrize("files, data, status, message", [
    ({}, {}, 400, "image: no file"),
    ({"image": ("a.png", b"not an image", "image/png")}, {}, 400, "image: not an image"),
    ({"image": ("a.png", b"", "image/png")}, {}, 400, "image: empty file"),
    ({"image": ("a.png", b"x" * (2 * 2**20), "image/png")}, {}, 413, "max-upload-mb"),
    ("BOMB", {}, 400, "decompression bomb"),
    ("OK", {"hints": "{not json"}, 400, "hints: not valid JSON"),
    ("OK", {"hints": '{"points": [{"x": 500, "y": 1, "color": "#ff0000"}]}'}, 400, "outside"),
    ("OK", {"hints": '{"points": [{"x": 1, "y": 1, "colour": "#ff0000"}]}'}, 400, "colour"),
    ("OK", {"strength": "-1"}, 400, "strength"),
    ("OK", {"strength": "lots"}, 400, "strength: not a number"),
    ("OK", {"size": "4"}, 400, "size"),
    ("OK", {"flat": "maybe"}, 400, "flat: fade or keep"),
])
def test_bad_requests_get_a_4xx_and_one_json_line(client, tmp_path, files, data, status, message):
    if files == "BOMB":
        png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
        files = {"image": ("bomb.png", (tmp_path / "bomb.png").read_bytes(), "image/png")}
    elif files == "OK":
        files = {"image": ("g.png", png(gradient()), "image/png")}
    r = client.post("/api/colorize", files=files, data=data)
    assert r.status_code == status and message in r.json()["error"]


def test_an_oversized_body_is_refused_from_its_header_without_reading_it(client):
    def body():  # a stream that fails if read past its first chunk
        yield b"x" * 1024
        raise AssertionError("the body was read")

    r = client.post("/api/colorize", content=body(), headers={"content-length": str(5 * 2**20),
                                                                 "content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and "max-upload-mb" in r.json()["error"]


@pytest.mark.parametrize("path", ["/../etc/passwd", "/%2e%2e/setup.py", "/app.js/..%2f..%2fserve.py",
                                  "/web/index.html", "/%2fetc%2fpasswd", "/api/../serve.py"])
def test_no_path_reaches_the_file_system(client, path):
    r = client.get(path)
    assert r.status_code == 404 and "error" in r.json()
    assert client.get("/").status_code == 200 and b"data-testid=\"upload\"" in client.get("/").content


def test_the_queue_refuses_what_it_cannot_hold():
    queue = ModelQueue(limit=1)

    async def two():
        first = asyncio.ensure_future(queue.run(lambda: time.sleep(0.3) or "done"))
        await asyncio.sleep(0.05)
        with pytest.raises(ApiError) as refused:
            await queue.run(lambda: "never")
        return await first, refused.value.status

    assert asyncio.run(two()) == ("done", 503)


def test_eight_concurrent_clients_are_all_answered(client):
    images = [png(gradient(40 + i, 30)) for i in range(8)]

    def one(i):
        return client.post("/api/colorize", files={"image": (f"{i}.png", images[i], "image/png")})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert [r.status_code for r in answers] == [200] * 8
    assert [Image.open(io.BytesIO(r.content)).size for r in answers] == [(40 + i, 30) for i in range(8)]


def test_a_model_without_hint_inputs_serves_the_page_and_refuses_points(tiny_run):
    plain = TestClient(make_app(Colorizer.from_checkpoint(tiny_run / "checkpoint.pt", "cpu")))
    assert plain.get("/api/model").json()["hints"] is False
    image = {"image": ("g.png", png(gradient()), "image/png")}
    assert plain.post("/api/colorize", files=image, data={"hints": '{"points": []}'}).status_code == 200
    r = plain.post("/api/colorize", files=image, data={"hints": '{"points": [{"x": 1, "y": 1, "color": "#ff0000"}]}'})
    assert r.status_code == 400 and "trained without hint inputs" in r.json()["error"]


def test_a_latent_model_answers_each_colouring_and_thumbnails_for_the_pages_samples():
    from pix2gan.config import resolve
    from pix2gan.models import build_generator

    from helpers import tiny

    import torch

    torch.manual_seed(0)
    model = Colorizer(build_generator(resolve(tiny(latent_dim=3, code_loss="adversarial"))).eval(), 32)
    client = TestClient(make_app(model))
    assert client.get("/api/model").json()["latent"] == 3
    files = {"image": ("g.png", png(gradient(120, 80)), "image/png")}
    shown = [client.post("/api/colorize", files=files, data={"seed": str(s), "preview": "60"}) for s in (0, 1, 0)]
    sizes = [Image.open(io.BytesIO(r.content)).size for r in shown]
    assert all(r.status_code == 200 for r in shown) and sizes == [(60, 40)] * 3  # long side 60, aspect kept
    assert shown[0].content == shown[2].content != shown[1].content  # a seed is one colouring, another another
    full = client.post("/api/colorize", files=files, data={"seed": "1"})
    assert Image.open(io.BytesIO(full.content)).size == (120, 80)
    assert client.post("/api/colorize", files=files, data={"preview": "8"}).status_code == 400


def test_serve_refuses_bad_options_in_one_line(capsys):
    assert main(["serve", "--max-upload-mb", "0"]) == 2
    assert "--max-upload-mb must be > 0" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------- the page
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(make_app(Colorizer.default("cpu")), host="127.0.0.1", port=port,
                                       log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_the_page_in_a_real_browser(server, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium on this machine (.ci/run installs it with apt: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    gradient(120, 80).save(tmp_path / "ramp.png")
    errors, requests = [], []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(server + "/")
        page.wait_for_function("document.getElementById('model-info').textContent.startsWith('model:')")
        page.get_by_test_id("upload").set_input_files(str(tmp_path / "ramp.png"))
        download = page.get_by_test_id("download")
        page.wait_for_function("document.querySelector('[data-testid=download]').href.startsWith('blob:')")
        first = download.get_attribute("href")
        assert page.get_by_test_id("result").get_attribute("src") == first

        page.get_by_test_id("strength").fill("0.4")  # the result follows the slider
        page.wait_for_function(f"document.querySelector('[data-testid=download]').href !== {first!r}")
        faded = download.get_attribute("href")
        page.get_by_test_id("flat").click()  # and the flat-area checkbox
        page.wait_for_function(f"document.querySelector('[data-testid=download]').href !== {faded!r}")
        second = download.get_attribute("href")

        page.get_by_test_id("hint-color").fill("#ff0000")
        box = page.get_by_test_id("result").bounding_box()
        page.get_by_test_id("result").click(position={"x": box["width"] / 2, "y": box["height"] / 2})
        page.wait_for_function(f"document.querySelector('[data-testid=download]').href !== {second!r}")
        page.wait_for_function("document.getElementById('result-figure').getAttribute('aria-busy') === 'false'")
        with page.expect_download() as info:
            download.click()
        out = np.asarray(Image.open(info.value.path()).convert("RGB")).astype(int)
        browser.close()
    assert out.shape == (80, 120, 3)
    r0, g0, b0 = out[40, 60]
    assert r0 > g0 + 60 and r0 > b0 + 60, out[38:43, 58:63]  # the clicked centre is red
    assert errors == []
    assert requests and all(u.startswith(server) or u.startswith(("blob:", "data:")) for u in requests), requests
