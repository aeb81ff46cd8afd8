"""Live sources and pipes for ``colorize video`` and ``colorize serve --live``: a stream URL on
127.0.0.1, standard input and output, the read-ahead queue that drops frames for a live source,
Ctrl-C, and the page's live view in Chromium. Everything runs on loopback and is bounded in time."""

from __future__ import annotations

import functools
import http.server
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import grey_of, mux_frames, sky_over_grass

from colorizer.cli import cli
from colorizer.video import STDIO, Frame, ReadAhead, _PipeReader, is_stream_source, source_kind

av = pytest.importorskip("av")

SRC = str(Path(__file__).resolve().parents[1] / "src")
TIMEOUT = 300  # seconds for one colorize command on a busy 2-core machine


def moving_clip(path: Path, frames: int, width: int = 160, height: int = 96, fps: int = 15) -> Path:
    """A grey mp4 (index after the frames, as FFmpeg writes by default) of a sky over grass
    sliding sideways by 2 pixels a frame."""
    base = grey_of(sky_over_grass(height, width + 2 * frames, height // 2))
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        mux_frames(c, s, (np.repeat(base[:, 2 * i:2 * i + width, None], 3, 2) for i in range(frames)))
    return path


def frames_of(data) -> list[np.ndarray]:
    """The decoded RGB frames of a video file (a path or bytes)."""
    with av.open(io.BytesIO(data) if isinstance(data, bytes) else str(data)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def chroma(rgb: np.ndarray) -> float:
    """Mean CIELAB chroma of a uint8 RGB picture."""
    from colorizer.color import rgb2lab

    lab = rgb2lab(rgb)
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


def colorize(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """``colorize ARGS`` in a process of its own (this checkout's code), one model thread."""
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "colorizer.cli", *args], env=env, timeout=TIMEOUT,
                          capture_output=True, **kwargs)


@contextmanager
def http_folder(folder: Path):
    """A plain HTTP server on 127.0.0.1 (a free port) serving ``folder``; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# --- fast: sources, the pipe reader, the read-ahead queue, usage errors ---------------------------


def test_source_kinds(tmp_path):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    assert source_kind(STDIO) == "stdin"
    for url in ("rtsp://127.0.0.1:8554/cam", "http://127.0.0.1/a.mp4", "udp://127.0.0.1:1234",
                "srt://127.0.0.1:9000", "HTTPS://example.org/x.m3u8"):
        assert source_kind(url) == "url" and is_stream_source(url)
    assert source_kind("/dev/null") == "device"  # a character device, as /dev/video0 is
    assert source_kind(clip) == "path" and not is_stream_source(clip)
    assert source_kind(tmp_path) == "path"


def test_pipe_reader_can_seek_back_in_what_it_kept():
    data = bytes(range(256)) * 1000
    pipe = _PipeReader(io.BufferedReader(io.BytesIO(data[12:])), data[:12], spool=True)
    assert pipe.seekable()
    assert pipe.read(100) == data[:100]
    assert pipe.seek(0, 2) == len(data)  # the end: read through
    pipe.seek(50_000)
    assert pipe.read(10) == data[50_000:50_010] and pipe.tell() == 50_010
    pipe.seek(-10, 1)
    assert pipe.read(20) == data[50_000:50_020]
    pipe.close()
    straight = _PipeReader(io.BufferedReader(io.BytesIO(data[12:])), data[:12], spool=False)
    assert not straight.seekable()
    got = b"".join(iter(lambda: straight.read(4096), b""))
    assert got == data


class _FakeReader:
    """Frames as fast as they can be made (a source that does not wait), with timestamps."""

    def __init__(self, n: int, fps: int = 1000):
        self.n, self.on_audio, self.time_base = n, None, Fraction(1, fps)

    def __iter__(self):
        for i in range(self.n):
            yield Frame(np.full((4, 4, 3), i % 256, np.uint8), i, f"{i:05d}.png", i)


def test_read_ahead_drops_the_oldest_frames_when_behind_and_says_so_once():
    said = []
    ahead = ReadAhead(_FakeReader(300), drop=True, size=4, on_drop=lambda: said.append(1))
    got = []
    for frame in ahead:
        got.append(frame.index)
        time.sleep(0.002)  # a slow model
    assert said == [1] and ahead.dropped > 0
    assert len(got) + ahead.dropped == 300
    assert got == sorted(got) and got[-1] == 299  # in order, and the newest frame is kept


def test_read_ahead_without_dropping_gives_every_frame_and_stops_early_cleanly():
    ahead = ReadAhead(_FakeReader(200), drop=False, size=2)
    got = []
    for frame in ahead:
        got.append(frame.index)
        if len(got) % 50 == 0:
            time.sleep(0.05)
    assert got == list(range(200)) and ahead.dropped == 0
    early = ReadAhead(_FakeReader(10_000), drop=False, size=2)
    for frame in early:
        if frame.index == 5:
            break
    assert early.close()  # the decoding thread has ended


def test_read_ahead_paces_a_recorded_source():
    start = time.monotonic()
    frames = list(ReadAhead(_FakeReader(6, fps=20), drop=True, pace=True))
    assert len(frames) == 6 and time.monotonic() - start >= 0.2  # 5 frame gaps of 50 ms


def test_stream_sources_need_an_output_and_come_alone(tmp_path):
    runner = CliRunner()
    for args in (["video", "-"], ["video", "http://127.0.0.1:9/a.mp4"]):
        r = runner.invoke(cli, args)
        assert r.exit_code == 1, r.output
        assert r.output.count("\n") == 1 and "give -o/--output" in r.output
    r = runner.invoke(cli, ["video", "-", str(tmp_path / "b.mp4"), "-o", str(tmp_path / "c.mp4")])
    assert r.exit_code == 1 and "on its own" in r.output


def test_unreachable_url_is_one_line(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = CliRunner().invoke(cli, ["video", f"http://127.0.0.1:{port}/a.mp4", "-o",
                                 str(tmp_path / "out.mp4"), "--model", "gray"])
    assert r.exit_code == 1 and r.output.startswith("error: http://127.0.0.1:") and "Errno" not in r.output
    assert not (tmp_path / "out.mp4").exists()


# --- slow: real processes ----------------------------------------------------------------------


@pytest.mark.slow
def test_http_stream_is_recorded_in_colour(tmp_path):
    clip = moving_clip(tmp_path / "clip.mp4", 30)
    out = tmp_path / "out.mp4"
    with http_folder(tmp_path) as url:
        r = colorize("video", f"{url}/clip.mp4", "-o", str(out))
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    frames = frames_of(out)
    assert len(frames) == len(frames_of(clip)) == 30
    assert chroma(frames[15]) > 5, chroma(frames[15])  # colour, not the grey input
    assert "dropped" not in r.stderr.decode()  # a recorded clip over HTTP is not live: every frame


@pytest.mark.slow
def test_pipes_in_and_out_give_every_frame(tmp_path):
    clip = moving_clip(tmp_path / "clip.mp4", 40)
    data = clip.read_bytes()
    assert data[4:8] == b"ftyp" and data.find(b"moov") > data.find(b"mdat")  # needs seeking back
    # cat clip.mp4 | colorize video - -o out.mp4 (an mp4 whose index comes last, through a pipe)
    out = tmp_path / "out.mp4"
    r = colorize("video", "-", "-o", str(out), input=clip.read_bytes())
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert len(frames_of(out)) == 40 and r.stdout == b""
    # cat clip.mp4 | colorize video - -o - | player: standard output carries the video alone
    r = colorize("video", "-", "-o", "-", input=clip.read_bytes())
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert r.stdout[:4] == b"\x1a\x45\xdf\xa3"  # Matroska from the first byte
    frames = frames_of(r.stdout)
    assert len(frames) == 40 and chroma(frames[20]) > 5
    # ... -o - > file, as MPEG-TS
    with open(tmp_path / "out.ts", "wb") as fh:
        r = subprocess.run([sys.executable, "-m", "colorizer.cli", "video", "-", "-o", "-", "--format", "ts"],
                           input=clip.read_bytes(), stdout=fh, stderr=subprocess.PIPE, timeout=TIMEOUT,
                           env={**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert len(frames_of(tmp_path / "out.ts")) == 40


@pytest.mark.slow
def test_ctrl_c_finishes_a_playable_file(tmp_path):
    clip = moving_clip(tmp_path / "clip.mp4", 600)
    out = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "colorizer.cli", "video", str(clip), "-o", str(out)],
                            env=env, stderr=subprocess.PIPE)
    err = bytearray()

    def read():
        for chunk in iter(lambda: proc.stderr.read1(4096), b""):
            err.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + TIMEOUT
    def done() -> int:  # frames done, as the progress line last said (it skips counts when fast)
        counts = re.findall(rb"(\d+)/600", bytes(err))
        return int(counts[-1]) if counts else 0

    while done() < 10 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # until the progress line says 10 frames are done
    assert proc.poll() is None, err.decode()[-2000:]
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    text = err.decode()
    assert proc.returncode == 0, text[-2000:]
    assert "stopped with Ctrl-C" in text and "Traceback" not in text
    frames = frames_of(out)
    assert 10 <= len(frames) < 600 and chroma(frames[5]) > 5


@pytest.mark.slow
def test_live_view_in_chromium_shows_moving_colour(tmp_path):
    from test_web import _open_page, load_web

    moving_clip(tmp_path / "clip.mp4", 300)  # 20 s at 15 fps: played at its own speed
    page_js = """() => {
      const img = document.getElementById("live");
      if (!img.naturalWidth) return null;
      const c = document.createElement("canvas");
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      const ctx = c.getContext("2d");
      ctx.drawImage(img, 0, 0);
      return Array.from(ctx.getImageData(0, 0, c.width, c.height).data);
    }"""
    with http_folder(tmp_path) as url:
        port = load_web.free_port()
        env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
        proc = load_web.start_server(port, tmp_path / "server.log", "--live", f"{url}/clip.mp4", env=env)
        try:
            with _open_page(f"http://127.0.0.1:{port}", tmp_path, ready="#live-view:not([hidden])") \
                    as (page, problems):
                shots = []
                deadline = time.monotonic() + 120
                while len(shots) < 2 and time.monotonic() < deadline:
                    data = page.evaluate(page_js)
                    if data is not None:
                        w = page.evaluate("document.getElementById('live').naturalWidth")
                        rgb = np.array(data, np.uint8).reshape(-1, w, 4)[..., :3]
                        if not shots or np.abs(rgb.astype(int) - shots[-1]).mean() > 1:
                            shots.append(rgb.astype(int))
                    time.sleep(0.3)
                assert len(shots) == 2, "the live picture did not move"
                assert all(chroma(s.astype(np.uint8)) > 5 for s in shots), [chroma(s.astype(np.uint8))
                                                                           for s in shots]
                assert page.locator("#live-status").text_content() != ""
                assert problems == []
        finally:
            load_web.stop_server(proc)
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log


def test_page_api_without_a_live_source():
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx2")
    from fastapi.testclient import TestClient

    from colorizer.web.app import ServeConfig, create_app

    with TestClient(create_app(ServeConfig(preload=())), base_url="http://127.0.0.1") as client:
        r = client.get("/api/live/status")
        assert r.status_code == 200 and r.json()["source"] is None
        r = client.get("/api/live")
        assert r.status_code == 404 and "--live" in r.json()["error"]


def test_live_view_keeps_the_newest_frame_as_jpeg(tmp_path):
    from PIL import Image

    from colorizer.live import LiveView
    from colorizer.registry import get_colorizer

    clip = moving_clip(tmp_path / "clip.mp4", 20, fps=50)
    view = LiveView(str(clip), lambda: get_colorizer("gray"))
    assert view.wait_frame(0, 0.1) is None and not view.running  # opened by the first viewer
    view.start()
    try:
        got = view.wait_frame(0, 60)
        assert got is not None
        seq, jpeg = got
        assert Image.open(io.BytesIO(jpeg)).size == (160, 96)
        later = view.wait_frame(seq, 60)
        assert later is None or later[0] > seq
    finally:
        view.close()
    status = view.status()
    assert status["frames"] >= 1 and status["error"] is None
    assert (status["width"], status["height"]) == (160, 96)
    assert not view.running


class _PacedHandler(http.server.BaseHTTPRequestHandler):
    """Sends one file as a live stream: no length, at the pace of ``seconds`` for the whole file
    (a camera's stream over HTTP)."""

    data = b""
    seconds = 1.0

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Connection", "close")
        self.end_headers()
        chunks = 40
        step = -(-len(self.data) // chunks)
        try:
            for i in range(chunks):
                self.wfile.write(self.data[i * step:(i + 1) * step])
                self.wfile.flush()
                time.sleep(self.seconds / chunks)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_live_http_stream_keeps_up_by_dropping_and_says_so_once(tmp_path):
    clip = moving_clip(tmp_path / "clip.ts", 90, fps=30)  # 3 s, sent in 3 s
    handler = type("Handler", (_PacedHandler,), {"data": clip.read_bytes(), "seconds": 3.0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = tmp_path / "out.mkv"
    try:
        r = colorize("video", f"http://127.0.0.1:{server.server_address[1]}/live.ts", "-o", str(out),
                     "--keyframe-interval", "1")
    finally:
        server.shutdown()
        server.server_close()
    err = r.stderr.decode().replace("\r", "\n")
    assert r.returncode == 0, err[-2000:]
    written = len(frames_of(out))
    last = [line for line in err.splitlines() if line.startswith("wrote")][-1]
    dropped = int(last.split(", ")[-1].split()[0]) if "dropped" in last else 0
    assert written + dropped == 90, last
    assert sum("frames are dropped to keep up" in line for line in err.splitlines()) == (1 if dropped else 0)
