"""A live source colorized in the background, its latest colour frame kept as a JPEG
(``colorize serve --live SOURCE``).

The frames take the video path's hops (:class:`colorizer.video.FrameReader` read ahead in a thread
that drops the oldest frame when the model falls behind, :func:`colorizer.video.colorize_frames`
with the flow's steady colours); only the newest colour frame is kept, as a JPEG, for whoever
watches (the web page's ``/api/live``). A recorded source (a file, an HTTP link to a clip) is
played at its own speed, as if live; when it ends, the next viewer starts it again.

Examples
--------
>>> from colorizer.registry import get_colorizer
>>> view = LiveView("/dev/video0", lambda: get_colorizer("gray"))  # doctest: +SKIP
>>> view.start(); seq, jpeg = view.wait_frame(0, timeout=10); view.close()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from colorizer.errors import ColorizerError

log = logging.getLogger("colorizer.live")


def encode_jpeg(rgb: np.ndarray, quality: int = 80) -> bytes:
    """A uint8 RGB frame (H, W, 3) as JPEG bytes."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ColorizerError("could not encode the frame as JPEG")
    return buf.tobytes()


class LiveView:
    """One live source colorized in a background thread; the newest colour frame as a JPEG.

    Parameters
    ----------
    source : str
        A camera device, a stream URL, or a video file (see :class:`colorizer.video.FrameReader`).
    load_model : callable
        Returns the colorizer (called in the background thread, once per start).
    size, saturation, temporal
        As for :func:`colorizer.video.colorize_frames`.
    quality : int
        JPEG quality of the frames handed out.
    """

    def __init__(self, source: str, load_model: Callable[[], object], *, size: int | None = None,
                 saturation: float = 1.0, temporal=None, quality: int = 80):
        self.source = source
        self._load_model = load_model
        self.size, self.saturation, self.temporal, self.quality = size, saturation, temporal, quality
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._jpeg: bytes | None = None
        self._shape: tuple[int, int] | None = None
        self.frames = self.dropped = self.runs = 0
        self.error: str | None = None
        self.closed = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Open the source and start colorizing, unless it runs already (or the view is closed)."""
        with self._cond:
            if self.closed or self.running:
                return
            self.error = None
            self.runs += 1
            self._thread = threading.Thread(target=self._run, name="colorizer-live", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        from colorizer.video import FrameReader, ReadAhead, colorize_frames

        try:
            model = self._load_model()
            with FrameReader(self.source, live=True) as reader:
                ahead = ReadAhead(reader, drop=True, pace=reader.paced)
                try:
                    for _, rgb in colorize_frames(self._until_stopped(ahead), model, size=self.size,
                                                  saturation=self.saturation, temporal=self.temporal):
                        jpeg = encode_jpeg(rgb, self.quality)
                        with self._cond:
                            self._seq += 1
                            self.frames += 1
                            self.dropped = ahead.dropped
                            self._jpeg, self._shape = jpeg, rgb.shape[:2]
                            self._cond.notify_all()
                finally:
                    if not ahead.close():
                        reader.abandon()  # a read that does not return: left to the process's end
        except ColorizerError as exc:
            self.error = str(exc)
            log.warning("live source: %s", exc)
        except Exception as exc:  # noqa: BLE001 - kept for the status, the traceback for the log
            self.error = f"internal error ({type(exc).__name__}); see the server log"
            log.exception("live source failed")
        finally:
            with self._cond:
                self._cond.notify_all()

    def _until_stopped(self, frames):
        for frame in frames:
            if self._stop.is_set():
                return
            yield frame

    def wait_frame(self, after: int, timeout: float) -> tuple[int, bytes] | None:
        """The newest frame as ``(number, jpeg)`` once there is one newer than number ``after``;
        None when none came within ``timeout`` seconds (or the source ended)."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or self.closed or not self.running, timeout)
            if self._seq > after and self._jpeg is not None:
                return self._seq, self._jpeg
            return None

    def status(self) -> dict:
        """What the view is doing, for the page: the source, whether it runs, frames shown and
        dropped so far, the frame size, and the error that ended it, if any."""
        with self._cond:
            return {"source": self.source, "running": self.running, "frames": self.frames,
                    "dropped": self.dropped, "error": self.error,
                    "width": self._shape[1] if self._shape else None,
                    "height": self._shape[0] if self._shape else None}

    def close(self, wait: float = 5.0) -> None:
        """Stop colorizing and release the source (at the latest after the frame at hand)."""
        with self._cond:
            self.closed = True
            self._stop.set()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(wait)
