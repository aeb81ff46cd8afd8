"""Video jobs for ``colorize serve``: ``POST /api/video`` starts one, ``GET /api/jobs/{id}`` reports
it, ``GET /api/jobs/{id}/result`` downloads the colorized clip.

A job runs :func:`colorizer.video.colorize_video`, the same call as ``colorize video``. One job
runs at a time and at most ``max_jobs`` are kept (queued, running, or done and not yet
downloaded); beyond that, 503. Each job has its own temporary folder (the upload and the
result), deleted when the result has been downloaded, an hour after the job ended, when the job
fails, or when the server stops. A failed job keeps only its report (the newest
:data:`KEEP_FAILED` of them, each for an hour) and holds no slot.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from starlette.responses import FileResponse

from colorizer.errors import ColorizerError

log = logging.getLogger("colorizer.web")

#: How long a finished job's result waits to be downloaded.
KEEP_SECONDS = 3600
#: How many reports of failed jobs are kept (they hold no files and no job slot).
KEEP_FAILED = 100


@dataclass
class Job:
    id: str
    folder: Path
    src: Path
    dst: Path
    frames: int | None
    status: str = "queued"  # queued, running, done, error
    error: str | None = None
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    ended: float | None = None
    frames_done: int | None = None
    downloading: bool = False  # a download of the result is going out (one at a time)

    def report(self) -> dict:
        now = time.monotonic()
        return {"id": self.id, "status": self.status, "frames": self.frames,
                "frames_done": self.frames_done, "error": self.error,
                "seconds": round((self.ended or now) - self.started, 2) if self.started else 0.0,
                "progress": 1.0 if self.status == "done" else (0.0 if self.status == "queued" else None),
                "result": f"/api/jobs/{self.id}/result" if self.status == "done" else None}


class VideoJobs:
    """The jobs of one server (see the module docstring)."""

    def __init__(self, max_jobs: int = 4, max_pixels: int = 40_000_000, max_frames: int | None = None):
        self.max_jobs, self.max_pixels, self.max_frames = max_jobs, max_pixels, max_frames
        self._jobs: dict[str, Job] = {}
        self._reserved = 0  # submits past the slot check whose job is not in _jobs yet
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="colorize-video")
        self._stop = threading.Event()  # set by close(): the running job ends at its next frame

    def submit(self, upload, get_model: Callable, model: str, saturation: float, size: int | None,
               error: Callable) -> Job:
        """Copy the upload into a new job folder, check it is a video, start the job.
        ``error(status, message)`` builds the exception for the caller's HTTP error."""
        self._expire()
        with self._lock:
            live = sum(job.status != "error" for job in self._jobs.values())
            if live + self._reserved >= self.max_jobs:
                raise error(503, f"{self.max_jobs} video jobs are already waiting or undownloaded; "
                                 "try again later", {"Retry-After": "30"})
            self._reserved += 1
        try:
            return self._start(upload, get_model, model, saturation, size, error)
        finally:
            with self._lock:
                self._reserved -= 1

    def _start(self, upload, get_model: Callable, model: str, saturation: float, size: int | None,
               error: Callable) -> Job:
        from colorizer.video import READ_ONLY_VIDEO, VIDEO_FORMATS, FrameReader, is_video_input

        name = Path(upload.filename or "video.mp4").name
        suffix = Path(name).suffix.lower()
        if not is_video_input(name):
            kinds = ", ".join(sorted(set(VIDEO_FORMATS) | READ_ONLY_VIDEO))
            raise error(415, f"{name}: send a video file ({kinds})")
        folder = Path(tempfile.mkdtemp(prefix="colorize-video-"))
        try:
            src = folder / f"input{suffix}"
            upload.file.seek(0)
            with open(src, "wb") as fh:
                shutil.copyfileobj(upload.file, fh, 2**20)
            try:
                with FrameReader(src) as reader:
                    frames, pixels = reader.count, reader.width * reader.height
            except ColorizerError as exc:
                raise error(415, str(exc).replace(str(src), name)) from None
            if pixels > self.max_pixels:
                raise error(413, f"{name}: frames of {pixels / 1e6:.1f} MP are over the limit of "
                                 f"{self.max_pixels / 1e6:.0f} MP")
            if self.max_frames is not None and frames and frames > self.max_frames:
                raise error(413, f"{name}: {frames} frames, over the limit of {self.max_frames} "
                                 "(colorize serve --max-video-frames)")
            net = get_model(model)  # unknown name: ColorizerError (422)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(name).stem)[:80] or "video"
        job = Job(uuid.uuid4().hex, folder, src, folder / "out" / f"{stem}_color.mp4", frames)
        job.dst.parent.mkdir()
        with self._lock:
            self._jobs[job.id] = job
        self._executor.submit(self._run, job, net, saturation, size, name)
        return job

    def _run(self, job: Job, net, saturation: float, size: int | None, name: str) -> None:
        from colorizer.video import colorize_video

        job.status, job.started = "running", time.monotonic()
        status, error = "error", "interrupted"
        try:
            # a clip that does not declare its length is stopped at the limit
            result = colorize_video(job.src, job.dst, net, size=size, saturation=saturation,
                                    progress=False, max_frames=self.max_frames, stop=self._stop)
            job.frames_done, status = result.frames, "done"
        except ColorizerError as exc:
            error = str(exc).replace(str(job.src), name)
        except Exception as exc:  # a bug, not the user's clip: keep the traceback for us
            log.exception("video job %s failed", job.id)
            error = f"internal error ({type(exc).__name__}); see the server log"
        finally:
            job.src.unlink(missing_ok=True)
            if status == "error":  # nothing to download: free the disk now
                shutil.rmtree(job.folder, ignore_errors=True)
            # published last: whoever sees the job ended sees its files already gone
            job.ended = time.monotonic()
            job.error = error if status == "error" else None
            job.status = status

    def get(self, job_id: str) -> Job | None:
        self._expire()
        with self._lock:
            return self._jobs.get(job_id)

    def claim_download(self, job_id: str) -> bool:
        """Mark a finished job's result as being downloaded; False when another download of it
        is going out (the first whole download deletes the file, so two must not overlap)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.downloading:
                return False
            job.downloading = True
            return True

    def release_download(self, job_id: str) -> None:
        """The download claimed by :meth:`claim_download` ended without taking the whole file."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                job.downloading = False

    def remove(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is not None:
            shutil.rmtree(job.folder, ignore_errors=True)

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            old = [j.id for j in self._jobs.values() if j.ended and now - j.ended > KEEP_SECONDS]
            failed = sorted((j for j in self._jobs.values() if j.status == "error"),
                            key=lambda j: j.ended or 0)
            old += [j.id for j in failed[:-KEEP_FAILED]]
        for job_id in old:
            self.remove(job_id)

    def close(self) -> None:
        """Stop: cancel waiting jobs, end the running one at its next frame (else the server's
        process would stay alive until a long clip was done), delete every job folder."""
        self._stop.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            ids = list(self._jobs)
        for job_id in ids:
            self.remove(job_id)


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
