"""The FastAPI app behind ``colorize serve``: one page and a small HTTP API.

Every endpoint parses the request and calls the same library functions as the CLI
(:func:`colorizer.io.read_image`, :func:`colorizer.scribbles.read_scribbles`,
:func:`colorizer.api.colorize_picture`, :func:`colorizer.api.colorize_scribbles`,
:func:`colorizer.api.confidence_map`, :func:`colorizer.repair.restore_picture`). Limits and safety:

* A POST body over ``max_upload_bytes`` gets 413: by its Content-Length before it is read, and
  (chunked, or longer than it said) as soon as the bytes read pass the limit; a photo over
  ``max_pixels`` 413 before it is decoded; a non-image or unsupported format 415;
  bad options or hints 422. Every error is JSON ``{"error": message}``, with no traceback in the
  server log.
* At most ``workers + queue`` POST requests are in the server at once (the work queue); the next
  one gets 503 with ``Retry-After``.
* An upload is copied into a fresh temporary folder, read from there, and the folder is deleted
  when the request ends. Nothing is written anywhere else.
* Each model, the denoiser (``denoise=true``) and the damage detector (``restore=true``,
  ``/api/damage``) are loaded once (on first use) and shared by all requests.
* Every response carries a Content-Security-Policy; only a fixed list of static files is served.

This module holds the routes; the rooms behind them each have their own module:
:mod:`~colorizer.web.config` (settings, host names), :mod:`~colorizer.web.limits` (checking
uploads and hints), :mod:`~colorizer.web.guard` (headers, body size, admission),
:mod:`~colorizer.web.workqueue` (the work queue), :mod:`~colorizer.web.store` (the models),
:mod:`~colorizer.web.cache` (repaired and cleaned photos), :mod:`~colorizer.web.service` (the work of each
endpoint) and :mod:`~colorizer.web.jobs` (video jobs).
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Annotated

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from fastapi_offline import FastAPIOffline
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from colorizer.errors import ColorizerError
from colorizer.web.cache import CleanedCache
from colorizer.web.config import LOOPBACK_HOSTS, ServeConfig, host_name, serve_hosts
from colorizer.web.guard import DOCS_STATIC, Guard
from colorizer.web.jobs import DownloadOnce
from colorizer.web.limits import HINTS_HELP, MAX_HINT_POINTS, MAX_HINT_WIDTH, WebError, error_response
from colorizer.web.service import Service
from colorizer.web.workqueue import WorkQueue

# what the CLI (colorize serve), the tests and the benchmarks import from here
__all__ = ["create_app", "ServeConfig", "serve_hosts", "host_name", "LOOPBACK_HOSTS", "WebError",
           "WorkQueue", "CleanedCache", "MAX_HINT_POINTS", "MAX_HINT_WIDTH"]

log = logging.getLogger("colorizer.web")

#: The static files served, with their content types; nothing else under static/ is reachable.
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
                "base.css": "text/css; charset=utf-8"}


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
Restore = Annotated[bool, Form(description="Find and fill scratches, cracks, dust, hairs and small tears "
                                           "first (as `colorize image --restore`), before `denoise`; "
                                           "`/api/damage` shows what is filled")]
VideoFile = Annotated[UploadFile, File(description="A video file: .mp4, .mov, .mkv, .webm, .avi")]


def _video_jobs(cfg: ServeConfig):
    """The video job queue when ``colorize video`` is installed (PyAV), else None."""
    try:
        import av  # noqa: F401

        import colorizer.video  # noqa: F401
        from colorizer.web.jobs import VideoJobs
    except ImportError:
        return None
    return VideoJobs(cfg.max_video_jobs, cfg.max_pixels, cfg.max_video_frames)


def _live_view(cfg: ServeConfig, service: Service):
    """The live view of ``colorize serve --live SOURCE`` (:class:`colorizer.live.LiveView`), its
    model loaded as ``colorize video`` loads it (onnxruntime, int8 where there is an int8 file),
    or None without a live source."""
    if cfg.live is None:
        return None
    from colorizer.live import LiveView

    def load():
        from colorizer import onnx_backend
        from colorizer.video import video_threads

        net = onnx_backend.load_for_job("auto", "default", device=cfg.device,
                                        threads=video_threads(onnx=True), warn=log.warning)
        return net if net is not None else service.models.get("default")

    return LiveView(cfg.live, load)


#: Between the JPEG frames of /api/live (multipart/x-mixed-replace, which browsers show in an <img>)
LIVE_BOUNDARY = "colourframe"


def _static(name: str) -> bytes:
    return (resources.files("colorizer.web") / "static" / name).read_bytes()


def create_app(cfg: ServeConfig | None = None) -> FastAPI:
    """The ASGI app of ``colorize serve`` (see the module docstring)."""
    from contextlib import asynccontextmanager

    cfg = cfg or ServeConfig()
    service = Service(cfg)
    queue = WorkQueue(cfg.workers, cfg.queue)
    jobs = _video_jobs(cfg)
    live = _live_view(cfg, service)
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
        if live is not None:
            live.close()
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

    def png(body: bytes, filename: str, headers: dict | None = None) -> Response:
        return Response(body, media_type="image/png",
                        headers={"Content-Disposition": f'inline; filename="{filename}"',
                                 "Cache-Control": "no-store", **(headers or {})})

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
                       reference: ReferenceFile = None, restore: Restore = False):
        """Colorize one photo at its full size; with ``hints``, the scribbles correct the model's
        colours (model ``levin``: the scribbles alone); with ``restore``, its scratches and dust are
        repaired first, and with ``denoise`` its lightness is cleaned (after the repair); with a
        ``reference`` photo, matching parts take its colours (model ``levin``: the reference
        alone), and ``hints`` then correct that. Returns a PNG."""
        return png(*await run(service.colorize, image, model, saturation, size, hints, denoise,
                              reference, restore))

    @app.post("/api/samples")
    async def samples(image: Photo, model: ModelName = "vae", k: Count = 4,
                      saturation: Saturation = 1.0, size: Size = None, denoise: Denoise = False,
                      restore: Restore = False):
        """K different colorizations from a model that samples (the VAE): JSON with the photo's
        size and ``samples``, a list of base64 PNGs at full size; with ``restore`` and ``denoise``,
        of the photo repaired and cleaned first, as ``/api/colorize`` does."""
        return await run(service.samples, image, model, k, saturation, size, denoise, restore)

    @app.post("/api/confidence", response_class=Response, responses=png_response)
    async def confidence(image: Photo, model: ModelName = "zhang", size: Size = None,
                         denoise: Denoise = False, restore: Restore = False):
        """The confidence map (white = sure, dark = a guess) as a grey PNG at full size, for models
        that give one (zhang); with ``restore`` and ``denoise``, of the photo repaired and cleaned
        first (the one ``/api/colorize`` colours with them)."""
        return png(*await run(service.confidence, image, model, size, denoise, restore))

    @app.post("/api/damage", response_class=Response, responses=png_response)
    async def damage(image: Photo):
        """What ``restore=true`` repairs in the photo (scratches, cracks, dust, hairs, small
        tears): a grey PNG at full size, white where it fills, black elsewhere; the header
        ``X-Repaired-Pixels`` says how many pixels are white."""
        body, filename, count = await run(service.damage, image)
        return png(body, filename, {"X-Repaired-Pixels": str(count)})

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

    @app.get("/api/live/status")
    async def live_status():
        """The live source (``colorize serve --live SOURCE``): ``source``, ``running``,
        ``frames`` shown and ``dropped`` (to keep up) so far, ``width``, ``height`` and
        ``error``; ``source`` is null when the server shows none."""
        if live is None:
            return {"source": None, "running": False, "frames": 0, "dropped": 0, "error": None,
                    "width": None, "height": None}
        return live.status()

    mjpeg = f"multipart/x-mixed-replace; boundary={LIVE_BOUNDARY}"

    @app.get("/api/live", responses={200: {"content": {mjpeg: {}},
                                           "description": "JPEG frames, each replacing the last"}})
    async def live_stream(request: Request):
        """The live source colorized, as a stream of JPEG frames (MJPEG, shown by an ``<img>``); the
        source is opened on the first request and runs until the server stops (a recorded one
        plays at its own speed, and starts again for the next viewer once it has ended)."""
        if live is None:
            raise WebError(404, "this server shows no live source (colorize serve --live SOURCE)")
        live.start()

        async def frames():
            seq = 0
            while not live.closed and not await request.is_disconnected():
                got = await run_in_threadpool(live.wait_frame, seq, 1.0)
                if got is None:
                    if not live.running:
                        return  # the source ended (or failed: /api/live/status says why)
                    continue
                seq, jpeg = got
                yield (f"--{LIVE_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}"
                       "\r\n\r\n").encode() + jpeg + b"\r\n"

        return StreamingResponse(frames(), media_type=mjpeg, headers={"Cache-Control": "no-store"})

    app.add_middleware(Guard, cfg=cfg, queue=queue)
    return app
