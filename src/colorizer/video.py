"""Video colorization with temporal consistency: frames streamed in, colorized, streamed out.

Each frame takes the same hops as a photo (:func:`colorizer.api.colorize_picture`): full-res L ->
working-size L -> model -> ab -> upsampled and joined with the full L. Between the model and the
upsampling, :class:`TemporalSmoother` makes the colours steady: DIS optical flow between
consecutive working-size L frames carries the previous frame's colours onto the current one,
and a trust map marks where the forward and backward flows agree and L matches (no occlusion).
The model colours every second frame (a keyframe); the frames in between take the carried
colours. On a keyframe the carried colours are blended with the model's where trusted, and the
untrusted pixels get the colour shift their trusted neighbours received, so regions keep their
colour balance. A shot change (the lightness histogram jumps, or the flow finds too little in
common) starts afresh. Colour hints tied to frame numbers are carried along their shot by the
same flow and applied with Levin et al.'s propagation on top of the model's colours. With
``restore``, dust and scratches are repaired in each frame's lightness first
(:mod:`colorizer.film_restore`), one frame behind the decoder, and the flow computed for that
serves the smoother too.

Inputs are video files (read with PyAV), folders of frames, or live sources: a camera device
(``/dev/video0``), a stream URL (rtsp, http, udp, srt...: whatever FFmpeg opens) or ``-``
(standard input). A live source (a camera, a network stream without an end) is read in a thread
of its own into a small queue; when colorizing falls behind, the oldest frames waiting are
dropped (said once), never buffered without bound. Files and pipes give every frame. Outputs are
video files (4:2:0
H.264 in mp4/mov/mkv/avi, an odd size padded by one pixel; VP9 in webm; same fps, frame count
and timestamps; the first audio stream copied, or re-encoded from the same start when the
container cannot hold it) or folders of PNG frames. Outputs are written under a temporary name
and renamed at the end, so an interrupted or failed run leaves nothing where the output should
be; ``-`` writes a video stream (Matroska, MPEG-TS or fragmented MP4) to standard output, for
a player. Only a few frames are in memory at any time.
"""

from __future__ import annotations

import contextlib
import io as _io
import os
import queue
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from colorizer.errors import ColorizerError
from colorizer.io import (
    FORMATS,
    Picture,
    atomic_write,
    encode_png8,
    file_mode,
    make_temp_dir,
    read_image,
)

#: Video file extensions read and written, with the container (FFmpeg muxer) used to write them.
VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
                 ".avi": "avi"}
#: Video file extensions read only (an output of one is an .mp4): the formats of camcorders,
#: DVDs, broadcast captures and old web video that archives hold, all read by FFmpeg.
READ_ONLY_VIDEO = frozenset({".mpg", ".mpeg", ".m2v", ".vob", ".ts", ".mts", ".m2ts", ".wmv", ".asf",
                             ".flv", ".f4v", ".3gp", ".3g2", ".ogv", ".dv", ".mxf", ".y4m"})
#: Frame rate given to a folder of frames written as a video, unless the caller says otherwise.
DEFAULT_FPS = 25
# FFmpeg's colour tags (AVColorSpace, AVColorRange, AVColorPrimaries, AVColorTransferCharacteristic)
SMPTE170M, MPEG_RANGE, BT709 = 6, 1, 1
OUTPUT_SUFFIX = "_color"
#: The name of standard input (as a source) and standard output (as an output).
STDIO = "-"
#: Containers written to standard output (``--format``), with the FFmpeg muxer of each.
PIPE_FORMATS = {"mkv": "matroska", "ts": "mpegts", "mp4": "mp4"}
#: URL schemes that are always live (no end, real time): frames may be dropped to keep up.
LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "rtp", "udp", "srt", "tcp"})
_URL = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.I)
#: Frames that may wait between the decoder and the model (each an RGB frame in memory).
QUEUE_FRAMES = 4
#: The stem of an output written beside its clip: STEM_color, or STEM_color_N when renamed
_EARLIER_OUTPUT = re.compile(rf"(.+){OUTPUT_SUFFIX}(?:_\d+)?")


# --- reading -----------------------------------------------------------------------------------


@dataclass
class Frame:
    """One decoded frame: uint8 RGB pixels, a name for frame-folder output, and its timestamp."""

    rgb: np.ndarray
    index: int
    name: str
    pts: int | None = None


def is_video_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a video that can be written (:data:`VIDEO_FORMATS`)."""
    return Path(path).suffix.lower() in VIDEO_FORMATS


def is_video_input(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a video that can be read (:data:`VIDEO_FORMATS` and
    :data:`READ_ONLY_VIDEO`)."""
    suffix = Path(path).suffix.lower()
    return suffix in VIDEO_FORMATS or suffix in READ_ONLY_VIDEO


def output_suffix(path: str | os.PathLike) -> str:
    """The extension of a clip's output: its own where it can be written, else .mp4."""
    return Path(path).suffix.lower() if is_video_file(path) else ".mp4"


def source_kind(src: str | os.PathLike) -> str:
    """What kind of source ``src`` names: ``"stdin"`` (``-``), ``"url"`` (``scheme://...``, opened
    by FFmpeg), ``"device"`` (a camera or capture card: a character device such as
    ``/dev/video0``) or ``"path"`` (a video file or a folder of frames)."""
    text = os.fspath(src)
    if text == STDIO:
        return "stdin"
    if _URL.match(text) and not text.lower().startswith("file://"):
        return "url"
    try:
        if stat.S_ISCHR(os.stat(text).st_mode):
            return "device"
    except (OSError, ValueError):
        pass
    return "path"


def is_stream_source(src: str | os.PathLike) -> bool:
    """Whether ``src`` is read as a stream (standard input, a URL or a device), not as a file:
    it has no name to derive an output's from, and it is read once, from start to end."""
    return source_kind(src) != "path"


class _PipeReader:
    """Standard input as a file object for PyAV.

    With ``spool``, every byte read is also kept in a temporary file, so that the reader can seek
    back: an MP4 from a pipe holds its index (moov) after the frames, which FFmpeg reads first and
    then comes back. The temporary file is the size of the input read so far; it is deleted when
    closed. Without ``spool`` the pipe is read straight through (Matroska, MPEG-TS...).
    """

    def __init__(self, raw, head: bytes, spool: bool):
        self._raw, self._head = raw, head
        self._spool = tempfile.TemporaryFile(prefix="colorize-stdin-") if spool else None
        self._pos = self._filled = 0
        self._eof = False
        if self._spool is not None:
            self._spool.write(head)
            self._filled, self._head = len(head), b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._spool is not None

    def _read_raw(self, n: int) -> bytes:
        if self._head:
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._raw.read1(n) if hasattr(self._raw, "read1") else self._raw.read(n)

    def _fill(self, upto: int | None) -> None:
        self._spool.seek(self._filled)
        while not self._eof and (upto is None or self._filled < upto):
            chunk = self._read_raw(1 << 20)
            if not chunk:
                self._eof = True
                break
            self._spool.write(chunk)
            self._filled += len(chunk)

    def read(self, n: int = -1) -> bytes:
        if self._spool is None:
            return self._read_raw(n if n > 0 else 1 << 20)
        if n < 0:
            self._fill(None)
            n = self._filled - self._pos
        if self._pos + n > self._filled:
            self._fill(self._pos + n)
        self._spool.seek(self._pos)
        data = self._spool.read(n)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        if self._spool is None:
            raise OSError("standard input cannot seek")
        if whence == 2:
            self._fill(None)
            offset += self._filled
        elif whence == 1:
            offset += self._pos
        self._pos = max(0, offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


def _open_stdin():
    """Standard input for PyAV: as it is where it can seek (a file given with ``<``), else a
    :class:`_PipeReader` that keeps an MP4/MOV (which needs seeking) in a temporary file."""
    raw = sys.stdin.buffer
    try:
        if raw.seekable():
            return raw
    except (OSError, ValueError):
        pass
    head = b""
    while len(head) < 12:
        chunk = raw.read1(12 - len(head))
        if not chunk:
            break
        head += chunk
    return _PipeReader(raw, head, spool=head[4:8] == b"ftyp")


def _natural_key(path: Path) -> tuple:
    """Numbers in a name compare as numbers: ``2.png`` before ``10.png`` (ffmpeg's ``%d.png``)."""
    parts = re.split(r"(\d+)", path.name)
    return [int(t) if i % 2 else t for i, t in enumerate(parts)], path.name


def _frame_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in FORMATS),
                  key=_natural_key)


def _av_message(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"^\[Errno -?\d+\] ", "", text)  # FFmpeg's own codes mean nothing to a user


class FrameReader:
    """Frames of a video file, a folder of images or a live source, decoded one at a time.

    ``src``: a video file, a folder of frames, ``-`` (standard input), a URL FFmpeg opens (rtsp,
    http, udp, srt...) or a camera device (``/dev/video0``, read with FFmpeg's v4l2 on Linux).
    A source that is not a file is opened and its first frame decoded at once (for its size).

    Attributes
    ----------
    fps : Fraction
        Frames per second (a folder: the ``fps`` asked for).
    time_base : Fraction
        Unit of the frames' ``pts``.
    count : int or None
        Frames the container declares (None when it does not say).
    width, height : int
    audio : av.audio.AudioStream or None
        The input's first audio stream (any others are not read). Its packets go to ``on_audio``
        while frames are read.
    name : str
        The source as messages name it.
    live : bool
        Whether the source runs in real time without waiting for the reader (a camera, a network
        stream with no end): frames are then dropped when colorizing falls behind
        (:func:`read_ahead`). ``live`` given to the constructor overrides the guess.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = None, live: bool | None = None):
        self.kind = source_kind(path)
        self.name = "standard input" if self.kind == "stdin" else os.fspath(path)
        self.path = Path(path) if self.kind == "path" else None
        self.on_audio: Callable | None = None
        self.audio = None
        self._container = self._pipe = self._first = self._frames = None
        self._early_audio: list = []
        self._peeking = False
        self.live = False
        if self.kind != "path":
            self._open_stream(fps)
            #: frames are handed over at their timestamps' pace: a recorded source taken as live
            self.paced = bool(live) and not self.live
            if live is not None:
                self.live = live
            return
        self.live = self.paced = bool(live)
        if not self.path.exists():
            if str(self.path).startswith("/dev/"):
                raise ColorizerError(f"{self.path}: no such device (is the camera plugged in? "
                                     "ls /dev/video* lists those there are)")
            raise ColorizerError(f"{self.path}: not found")
        if self.path.is_dir():
            self._files = _frame_files(self.path)
            if not self._files:
                raise ColorizerError(f"{self.path}: no image frames in this folder (expected "
                                     f"{', '.join(sorted(FORMATS))} files)")
            seen: dict[str, Path] = {}
            for f in self._files:  # frames are written as STEM.png: one name, one frame
                if f.stem in seen:
                    raise ColorizerError(f"{self.path}: {seen[f.stem].name} and {f.name} would both be "
                                         f"frame {f.stem}.png; keep one of them")
                seen[f.stem] = f
            first = read_image(self._files[0])
            self.width, self.height = first.size
            self.fps = Fraction(fps or DEFAULT_FPS).limit_denominator(100000)
            self.time_base = 1 / self.fps
            self.count = len(self._files)
            return
        self._files = None
        import av

        if self.path.stat().st_size == 0:
            raise ColorizerError(f"{self.path}: empty file (0 bytes)")
        try:
            self._container = av.open(str(self.path), metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise ColorizerError(f"{self.path}: not a readable video, or truncated "
                                 f"({_av_message(exc)})") from None
        self._pick_streams(fps)
        # a display rotation (phones film landscape and tag the clip) is applied to the pixels, as
        # players do and as EXIF orientation is for photos: frames come out upright
        self._turns = round(self._rotation() / 90) % 4
        if self._turns % 2:
            self.width, self.height = self.height, self.width

    def _open_stream(self, fps: float | None) -> None:
        """Open standard input, a URL or a device, and decode its first frame."""
        import av

        self._files = None
        try:
            if self.kind == "stdin":
                if sys.stdin is None or sys.stdin.isatty():
                    raise ColorizerError("standard input (-) is the terminal, not a video: pipe one "
                                         "in (cat old.mp4 | colorize video - -o new.mp4)")
                self._pipe = _open_stdin()
                self._container = av.open(self._pipe, metadata_errors="ignore")
            elif self.kind == "device":
                fmt = "v4l2" if sys.platform.startswith("linux") else None
                self._container = av.open(self.name, format=fmt, metadata_errors="ignore")
            else:  # a stream that stops sending ends the clip after 30 s, instead of hanging
                self._container = av.open(self.name, metadata_errors="ignore", timeout=(30, 30))
        except (av.FFmpegError, OSError, ValueError) as exc:
            self.close()
            raise ColorizerError(f"{self.name}: could not be opened as a video "
                                 f"({_av_message(exc)})") from None
        scheme = (_URL.match(self.name) or [None, ""])[1].lower()
        self.live = self.kind == "device" or (self.kind == "url" and (
            scheme in LIVE_SCHEMES or not self._container.duration))
        self._pick_streams(fps)
        self._turns = None  # from the first frame
        self._frames = self._iter_video()
        self._peeking = True
        try:
            self._first = next(self._frames)
        except BaseException:
            self.close()
            raise
        finally:
            self._peeking = False
        self.height, self.width = self._first.rgb.shape[:2]

    def _pick_streams(self, fps: float | None) -> None:
        import av

        if not self._container.streams.video:
            self.close()
            raise ColorizerError(f"{self.name}: has no video stream")
        # the main clip: FFmpeg's pick (the stream with most frames...), never a cover picture
        videos = [s for s in self._container.streams.video
                  if not s.disposition & av.stream.Disposition.attached_pic] or self._container.streams.video
        best = self._container.streams.best("video")
        self._video = best if best in videos else videos[0]
        self._video.thread_type = "AUTO"
        self.audio = self._container.streams.audio[0] if self._container.streams.audio else None
        ctx = self._video.codec_context
        self.width, self.height = ctx.width, ctx.height
        if self.kind == "path" and (not self.width or not self.height):
            self.close()
            raise ColorizerError(f"{self.name}: video stream has no frame size (broken file?)")
        rate = self._video.average_rate or self._video.guessed_rate or fps or DEFAULT_FPS
        self.fps = Fraction(rate).limit_denominator(100000)
        self.time_base = self._video.time_base or 1 / self.fps
        self.count = int(self._video.frames) or None

    def _rotation(self) -> float:
        """The counter-clockwise display rotation of the clip in degrees, from its first frame
        (decoded from a second handle, so that reading starts at the beginning)."""
        import av

        try:
            with av.open(str(self.path), metadata_errors="ignore") as peek:
                for vf in peek.decode(peek.streams[self._video.index]):
                    return vf.rotation
        except (av.FFmpegError, ValueError):  # the frames are read again, and errors reported, later
            pass
        return 0

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def abandon(self) -> None:
        """Let go of the source without closing it: a thread still waits in a read from it (a
        stalled network stream), which would crash on a closed one; it ends with the process."""
        self._frames = self._container = self._pipe = None

    def close(self) -> None:
        if self._frames is not None:
            self._frames.close()
            self._frames = None
        if self._container is not None:
            self._container.close()
            self._container = None
        if self._pipe is not None and isinstance(self._pipe, _PipeReader):
            self._pipe.close()
        self._pipe = None

    def __iter__(self) -> Iterator[Frame]:
        if self._files is not None:
            yield from self._iter_folder()
        elif self._frames is not None:  # a stream: its first frame was decoded when it opened
            if self.on_audio is not None:
                for packet in self._early_audio:
                    self.on_audio(packet)
            self._early_audio = []
            first, self._first = self._first, None
            if first is not None:
                yield first
            yield from self._frames
        else:
            yield from self._iter_video()

    def _iter_folder(self) -> Iterator[Frame]:
        for i, f in enumerate(self._files):
            pic = read_image(f)
            if pic.size != (self.width, self.height):
                raise ColorizerError(f"{f}: frame is {pic.size[0]}x{pic.size[1]} but the first frame "
                                     f"is {self.width}x{self.height}; frames of a clip share one size")
            yield Frame(pic.to_array(np.uint8)[..., :3], i, f.stem + ".png", i)

    def _iter_video(self) -> Iterator[Frame]:
        import av

        streams = [self._video] + ([self.audio] if self.audio is not None else [])
        packets = self._container.demux(streams)
        i = read = 0  # frames decoded, video packets read
        last_dts = None
        damaged: list[int] = []  # frames at which a video packet could not be decoded
        ended = False  # a live stream stopped sending
        while True:
            # only reading and decoding errors are the input's: what ``on_audio`` (the writer)
            # raises, a full disk say, goes up as it is
            try:
                packet = next(packets, None)
                video = packet is not None and packet.stream.type != "audio"
                try:
                    decoded = [(vf.to_ndarray(format="rgb24"), vf.pts,
                                vf.rotation if self._turns is None else 0)
                               for vf in packet.decode()] if video else []
                except av.InvalidDataError:
                    # a damaged stretch inside the clip (a bad sector, a broken transfer): skip the
                    # packet, as players do, and go on; the decoder conceals what refers to it
                    damaged.append(i)
                    decoded = []
            except (av.FFmpegError, ValueError) as exc:
                if not (self.live and i > 0 and self.kind != "path"):
                    raise ColorizerError(f"{self.name}: truncated or corrupt video at frame {i} "
                                         f"({_av_message(exc)})") from None
                # a live stream has no end of its own: the sender hanging up (an I/O error to
                # FFmpeg) ends the recording, which keeps what came, the frames the decoder holds too
                warnings.warn(f"{self.name}: the stream stopped ({_av_message(exc)}); the frames "
                              "so far are kept", stacklevel=2)
                packet, video, ended = None, True, True
                try:
                    decoded = [(vf.to_ndarray(format="rgb24"), vf.pts, 0)
                               for vf in self._video.codec_context.decode(None)]
                except (av.FFmpegError, ValueError):
                    decoded = []
            if packet is None and not ended:
                break
            if not video:
                if packet.dts is None:
                    continue
                if self.on_audio is not None:
                    self.on_audio(packet)
                elif self._peeking and len(self._early_audio) < 256:
                    self._early_audio.append(packet)  # before the first frame of a stream
                continue
            if packet is not None and packet.size > 0:
                read, last_dts = read + 1, packet.dts
            for rgb, pts, rotation in decoded:
                if self._turns is None:
                    self._turns = round(rotation / 90) % 4
                if self._turns:
                    rgb = np.ascontiguousarray(np.rot90(rgb, self._turns))
                yield Frame(rgb, i, f"{i:05d}.png", pts)
                i += 1
            if ended:
                break
        if i == 0:
            raise ColorizerError(f"{self.name}: no frame could be decoded (truncated or corrupt video)")
        if damaged:
            where = f"at frame {damaged[0]}" if damaged[0] == damaged[-1] else \
                f"between frames {damaged[0]} and {damaged[-1]}"
            warnings.warn(f"{self.name}: {len(damaged)} damaged video packet(s) {where} could not be "
                          "decoded and were skipped; the frames near them may show smears", stacklevel=2)
        # packets, not frames: an edit list (an mp4 cut without re-encoding) hides frames that
        # are still in the file and counted, and the decoder drops them. AVI numbers its frame
        # slots and counts dropped frames (slots without data) too
        if self._container.format.name == "avi" and last_dts is not None:
            read = max(read, last_dts + 1)
        if self.count and read < self.count:
            raise ColorizerError(f"{self.name}: truncated video: read {read} of the {self.count} "
                                 "frames it declares")


class ReadAhead:
    """Frames of a :class:`FrameReader`, decoded in a thread of their own into a queue of at most
    ``size`` frames, so that decoding runs while the model works.

    ``drop``: when the queue is full, the oldest waiting frame is dropped (a live source does not
    wait; ``dropped`` counts them, and ``on_drop`` is called once, at the first). Otherwise the
    decoder waits and every frame comes out; the input's audio packets then travel in the same
    queue, in order, to the reader's ``on_audio`` (which is called from the consuming thread).
    With ``drop``, audio is not read.
    ``pace``: hand frames over no faster than their timestamps say (a file played as if live).
    Iterating yields the frames; :meth:`close` stops the thread.
    """

    def __init__(self, reader: FrameReader, drop: bool = False, size: int = QUEUE_FRAMES,
                 pace: bool = False, on_drop: Callable[[], None] | None = None):
        self.reader, self.drop, self.pace, self.on_drop = reader, drop, pace, on_drop
        self.dropped = 0
        self._queue: queue.Queue = queue.Queue(max(1, size))
        self._stop = threading.Event()
        self._audio = reader.on_audio
        self._thread = None

    def _put(self, item) -> None:
        if self.drop and item[0] == "frame":
            while not self._stop.is_set():
                try:
                    self._queue.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        self._queue.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass
            return
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        start = None
        try:
            for frame in self.reader:
                if self._stop.is_set():
                    return
                if self.pace and frame.pts is not None:
                    at = float(frame.pts * self.reader.time_base)
                    if start is None:
                        start = time.monotonic() - at
                    wait = start + at - time.monotonic()
                    if wait > 0 and self._stop.wait(min(wait, 10)):
                        return
                self._put(("frame", frame))
            self._put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            self._put(("error", exc))

    def __iter__(self) -> Iterator[Frame]:
        self.reader.on_audio = None if self.drop else (lambda packet: self._put(("audio", packet)))
        self._thread = threading.Thread(target=self._run, name="colorizer-decode", daemon=True)
        self._thread.start()
        said = False
        try:
            while True:
                kind, value = self._queue.get()
                if kind == "frame":
                    if self.dropped and not said:
                        said = True
                        if self.on_drop is not None:
                            self.on_drop()
                    yield value
                elif kind == "audio":
                    if self._audio is not None:
                        self._audio(value)
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            self.close()

    def close(self) -> bool:
        """Stop the decoding thread; True when it has ended (the reader may then be closed)."""
        self._stop.set()
        if self._thread is None:
            return True
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()  # frees a waiting put
            self._thread.join(0.05)
            if self._thread.is_alive() and self._queue.empty():
                self._thread.join(5)
                break
        return not self._thread.is_alive()


class WriteBehind:
    """Frames handed to ``emit(frame, rgb)`` (the encoder, or the PNG writer) in a thread of its
    own, through a queue of at most ``size`` frames, so that encoding runs while the model works.

    ``audio``: the writer's audio callback; :meth:`audio` queues packets in the same queue, so
    that the one thread that writes the container muxes frames and sound in their order. An error
    in the thread is raised by the next :meth:`frame` or by :meth:`finish`.
    """

    def __init__(self, emit: Callable, audio: Callable | None = None, size: int = QUEUE_FRAMES):
        self._emit, self._audio = emit, audio
        self._queue: queue.Queue = queue.Queue(max(1, size))
        self._error: BaseException | None = None
        self._raised = self._dropping = False
        self._thread = threading.Thread(target=self._run, name="colorizer-encode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None or self._dropping:
                continue  # after a failure or an abort: drain, so that no put waits for ever
            try:
                if item[0] == "audio":
                    self._audio(item[1])
                else:
                    self._emit(*item[1:])
            except BaseException as exc:  # noqa: BLE001 - raised in the calling thread
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error

    def frame(self, frame: Frame, rgb: np.ndarray) -> None:
        self._raise()
        self._queue.put(("frame", frame, rgb))

    def audio(self, packet) -> None:
        self._queue.put(("audio", packet))

    def finish(self) -> None:
        """Wait until everything queued is written; raise what failed."""
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def abort(self) -> None:
        """Drop what waits, and return once the frame being written now is done."""
        self._dropping = True
        while self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            self._thread.join(0.1)


# --- writing -----------------------------------------------------------------------------------


def _fallback_audio_codec(container_format: str) -> str:
    return "libopus" if container_format == "webm" else "aac"


def _encoder_rate(codec: str, rate: int | None) -> int:
    """``rate`` if the audio encoder ``codec`` takes it, else the nearest higher rate it takes
    (Opus: 48 kHz for 44.1 kHz audio; the encoder resamples)."""
    import av

    rate = rate or 48000
    rates = av.Codec(codec, "w").audio_rates
    if not rates or rate in rates:
        return rate
    higher = [r for r in rates if r >= rate]
    return min(higher) if higher else max(rates)


def _can_copy_audio(container_format: str, audio) -> bool:
    """Whether ``container_format`` accepts ``audio``'s packets as they are (tried in memory)."""
    import av

    try:
        with av.open(_io.BytesIO(), "w", format=container_format) as probe:
            probe.add_stream_from_template(audio)
            probe.start_encoding()
        return True
    except (av.FFmpegError, ValueError, TypeError, NotImplementedError):
        return False


def _audio_codec(container_format: str, audio, path: Path | None = None) -> str | None:
    """The encoder for the input's ``audio`` (stream of the file ``path``) in
    ``container_format``, or None to copy its packets.

    PCM is decoded and encoded again, so that a gap in it is filled with silence (mp4, mov and
    AVI count samples, not timestamps: a gap there would play the sound after it early): as the
    same PCM where the container takes it (lossless), as AAC in mp4 (which browsers play with
    AAC and not PCM). Other audio is copied where the container takes it, else re-encoded; in AVI,
    which has no audio timestamps (copied packets play from 0, one after another), also when it
    starts late or has a gap, so that both become silence.
    """
    name = audio.codec_context.name
    pcm = name.startswith("pcm_")
    if not _can_copy_audio(container_format, audio) or (pcm and container_format == "mp4"):
        return _fallback_audio_codec(container_format)
    if pcm:
        return name
    if container_format == "avi" and path is not None and path.is_file() \
            and not _audio_is_contiguous(path, audio.index):
        return _same_or_fallback_codec(container_format, audio.codec_context.codec.canonical_name)
    return None


def _audio_is_contiguous(path: Path, index: int) -> bool:
    """Whether audio stream ``index`` of ``path`` plays from time 0 with no gap over 40 ms (read
    from its packets' timestamps, without decoding)."""
    import av

    end = Fraction(0)
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams[index]
        for packet in container.demux(stream):
            if packet.pts is None or not packet.size:
                continue
            at = packet.pts * stream.time_base
            if at > end + Fraction(1, 25):
                return False
            end = max(end, at + (packet.duration or 0) * stream.time_base)
    return True


def _same_or_fallback_codec(container_format: str, name: str) -> str:
    """The audio codec ``name`` (FFmpeg's codec name, e.g. "mp3", not its decoder's "mp3float")
    if there is an encoder for it, else the fallback."""
    import av

    try:
        av.Codec(name, "w")  # "mp3" finds libmp3lame
    except (av.FFmpegError, ValueError):
        return _fallback_audio_codec(container_format)
    return name


def encoded_size(width: int, height: int, container_format: str) -> tuple[int, int]:
    """The frame size :class:`VideoWriter` encodes ``width`` x ``height`` frames at.

    Always 4:2:0 (yuv420p): browsers, QuickTime and most TVs play no other H.264. VP9 (webm)
    takes odd sizes in 4:2:0; H.264 does not, so there an odd width or height gets one more
    column or row, a copy of the last one (nothing of the picture is cropped).
    """
    if container_format == "webm":
        return width, height
    return width + width % 2, height + height % 2


def _silence(like, samples: int, pts: int):
    """``samples`` of silence in ``like``'s sample format, layout and rate, at ``pts`` (1/rate s)."""
    import av

    frame = av.AudioFrame(format=like.format.name, layout=like.layout.name, samples=samples)
    quiet = 0x80 if like.format.name.startswith("u8") else 0  # unsigned 8-bit is centred on 128
    for plane in frame.planes:
        plane.update(bytes([quiet]) * plane.buffer_size)
    frame.sample_rate, frame.pts, frame.time_base = like.sample_rate, pts, Fraction(1, like.sample_rate)
    return frame


class VideoWriter:
    """Encode RGB frames (and the input's audio) into a video file at ``path``.

    H.264 (libx264) for mp4, mov, mkv and avi; VP9 for webm; yuv420p always, an odd-sized frame
    padded to even for H.264 (:func:`encoded_size`; ``size`` is the encoded size). Frames keep
    the input's timestamps, so fps, frame count and duration match it (in AVI, which has a frame
    rate only, the timestamps rounded to whole frames). Audio keeps its timestamps too, copied or,
    when the container cannot hold it, re-encoded (Opus for webm, AAC otherwise).
    """

    def __init__(self, path, container_format: str, reader: FrameReader, crf: int = 18):
        import av

        self._av = av
        # bitexact: no random ids (Matroska's segment UID) or version strings, so the same clip gives
        # the same bytes, e.g. when a killed run is run again
        options = {"fflags": "+bitexact"}
        if not isinstance(path, (str, os.PathLike)) and container_format == "mp4":
            # a pipe cannot seek back to write the index at the start: fragments, each with its own
            options["movflags"] = "frag_keyframe+empty_moov+default_base_moof"
        self.out = av.open(path if not isinstance(path, (str, os.PathLike)) else str(path), "w",
                           format=container_format, container_options=options)
        # a live source's timestamps count from when the camera or stream started: the output's
        # start at 0 (its audio is not read, so nothing else needs the shift)
        self._shift = None if reader.live else 0
        webm = container_format == "webm"
        self.stream = self.out.add_stream("libvpx-vp9" if webm else "libx264", rate=reader.fps)
        self.size = encoded_size(reader.width, reader.height, container_format)
        self._pad = ((0, self.size[1] - reader.height), (0, self.size[0] - reader.width), (0, 0))
        self.stream.width, self.stream.height = self.size
        self.stream.pix_fmt = "yuv420p"
        # say what the pixels are: PyAV turns our RGB into limited-range YUV with the BT.601 matrix
        # whatever the stream claims, and players take an untagged HD stream for BT.709, which
        # shifts its hues (reds go orange); sRGB content has BT.709 primaries and transfer
        ctx = self.stream.codec_context
        ctx.colorspace, ctx.color_range = SMPTE170M, MPEG_RANGE
        ctx.color_primaries = ctx.color_trc = BT709
        # AVI has no timestamps, only a frame rate: its frames are numbered in 1/fps units (the
        # input's time base there made the muxer take it for the frame rate)
        self._in_time_base = reader.time_base
        self.time_base = 1 / reader.fps if container_format == "avi" else reader.time_base
        self.stream.codec_context.time_base = self.time_base
        self.stream.time_base = self.time_base
        # x264's veryfast preset took most of a 1920x1080 frame's time; frames larger than
        # 1280x720 use superfast (somewhat larger files at the same quality setting): with the
        # I420 conversion in write(), the encode step of benchmarks/bench_video.py --size
        # 1920x1080 went from 66.6 to 37.9 ms a frame on one core
        preset = "superfast" if self.size[0] * self.size[1] > 1280 * 720 else "veryfast"
        self.stream.options = ({"crf": str(crf + 12), "b": "0", "deadline": "realtime", "cpu-used": "8"}
                               if webm else {"crf": str(crf), "preset": preset})
        if container_format == "avi":  # no B-frames: AVI cannot say that frames are reordered
            self.stream.options = {**self.stream.options, "bf": "0"}
        self._audio_out, self._reencode = None, False
        self._next_pts = 0
        # where the next re-encoded audio sample goes, in 1/rate s; AVI has no start time for its
        # audio, which plays from 0: there the audio is filled with silence from 0 on
        self._audio_next = 0 if container_format == "avi" else None
        if reader.audio is not None and not reader.live:
            codec = _audio_codec(container_format, reader.audio, reader.path)
            if codec is None:
                self._audio_out = self.out.add_stream_from_template(reader.audio)
            else:
                self._reencode = True
                self._audio_out = self.out.add_stream(codec, rate=_encoder_rate(codec, reader.audio.rate))
                if codec.startswith("pcm_") and codec == reader.audio.codec_context.name:  # same samples
                    self._audio_out.layout = reader.audio.layout
                    self._audio_out.format = reader.audio.format
            reader.on_audio = self.audio_packet

    def write(self, rgb: np.ndarray, pts: int | None) -> None:
        if self._pad[0][1] or self._pad[1][1]:
            rgb = np.pad(rgb, self._pad, mode="edge")
        if rgb.shape[0] % 2 == 0 and rgb.shape[1] % 2 == 0:
            # OpenCV's RGB -> I420 uses the same BT.601 limited-range matrix as FFmpeg's swscale
            # (luma equal within one level, chroma within 0.3 on average) and is faster than
            # PyAV's conversion (see the encoder preset above)
            import cv2

            frame = self._av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420),
                                                     format="yuv420p")
        else:
            frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        if pts is not None and self._shift is None:
            self._shift = pts
        if pts is not None:
            pts -= self._shift
        if pts is not None and self.time_base != self._in_time_base:
            pts = round(pts * self._in_time_base / self.time_base)
        # frames come in display order; a timestamp that does not increase (an AVI with B-frames
        # decodes with shuffled ones) would make the muxer fail: such a frame follows the last
        frame.pts = self._next_pts if pts is None else max(pts, self._next_pts)
        frame.time_base = self.time_base
        self._next_pts = frame.pts + 1
        for packet in self.stream.encode(frame):
            self.out.mux(packet)

    def audio_packet(self, packet) -> None:
        if not self._reencode:
            packet.stream = self._audio_out
            self.out.mux(packet)
            return
        for frame in packet.decode():
            for timed in self._audio_time(frame):
                for out_packet in self._audio_out.encode(timed):
                    self.out.mux(out_packet)

    def _audio_time(self, frame) -> list:
        """Give a decoded audio frame the time it is to be played at, in 1/rate s: the samples
        follow one another from the first frame's timestamp on (the input's audio may start
        before or after the video), so that the timestamps' rounding (1 ms in Matroska) does not
        jitter into the encoder. A gap in the input's audio (over 40 ms missing) is filled with
        silence, so that the sound after it stays in sync: a gap in the timestamps alone is lost
        where the encoder counts samples (AAC in mp4 played the sound after it early)."""
        rate = frame.sample_rate
        at = None
        if frame.pts is not None and frame.time_base is not None:
            at = round(frame.pts * frame.time_base * rate)
        frames = []
        if self._audio_next is None:
            self._audio_next = at or 0
        elif at is not None and at > self._audio_next + rate // 25:
            frames.append(_silence(frame, at - self._audio_next, self._audio_next))
            self._audio_next = at
        frame.pts, frame.time_base = self._audio_next, Fraction(1, rate)
        self._audio_next += frame.samples
        return frames + [frame]

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.out.mux(packet)
        if self._reencode:
            for packet in self._audio_out.encode(None):
                self.out.mux(packet)
        self.out.close()

    def abort(self) -> None:
        try:
            self.out.close()
        except Exception:  # noqa: BLE001 - the file is being thrown away anyway
            pass


def _replace_folder(tmp: Path, dst: Path, overwrite: bool) -> None:
    """Move a finished temporary folder into place (the old ``dst`` is removed only after)."""
    if dst.exists():
        if not overwrite:
            raise FileExistsError(f"{dst}: exists, not overwritten (use --overwrite)")
        old = make_temp_dir(dst)
        os.replace(dst, old / dst.name)
        os.replace(tmp, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, dst)


def check_video_output(dst: Path, src: Path, overwrite: bool) -> None:
    """Validate an output before any work: known kind, not the input nor a folder holding it, not
    existing (unless asked)."""
    if dst.suffix and not is_video_file(dst) and not dst.is_dir():
        raise ColorizerError(f"{dst}: unsupported video output {dst.suffix!r}; use one of "
                             f"{', '.join(sorted(VIDEO_FORMATS))}, or a folder name for PNG frames")
    if src.exists() and dst.exists() and (dst.resolve() == src.resolve() or dst.samefile(src)):
        raise ColorizerError(f"{dst}: refusing to write over the input")
    if src.exists() and dst.is_dir() and src.resolve().is_relative_to(dst.resolve()):
        # replacing this folder with the frames would delete the input (and all beside it)
        raise ColorizerError(f"{dst}: holds the input {src}; refusing to replace it, choose a new folder")
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst}: exists, not overwritten (use --overwrite)")
    if dst.is_dir():
        # --overwrite replaces a folder of frames (an earlier output), never one with anything else
        other = next((p for p in dst.iterdir() if not (p.is_file() and p.suffix.lower() in FORMATS)), None)
        if other is not None:
            raise ColorizerError(f"{dst}: holds {other.name}, which is not a frame; refusing to replace "
                                 "the folder, choose a new one")


# --- temporal consistency ------------------------------------------------------------------------


REFERENCE_STRENGTH = 0.95  # TemporalConfig.for_reference
REFERENCE_KEYFRAMES = 4


@dataclass
class TemporalConfig:
    """Settings of the flow-based temporal method (:class:`TemporalSmoother`).

    ``method``: ``"flow"`` or ``"none"`` (plain per-frame colorization).
    ``strength``: where the flow is trusted, the weight of the colours carried from the previous
    frame against the model's new ones (0: per-frame; close to 1: steadier, slower to follow).
    ``give_way``: a regional disagreement (ab units) between the carried colour and the model's
    that persists over keyframes (a running average, 0.3 for the newest) beyond this makes the carried colour
    give way, up to halfway per keyframe at twice it (0: never), so that a wrong first guess of a
    shot does not stay for the whole shot; below it, the model's wobble from frame to frame is
    smoothed as before.
    ``correction``: where the flow is not trusted (occlusions, fast motion, new content), the
    weight of the regional colour shift that the trusted pixels nearby received, so that a whole
    region keeps its colour balance instead of flickering (0: off).
    ``correction_scale``: working-size pixels over which that shift is averaged.
    ``keyframe_interval``: the model colours every Nth frame of a shot; the frames in between
    take the colours carried by the flow (1: the model sees every frame).
    ``refresh``: ... and also any frame whose untrusted share of pixels is above this.
    ``fb_tolerance``: forward-backward flow disagreement (working-size pixels^2) still trusted.
    ``l_tolerance``: L difference (Lab units) between a pixel and its flow-warped predecessor
    still trusted.
    ``flow_scale``: the flow is computed on frames this much smaller than the working size
    (1: at the working size) and scaled up; the checks and the blend stay at the working size.
    ``cut_threshold``: lightness-histogram distance (0-1) between frames that means a new shot;
    ``min_overlap``: a shot change also when fewer than this share of pixels are trusted. Both,
    the flow and the L check compare a frame with its predecessor after matching their mean
    brightness and contrast, so that the flicker of old film is not taken for a change.
    """

    method: str = "flow"
    strength: float = 0.9
    give_way: float = 5.0
    correction: float = 0.9
    correction_scale: float = 16.0
    keyframe_interval: int = 2
    refresh: float = 0.25
    fb_tolerance: float = 1.0
    l_tolerance: float = 6.0
    cut_threshold: float = 0.4
    min_overlap: float = 0.6
    flow_scale: float = 1.0

    @classmethod
    def for_reference(cls, method: str = "flow", strength: float | None = None,
                      keyframe_interval: int | None = None) -> TemporalConfig:
        """The settings used with a colour reference photo: its matched colours are evidence the
        model's guesses are not, so they are held longer (``strength`` 0.95), the keyframes come
        every 4th frame and the carried colour never gives way. On the six DAVIS clips with frame 0
        as the reference (``python benchmarks/bench_reference.py --video``) this kept the per-frame
        AuC gain over the automatic video (+3.71) and brought the warp error under the automatic
        video's (0.397 against 0.408), where the automatic settings gave 0.455."""
        return cls(method, strength=REFERENCE_STRENGTH if strength is None else strength,
                   keyframe_interval=REFERENCE_KEYFRAMES if keyframe_interval is None else keyframe_interval,
                   give_way=0.0)

    def __post_init__(self):
        if self.method not in ("flow", "none"):
            raise ColorizerError(f"temporal method must be 'flow' or 'none', got {self.method!r}")
        for name in ("strength", "correction"):
            if not 0 <= getattr(self, name) < 1:
                raise ColorizerError(f"temporal {name} must be in [0, 1), got {getattr(self, name)}")
        if int(self.keyframe_interval) != self.keyframe_interval or self.keyframe_interval < 1:
            raise ColorizerError(f"keyframe interval must be a whole number >= 1, "
                                 f"got {self.keyframe_interval}")
        if self.correction_scale <= 0:
            raise ColorizerError(f"correction scale must be positive, got {self.correction_scale}")
        if not 0 < self.flow_scale <= 1:
            raise ColorizerError(f"flow scale must be in (0, 1], got {self.flow_scale}")


def _grey8(L: np.ndarray) -> np.ndarray:
    return np.clip(L * 2.55 + 0.5, 0, 255).astype(np.uint8)


def _remap(image: np.ndarray, flow: np.ndarray, grid: tuple[np.ndarray, np.ndarray],
           nearest: bool = False) -> np.ndarray:
    import cv2

    return cv2.remap(image, grid[0] + flow[..., 0], grid[1] + flow[..., 1],
                     cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _histogram(grey: np.ndarray) -> np.ndarray:
    hist = np.bincount((grey >> 2).ravel(), minlength=64).astype(np.float64)
    return hist / hist.sum()


def _match_brightness(grey: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``grey`` (uint8) mapped linearly so that its mean and spread match ``ref``'s: a global
    change of brightness or contrast between two frames (old film flickers) is then no
    difference to the cut detector, the flow or the L check."""
    g, r = grey.astype(np.float32), ref.astype(np.float32)
    gain = float(np.clip(r.std() / max(float(g.std()), 1.0), 0.5, 2.0))
    return np.clip((g - g.mean()) * gain + r.mean() + 0.5, 0, 255).astype(np.uint8)


def _weighted_lowpass(x: np.ndarray, weight: np.ndarray, scale: float) -> np.ndarray:
    """Normalised convolution: the ``weight``-weighted local mean of ``x`` (h, w, c) over about
    ``scale`` pixels, computed on a copy 8x smaller. Where hardly any weight is near, the result
    fades to 0 (no evidence, no shift)."""
    import cv2

    h, w = weight.shape
    small = (max(1, round(w / 8)), max(1, round(h / 8)))
    ws = cv2.resize(weight, small, interpolation=cv2.INTER_AREA)
    xs = cv2.resize(np.ascontiguousarray(x * weight[..., None]), small, interpolation=cv2.INTER_AREA)
    sigma = scale / 8
    ws = cv2.GaussianBlur(ws, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    xs = cv2.GaussianBlur(xs, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE).reshape(*ws.shape, -1)
    xs /= np.maximum(ws, 0.05)[..., None]
    return cv2.resize(xs, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)


class TemporalSmoother:
    """State carried between the frames of one clip, at the model's working resolution.

    For each frame, :meth:`needs_prediction` looks at its working-size L: a shot change starts
    afresh, otherwise DIS optical flow (backward and forward) between it and the previous frame
    gives the flow and a ``trust`` map (0-1: the two flows agree, L matches, the pixel comes from
    inside the frame). It says whether the model's colours are needed: on the first frame of a
    shot, every ``keyframe_interval``-th frame, and when too much is untrusted. :meth:`step`
    then gives the frame's ab: the previous output carried along the flow, and on frames with a
    prediction ``P``, ``P + s * trust * d + c * (1 - s * trust) * lowpass_trust(d)``, where
    ``d`` is carried minus ``P``. The first term keeps each tracked pixel's colour; the second
    gives untrusted pixels the colour shift their trusted neighbours received, which keeps the
    colour statistics of the frame steady. Where the regional part of ``d``, averaged over
    keyframes along the flow, stays above ``give_way``, part of it is given up at each keyframe
    (see :class:`TemporalConfig`). Frame-tied colour hints are carried the same way.
    """

    def __init__(self, cfg: TemporalConfig | None = None):
        import cv2

        self.cfg = cfg or TemporalConfig()
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self.shots = 0
        self.predictions = 0  # frames the model coloured
        self.overlap = float("nan")  # share of pixels carried from the previous frame, last step
        self._grid = None
        self.reset()

    def reset(self) -> None:
        """Forget the clip so far (the next frame starts a shot)."""
        self._grey = self._hist = self._ab = self._hint_ab = self._hint_mask = None
        self._bias = None  # regional disagreement of the keyframes with the carried colour
        self._pending = None
        self._since_prediction = 0

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """DIS flow from ``a`` to ``b`` (uint8, h x w), at ``flow_scale`` of their size."""
        import cv2

        scale = self.cfg.flow_scale
        if scale >= 1:
            return self._dis.calc(a, b, None)
        h, w = a.shape
        small = (max(16, round(w * scale)), max(16, round(h * scale)))
        flow = self._dis.calc(cv2.resize(a, small, interpolation=cv2.INTER_AREA),
                              cv2.resize(b, small, interpolation=cv2.INTER_AREA), None)
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= w / small[0]
        flow[..., 1] *= h / small[1]
        return flow

    def _trust(self, grey: np.ndarray, flows: tuple[np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Backward flow (t -> t-1) and trust (H, W) float32 in [0, 1]; ``flows`` (back, fwd):
        the two flows when they are already known (:class:`colorizer.film_restore.FilmRestorer`)."""
        import cv2

        if flows is not None and flows[0].shape[:2] == grey.shape:
            back, fwd = flows
        else:
            back = self._flow(grey, self._grey)
            fwd = self._flow(self._grey, grey)
        fwd_at = _remap(fwd, back, self._grid)
        # squared lengths of 2-vectors as two products: numpy's sum over a last axis of 2 took
        # a third of the temporal method's time (bench_video.py), for the same numbers
        bx, by, fx, fy = back[..., 0], back[..., 1], fwd_at[..., 0], fwd_at[..., 1]
        ex, ey = bx + fx, by + fy
        err = ex * ex + ey * ey
        ok = err <= 0.01 * ((bx * bx + by * by) + (fx * fx + fy * fy)) + self.cfg.fb_tolerance
        l_prev = _remap(self._grey, back, self._grid).astype(np.float32)
        ok &= np.abs(l_prev - grey) <= self.cfg.l_tolerance * 2.55
        h, w = grey.shape
        x, y = self._grid[0] + back[..., 0], self._grid[1] + back[..., 1]
        ok &= (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
        trust = cv2.GaussianBlur(ok.astype(np.float32), (5, 5), 0)
        return back, trust

    def needs_prediction(self, L: np.ndarray, flows: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
        """Look at one frame's working-size L (h, w) before :meth:`step`; True when the step needs
        the model's colours for it (see the class docstring). ``flows``: the backward (t -> t-1)
        and forward (t-1 -> t) flows (h, w, 2) between the previous frame and this one, when
        already computed (by the film repair, :class:`colorizer.film_restore.FilmRestorer`);
        otherwise they are computed here."""
        grey = _grey8(L)
        if self._grid is None or self._grid[0].shape != grey.shape:
            self.reset()
            h, w = grey.shape
            self._grid = tuple(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        hist = _histogram(grey)
        if self._grey is not None:  # compared with the previous frame at its brightness
            matched = _match_brightness(grey, self._grey)
            if 0.5 * np.abs(_histogram(matched) - self._hist).sum() > self.cfg.cut_threshold:
                self.reset()
        back = trust = None
        if self._grey is not None and self.cfg.method == "flow":
            back, trust = self._trust(matched, flows)
            self.overlap = float(trust.mean())
            if self.overlap < self.cfg.min_overlap:
                self.reset()
                back = trust = None
        if self._grey is None:
            self.shots += 1
        need = (trust is None or self._since_prediction + 1 >= self.cfg.keyframe_interval
                or 1 - self.overlap > self.cfg.refresh)
        self._pending = (L, grey, hist, back, trust, need)
        return need

    def step(self, L: np.ndarray, ab: np.ndarray | None,
             new_hints: tuple[np.ndarray, np.ndarray] | None = None,
             spread: Callable | None = None) -> np.ndarray:
        """One frame's ab (h, w, 2) from its working-size L and the model's ab (None when
        :meth:`needs_prediction` said it is not needed; it is then ignored if given).

        ``new_hints``: (ab (h, w, 2), mask (h, w) bool) given on this frame, at working size.
        ``spread(L, hint_ab, mask, prior_ab) -> ab`` applies the (carried) hints.
        """
        if self._pending is None or self._pending[0] is not L:
            self.needs_prediction(L)
        _, grey, hist, back, trust, need = self._pending
        self._pending = None
        if need and ab is None:
            raise ValueError("this frame needs the model's colours (needs_prediction was True)")
        if need:
            self.predictions += 1
            self._since_prediction = 0
            out = np.asarray(ab, np.float32)
        else:
            self._since_prediction += 1
        bias = None
        if trust is not None:
            cfg = self.cfg
            carried = _remap(self._ab, back, self._grid)
            if self._bias is not None:
                bias = _remap(self._bias, back, self._grid) * trust[..., None]
            if not need:
                out = carried
            else:
                d = carried - out
                kept = cfg.strength * trust
                out = out + kept[..., None] * d
                if cfg.correction > 0 or cfg.give_way > 0:
                    lo = _weighted_lowpass(d, trust, cfg.correction_scale)
                if cfg.correction > 0:
                    out += (cfg.correction * (1 - kept))[..., None] * lo
                if cfg.give_way > 0:
                    # where the keyframes keep disagreeing with the carried regional colour by
                    # more than the model's frame-to-frame wobble, the carried colour gives way
                    # (halfway per keyframe at twice the threshold): a wrong first guess is
                    # corrected, while steady scenes keep their steady colours
                    bias = lo if bias is None else 0.7 * bias + 0.3 * lo
                    size = np.sqrt((bias**2).sum(2))
                    give = np.clip(size / cfg.give_way - 1, 0, 1) * trust
                    out -= (0.5 * give)[..., None] * lo
            if self._hint_mask is not None:  # nearest: hints stay crisp and undiluted
                mask = _remap(self._hint_mask, back, self._grid, nearest=True) > 0.5
                self._hint_ab = _remap(self._hint_ab, back, self._grid, nearest=True)
                self._hint_mask = (mask & (trust > 0.5)).astype(np.float32)
        if new_hints is not None:
            hint_ab, mask = new_hints
            if self._hint_mask is None:
                self._hint_ab = np.zeros((*grey.shape, 2), np.float32)
                self._hint_mask = np.zeros(grey.shape, np.float32)
            self._hint_ab = np.where(mask[..., None], hint_ab, self._hint_ab).astype(np.float32)
            self._hint_mask = np.maximum(self._hint_mask, mask.astype(np.float32))
        if self._hint_mask is not None and spread is not None:
            active = self._hint_mask > 0.5
            if active.any():
                out = spread(L, self._hint_ab, active, out)
        self._grey, self._hist, self._ab = grey, hist, np.ascontiguousarray(out, dtype=np.float32)
        self._bias = None if bias is None else np.ascontiguousarray(bias, dtype=np.float32)
        return self._ab


def ground_truth_flow(rgb_prev: np.ndarray, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backward flow (frame t -> t-1) and the non-occluded mask between two uint8 RGB frames,
    from DIS optical flow (medium preset) on their lightness; for :func:`colorizer.metrics.warp_error`."""
    import cv2

    from colorizer import metrics
    from colorizer.color import srgb_to_l

    g0, g1 = _grey8(srgb_to_l(rgb_prev)), _grey8(srgb_to_l(rgb))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    back = dis.calc(g1, g0, None)
    fwd = dis.calc(g0, g1, None)
    return back, metrics.flow_valid_mask(back, fwd)


# --- hints ---------------------------------------------------------------------------------------


def _hints_at_working_size(strokes: list, height: int, width: int, shape: tuple[int, int],
                           source: str) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise one frame's strokes at full size; (ab, mask) area-averaged to ``shape``."""
    import cv2

    from colorizer.color import rgb2lab
    from colorizer.scribbles import strokes_to_scribbles

    canvas, mask = strokes_to_scribbles(strokes, height, width, source)
    ab = np.zeros((height, width, 2), np.float32)
    ab[mask] = rgb2lab(canvas[mask])[:, 1:]
    m = mask.astype(np.float32)
    small_m = cv2.resize(m, shape[::-1], interpolation=cv2.INTER_AREA)
    small_ab = cv2.resize(ab * m[..., None], shape[::-1], interpolation=cv2.INTER_AREA)
    small_ab /= np.maximum(small_m, 1e-6)[..., None]
    keep = small_m >= 0.5
    if not keep.any():  # a thin stroke: keep its strongest pixels
        keep = small_m >= small_m.max() * 0.5
    return small_ab, keep


#: Pull towards the model's colours for frame hints (:func:`colorizer.levin.fill_hints`): stronger
#: than a photo's, because a hint carried along its shot by the flow can drift off its object by
#: a pixel or two, and a stray hint pixel on the background would fill the background.
VIDEO_HINT_PRIOR_WEIGHT = 1e-3


def _levin_spread(prior_weight: float | None) -> Callable:
    """The hints' spread over a frame: each corrects the object it touches, up to its edges
    (:func:`colorizer.levin.fill_hints`, as for photos, with :data:`VIDEO_HINT_PRIOR_WEIGHT`)."""
    from colorizer import levin

    weight = VIDEO_HINT_PRIOR_WEIGHT if prior_weight is None else prior_weight

    def spread(L, hint_ab, mask, prior_ab):
        return levin.fill_hints(L, prior_ab, hint_ab, mask, prior_weight=weight)

    return spread


# --- the pipeline ----------------------------------------------------------------------------------


def colorize_frames(frames, model, *, size: int | None = None, saturation: float = 1.0,
                    temporal: TemporalConfig | None = None, hints: dict[int, list] | None = None,
                    prior_weight: float | None = None, hints_source: str = "hints",
                    smoother: TemporalSmoother | None = None,
                    reference=None, restore=None) -> Iterator[tuple[Frame, np.ndarray]]:
    """Colorize frames one at a time; yields ``(frame, rgb)`` with the colorized uint8 RGB.

    Parameters
    ----------
    frames : iterable of Frame
        The clip in order (a :class:`FrameReader`).
    model : Colorizer
        A ready colorizer (:func:`colorizer.registry.get_colorizer`).
    size, saturation
        As for :func:`colorizer.api.colorize_picture`.
    temporal : TemporalConfig, optional
        Default: the flow blend (:meth:`TemporalConfig.for_reference` with a ``reference``);
        ``TemporalConfig("none")`` colorizes each frame alone.
    hints : dict, optional
        Frame number -> list of JSON strokes (:func:`colorizer.scribbles.read_frame_strokes`).
        A hint holds from its frame to the end of its shot, moving with the content.
    smoother : TemporalSmoother, optional
        The state to use (to read ``shots`` afterwards); ``temporal`` is then ignored.
    reference : colorizer.api.Reference, optional
        Colour reference photos (:func:`colorizer.api.prepare_reference`): the frames the model
        colours (keyframes) take the reference's colours where they match, and the flow carries
        them to the frames between.
    restore : bool or colorizer.film_restore.FilmRestoreConfig, optional
        Repair dust, hairs and scratches in each frame's lightness first
        (:class:`colorizer.film_restore.FilmRestorer`; True: its default settings); the output
        keeps the repaired lightness. The flow it computes is the smoother's too. Each frame then
        comes out once the next one is in (two at a shot's start).
    """
    if temporal is None:
        temporal = TemporalConfig.for_reference() if reference is not None else TemporalConfig()
    smoother = smoother or TemporalSmoother(temporal)
    spread = _levin_spread(prior_weight)
    hints = hints or {}
    if restore:
        lit = _repaired_lightness(frames, model, size, smoother, restore)
    else:
        lit = ((frame, *frame_lightness(frame.rgb, model, size), None) for frame in frames)
    for frame, L, small_L, flows in lit:
        need = smoother.needs_prediction(small_L, flows)
        ab_small = predict_ab(L, model, size, saturation) if need else None
        if ab_small is not None and reference is not None:
            ab_small = reference.apply(small_L, ab_small)[0]
        new = None
        if frame.index in hints:
            new = _hints_at_working_size(hints[frame.index], *L.shape, small_L.shape,
                                         f"{hints_source}: frame {frame.index}")
        yield frame, join_frame(L, smoother.step(small_L, ab_small, new, spread), model)


def _repaired_lightness(frames, model, size: int | None, smoother: TemporalSmoother, restore
                        ) -> Iterator[tuple[Frame, np.ndarray, np.ndarray, tuple | None]]:
    """``(frame, L, working L, flows)`` for each frame, its lightness repaired by
    :class:`colorizer.film_restore.FilmRestorer` on its 8-bit grey (``L * 2.55``, as the
    smoother's) with the flow at the smoother's working size and ``flow_scale``; ``flows``: the
    flows between the previous frame and this one, for :meth:`TemporalSmoother.needs_prediction`,
    which then computes none of its own. Only the repaired pixels of L change. A frame comes out
    once the next is in (two at a shot's start); the last ones when ``frames`` ends."""
    from colorizer.film_restore import FilmRestoreConfig, FilmRestorer, dis_flow

    config = restore if isinstance(restore, FilmRestoreConfig) else None
    restorer = FilmRestorer(config, dis_flow(smoother.cfg.flow_scale))

    def out(repaired):
        for r in repaired:
            frame, L, small_L = r.payload
            if r.mask.any():
                L[r.mask] = r.grey[r.mask] * np.float32(1 / 2.55)
                small_L = working_lightness(L, model, size)
            yield frame, L, small_L, r.flows

    # the repair of each frame (OpenCV and numpy, which let go of the GIL) runs in a thread of its
    # own while the frames before it are coloured and written; one at a time, in order
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1, thread_name_prefix="colorize-restore")
    pending = None
    try:
        for frame in frames:
            L, small_L = frame_lightness(frame.rgb, model, size)
            if not L.flags.writeable:
                L = L.copy()
            ready = pending.result() if pending is not None else []
            pending = pool.submit(restorer.push, _grey8(L), _grey8(small_L), (frame, L, small_L))
            yield from out(ready)
        if pending is not None:
            yield from out(pending.result())
            pending = None
        yield from out(restorer.finish())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _is_onnx(model) -> bool:
    """Whether ``model`` runs in onnxruntime (:mod:`colorizer.onnx_backend`): its frames then take
    the numpy hops of ``colorize image --backend onnx`` and torch is never imported."""
    from colorizer.onnx_backend import OnnxColorizer

    return isinstance(model, OnnxColorizer)


def _onnx_working_l(L: np.ndarray, model, size: int | None) -> np.ndarray:
    from colorizer.resize import downscale_l, working_shape

    shape = model.static_shape or working_shape(*L.shape, size or model.preferred_size, model.multiple)
    return downscale_l(L, shape)


def frame_lightness(rgb: np.ndarray, model, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A uint8 RGB frame's full-size L (H, W) and its working-size L (h, w) for ``model``
    (:func:`colorizer.api.working_l`)."""
    L = Picture(rgb).lightness()
    return L, working_lightness(L, model, size)


def working_lightness(L: np.ndarray, model, size: int | None = None) -> np.ndarray:
    """A frame's working-size L (h, w) for ``model`` from its full-size L (H, W)."""
    if _is_onnx(model):
        return _onnx_working_l(L, model, size)
    import torch

    from colorizer.api import working_l

    return working_l(torch.from_numpy(L)[None, None], model, size)[0, 0].numpy()


def predict_ab(L: np.ndarray, model, size: int | None = None, saturation: float = 1.0) -> np.ndarray:
    """The model's working-size ab (h, w, 2) for a frame's full-size L (H, W)
    (:func:`colorizer.api.predict_working_ab`)."""
    if _is_onnx(model):  # the calibrated gain is in the graph
        ab = model.predict_ab(_onnx_working_l(L, model, size)[None, None])[0].transpose(1, 2, 0)
        return np.ascontiguousarray(ab * np.float32(saturation) if saturation != 1.0 else ab)
    import torch

    from colorizer.api import predict_working_ab

    L_t = torch.from_numpy(L)[None, None].to(model.device)
    ab = predict_working_ab(L_t, model, size, saturation=saturation)
    return np.ascontiguousarray(ab[0].permute(1, 2, 0).cpu().numpy())


def predict_frame(rgb: np.ndarray, model, size: int | None = None,
                  saturation: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first hops for one uint8 RGB frame: its full-size L (H, W), the working-size L (h, w)
    and the model's working-size ab (h, w, 2) (:func:`colorizer.api.predict_working_ab`)."""
    L, small_L = frame_lightness(rgb, model, size)
    return L, small_L, predict_ab(L, model, size, saturation)


def join_frame(L: np.ndarray, ab_small: np.ndarray, model=None) -> np.ndarray:
    """The last hops: working-size ab (h, w, 2) upsampled and joined with full-size L -> uint8 RGB
    (in numpy, without torch, when ``model`` runs in onnxruntime)."""
    from colorizer.color import l_ab_to_srgb

    if model is not None and _is_onnx(model):
        from colorizer.resize import upsample_ab

        return l_ab_to_srgb(L, upsample_ab(ab_small.transpose(2, 0, 1), *L.shape), np.uint8)
    import torch

    from colorizer.api import upsample_ab

    ab_full = upsample_ab(torch.from_numpy(ab_small).permute(2, 0, 1)[None], *L.shape)
    return l_ab_to_srgb(L, ab_full, np.uint8)


@dataclass
class VideoResult:
    """What :func:`colorize_video` did: frames written, seconds, shots seen, where; frames dropped
    to keep up with a live source, and whether ``finish`` ended it before the source did."""

    dst: Path | str
    frames: int
    seconds: float
    shots: int
    dropped: int = 0
    stopped: bool = False

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


def video_threads(onnx: bool = False) -> int:
    """Threads for the model while a video is coded: one fewer than torch's own count (for
    ``onnx``, than the CPUs this process may use), at least 1. The video decoder and the H.264
    encoder run threads of their own; on a 2-core CPU a 2-thread model fights them for the cores
    and the whole pipeline runs about 2-3x slower (``benchmarks/bench_video.py --threads``)."""
    if onnx:
        return max(1, len(os.sched_getaffinity(0)) - 1)
    import torch

    return max(1, torch.get_num_threads() - 1)


@contextlib.contextmanager
def _torch_threads(n: int):
    """Run the block with ``n`` torch threads, then restore the previous count. torch keeps the
    count per thread once a thread has used it, so other threads of a server are not changed."""
    import torch

    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n != before:
            torch.set_num_threads(before)


def colorize_video(src: str | os.PathLike, dst: str | os.PathLike, model, *, size: int | None = None,
                   saturation: float = 1.0, temporal: TemporalConfig | None = None,
                   hints: dict[int, list] | None = None, overwrite: bool = False,
                   fps: float | None = None, progress: bool = True,
                   threads: int | None = None, max_frames: int | None = None,
                   stop: threading.Event | None = None, reference=None, live: bool | None = None,
                   finish: threading.Event | None = None, pipe_format: str = "mkv",
                   threaded: bool = True, restore=None) -> VideoResult:
    """Colorize a video file, frame folder or live source ``src`` into ``dst`` (a video file, a
    folder of PNGs, or ``-``: standard output).

    ``src``: a video file or a folder of frames; ``-`` (standard input, a pipe); a URL that FFmpeg
    opens (rtsp, http, udp, srt...); or a camera device (``/dev/video0``). See :class:`FrameReader`.
    ``dst`` with a video extension (:data:`VIDEO_FORMATS`) gets a video with the input's fps,
    frame count and timestamps and its audio; ``-`` gets the same as a stream on standard output
    in ``pipe_format`` (:data:`PIPE_FORMATS`: ``mkv``, ``ts`` or ``mp4``, fragmented), for a
    player; otherwise a folder of PNG frames named like the input frames (``00000.png``... for a
    video). ``fps`` is the frame rate of a frame folder.
    A file output is written to a temporary name and moved into place when complete; an existing
    ``dst`` is kept unless ``overwrite``. Errors in the input raise a one-line ColorizerError.

    ``model``: a torch colorizer, or an onnxruntime one (:func:`colorizer.onnx_backend.load_for_job`),
    which runs without torch.
    ``threads``: torch threads for the model during the call (default :func:`video_threads`:
    one fewer than torch's own count, so that the decoder and encoder threads keep a core).
    ``max_frames``: a clip with more frames is refused (ColorizerError, no output), before any
    work when it declares its frame count, else when the count is passed.
    ``stop``: once set (a server shutting down), the call ends at the next frame with a
    ColorizerError, leaving no output.
    ``finish``: once set (Ctrl-C), the call stops reading and finishes the output with the frames
    so far: a complete, playable file (``stopped`` in the result).
    ``live``: drop frames when colorizing falls behind (default: for cameras and network streams
    without an end; see :attr:`FrameReader.live`); True for a file plays it at its own pace.
    Dropped frames are said once (a warning) and counted in the result. Audio is not kept then.
    ``reference``: colour reference photos (:func:`colorizer.api.prepare_reference`) for the
    keyframes (:func:`colorize_frames`).
    ``threaded``: decode (:class:`ReadAhead`) and encode (:class:`WriteBehind`) in threads of their
    own while the model works; False runs them in the calling thread (a file source only).
    ``restore``: repair one-frame dust and scratches and persistent vertical scratches in each
    frame's lightness before it is coloured (True, or a
    :class:`colorizer.film_restore.FilmRestoreConfig`; see :func:`colorize_frames`).

    Examples
    --------
    >>> from colorizer.registry import get_colorizer
    >>> colorize_video("clip.mp4", "clip_color.mp4", get_colorizer("gray"))  # doctest: +SKIP
    >>> colorize_video("rtsp://127.0.0.1:8554/cam", "cam.mkv", get_colorizer("gray"))  # doctest: +SKIP
    """
    from tqdm import tqdm

    to_stdout = os.fspath(dst) == STDIO
    if to_stdout:
        if sys.stdout is None or sys.stdout.isatty():
            raise ColorizerError("standard output (-o -) is the terminal: send the video to a player "
                                 "(-o - | ffplay -) or into a file (-o - > new.mkv)")
        if pipe_format not in PIPE_FORMATS:
            raise ColorizerError(f"unknown output format {pipe_format!r} for standard output; use one "
                                 f"of {', '.join(PIPE_FORMATS)}")
    else:
        dst = Path(dst)
        check_video_output(dst, Path(src) if not is_stream_source(src) else Path(os.devnull), overwrite)
    if temporal is None:
        temporal = TemporalConfig.for_reference() if reference is not None else TemporalConfig()
    start = time.perf_counter()
    # an onnxruntime model has its threads from its session (onnx_backend.load_for_job)
    threads_set = contextlib.nullcontext() if _is_onnx(model) else _torch_threads(threads or video_threads())
    with FrameReader(src, fps, live) as reader, threads_set:
        name = reader.name
        if max_frames is not None and reader.count and reader.count > max_frames:
            raise ColorizerError(f"{name}: {reader.count} frames, over the limit of {max_frames}")
        if not to_stdout and is_video_file(dst):  # said before the progress bar takes the line
            _say_if_padded(dst, encoded_size(reader.width, reader.height, VIDEO_FORMATS[dst.suffix.lower()]),
                           (reader.width, reader.height))
        bar = tqdm(total=reader.count, unit="frame", desc=Path(name).name or name, disable=not progress,
                   dynamic_ncols=True, leave=False, file=sys.stderr)
        smoother = TemporalSmoother(temporal)
        stopped, ahead = [], None

        def said_once() -> None:
            warnings.warn(f"{name}: colorizing is slower than the source, so frames are dropped to "
                          "keep up (the count is given at the end)", stacklevel=2)

        def run(emit) -> int:
            nonlocal ahead
            n = 0
            frames, behind = reader, None
            if threaded or reader.kind != "path" or reader.live:
                # decoded in a thread of its own (and a live source's frames dropped there); Ctrl-C
                # is then seen at once, not after a read that waits for the network
                if threaded:  # ... and encoded in another: the container is written there alone
                    behind = WriteBehind(emit, reader.on_audio)
                    reader.on_audio = behind.audio if reader.on_audio is not None else None
                    emit = behind.frame
                ahead = ReadAhead(reader, drop=reader.live, pace=reader.paced, on_drop=said_once)
                frames = ahead
            try:
                for frame, rgb in colorize_frames(_until(frames, finish, stopped), model, size=size,
                                                  saturation=saturation, hints=hints, hints_source=name,
                                                  smoother=smoother, reference=reference,
                                                  restore=restore):
                    if max_frames is not None and n >= max_frames:
                        raise ColorizerError(f"{name}: more than {max_frames} frames, over the limit")
                    if stop is not None and stop.is_set():
                        raise ColorizerError(f"{name}: stopped after {n} frames; nothing was written")
                    emit(frame, rgb)
                    n += 1
                    bar.update(1)
                    if finish is not None and finish.is_set():
                        stopped.append(True)
                        break
            except BaseException:
                if behind is not None:
                    behind.abort()
                raise
            if behind is not None:
                behind.finish()
            return n

        try:
            if to_stdout:
                frames = _write_stdout(reader, PIPE_FORMATS[pipe_format], run)
            elif is_video_file(dst):
                frames = _write_video(reader, dst, run, overwrite)
            else:
                frames = _write_folder(dst, run, overwrite)
        finally:
            bar.close()
            if ahead is not None and not ahead.close():
                reader.abandon()
    return VideoResult(dst, frames, time.perf_counter() - start, smoother.shots,
                       ahead.dropped if ahead is not None else 0, bool(stopped))


def _until(frames, finish: threading.Event | None, stopped: list) -> Iterator[Frame]:
    """``frames`` until ``finish`` is set (then ``stopped`` gets True)."""
    for frame in frames:
        if finish is not None and finish.is_set():
            stopped.append(True)
            return
        yield frame


def _write_stdout(reader: FrameReader, container_format: str, run) -> int:
    """Encode to standard output (a player, a pipe): nothing else is written there."""
    import av

    out = sys.stdout.buffer
    sys.stdout.flush()
    writer = VideoWriter(out, container_format, reader)
    try:
        n = run(lambda frame, rgb: writer.write(rgb, frame.pts))
        writer.close()
    except BaseException as exc:
        writer.abort()
        if isinstance(exc, av.FFmpegError) and not isinstance(exc, OSError):
            raise ColorizerError(f"standard output: could not write the video ({_av_message(exc)})") from None
        raise
    out.flush()
    return n


def _write_video(reader: FrameReader, dst: Path, run, overwrite: bool) -> int:
    count = []

    def encode(tmp: Path) -> None:
        import av

        writer = None
        try:
            writer = VideoWriter(tmp, VIDEO_FORMATS[dst.suffix.lower()], reader)
            count.append(run(lambda frame, rgb: writer.write(rgb, frame.pts)))
            writer.close()
        except BaseException as exc:
            if writer is not None:
                writer.abort()
            if isinstance(exc, av.FFmpegError) and not isinstance(exc, OSError):  # OSError: disk
                # the encoder or muxer refused (a frame too large for H.264, say): this clip's error
                raise ColorizerError(f"{dst}: could not write the video ({reader.width}x{reader.height} "
                                     f"frames): {_av_message(exc)}") from None
            raise

    try:
        atomic_write(dst, encode, overwrite=overwrite)
    except FileExistsError:
        raise FileExistsError(f"{dst}: exists, not overwritten (use --overwrite)") from None
    return count[0]


def _say_if_padded(dst: Path, size: tuple[int, int], frame_size: tuple[int, int]) -> None:
    """One warning (a ``warning:`` line from the CLI) when the video is written larger than the
    frames (:func:`encoded_size`)."""
    if size == frame_size:
        return
    added = " and ".join(what for what, grown in (("column", size[0] > frame_size[0]),
                                                  ("row", size[1] > frame_size[1])) if grown)
    warnings.warn(f"{dst}: the video is {size[0]}x{size[1]}, one pixel larger than the "
                  f"{frame_size[0]}x{frame_size[1]} frames (the last {added} repeated), because "
                  "H.264 4:2:0 needs even sizes; a .webm output keeps the exact size", stacklevel=3)


def _write_folder(dst: Path, run, overwrite: bool) -> int:
    tmp = make_temp_dir(dst)  # cleared by a later run if this one is killed
    try:
        os.chmod(tmp, file_mode() | (file_mode() & 0o444) >> 2)  # as mkdir would, not mkdtemp's 0o700

        def save(frame: Frame, rgb: np.ndarray) -> None:
            (tmp / frame.name).write_bytes(encode_png8(rgb))

        n = run(save)
        _replace_folder(tmp, dst, overwrite)
        return n
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# --- planning many inputs ------------------------------------------------------------------------


@dataclass
class VideoJob:
    src: Path
    dst: Path


def _is_frame_folder(folder: Path) -> bool:
    return any(True for _ in _frame_files(folder)[:1])


def plan_video_jobs(inputs, output: str | os.PathLike | None = None,
                    out_dir: str | os.PathLike | None = None,
                    report: Callable[[str], None] | None = None) -> list[VideoJob]:
    """Map inputs to outputs, as ``colorize image`` does for photos.

    An input is a video file, a folder of frames (it holds images), or a folder of video files.
    ``output``: one input, to that path (a video extension: a video; otherwise a frame folder).
    ``out_dir``: ``out_dir/NAME.EXT`` for a video, ``out_dir/FOLDER`` for a frame folder.
    Neither: ``STEM_color.EXT`` beside a video, ``FOLDER_colorized`` beside a frame folder.
    In a folder of video files, ``STEM_color.EXT`` beside ``STEM.*`` is taken for an earlier
    output and skipped. No two jobs write the same output (:func:`colorizer.batch.distinct_outputs`,
    which tells ``report``).
    """
    from colorizer.batch import distinct_outputs, sibling

    inputs = [Path(p) for p in inputs]
    if output is not None and out_dir is not None:
        raise ColorizerError("give either -o/--output or --out-dir, not both")
    clips: list[Path] = []
    for p in inputs:
        if p.is_dir() and not _is_frame_folder(p):
            found = sorted(f for f in p.iterdir() if f.is_file() and is_video_input(f))
            if not found:
                if len(inputs) == 1:
                    raise ColorizerError(f"{p}: holds neither image frames nor video files")
                clips.append(p)  # one of several: its run says what is wrong, the others go on
                continue
            # STEM_color.EXT (or STEM_color_N.EXT, see distinct_outputs) beside a STEM.* clip is
            # what an earlier run wrote: not an input
            stems = {f.stem for f in found}
            clips += [f for f in found if not ((m := _EARLIER_OUTPUT.fullmatch(f.stem))
                                               and m.group(1) in stems)]
        else:
            clips.append(p)
    if output is not None:
        if len(clips) != 1:
            raise ColorizerError("-o/--output takes exactly one clip; use --out-dir for several")
        return [VideoJob(clips[0], Path(output))]
    jobs = []
    for c in clips:
        folder = c.is_dir()
        if out_dir is not None:
            jobs.append(VideoJob(c, Path(out_dir) / (c.name if folder else c.stem + output_suffix(c))))
        elif folder:
            jobs.append(VideoJob(c, sibling(c, "_colorized")))
        else:
            jobs.append(VideoJob(c, c.with_name(c.stem + OUTPUT_SUFFIX + output_suffix(c))))
    return distinct_outputs(jobs, report)
