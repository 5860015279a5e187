"""``pix2gan serve``: colorize in the browser. One local page (``pix2gan/web/``: its HTML, script and style ship in
the package; nothing is fetched from anywhere else) and the API it uses, around one colorizer:

    GET  /                the page
    GET  /api/model       {"task", "size", "strength", "flat", "hints", "latent"}
    POST /api/colorize    multipart: image; optional hints (the hints JSON as text), strength, size, flat (fade or
                          keep: ``colorize --flat``), seed, reference (a photo) → image/png at the input's size
    POST /api/suggest     multipart: image, x, y; optional k, hints → {"colors": ["#rrggbb", ...]}

Errors are JSON ``{"error": "..."}`` with a 4xx code: 413 for a body over ``max_upload_mb`` (refused from its
Content-Length, or as soon as the streamed body passes the limit: never read whole), 400 for an image the CLI would
refuse (the same decoding checks, pixel limit and messages), bad hints or fields, 503 when the queue is full. Uploads
are decoded in memory and nothing is written to disk. Requests queue for the one model instance (a single worker
thread, at most ``queue`` waiting), so memory stays flat however many clients there are.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

from PIL import Image

from pix2gan.colorizer import Colorizer, Memo, check_strength
from pix2gan.data.images import MAX_PIXELS, read_image
from pix2gan.errors import Pix2GanError

#: The page's files, by URL path: a fixed table (no request path ever reaches the file system).
PAGE_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
              "/app.js": ("app.js", "text/javascript; charset=utf-8"),
              "/app.css": ("app.css", "text/css; charset=utf-8")}
#: Decoded uploads kept for the next request of the same photo (a hint click re-sends it): at most this many
#: pixels in all.
CACHE_PIXELS = 64_000_000


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class ModelQueue:
    """Runs jobs one at a time on one worker thread; at most ``limit`` admitted at once (running or waiting), so
    a burst of requests gets 503s instead of growing memory."""

    def __init__(self, limit: int = 8):
        self.limit, self.admitted = limit, 0
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pix2gan-model")

    async def run(self, job):
        if self.admitted >= self.limit:
            raise ApiError(503, f"busy: {self.limit} requests are already queued; try again shortly")
        self.admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, job)
        finally:
            self.admitted -= 1

    async def when_idle(self, job) -> None:
        """``job`` on the worker if nothing is queued (work ahead of time, e.g. after a response: never a 503, never
        ahead of a request); its errors are dropped."""
        if self.admitted == 0:
            try:
                await self.run(job)
            except Exception:  # nobody waits for it: a failure shows when the real request makes the same call
                pass


class DecodedCache:
    """The last decoded uploads by their bytes' SHA-256, up to :data:`CACHE_PIXELS` pixels in all (least recently
    used dropped first). Used from the worker thread only."""

    def __init__(self, max_pixels: int = CACHE_PIXELS):
        self.max_pixels, self.items = max_pixels, OrderedDict()

    def decode(self, data: bytes, name: str, pixel_limit: int) -> Image.Image:
        key = hashlib.sha256(data).hexdigest()
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        img = read_image(io.BytesIO(data), pixel_limit, name=name)
        self.items[key] = img
        while sum(i.width * i.height for i in self.items.values()) > self.max_pixels and len(self.items) > 1:
            self.items.popitem(last=False)
        if img.width * img.height > self.max_pixels:
            self.items.pop(key)
        return img


def _number(form, name: str, kind, default=None, low=None, high=None):
    """A form field as ``kind`` within [low, high], ``default`` when absent; a 400 naming it otherwise."""
    text = form.get(name)
    if text is None or text == "":
        return default
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name}: not a number ({str(text)[:40]!r})") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise ApiError(400, f"{name}: {value} is outside {low}…{high}")
    return value


class Api:
    """The endpoints around one ``colorizer``: uploads read within ``max_upload_mb``, decoded with the CLI's checks
    (``max_pixels``), run on one :class:`ModelQueue` of ``queue``."""

    def __init__(self, colorizer: Colorizer, max_upload_mb: float = 50, queue: int = 8,
                 max_pixels: int = MAX_PIXELS):
        self.colorizer, self.max_upload_mb, self.max_pixels = colorizer, max_upload_mb, max_pixels
        self.limit_bytes = int(max_upload_mb * 2**20)
        self.jobs, self.cache = ModelQueue(queue), DecodedCache()
        self.prepared: OrderedDict[str, bool] = OrderedDict()  # photos whose points solver was factorised ahead
        colorizer.memo = colorizer.memo or Memo(4)  # a hint click re-sends the photo: the network runs once for it

    async def read_form(self, request):
        """The multipart form, the body read with the upload limit enforced as it streams."""
        declared = request.headers.get("content-length")
        too_big = ApiError(413, f"upload over --max-upload-mb {self.max_upload_mb:g}")
        if declared is not None and declared.isdigit() and int(declared) > self.limit_bytes:
            raise too_big
        body, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.limit_bytes:
                raise too_big
            body.append(chunk)
        request._body = b"".join(body)  # Starlette's form parser reads this buffer instead of the (spent) stream
        try:
            return await request.form(max_files=2, max_fields=16)
        except Exception as e:  # a malformed multipart body
            raise ApiError(400, f"not a valid multipart form ({e})") from None

    @staticmethod
    async def upload(form, name: str, required: bool = True) -> tuple[bytes, str] | None:
        """The bytes of the form's file ``name`` (and the name messages give it)."""
        part = form.get(name)
        if part is None or isinstance(part, str):
            if required:
                raise ApiError(400, f"{name}: no file in the form (multipart field {name!r})")
            return None
        return await part.read(), name

    def hints(self, img: Image.Image, form, reference: Image.Image | None):
        """The form's hints JSON and the reference photo, checked against ``img`` as the CLI checks a hints file."""
        text, points = form.get("hints"), None
        if text:
            try:
                points = json.loads(text)
            except json.JSONDecodeError as e:
                raise ApiError(400, f"hints: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
        if points == {"points": []}:  # what the page sends before any click: no hints (any model takes that)
            points = None
        return self.colorizer.hints(*img.size, points, reference) if (points or reference) else None

    def with_settings(self, form) -> Colorizer:
        """The colorizer with the form's ``strength``, ``size`` and ``flat`` (sharing its network and memo)."""
        c, strength, flat = self.colorizer, form.get("strength"), form.get("flat")
        size = _number(form, "size", int, None, 16, 2048)
        if flat not in (None, "", "fade", "keep"):
            raise ApiError(400, f"flat: fade or keep, got {str(flat)[:40]!r}")
        fade = c.fade_flat if flat in (None, "") else flat == "fade"
        if strength in (None, "") and size is None and fade == c.fade_flat:
            return c
        try:
            s = check_strength(float(strength)) if strength not in (None, "") else c.strength
        except ValueError:
            raise ApiError(400, f"strength: not a number ({str(strength)[:40]!r})") from None
        except Pix2GanError as e:
            raise ApiError(400, str(e).replace("--strength", "strength")) from None
        return c.replace(size=size or c.size, strength=s, fade_flat=fade)

    async def colorize(self, request):
        from starlette.background import BackgroundTask
        from starlette.responses import Response

        form = await self.read_form(request)
        image, ref = await self.upload(form, "image"), await self.upload(form, "reference", required=False)
        seed = _number(form, "seed", int, 0, 0, 2**31 - 1)
        preview = _number(form, "preview", int, None, 16, 4096)
        model = self.with_settings(form)

        def job() -> tuple[bytes, Image.Image | None]:
            img = self.cache.decode(*image, self.max_pixels)
            reference = self.cache.decode(*ref, self.max_pixels) if ref else None
            hints = self.hints(img, form, reference)
            out = model(img, seed=seed, hints=hints)
            if preview:  # a thumbnail (the page's latent samples): long side at most `preview`
                out.thumbnail((preview, preview), Image.LANCZOS)
            buf = io.BytesIO()
            out.save(buf, "PNG", compress_level=1)
            return buf.getvalue(), img if (hints is None or not hints.points) and not preview else None

        png, unclicked = await self.jobs.run(job)
        key = hashlib.sha256(image[0]).hexdigest()
        warm = None
        if unclicked is not None and key not in self.prepared:  # once per photo (a slider moved: nothing new)
            self.prepared[key] = True
            while len(self.prepared) > self.colorizer.memo.size:
                self.prepared.popitem(last=False)
            warm = BackgroundTask(self.jobs.when_idle, lambda: model.prepare_points(unclicked))
        return Response(png, media_type="image/png", background=warm)

    async def suggest(self, request):
        from starlette.responses import JSONResponse

        form = await self.read_form(request)
        image = await self.upload(form, "image")
        x, y = _number(form, "x", int, None, 0), _number(form, "y", int, None, 0)
        if x is None or y is None:
            raise ApiError(400, "x and y: the pixel's column and row are required")
        k = _number(form, "k", int, 8, 1, 32)

        def job() -> list[str]:
            img = self.cache.decode(*image, self.max_pixels)
            return self.colorizer.suggest(img, x, y, k, self.hints(img, form, None))

        return JSONResponse({"colors": await self.jobs.run(job)})

    async def model(self, request):
        from starlette.responses import JSONResponse

        c = self.colorizer
        return JSONResponse({"task": "colorize", "size": c.size, "strength": c.strength,
                             "flat": "fade" if c.fade_flat else "keep", "hints": c.takes_hints,
                             "latent": c.latent_dim, "max_upload_mb": self.max_upload_mb})


def _guarded(endpoint):
    """``endpoint`` with its :class:`ApiError` and the CLI's one-line errors answered as JSON."""
    from starlette.responses import JSONResponse

    async def handle(request):
        try:
            return await endpoint(request)
        except ApiError as e:
            return JSONResponse({"error": e.message}, status_code=e.status)
        except Pix2GanError as e:  # the CLI's one-line messages: bad image, bad hints
            return JSONResponse({"error": str(e)}, status_code=400)
    return handle


def make_app(colorizer: Colorizer, max_upload_mb: float = 50, queue: int = 8, max_pixels: int = MAX_PIXELS):
    """The Starlette application: the page's files (:data:`PAGE_FILES`) and :class:`Api`'s endpoints."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    api = Api(colorizer, max_upload_mb, queue, max_pixels)
    page = {path: ((resources.files("pix2gan") / "web" / name).read_bytes(), kind)
            for path, (name, kind) in PAGE_FILES.items()}

    async def static(request):
        body, kind = page[request.url.path]
        return Response(body, media_type=kind, headers={"Cache-Control": "no-cache"})

    async def not_found(request, exc):
        return JSONResponse({"error": f"no such page or endpoint ({exc.status_code})"}, status_code=exc.status_code)

    routes = [Route(path, static) for path in page]
    routes += [Route("/api/model", _guarded(api.model)),
               Route("/api/colorize", _guarded(api.colorize), methods=["POST"]),
               Route("/api/suggest", _guarded(api.suggest), methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


def serve(colorizer: Colorizer, host: str = "127.0.0.1", port: int = 7860, max_upload_mb: float = 50,
          queue: int = 8) -> None:
    """Run the page and API until Ctrl-C (uvicorn; one process, one model)."""
    import uvicorn

    app = make_app(colorizer, max_upload_mb, queue)
    print(f"pix2gan serve: http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
