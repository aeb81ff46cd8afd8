"""The FastAPI app behind ``colorize serve``: one page and a small HTTP API.

Every endpoint parses the request and calls the same library functions as the CLI
(:func:`colorizer.io.read_image`, :func:`colorizer.scribbles.read_scribbles`,
:func:`colorizer.api.colorize_picture`, :func:`colorizer.api.colorize_scribbles`,
:func:`colorizer.api.confidence_map`). Limits and safety:

* A POST body over ``max_upload_bytes`` gets 413: by its Content-Length before it is read, and
  (chunked, or longer than it said) as soon as the bytes read pass the limit; a photo over
  ``max_pixels`` 413 before it is decoded; a non-image or unsupported format 415;
  bad options or hints 422. Every error is JSON ``{"error": message}``, with no traceback in the
  server log.
* At most ``workers + queue`` POST requests are in the server at once (the work queue); the next
  one gets 503 with ``Retry-After``.
* An upload is copied into a fresh temporary folder, read from there, and the folder is deleted
  when the request ends. Nothing is written anywhere else.
* Each model, and the denoiser (``denoise=true``), is loaded once (on first use) and shared by
  all requests.
* Every response carries a Content-Security-Policy; only a fixed list of static files is served.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import math
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import FastAPI, File, Form, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from colorizer.errors import ColorizerError

log = logging.getLogger("colorizer.web")

#: Image formats the page accepts (Pillow's names): those the CLI writes, plus phone JPEGs and GIF.
ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG", "TIFF", "BMP", "WEBP", "GIF")

#: Room in a POST body for the form fields and multipart framing around the photo itself.
FORM_OVERHEAD_BYTES = 2 * 2**20

#: Most points and the widest stroke accepted in ``hints``.
MAX_HINT_POINTS = 200_000
MAX_HINT_WIDTH = 1000

HINTS_HELP = ('JSON strokes as `colorize scribble` reads them, in the photo\'s pixels: {"strokes": '
              '[{"points": [[x, y], ...], "color": "#c0392b", "width": 6}], "width": W, "height": H}; '
              "width and height, if given, must be the photo's")

#: The static files served, with their content types; nothing else under static/ is reachable.
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
                "base.css": "text/css; charset=utf-8"}

#: For the page: only its own files, images from itself, data: and blob: URLs.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: FastAPI's /docs and /redoc pages: their scripts and styles come from this server (the
#: fastapi-offline package ships Swagger UI and ReDoc), but the pages use inline scripts.
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; "
            "base-uri 'none'; frame-ancestors 'none'")
#: Where the documentation pages' own scripts and styles are served.
DOCS_STATIC = "/docs-static"


# Form fields shared by the endpoints (module level: FastAPI resolves the annotations here).
Photo = Annotated[UploadFile, File(description="The photo: JPEG, PNG, TIFF, BMP or WebP")]
Size = Annotated[int | None, Form(ge=8, le=4096, description="Working resolution (default: the "
                                                             "model's preferred size)")]
Saturation = Annotated[float, Form(ge=0, le=4, description="Colour strength; 1 = calibrated")]
ModelName = Annotated[str, Form(description="A name from /api/models")]
HintsField = Annotated[str | None, Form(description=HINTS_HELP)]
ReferenceFile = Annotated[UploadFile | None, File(
    description="A colour photo of the same scene, people or objects: parts of the photo that "
                "match it take its colours (a reference of another scene is ignored)")]
Count = Annotated[int, Form(ge=1, le=8, description="How many colorizations")]
Denoise = Annotated[bool, Form(description="Clean grain and noise out of the photo's lightness first "
                                           "(the `denoise` model, as `colorize image --denoise`); "
                                           "the result keeps the denoised lightness")]
VideoFile = Annotated[UploadFile, File(description="A video file: .mp4, .mov, .mkv, .webm, .avi")]


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def host_name(header: bytes | None) -> str:
    """The name in a Host header, without its port: ``[::1]:8000`` -> ``::1``."""
    host = (header or b"").decode("latin-1").strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def serve_hosts(bind: str) -> tuple[str, ...] | None:
    """The Host names to answer for a server listening on ``bind``: the loopback names (and
    ``bind``) on a loopback address, any name (None) on another one, which the user chose so that
    other machines reach it under names of their own."""
    import ipaddress

    name = bind.strip("[]").lower()
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    return tuple(dict.fromkeys((*LOOPBACK_HOSTS, name))) if loopback else None


@dataclass
class ServeConfig:
    """Settings of ``colorize serve``."""

    max_upload_bytes: int = 20 * 2**20
    max_pixels: int = 40_000_000
    max_video_bytes: int = 500 * 2**20
    max_video_jobs: int = 4
    max_video_frames: int | None = 54_000  # 30 minutes at 30 fps
    workers: int = 1
    queue: int = 8
    device: str = "auto"
    preload: tuple[str, ...] = ("default",)
    # the names a request's Host header may give (port aside); None takes any. Answering only to
    # the loopback names keeps other web sites out: a page can point its own domain at 127.0.0.1
    # (DNS rebinding) and then read the answers, but its requests still carry its domain's name
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS


class WebError(Exception):
    """An HTTP error answered as JSON ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class ModelStore:
    """Colorizers by name, and the denoiser, each built once (on first use) and shared by every
    request."""

    def __init__(self, device: str):
        self.device = device
        self._models: dict = {}
        self._denoisers: dict = {}  # apart: a denoiser is never handed out as a colorizer
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, name: str):
        """The model, built now if it is the first request for it (one lock per name, so a slow
        load does not hold up requests for other models)."""
        from colorizer.registry import get_colorizer, resolve_name

        name = resolve_name(name)  # unknown name: ColorizerError listing the valid ones
        return self._once("colorizer", name, lambda: get_colorizer(name, device=self.device))

    def denoiser(self, name: str = "denoise"):
        """The denoiser, built on the first request that asks for denoising, as `colorize denoise`
        loads it (:func:`colorizer.onnx_backend.load_denoiser`: the onnxruntime export on the CPU
        when it is fresh, else torch), so the page cleans a photo exactly as the CLI does."""
        from colorizer import onnx_backend

        return self._once("denoiser", name, lambda: onnx_backend.load_denoiser(
            "auto", name, device=self.device, warn=log.warning))

    def _once(self, kind: str, name: str, build: Callable):
        store = self._denoisers if kind == "denoiser" else self._models
        with self._lock:
            lock = self._locks.setdefault((kind, name), threading.Lock())
        with lock:
            if name not in store:
                store[name] = build()
            return store[name]

    def peek(self, name: str):
        """The model if it has been built, else None."""
        return self._models.get(name)

    @property
    def loaded(self) -> list[str]:
        return sorted(self._models)


class WorkQueue:
    """At most ``workers`` jobs run at once and ``queue`` more wait; beyond that, 503."""

    def __init__(self, workers: int, queue: int):
        self.workers = max(1, workers)
        self.limit = self.workers + max(0, queue)
        self.pending = 0  # only touched from the event loop thread
        self.executor = ThreadPoolExecutor(self.workers, thread_name_prefix="colorize-web")
        self._job_seconds = 1.0

    def admit(self) -> bool:
        if self.pending >= self.limit:
            return False
        self.pending += 1
        return True

    def release(self) -> None:
        self.pending -= 1

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue's length times the recent job time."""
        return int(min(60, max(1, math.ceil(self.pending * self._job_seconds / self.workers))))

    async def run(self, fn: Callable, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._timed, fn, args)

    def _timed(self, fn: Callable, args: tuple):
        """``fn(*args)`` in a worker, timed from when it starts there (not from when it was queued,
        which would count the waits before it too)."""
        start = time.monotonic()
        try:
            return fn(*args)
        finally:
            self._job_seconds = 0.8 * self._job_seconds + 0.2 * (time.monotonic() - start)


class UploadTooLarge(StarletteHTTPException):
    """A POST body that grew past the limit while it was being read (413)."""


class Guard:
    """ASGI middleware: security headers on every response, and for POSTs under /api the body
    size limit and the admission to the work queue.

    The limit is checked twice: from Content-Length before anything is read, and by counting the
    bytes as they arrive, so a body without Content-Length (chunked) or longer than it said is cut
    off at the limit too, never read whole."""

    def __init__(self, app, cfg: ServeConfig, queue: WorkQueue):
        self.app, self.cfg, self.queue = app, cfg, queue

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        csp = DOCS_CSP if path in ("/docs", "/redoc") or path.startswith(DOCS_STATIC) else PAGE_CSP
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"content-security-policy"]
                headers += [(b"content-security-policy", csp.encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
                message = {**message, "headers": headers}
            await send(message)

        hosts = self.cfg.allowed_hosts
        if hosts is not None and host_name(dict(scope["headers"]).get(b"host")) not in hosts:
            return await self._refuse(400, "this server answers only to the host names "
                                      f"{', '.join(hosts)} (colorize serve --host)", receive,
                                      send_with_headers, drain=0)
        if scope["method"] != "POST" or not path.startswith("/api/"):
            return await self.app(scope, receive, send_with_headers)
        length = dict(scope["headers"]).get(b"content-length")
        allowed = self.cfg.max_video_bytes if path == "/api/video" else self.cfg.max_upload_bytes
        limit = allowed + FORM_OVERHEAD_BYTES
        option = "--max-video-mb" if path == "/api/video" else "--max-upload-mb"
        too_large = (f"upload is over the limit of {allowed / 2**20:.0f} MB "
                     f"(colorize serve {option})")
        if length is not None and not length.isdigit():
            return await self._refuse(400, "invalid Content-Length header", receive,
                                      send_with_headers, drain=0)
        if length is not None and int(length) > limit:
            return await self._refuse(
                413, f"upload is {int(length) / 2**20:.1f} MB; the limit is "
                     f"{allowed / 2**20:.0f} MB (colorize serve {option})",
                receive, send_with_headers, drain=4 * limit if int(length) <= 4 * limit else 0)
        if not self.queue.admit():
            return await self._refuse(503, "the server is busy; try again shortly", receive,
                                      send_with_headers, drain=4 * limit,
                                      headers={"Retry-After": str(self.queue.retry_after())})
        received = 0

        async def receive_counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if message.get("more_body"):  # drop some more, so the client reads our 413
                        await self._drain(receive, 4 * limit - received)
                    raise UploadTooLarge(413, too_large)
            return message

        try:
            await self.app(scope, receive_counted, send_with_headers)
        except UploadTooLarge as exc:  # raised where no exception handler saw it
            if started:
                raise
            await error_response(413, exc.detail)(scope, receive, send_with_headers)
        finally:
            self.queue.release()

    @staticmethod
    async def _drain(receive, most: int) -> None:
        """Read and drop the rest of the body, up to ``most`` bytes."""
        while most > 0:
            msg = await receive()
            if msg["type"] != "http.request" or not msg.get("more_body"):
                break
            most -= len(msg.get("body", b""))

    @classmethod
    async def _refuse(cls, status, message, receive, send, drain: int, headers=None):
        if drain:  # read and drop the body, so the client gets to read our answer
            await cls._drain(receive, drain)
        await error_response(status, message, headers)({"type": "http"}, receive, send)


class DownloadOnce(FileResponse):
    """A file answer whose ``background`` task (deleting the result) runs only once the whole file
    has gone out to a GET: not after a Range request or a client that left mid-way, so an
    interrupted download can be tried again."""

    def __init__(self, *args, otherwise: Callable[[], None] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.otherwise = otherwise  # called when the background task is not

    async def __call__(self, scope, receive, send):
        task, self.background = self.background, None
        whole = scope.get("method") == "GET" and not any(k.lower() == b"range" for k, _ in scope["headers"])
        sent = False

        async def watch(message):
            nonlocal sent
            await send(message)
            if message["type"] == "http.response.pathsend" or (
                    message["type"] == "http.response.body" and not message.get("more_body", False)):
                sent = True

        try:
            await super().__call__(scope, receive, watch)
        finally:
            if whole and sent and task is not None:
                await task()
            elif self.otherwise is not None:
                self.otherwise()


def _safe_name(filename: str | None) -> str:
    """The upload's base name with only safe characters, for messages and the download name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename or "").name).strip("._")[:100]
    return name or "upload"


def _json_int(text: str) -> int | float:
    """A JSON whole number; a huge one as a float (inf beyond 1e308), which the range checks on
    points, widths and colours refuse, where an int would overflow them (or not even parse)."""
    return int(text) if len(text) <= 18 else float(text)


def _png(pic) -> bytes:
    from colorizer.io import encode_png8

    return encode_png8(pic.to_array(np.uint8), workers=2)


def _jsonable(value):
    """Cards as JSON: non-finite floats become null (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class CleanedCache:
    """The denoised pixels of the last few photos, by their pixels' SHA-256, so that the page
    cleans a photo once: with "Clean up grain" on, it sends the same photo again for each model it
    tries and for the confidence map. Bounded by bytes (the oldest go first); a lock keeps the
    worker threads apart. Hashing a 12 MP photo took 20 ms here, against seconds to denoise it."""

    def __init__(self, max_bytes: int = 256 * 2**20):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(pic) -> str:
        px = np.ascontiguousarray(pic.pixels)
        h = hashlib.sha256(f"{px.shape}{px.dtype.str}".encode())
        h.update(memoryview(px).cast("B"))
        return h.hexdigest()

    def get(self, key: str) -> np.ndarray | None:
        """The cleaned pixels stored under ``key``, or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: str, pixels: np.ndarray) -> None:
        """Keep ``pixels`` under ``key``; too large a photo is not kept."""
        if pixels.nbytes > self.max_bytes:
            return
        pixels = pixels.copy()  # its own copy, read-only: what a request does to its photo stays there
        pixels.setflags(write=False)
        with self._lock:
            self._items[key] = pixels
            self._items.move_to_end(key)
            while sum(v.nbytes for v in self._items.values()) > self.max_bytes:
                self._items.popitem(last=False)


class Service:
    """The work behind each endpoint; every method runs in a worker thread of the queue."""

    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        self.models = ModelStore(cfg.device)
        self.cleaned_cache = CleanedCache()

    # -- reading uploads -------------------------------------------------------------------------

    def with_upload(self, upload: UploadFile, fn: Callable):
        """Copy the upload into a fresh temporary folder, read it, call ``fn(pic, folder, name)``;
        the folder is deleted when ``fn`` returns or fails."""
        name = _safe_name(upload.filename)
        with tempfile.TemporaryDirectory(prefix="colorize-serve-") as tmp:
            path = Path(tmp) / ("upload" + Path(name).suffix.lower()[:8])
            upload.file.seek(0)
            with open(path, "wb") as fh:
                shutil.copyfileobj(upload.file, fh, 2**20)
            pic = self.read(path, name)
            return fn(pic, Path(tmp), name)

    def read(self, path: Path, name: str):
        """Check size, format and pixel count from the header, then read like the CLI does."""
        from PIL import Image, UnidentifiedImageError

        from colorizer.io import read_image

        nbytes = path.stat().st_size
        if nbytes == 0:
            raise WebError(422, f"{name}: empty file (0 bytes)")
        if nbytes > self.cfg.max_upload_bytes:
            raise WebError(413, f"{name}: {nbytes / 2**20:.1f} MB is over the upload limit of "
                                f"{self.cfg.max_upload_bytes / 2**20:.0f} MB")
        try:
            with Image.open(path) as im:
                fmt, (w, h) = im.format, im.size
        except UnidentifiedImageError:
            raise WebError(415, f"{name}: not an image, or a format that cannot be read; send "
                                "JPEG, PNG, TIFF, BMP or WebP") from None
        except Image.DecompressionBombError:
            raise WebError(413, f"{name}: too many pixels (limit {self.cfg.max_pixels / 1e6:.0f} MP)") \
                from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise WebError(422, f"{name}: truncated or corrupt image ({exc})") from None
        if fmt not in ACCEPTED_FORMATS:
            raise WebError(415, f"{name}: {fmt} images are not supported; send JPEG, PNG, TIFF, "
                                "BMP or WebP")
        if w * h > self.cfg.max_pixels:
            raise WebError(413, f"{name}: {w}x{h} is {w * h / 1e6:.1f} MP, over the limit of "
                                f"{self.cfg.max_pixels / 1e6:.0f} MP; scale it down first")
        try:
            return read_image(path, max_pixels=self.cfg.max_pixels)
        except ColorizerError as exc:
            raise WebError(422, str(exc).replace(str(path), name)) from None

    def read_hints(self, text: str, pic, folder: Path):
        """Validate JSON strokes against the photo's size, then read them as ``colorize scribble``
        does. Returns (hint_ab, mask), or None for no strokes."""
        from colorizer.scribbles import read_scribbles

        width, height = pic.size
        try:
            data = json.loads(text, parse_int=_json_int)
        except RecursionError:
            raise WebError(422, "hints: not valid JSON (nested too deeply)") from None
        except ValueError as exc:  # JSONDecodeError is one
            raise WebError(422, f"hints: not valid JSON ({exc})") from None
        strokes = data.get("strokes") if isinstance(data, dict) else data
        if not isinstance(strokes, list):
            raise WebError(422, 'hints: expected {"strokes": [...]} or a list of strokes')
        if isinstance(data, dict) and ("width" in data or "height" in data) \
                and (data.get("width"), data.get("height")) != (width, height):
            raise WebError(422, f"hints: drawn on a {data.get('width')}x{data.get('height')} image but "
                                f"the photo is {width}x{height}; draw them on this photo")
        if not strokes:
            return None
        points = 0
        for i, stroke in enumerate(strokes):
            pts = stroke.get("points") if isinstance(stroke, dict) else None
            try:
                arr = np.asarray(pts, np.float64).reshape(-1, 2)
            except (ValueError, TypeError):
                raise WebError(422, f"hints: stroke {i}: points must be a list of [x, y] pairs") from None
            points += len(arr)
            outside = ~np.isfinite(arr).all(1) | (arr[:, 0] < 0) | (arr[:, 0] > width - 1) \
                | (arr[:, 1] < 0) | (arr[:, 1] > height - 1)
            if outside.any():
                x, y = arr[np.argmax(outside)]
                raise WebError(422, f"hints: stroke {i} has the point ({x:g}, {y:g}), outside the "
                                    f"{width}x{height} photo; use the photo's pixel coordinates")
            if isinstance(stroke.get("width"), (int, float)) and stroke["width"] > MAX_HINT_WIDTH:
                raise WebError(422, f"hints: stroke {i} is wider than {MAX_HINT_WIDTH} pixels")
        if points > MAX_HINT_POINTS:
            raise WebError(422, f"hints: {points} points; at most {MAX_HINT_POINTS}")
        path = folder / "hints.json"
        path.write_text(json.dumps({"strokes": strokes}))
        try:
            return read_scribbles(path, pic)
        except ColorizerError as exc:
            raise WebError(422, str(exc).replace(str(path), "hints")) from None

    # -- the jobs -------------------------------------------------------------------------------

    def cleaned(self, pic, denoise: bool):
        """The photo with its lightness denoised (:func:`colorizer.onnx_backend.denoise_any`, as
        ``colorize denoise``) when the request asks for it, else the photo itself. A photo cleaned
        a moment ago is taken from :class:`CleanedCache`, not denoised again."""
        if not denoise:
            return pic
        from colorizer import onnx_backend

        key = CleanedCache.key(pic)
        if (pixels := self.cleaned_cache.get(key)) is not None:
            return pic.with_pixels(pixels.copy())
        out = onnx_backend.denoise_any(pic, self.models.denoiser())
        self.cleaned_cache.put(key, out.pixels)
        return out

    def read_reference(self, upload: UploadFile, folder: Path, net):
        """The reference photo of a request, described for matching (:func:`prepare_reference`)."""
        from colorizer.api import prepare_reference
        from colorizer.reference import check_reference

        name = _safe_name(upload.filename)
        path = folder / ("reference" + Path(name).suffix.lower()[:8])
        upload.file.seek(0)
        with open(path, "wb") as fh:
            shutil.copyfileobj(upload.file, fh, 2**20)
        ref = self.read(path, name)
        try:
            check_reference(ref, name)
        except ColorizerError as exc:
            raise WebError(422, str(exc)) from None
        return prepare_reference(ref, None if net.name == "levin" else net)

    def colorize(self, upload: UploadFile, model: str, saturation: float, size: int | None,
                 hints: str | None, denoise: bool = False,
                 reference: UploadFile | None = None) -> tuple[bytes, str]:
        from colorizer.api import colorize_picture, colorize_scribbles, colorize_with_reference

        def job(pic, folder, name):
            scribbles = self.read_hints(hints, pic, folder) if hints else None
            net = self.models.get(model)
            if reference is not None:  # with scribbles too: they correct the reference's colours
                ref = self.read_reference(reference, folder, net)
                pic = self.cleaned(pic, denoise)
                out = colorize_with_reference(pic, None if net.name == "levin" else net, ref, size,
                                              saturation, scribbles=scribbles)[0]
                return _png(out), f"{Path(name).stem}_{net.name}_reference.png"
            if net.name == "levin" and scribbles is None:
                raise WebError(422, "model 'levin' needs scribbles: paint some colour on the "
                                    "photo (or send hints), or choose another model")
            pic = self.cleaned(pic, denoise)
            if net.name == "levin":  # spreads the scribbles alone (as `colorize scribble`)
                out = colorize_scribbles(pic, *scribbles, None, size=size, saturation=saturation)
            elif scribbles is not None:
                out = colorize_scribbles(pic, *scribbles, net, size=size, saturation=saturation)
            else:
                out = colorize_picture(pic, net, size, saturation=saturation)
            return _png(out), f"{Path(name).stem}_{net.name}.png"

        return self.with_upload(upload, job)

    def samples(self, upload: UploadFile, model: str, k: int, saturation: float,
                size: int | None, denoise: bool = False) -> dict:
        from colorizer.api import colorize_picture, require_sampler

        def job(pic, folder, name):
            net = self.models.get(model)
            require_sampler(net)
            pic = self.cleaned(pic, denoise)  # once, for all k
            pngs = [_png(colorize_picture(pic, net, size, sample=i, saturation=saturation))
                    for i in range(1, k + 1)]
            return {"model": net.name, "width": pic.size[0], "height": pic.size[1],
                    "names": [f"{Path(name).stem}_{net.name}_sample{i}.png" for i in range(1, k + 1)],
                    "samples": [base64.b64encode(p).decode() for p in pngs]}

        return self.with_upload(upload, job)

    def confidence(self, upload: UploadFile, model: str, size: int | None,
                   denoise: bool = False) -> tuple[bytes, str]:
        from colorizer.api import confidence_map
        from colorizer.io import Picture

        def job(pic, folder, name):
            net = self.models.get(model)
            conf = confidence_map(self.cleaned(pic, denoise), net, size)  # of the photo coloured
            out = Picture.from_array((np.clip(conf, 0, 1) * 255).astype(np.uint8))
            return _png(out), f"{Path(name).stem}_{net.name}_confidence.png"

        return self.with_upload(upload, job)

    def model_list(self, load: bool = True) -> list[dict]:
        """Every registered colorizer with what it can do and its card. ``load=False`` answers at
        once and fills in only the models built so far (``loaded``)."""
        from colorizer import registry

        try:
            default = registry.resolve_name("default")
        except ColorizerError:
            default = None
        out = []
        for name in registry.list_colorizers():
            entry = {"name": name, "summary": registry.describe(name), "default": name == default,
                     "needs_hints": name == "levin", "loaded": False, "samples": False,
                     "confidence": False, "card": None, "error": None}
            try:
                net = self.models.get(name) if load else self.models.peek(name)
            except ColorizerError as exc:  # e.g. a trainable model without shipped weights
                entry["error"] = str(exc)
                net = None
            if net is not None:
                entry.update(loaded=True, samples=hasattr(net, "sample_ab"),
                             confidence=hasattr(net, "predict_confidence"),
                             card=_jsonable(net.card) or None)
            out.append(entry)
        return out


def _video_jobs(cfg: ServeConfig):
    """The video job queue when ``colorize video`` is installed (PyAV), else None."""
    try:
        import av  # noqa: F401

        import colorizer.video  # noqa: F401
        from colorizer.web.jobs import VideoJobs
    except ImportError:
        return None
    return VideoJobs(cfg.max_video_jobs, cfg.max_pixels, cfg.max_video_frames)


def _static(name: str) -> bytes:
    return (resources.files("colorizer.web") / "static" / name).read_bytes()


def create_app(cfg: ServeConfig | None = None) -> FastAPI:
    """The ASGI app of ``colorize serve`` (see the module docstring)."""
    from contextlib import asynccontextmanager

    cfg = cfg or ServeConfig()
    service = Service(cfg)
    queue = WorkQueue(cfg.workers, cfg.queue)
    jobs = _video_jobs(cfg)
    page = _static("index.html")
    static = {name: _static(name) for name in STATIC_FILES}

    @asynccontextmanager
    async def lifespan(app):
        for name in cfg.preload:
            try:
                await queue.run(service.models.get, name)
            except ColorizerError as exc:
                log.warning("could not preload model %r: %s", name, exc)
        yield
        queue.executor.shutdown(wait=False, cancel_futures=True)
        if jobs is not None:
            jobs.close()

    # FastAPIOffline: FastAPI whose /docs and /redoc load Swagger UI and ReDoc from this server,
    # not from a CDN, so the API documentation works offline too.
    app = FastAPIOffline(title="colorizer", lifespan=lifespan, static_url=DOCS_STATIC,
                  description="Colorize greyscale photos on this computer. Errors are JSON "
                              '`{"error": message}`: 413 too large, 415 not a supported image, '
                              "422 bad option or hints, 503 busy (with Retry-After).")
    app.state.service, app.state.queue = service, queue

    @app.exception_handler(WebError)
    async def _web_error(request, exc: WebError):
        if exc.status < 500:
            log.info("%s %s: %d %s", request.method, request.url.path, exc.status, exc.message)
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(ColorizerError)
    async def _user_error(request, exc: ColorizerError):
        log.info("%s %s: 422 %s", request.method, request.url.path, exc)
        return error_response(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc: RequestValidationError):
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ())[1:]) or "request"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(422, "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc: StarletteHTTPException):
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    async def run(fn, *args):
        try:
            return await queue.run(fn, *args)
        except (WebError, ColorizerError):
            raise
        except Exception as exc:  # a bug, not the user's input: keep the traceback for us
            log.exception("internal error")
            raise WebError(500, f"internal error ({type(exc).__name__}); see the server log") from None

    png_response = {200: {"content": {"image/png": {}}, "description": "PNG at the photo's full size"}}

    def png(body: bytes, filename: str) -> Response:
        return Response(body, media_type="image/png",
                        headers={"Content-Disposition": f'inline; filename="{filename}"',
                                 "Cache-Control": "no-store"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/static/{name}", include_in_schema=False)
    async def static_file(name: str):
        if name not in static:
            raise WebError(404, f"no such file: {name}")
        return Response(static[name], media_type=STATIC_FILES[name])

    @app.get("/healthz")
    async def healthz():
        """Liveness, the work queue and the models loaded so far."""
        return {"status": "ok", "pending": queue.pending, "limit": queue.limit,
                "models_loaded": service.models.loaded}

    @app.get("/api/models")
    async def models(load: bool = True):
        """Every colorizer: name, summary, whether it is the default, whether it samples
        (``/api/samples``) or gives a confidence map (``/api/confidence``), and its model card.
        Models are built on first use; ``load=false`` answers at once with those built so far."""
        try:
            return {"models": await run_in_threadpool(service.model_list, load)}
        except ColorizerError:
            raise
        except Exception as exc:
            log.exception("internal error")
            raise WebError(500, f"internal error ({type(exc).__name__}); see the server log") from None

    @app.post("/api/colorize", response_class=Response, responses=png_response)
    async def colorize(image: Photo, model: ModelName = "default", saturation: Saturation = 1.0,
                       size: Size = None, hints: HintsField = None, denoise: Denoise = False,
                       reference: ReferenceFile = None):
        """Colorize one photo at its full size; with ``hints``, the scribbles correct the model's
        colours (model ``levin``: the scribbles alone); with ``denoise``, the photo's lightness is
        cleaned first; with a ``reference`` photo, matching parts take its colours (model
        ``levin``: the reference alone), and ``hints`` then correct that. Returns a PNG."""
        return png(*await run(service.colorize, image, model, saturation, size, hints, denoise,
                              reference))

    @app.post("/api/samples")
    async def samples(image: Photo, model: ModelName = "vae", k: Count = 4,
                      saturation: Saturation = 1.0, size: Size = None, denoise: Denoise = False):
        """K different colorizations from a model that samples (the VAE): JSON with the photo's
        size and ``samples``, a list of base64 PNGs at full size; with ``denoise``, of the photo
        with its lightness cleaned first."""
        return await run(service.samples, image, model, k, saturation, size, denoise)

    @app.post("/api/confidence", response_class=Response, responses=png_response)
    async def confidence(image: Photo, model: ModelName = "zhang", size: Size = None,
                         denoise: Denoise = False):
        """The confidence map (white = sure, dark = a guess) as a grey PNG at full size, for models
        that give one (zhang); with ``denoise``, of the photo with its lightness cleaned first (the
        one ``/api/colorize`` colours with ``denoise``)."""
        return png(*await run(service.confidence, image, model, size, denoise))

    if jobs is not None:
        @app.post("/api/video", status_code=202)
        async def video(video: VideoFile, model: ModelName = "default", saturation: Saturation = 1.0,
                        size: Size = None):
            """Start colorizing a video (as ``colorize video``, with steady colours from frame to
            frame); answers at once with the job's id. Follow it at ``/api/jobs/{id}``."""
            job = await run(jobs.submit, video, service.models.get, model, saturation, size, WebError)
            return {"id": job.id, "status": job.status, "status_url": f"/api/jobs/{job.id}"}

        @app.get("/api/jobs/{job_id}")
        async def job_status(job_id: str):
            """A video job: ``status`` (queued, running, done, error), ``frames``, ``seconds``,
            ``error``, and ``result`` (the download URL) once done."""
            job = jobs.get(job_id)
            if job is None:
                raise WebError(404, f"no video job {job_id!r} (finished results are kept for an hour)")
            return job.report()

        @app.get("/api/jobs/{job_id}/result", response_class=FileResponse,
                 responses={200: {"content": {"video/mp4": {}}}})
        async def job_result(job_id: str):
            """The colorized video, once the job is done; its files are deleted once a whole
            download has gone out (not after a Range request or an interrupted download)."""
            job = jobs.get(job_id)
            if job is None:
                raise WebError(404, f"no video job {job_id!r} (finished results are kept for an hour)")
            if job.status != "done":
                raise WebError(409, f"video job {job_id} is {job.status}"
                                    + (f": {job.error}" if job.error else "; ask again when it is done"))
            if not jobs.claim_download(job.id):
                raise WebError(409, f"video job {job_id}: its result is being downloaded; ask again "
                                    "if that download does not finish")
            return DownloadOnce(job.dst, media_type="video/mp4", filename=job.dst.name,
                                background=BackgroundTask(jobs.remove, job.id),
                                otherwise=lambda: jobs.release_download(job.id))

    app.add_middleware(Guard, cfg=cfg, queue=queue)
    return app
