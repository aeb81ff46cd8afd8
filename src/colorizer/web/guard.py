"""The door of ``colorize serve``: security headers on every answer, the Host check, and for
uploads the body size limit and admission to the work queue (ASGI middleware)."""

from __future__ import annotations

from starlette.exceptions import HTTPException as StarletteHTTPException

from colorizer.web.config import ServeConfig, host_name
from colorizer.web.limits import FORM_OVERHEAD_BYTES, error_response
from colorizer.web.workqueue import WorkQueue

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
