"""colorize video: I/O round trips, temporal consistency, frame-tied hints, video metrics.

Every clip is made at test time (64x48, 10-30 frames, with PyAV); no external data except the
last, slow test.
"""

import errno
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from clirun import NO_TORCH
from helpers import mux_frames
from PIL import Image

from colorizer import metrics
from colorizer.cli import cli
from colorizer.color import rgb2lab
from colorizer.errors import ColorizerError
from colorizer.registry import Colorizer, get_colorizer
from colorizer.scribbles import read_frame_strokes
from colorizer.video import (
    FrameReader,
    TemporalConfig,
    TemporalSmoother,
    colorize_frames,
    colorize_video,
    ground_truth_flow,
    plan_video_jobs,
)

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

W, H = 64, 48
RED = (200, 40, 40)
GRAY = ["--model", "gray", "--size", "32"]


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (0, 0), 1.5)


def moving_frames(n: int = 20, cut_at: int | None = None, step: int = 1) -> list[np.ndarray]:
    """A textured background panning left and a textured red square moving right, ``step`` px
    a frame; frames from ``cut_at`` on show an unrelated scene (a shot change)."""
    bg, other = texture(H, W + 3 * n, 0), texture(H, W, 7)
    square = texture(20, 20, 3).astype(np.int16)
    frames = []
    for i in range(n):
        if cut_at is not None and i >= cut_at:
            frames.append((other * 0.45).astype(np.uint8))  # a darker, unrelated scene
            continue
        img = bg[:, i:i + W].copy()
        x = 6 + step * i
        img[12:32, x:x + 20] = np.clip(square // 3 + np.array(RED) - 40, 0, 255).astype(np.uint8)
        frames.append(img)
    return frames


def write_clip(path: Path, frames, fps: int = 10, audio: str | None = "aac", faststart: bool = False,
               audio_rate: int = 8000, audio_start: float = 0.0, video_start: float = 0.0):
    """H.264 frames from ``video_start`` seconds on (4:4:4 for an odd size, which 4:2:0 cannot
    take) and a 440 Hz tone from ``audio_start`` seconds on."""
    out = av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {})
    vs = out.add_stream("libx264", rate=fps)
    h, w = frames[0].shape[:2]
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv444p" if w % 2 or h % 2 else "yuv420p"
    if audio:
        a = out.add_stream(audio, rate=audio_rate)
        a.layout = "mono"
    if video_start:
        frames = [av.VideoFrame.from_ndarray(f, format="rgb24") for f in frames]
        for i, f in enumerate(frames):
            f.pts, f.time_base = round(video_start * fps) + i, Fraction(1, fps)
    mux_frames(out, vs, frames)
    if audio:
        t = np.arange(int(audio_rate * len(frames) / fps)) / audio_rate
        tone = np.sin(2 * np.pi * 440 * t)
        if audio == "pcm_s16le":
            fr = av.AudioFrame.from_ndarray((tone * 9000).astype(np.int16)[None], format="s16", layout="mono")
        else:
            fr = av.AudioFrame.from_ndarray((tone * 0.3).astype(np.float32)[None], format="flt",
                                            layout="mono")
        fr.sample_rate, fr.time_base = audio_rate, Fraction(1, audio_rate)
        fr.pts = round(audio_start * audio_rate)
        for p in a.encode(fr):
            out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    out.close()
    return path


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(video=0))
        return {"frames": n, "fps": v.average_rate, "duration": c.duration, "size": (v.width, v.height),
                "audio": [s.codec_context.name for s in c.streams.audio]}


def write_folder(folder: Path, frames) -> Path:
    from PIL import Image

    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"f{i:03d}.png")
    return folder


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_clip(tmp_path / "clip.mp4", moving_frames(20))


class Flicker(Colorizer):
    """A tiny stand-in for a trained model whose colours jump from frame to frame: a brownish
    ab everywhere plus a random offset per call (global flicker) and per-pixel noise."""

    name = "flicker"
    preferred_size = 48

    def __init__(self, seed: int = 0):
        super().__init__()
        self.g = torch.Generator().manual_seed(seed)

    def predict_ab(self, L, hints=None):
        n, _, h, w = L.shape
        base = torch.tensor([12.0, 25.0]).view(1, 2, 1, 1)
        jump = torch.randn(n, 2, 1, 1, generator=self.g) * 6
        noise = torch.randn(n, 2, h, w, generator=self.g) * 2
        return (base + jump + noise + (L - 50) * 0.1).expand(n, 2, h, w).contiguous()


def run_ab(frames, model, temporal, size=48, hints=None):
    """Colorize in memory; returns each frame's ab (H, W, 2) at full size."""
    from colorizer.video import Frame

    out = []
    feed = (Frame(f, i, f"{i:05d}.png", i) for i, f in enumerate(frames))
    for _, rgb in colorize_frames(feed, model, size=size, temporal=temporal, hints=hints):
        out.append(rgb2lab(rgb)[..., 1:].astype(np.float64))
    return out


def clip_warp_error(frames, abs_) -> float:
    errs = []
    for t in range(1, len(frames)):
        back, valid = ground_truth_flow(frames[t - 1], frames[t])
        errs.append(metrics.warp_error(abs_[t - 1], abs_[t], back, valid))
    return float(np.mean(errs))


# --- metrics: known answers ------------------------------------------------------------------------


def test_warp_shifts_by_the_flow():
    img = np.arange(48.0).reshape(6, 8)
    flow = np.zeros((6, 8, 2))
    flow[..., 1] = 2  # read two rows down
    assert np.array_equal(metrics.warp(img, flow)[:4], img[2:])
    flow[..., 1], flow[..., 0] = 0, 0.5
    np.testing.assert_allclose(metrics.warp(img, flow)[:, :7], (img[:, :7] + img[:, 1:]) / 2)


def test_warp_error_known_answers():
    rng = np.random.default_rng(0)
    ab = rng.normal(0, 20, (10, 12, 2))
    moved = np.roll(ab, 2, axis=1)  # content moves 2 px right; frame t reads t-1 two px left
    flow = np.zeros((10, 12, 2))
    flow[..., 0] = -2
    valid = np.zeros((10, 12), bool)
    valid[:, 2:] = True
    assert metrics.warp_error(ab, moved, flow, valid) == pytest.approx(0, abs=1e-12)
    # a uniform colour change of (3, 4) between frames is a warp error of 5 everywhere
    assert metrics.warp_error(ab, ab + [3, 4], np.zeros((10, 12, 2))) == pytest.approx(5)
    assert np.isnan(metrics.warp_error(ab, ab, flow, np.zeros((10, 12), bool)))
    with pytest.raises(ValueError):
        metrics.warp_error(ab, ab[:5], flow)


def test_flow_valid_mask_finds_inconsistent_and_outside_pixels():
    back = np.zeros((8, 8, 2))
    back[..., 0] = -1
    fwd = -back
    valid = metrics.flow_valid_mask(back, fwd)
    assert not valid[:, 0].any() and valid[:, 1:].all()  # column 0 reads outside the frame
    fwd[4, 3] = (5, 5)  # the forward flow disagrees where pixel (4, 4) lands
    assert not metrics.flow_valid_mask(back, fwd)[4, 4]


def test_js_divergence_and_cdc_against_scipy():
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(1)
    p, q = rng.random(256), rng.random(256)
    assert metrics.js_divergence(p, q) == pytest.approx(jensenshannon(p, q) ** 2)
    assert metrics.js_divergence(p, p) == pytest.approx(0, abs=1e-12)
    assert metrics.js_divergence([1, 0], [0, 1]) == pytest.approx(np.log(2))
    # two alternating frames: offsets 1 and 2 mismatch... offset 1 differs, 2 and 4 match
    a, b = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)
    frames = [a, b] * 3  # a b a b a b
    assert metrics.cdc(frames, offsets=(1,)) == pytest.approx(np.log(2))
    assert metrics.cdc(frames, offsets=(2, 4)) == pytest.approx(0)
    assert metrics.cdc(frames) == pytest.approx(np.log(2) / 3)
    assert metrics.cdc([metrics.rgb_histograms(f) for f in frames]) == pytest.approx(np.log(2) / 3)
    assert np.isnan(metrics.cdc([a]))


# --- reading and writing ---------------------------------------------------------------------------


def test_mp4_with_audio_round_trip(clip, tmp_path):
    """An mp4 with audio in, an mp4 out with the same frames, fps, duration, and an audio stream."""
    out = tmp_path / "out.mp4"
    r = CliRunner().invoke(cli, ["video", str(clip), "-o", str(out), "--model", "gray", "--size", "32"])
    assert r.exit_code == 0, r.output
    src, dst = probe(clip), probe(out)
    assert dst["frames"] == src["frames"] == 20
    assert dst["fps"] == src["fps"] and dst["size"] == src["size"]
    assert dst["duration"] == pytest.approx(src["duration"], rel=0.02)
    assert dst["audio"] == ["aac"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_audio_that_the_container_cannot_hold_is_reencoded(tmp_path):
    src = write_clip(tmp_path / "aac.mp4", moving_frames(10))
    out = tmp_path / "out.webm"  # WebM takes Opus or Vorbis only
    r = CliRunner().invoke(cli, ["video", str(src), "-o", str(out), "--model", "gray", "--size", "32"])
    assert r.exit_code == 0, r.output
    info = probe(out)
    assert info["audio"] == ["opus"] and info["frames"] == 10


def test_frame_folder_in_and_out(tmp_path):
    frames = moving_frames(10)
    folder = write_folder(tmp_path / "shots", frames)
    runner = CliRunner()
    r = runner.invoke(cli, ["video", str(folder), "-o", str(tmp_path / "col"), "--model", "gray"])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "col").iterdir())
    assert names == [f"f{i:03d}.png" for i in range(10)]
    r = runner.invoke(cli, ["video", str(folder), "-o", str(tmp_path / "col.mp4"), "--fps", "5",
                            "--model", "gray"])
    assert r.exit_code == 0, r.output
    info = probe(tmp_path / "col.mp4")
    assert info["frames"] == 10 and info["fps"] == 5 and info["audio"] == []
    # the output keeps the input's L: a grey model gives back the grey frames
    from colorizer.io import read_image

    first = read_image(tmp_path / "col" / "f000.png").to_array()
    grey = read_image(folder / "f000.png").lightness()
    assert np.abs(rgb2lab(first)[..., 0] - grey).max() < 1.0


def test_many_inputs_and_overwrite_rule(clip, tmp_path):
    other = write_clip(tmp_path / "b.mkv", moving_frames(10), audio=None)
    runner = CliRunner()
    args = ["video", str(clip), str(other), "--model", "gray", "--size", "32"]
    assert runner.invoke(cli, args).exit_code == 0
    made = {tmp_path / "clip_color.mp4", tmp_path / "b_color.mkv"}
    assert all(p.is_file() for p in made)
    stamps = {p: p.stat().st_mtime_ns for p in made}
    r = runner.invoke(cli, args)
    assert r.exit_code == 0 and r.output.count("skipped:") == 2
    assert all(p.stat().st_mtime_ns == stamps[p] for p in made)
    r = runner.invoke(cli, [*args, "--overwrite"])
    assert r.exit_code == 0 and "skipped" not in r.output
    jobs = plan_video_jobs([clip], out_dir=tmp_path / "o")
    assert jobs[0].dst == tmp_path / "o" / "clip.mp4"


def test_a_set_stop_event_ends_the_clip_with_no_output(clip, tmp_path):
    """The stop event of colorize serve's shutdown (colorizer.web.jobs): checked at every frame."""
    import threading

    stop = threading.Event()
    stop.set()
    with pytest.raises(ColorizerError, match="stopped after 0 frames; nothing was written"):
        colorize_video(clip, tmp_path / "out.mp4", get_colorizer("gray"), size=32, progress=False, stop=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == [clip.name]


def test_an_unexpected_error_on_one_clip_fails_that_clip_only(clip, tmp_path, monkeypatch):
    """onnxruntime's out-of-memory error is a plain Exception: it stopped every later clip with a
    traceback; now it is that clip's one error line, and the next clip is written."""
    import colorizer.video

    other = write_clip(tmp_path / "b.mkv", moving_frames(10), audio=None)
    real = colorizer.video.colorize_video

    def flaky(src, dst, *args, **kwargs):
        if Path(src) == clip:
            raise Exception("[ONNXRuntimeError] : 1 : FAIL : Failed to allocate memory")  # noqa: TRY002
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(colorizer.video, "colorize_video", flaky)
    r = CliRunner().invoke(cli, ["video", str(clip), str(other), "--model", "gray", "--size", "32"])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output  # no traceback
    assert f"error: {clip}: Exception: [ONNXRuntimeError] : 1 : FAIL : Failed to allocate memory" in r.output
    assert (tmp_path / "b_color.mkv").is_file() and not (tmp_path / "clip_color.mp4").exists()


@pytest.mark.parametrize("damage", ["cut", "cut_faststart", "garbage", "empty"])
def test_broken_video_one_line_error_no_output(tmp_path, damage):
    frames = moving_frames(20)
    src = tmp_path / "bad.mp4"
    if damage in ("cut", "cut_faststart"):
        good = write_clip(tmp_path / "good.mp4", frames, faststart=damage == "cut_faststart")
        data = good.read_bytes()
        src.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "garbage":
        src.write_bytes(b"not a video at all" * 100)
    else:
        src.write_bytes(b"")
    out = tmp_path / "out.mp4"
    r = CliRunner().invoke(cli, ["video", str(src), "-o", str(out), "--model", "gray"])
    assert r.exit_code == 1
    lines = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "bad.mp4" in lines[0], r.output
    assert "Traceback" not in r.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["bad.mp4"] + (["good.mp4"] if
                                                                             "cut" in damage else []))


def test_reader_streams_frames(clip):
    with FrameReader(clip) as reader:
        assert (reader.width, reader.height, reader.count, reader.fps) == (W, H, 20, 10)
        it = iter(reader)
        first = next(it)
        assert first.rgb.shape == (H, W, 3) and first.rgb.dtype == np.uint8 and first.index == 0


def test_output_folder_holding_the_input_is_refused_even_with_overwrite(tmp_path):
    """--overwrite replaces an existing output folder; one that holds the input (here the folder
    of the clip, or of the frame folder) would take the input and its neighbours with it."""
    vids = tmp_path / "vids"
    vids.mkdir()
    src = write_clip(vids / "a.mp4", moving_frames(3), audio=None)
    (vids / "notes.txt").write_text("mine")
    frames = write_folder(vids / "shot", moving_frames(3))
    for clip in (src, frames):
        r = CliRunner().invoke(cli, ["video", str(clip), "-o", str(vids), "--overwrite", *GRAY])
        assert r.exit_code == 1 and r.output.count("error:") == 1, r.output
        assert "holds the input" in r.output
    assert src.is_file() and (vids / "notes.txt").read_text() == "mine" and len(list(frames.iterdir())) == 3


def test_overwrite_replaces_a_frame_folder_but_not_one_with_other_files(tmp_path):
    src = write_clip(tmp_path / "a.mp4", moving_frames(3), audio=None)
    out = write_folder(tmp_path / "out", moving_frames(5))  # an earlier output: frames only
    r = CliRunner().invoke(cli, ["video", str(src), "-o", str(out), "--overwrite", *GRAY])
    assert r.exit_code == 0, r.output
    assert len(list(out.iterdir())) == 3
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "letter.txt").write_text("mine")
    r = CliRunner().invoke(cli, ["video", str(src), "-o", str(docs), "--overwrite", *GRAY])
    assert r.exit_code == 1 and r.output.count("error:") == 1 and "letter.txt" in r.output, r.output
    assert [p.name for p in docs.iterdir()] == ["letter.txt"]


def test_a_folder_without_clips_among_inputs_fails_alone(tmp_path):
    src = write_clip(tmp_path / "a.mp4", moving_frames(3), audio=None)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no clips here")
    r = CliRunner().invoke(cli, ["video", str(empty), str(src), "--out-dir", str(tmp_path / "o"), *GRAY])
    assert r.exit_code == 1 and r.output.count("error:") == 1 and "empty" in r.output, r.output
    assert probe(tmp_path / "o" / "a.mp4")["frames"] == 3
    r = CliRunner().invoke(cli, ["video", str(empty), *GRAY])  # alone: the same one line
    assert r.exit_code == 1 and "holds neither image frames nor video files" in r.output, r.output


def test_video_runs_in_onnxruntime_without_torch(tmp_path):
    """With the default model and backend, `colorize video` runs the shipped ONNX export: torch is
    never imported, audio is kept, and the frames match the torch backend's within a grey level."""
    src = write_clip(tmp_path / "a.mp4", moving_frames(8))
    r = subprocess.run([sys.executable, "-c", NO_TORCH, "video", str(src), "-o", str(tmp_path / "o.mp4")],
                       capture_output=True, text=True, timeout=300)
    assert r.stdout.split("\n")[0] == "0 [] False", r.stdout + r.stderr
    assert probe(tmp_path / "o.mp4")["frames"] == 8 and probe(tmp_path / "o.mp4")["audio"] == ["aac"]
    frames = {}
    for backend in ("onnx", "torch"):
        out = tmp_path / backend
        r = CliRunner().invoke(cli, ["video", str(src), "-o", str(out), "--backend", backend,
                                     "--precision", "float"])  # the float export against torch
        assert r.exit_code == 0, r.output
        frames[backend] = [np.asarray(Image.open(p)).astype(int) for p in sorted(out.iterdir())]
    assert len(frames["onnx"]) == 8
    assert max(np.abs(a - b).max() for a, b in zip(frames["onnx"], frames["torch"], strict=True)) <= 1
    assert np.ptp(frames["onnx"][0], axis=2).mean() > 2  # coloured


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_output_says_which_colour_matrix_it_uses(tmp_path, suffix):
    """The output is tagged BT.601 (what the RGB -> YUV conversion uses), so that players do not
    take an HD clip for BT.709 and shift its hues; a decoder that reads the tags gets red back."""
    red = np.zeros((720, 1280, 3), np.uint8)
    red[..., 0] = 255
    src = write_clip(tmp_path / "red.mp4", [red] * 2, audio=None)
    out = tmp_path / f"out{suffix}"
    from colorizer.video import FrameReader, VideoWriter

    with FrameReader(src) as reader:
        writer = VideoWriter(out, "webm" if suffix == ".webm" else "mp4", reader)
        for frame in reader:
            writer.write(frame.rgb, frame.pts)
        writer.close()
    with av.open(str(out)) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc) == (6, 1, 1, 1)
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(rgb[360, 640] - [255, 0, 0]).max() <= 8, rgb[360, 640]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])  # mkv: the length is not in the file
def test_max_frames_refuses_a_longer_clip_and_leaves_no_output(tmp_path, suffix):
    src = write_clip(tmp_path / f"long{suffix}", moving_frames(8), audio=None)
    out = tmp_path / "out.mp4"
    with pytest.raises(ColorizerError, match="over the limit") as exc:
        colorize_video(src, out, get_colorizer("gray"), size=32, max_frames=5, progress=False)
    assert ("8 frames" in str(exc.value)) == (suffix == ".mp4")  # declared: refused before any work
    assert list(tmp_path.iterdir()) == [src]
    assert colorize_video(src, out, get_colorizer("gray"), size=32, max_frames=8, progress=False).frames == 8


def test_audio_at_44100_hz_is_reencoded_for_webm(tmp_path):
    src = write_clip(tmp_path / "cd.mp4", moving_frames(6), audio_rate=44100)
    out = tmp_path / "out.webm"  # Opus takes 48, 24, 16, 12 or 8 kHz only
    r = CliRunner().invoke(cli, ["video", str(src), "-o", str(out), *GRAY])
    assert r.exit_code == 0, r.output
    assert probe(out)["audio"] == ["opus"] and probe(out)["frames"] == 6


def start_times(path: Path) -> tuple[float, float]:
    """Seconds at which the first decoded video frame and the first decoded audio frame start."""
    with av.open(str(path)) as c:
        video = next(c.decode(video=0)).time
    with av.open(str(path)) as c:
        audio = next(c.decode(audio=0)).time
    return video, audio


@pytest.mark.parametrize("audio_start, video_start", [(0.5, 0), (0.5, 0.8)])
def test_reencoded_audio_keeps_its_offset_from_the_video(tmp_path, audio_start, video_start):
    """AAC in mp4 cannot go into WebM: the Opus made from it starts where the AAC started against
    the picture, 0.5 s after it or 0.3 s before (it started at 0, and sound and picture were
    that far apart)."""
    src = write_clip(tmp_path / "late.mp4", moving_frames(10), audio_rate=48000, audio_start=audio_start,
                     video_start=video_start)
    offset = audio_start - video_start
    v_in, a_in = start_times(src)
    # the AAC encoder's priming samples (1024) start 21 ms before the tone
    assert a_in - v_in == pytest.approx(offset, abs=0.03)
    out = tmp_path / "out.webm"
    r = CliRunner().invoke(cli, ["video", str(src), "-o", str(out), *GRAY])
    assert r.exit_code == 0, r.output
    assert probe(out)["audio"] == ["opus"] and probe(out)["frames"] == 10
    v_out, a_out = start_times(out)
    assert a_out - v_out == pytest.approx(offset, abs=0.03)
    assert a_out - v_out == pytest.approx(a_in - v_in, abs=0.02)  # one Opus frame
    # the copied AAC (mp4 -> mp4) keeps its timestamps as they are
    r = CliRunner().invoke(cli, ["video", str(src), "-o", str(tmp_path / "copy.mp4"), *GRAY])
    assert r.exit_code == 0, r.output
    v_copy, a_copy = start_times(tmp_path / "copy.mp4")
    assert a_copy - v_copy == pytest.approx(a_in - v_in, abs=1e-3)


def loudness(frame) -> np.ndarray:
    """Per sample of an audio frame, its magnitude averaged over the channels (planar frames
    hold one row per channel, packed ones interleave them)."""
    x = np.abs(frame.to_ndarray().astype(np.float64))
    channels = len(frame.layout.channels)
    return x.mean(axis=0) if frame.format.is_planar else x.reshape(-1, channels).mean(axis=1)


def loud_spans(path: Path, block: float = 0.02) -> list[float]:
    """Where the first audio stream of ``path`` is loud: start, end, start, end... in seconds (to
    within ``block``). Each decoded frame is placed at its own timestamp, so a gap in the
    timestamps shows as quiet."""
    with av.open(str(path)) as c:
        frames = [(f.time, loudness(f), f.sample_rate) for f in c.decode(audio=0)]
    rate = frames[0][2]
    end = max(round(t * rate) + len(x) for t, x, _ in frames)
    timeline = np.zeros(end)
    for t, x, _ in frames:
        start = max(round(t * rate), 0)
        timeline[start:start + len(x)] = x[:len(timeline) - start]
    n = int(block * rate)
    envelope = timeline[:len(timeline) // n * n].reshape(-1, n).mean(axis=1)
    loud = np.concatenate([[False], envelope > 0.3 * envelope.max(), [False]])
    edges = np.flatnonzero(np.diff(loud.astype(int))) * block
    return edges.tolist()


def write_gap_clip(path: Path, codec: str, layout: str) -> Path:
    """An mkv of 16 moving frames at 10 fps and a tone in ``codec`` at 0.1-0.5 s and 1.0-1.6 s
    (0.5 s of audio missing between), in the encoder's frame size (PCM: a frame per tone)."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        a = out.add_stream(codec, rate=48000)
        a.layout = layout
        channels = 2 if layout == "stereo" else 1
        mux_frames(out, vs, moving_frames(16))
        for start, seconds in [(0.1, 0.4), (1.0, 0.6)]:
            tone = (np.sin(np.arange(int(48000 * seconds)) / 10) * 0.3).astype(np.float32)
            n = a.codec_context.frame_size or len(tone)
            for i in range(0, len(tone) - n + 1, n):
                fr = av.AudioFrame.from_ndarray(np.repeat(tone[None, i:i + n], channels, axis=0),
                                                format="fltp", layout=layout)
                fr.sample_rate, fr.time_base = 48000, Fraction(1, 48000)
                fr.pts = round(start * 48000) + i
                for p in a.encode(fr):
                    out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    return path


@pytest.mark.parametrize(("suffix", "codec"), [(".webm", "opus"), (".mp4", "aac"), (".mov", "pcm_s16le"),
                                               (".avi", "pcm_s16le"), (".mkv", "pcm_s16le")])
def test_reencoded_audio_keeps_a_gap_in_the_input_audio(tmp_path, suffix, codec):
    """PCM with 0.5 s missing (a tone at 0.1-0.5 s, then 1.0-1.6 s) in an mkv, encoded again as
    Opus (WebM), AAC (mp4, whose players take no PCM) or the same PCM: the gap is played as
    silence, so the tone after it stays where it was against the picture, not 0.5 s early (mp4,
    mov and AVI lost a gap kept in the timestamps only). PCM stays the same samples."""
    src = write_gap_clip(tmp_path / "gap.mkv", "pcm_s16le", "mono")
    assert loud_spans(src) == pytest.approx([0.1, 0.5, 1.0, 1.6], abs=0.025)
    dst = tmp_path / f"out{suffix}"
    colorize_video(src, dst, get_colorizer("gray"), size=32, progress=False)
    assert loud_spans(dst) == pytest.approx([0.1, 0.5, 1.0, 1.6], abs=0.045)
    assert probe(dst)["audio"] == [codec]
    if codec == "pcm_s16le":
        def samples(path):
            with av.open(str(path)) as c:
                return np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])
        assert np.array_equal(samples(dst)[samples(dst) != 0], samples(src)[samples(src) != 0])


@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "aac"), (".mov", "aac"), (".mkv", "aac"),
                                               (".avi", "aac"), (".avi", "mp2")])
def test_copied_audio_keeps_its_gap_and_start(tmp_path, suffix, codec):
    """Stereo AAC (or MP2) from 0.1 s, with 0.5 s missing, in an mkv. mp4, mov and Matroska take
    the packets with their timestamps, gap and late start kept. AVI has no audio timestamps:
    copied, its sound started at 0 and ran on through the gap (the tone after it 0.6 s early), so
    there the audio is encoded again (AAC as AAC, MP2, the audio of DVDs and DV captures, as MP2),
    with silence before it and in the gap."""
    src = write_gap_clip(tmp_path / "gap.mkv", codec, "stereo")
    assert loud_spans(src) == pytest.approx([0.1, 0.5, 1.0, 1.6], abs=0.045)
    dst = tmp_path / f"out{suffix}"
    colorize_video(src, dst, get_colorizer("gray"), size=32, progress=False)
    assert loud_spans(dst) == pytest.approx([0.1, 0.5, 1.0, 1.6], abs=0.06)
    assert probe(dst)["audio"] == [codec]


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_odd_frame_size_is_written_in_4_2_0(tmp_path, suffix):
    """A 33x25 clip: H.264 4:2:0 takes even sizes only, so the mp4 is 34x26 (the last column
    and row repeated, one warning line); VP9 takes odd sizes, so the WebM keeps 33x25. Both are
    yuv420p, which browsers, QuickTime and TVs play (4:4:4 H.264 they do not)."""
    frames = [np.repeat(texture(25, 33, seed)[..., :1], 3, axis=2) for seed in range(5)]  # grey
    for f in frames:  # dark and light bands along the last column and row: a copy of them shows
        f[:, -1] = np.where(np.arange(25)[:, None] // 4 % 2, 220, 40)
        f[-1] = np.where(np.arange(33)[:, None] // 4 % 2, 220, 40)
    src = write_clip(tmp_path / "odd.mp4", frames)
    out = tmp_path / f"out{suffix}"
    r = CliRunner().invoke(cli, ["video", str(src), "-o", str(out), *GRAY])
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.output.replace("\r", "\n").splitlines() if line.startswith("warning:")]
    info, src_info = probe(out), probe(src)
    assert info["frames"] == 5 and info["fps"] == 10
    assert info["duration"] == pytest.approx(src_info["duration"], abs=30_000)  # Opus: whole 20 ms frames
    assert info["audio"] == (["aac"] if suffix == ".mp4" else ["opus"])
    with av.open(str(out)) as c:
        ctx = c.streams.video[0].codec_context
        assert ctx.pix_fmt == "yuv420p"
        assert (ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc) == (6, 1, 1, 1)
        got = [f.to_ndarray(format="rgb24").astype(float).mean(2) for f in c.decode(video=0)]
    with av.open(str(src)) as c:
        grey = [f.to_ndarray(format="rgb24").astype(float).mean(2) for f in c.decode(video=0)]
    if suffix == ".webm":
        assert info["size"] == (33, 25) and warnings == [], r.output
        assert got[0].shape == (25, 33)
        return
    assert info["size"] == (34, 26)
    assert len(warnings) == 1 and "34x26" in warnings[0] and "out.mp4" in warnings[0], r.output
    for img, ref in zip(got, grey, strict=True):
        assert np.abs(img[:25, :33] - ref).mean() < 4  # nothing lost, nothing moved or scaled
        assert np.abs(img[:, 33] - img[:, 32]).mean() < 3 and np.abs(img[25] - img[24]).mean() < 3
        assert np.ptp(img[:, 33]) > 150 and np.ptp(img[25]) > 150  # the bands, repeated


def test_padding_note_comes_back_from_a_cluster_worker(tmp_path):
    """On a Dask worker (here the task function called in-process) the note is the record's."""
    pytest.importorskip("distributed")
    from colorizer.distributed import ModelSpec, VideoTask, colorize_video_chunk

    src = write_clip(tmp_path / "odd.mp4", [texture(25, 33)] * 2, audio=None)
    task = VideoTask(model=ModelSpec("gray"), size=32, temporal=TemporalConfig("none"))
    [rec] = colorize_video_chunk(plan_video_jobs([src], tmp_path / "out.mp4"), task)
    assert rec["status"] == "done", rec
    assert [n for n in rec["notes"] if n.startswith("warning:")] == [
        f"warning: {tmp_path / 'out.mp4'}: the video is 34x26, one pixel larger than the 33x25 frames "
        "(the last column and row repeated), because H.264 4:2:0 needs even sizes; a .webm output keeps "
        "the exact size"]


def test_even_frame_size_is_not_padded(tmp_path):
    src = write_clip(tmp_path / "even.mp4", moving_frames(3), audio=None)
    r = CliRunner().invoke(cli, ["video", str(src), "-o", str(tmp_path / "out.mp4"), *GRAY])
    assert r.exit_code == 0 and "warning:" not in r.output, r.output
    assert probe(tmp_path / "out.mp4")["size"] == (W, H)


def test_write_errors_met_while_reading_are_not_blamed_on_the_input(tmp_path):
    """Audio packets are written while the input is read: a full disk there is an OSError (the
    CLI says "no space left"), not "truncated or corrupt video"."""
    src = write_clip(tmp_path / "a.mp4", moving_frames(6))

    def disk_full(packet):
        av.error.err_check(-errno.ENOSPC)

    with FrameReader(src) as reader:
        reader.on_audio = disk_full
        with pytest.raises(OSError) as info:
            list(reader)
    assert info.value.errno == errno.ENOSPC and not isinstance(info.value, ColorizerError)


def test_damaged_stretch_inside_a_clip_is_skipped_with_one_warning(tmp_path):
    """3 KB zeroed in the middle of an mp4 (a bad sector, a broken copy): the clip is coloured all
    the same. The packets that cannot be decoded are skipped with one ``warning:`` line, as
    players skip them; the frames that decode keep their times, so the length is the input's."""
    src = write_clip(tmp_path / "a.mp4", [texture(64, 64, seed) for seed in range(60)], audio=None)
    data = bytearray(src.read_bytes())
    data[len(data) // 2:len(data) // 2 + 3000] = bytes(3000)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    r = CliRunner().invoke(cli, ["video", str(bad), "-o", str(tmp_path / "out.mp4"), *GRAY])
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.output.replace("\r", "\n").splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "bad.mp4" in warnings[0] and "damaged video packet" in warnings[0]
    out, clean = probe(tmp_path / "out.mp4"), probe(src)
    assert 40 <= out["frames"] < clean["frames"] == 60
    assert out["duration"] == pytest.approx(clean["duration"], rel=0.05)


def test_edit_list_that_trims_the_start_is_not_taken_for_truncation(tmp_path):
    """An mp4 cut without re-encoding keeps the frames before the cut and an edit list that hides
    them: the file declares 10 frames and shows 7; all 7 are colorized."""
    src = tmp_path / "trimmed.mp4"
    out = av.open(str(src), "w")
    vs = out.add_stream("libx264", rate=10)
    vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
    vs.codec_context.time_base = Fraction(1, 1000)
    for i, img in enumerate(moving_frames(10)):
        f = av.VideoFrame.from_ndarray(img, format="rgb24")
        f.pts, f.time_base = 100 * i - 300, Fraction(1, 1000)
        for p in vs.encode(f):
            out.mux(p)
    for p in vs.encode(None):
        out.mux(p)
    out.close()
    assert probe(src)["frames"] == 7
    r = colorize_video(src, tmp_path / "out.mp4", get_colorizer("gray"), size=32, progress=False)
    assert r.frames == 7 and probe(tmp_path / "out.mp4")["frames"] == 7


def test_rotation_metadata_is_applied_as_for_photos(tmp_path):
    """A phone clip stored landscape with a 90-degree display rotation comes out upright, as
    players show it (and as EXIF orientation is applied to photos)."""
    src = tmp_path / "phone.mp4"
    frames = moving_frames(4)
    out = av.open(str(src), "w")
    vs = out.add_stream("libx264", rate=10)
    vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
    vs.set_display_rotation(90)
    mux_frames(out, vs, frames)
    out.close()
    model = get_colorizer("gray")
    colorize_video(src, tmp_path / "out.mp4", model, size=32, progress=False)
    colorize_video(src, tmp_path / "png", model, size=32, progress=False)
    info = probe(tmp_path / "out.mp4")
    assert info["size"] == (48, 64) and info["frames"] == 4
    with av.open(str(tmp_path / "out.mp4")) as c:
        first = next(c.decode(video=0))
        assert first.rotation == 0
        got = first.to_ndarray(format="rgb24").astype(float).mean(2)
    from colorizer.io import read_image

    png = read_image(tmp_path / "png" / "00000.png").to_array(np.uint8).astype(float).mean(2)
    upright = np.rot90(frames[0], 1).astype(float).mean(2)  # 90 degrees counter-clockwise
    for img in (got, png):
        assert img.shape == (64, 48)
        assert np.abs(img - upright).mean() < 6 < np.abs(img - np.rot90(upright, 2)).mean()


def test_frame_folder_numbers_in_natural_order(tmp_path):
    frames = write_folder(tmp_path / "f", moving_frames(12))
    for i, p in enumerate(sorted(frames.iterdir())):
        p.rename(frames / f"{i + 1}.png")  # 1.png ... 12.png, as ffmpeg's %d.png names them
    with FrameReader(frames) as reader:
        assert [f.name for f in reader] == [f"{i}.png" for i in range(1, 13)]


def test_frames_that_would_share_an_output_name_are_refused(tmp_path):
    """f000.png and f000.jpg would both be written as f000.png: one frame silently lost."""
    from PIL import Image

    frames = write_folder(tmp_path / "f", moving_frames(3))
    Image.fromarray(moving_frames(1)[0]).save(frames / "f000.jpg")
    r = CliRunner().invoke(cli, ["video", str(frames), "-o", str(tmp_path / "out"), *GRAY])
    assert r.exit_code == 1 and r.output.count("error:") == 1 and "f000" in r.output, r.output
    assert not (tmp_path / "out").exists()


def test_the_clip_is_the_main_video_stream_not_a_thumbnail(tmp_path):
    """Two video streams, a one-frame 32x32 picture first: the 8-frame clip is colorized."""
    src = tmp_path / "two.mkv"
    out = av.open(str(src), "w")
    thumb = out.add_stream("mpeg4", rate=10)
    thumb.width, thumb.height, thumb.pix_fmt = 32, 32, "yuv420p"
    main = out.add_stream("libx264", rate=10)
    main.width, main.height, main.pix_fmt = 64, 48, "yuv420p"
    mux_frames(out, thumb, [np.zeros((32, 32, 3), np.uint8)])
    mux_frames(out, main, moving_frames(8))
    out.close()
    r = colorize_video(src, tmp_path / "out.mp4", get_colorizer("gray"), size=32, progress=False)
    assert r.frames == 8 and probe(tmp_path / "out.mp4")["size"] == (64, 48)


def test_a_second_run_on_a_folder_of_videos_skips_the_outputs_of_the_first(tmp_path):
    """The outputs land beside the clips; run again, they were colorized too (a_color_color.mp4)."""
    vids = tmp_path / "vids"
    vids.mkdir()
    write_clip(vids / "a.mp4", moving_frames(3), audio=None)
    write_clip(vids / "b_color.mkv", moving_frames(3), audio=None)  # a user's own clip
    runner = CliRunner()
    for _ in range(2):
        assert runner.invoke(cli, ["video", str(vids), *GRAY]).exit_code == 0
    assert {p.name for p in vids.iterdir()} == {"a.mp4", "a_color.mp4", "b_color.mkv", "b_color_color.mkv"}
    assert [j.src.name for j in plan_video_jobs([vids])] == ["a.mp4", "b_color.mkv"]


def test_avi_output_keeps_fps_frame_count_and_duration(tmp_path):
    """AVI has a frame rate, no timestamps: the mp4's 1/10240 time base became a 600 fps clip
    of 600 declared frames."""
    src = write_clip(tmp_path / "a.mp4", moving_frames(10), audio=None)
    out = tmp_path / "out.avi"
    r = CliRunner().invoke(cli, ["video", str(src), "-o", str(out), *GRAY])
    assert r.exit_code == 0, r.output
    a, b = probe(src), probe(out)
    assert b["frames"] == 10 and b["fps"] == a["fps"] == 10
    assert b["duration"] == pytest.approx(a["duration"], rel=0.02)
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 10
        pts = [f.pts for f in c.decode(video=0)]
    assert pts == sorted(pts)  # frames in order: no B-frames, which AVI cannot describe


def test_avi_with_b_frames_and_dropped_frames_as_input(tmp_path):
    """AVIs made elsewhere often have B-frames (decoded timestamps then come out of order) and
    dropped-frame slots (counted in the declared length, no data): both were fatal."""
    src = tmp_path / "old.avi"
    out = av.open(str(src), "w")
    vs = out.add_stream("libx264", rate=10)  # B-frames on, as libx264 makes by default
    vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
    vs.codec_context.time_base = Fraction(1, 10)
    for i, img in enumerate(moving_frames(10)):
        f = av.VideoFrame.from_ndarray(img, format="rgb24")
        f.pts, f.time_base = i + 2 * (i >= 5), Fraction(1, 10)  # two frames dropped after the 5th
        for p in vs.encode(f):
            out.mux(p)
    for p in vs.encode(None):
        out.mux(p)
    out.close()
    r = CliRunner().invoke(cli, ["video", str(src), "-o", str(tmp_path / "out.mp4"), *GRAY])
    assert r.exit_code == 0, r.output
    info = probe(tmp_path / "out.mp4")
    assert info["frames"] == 10 and info["duration"] == pytest.approx(probe(src)["duration"], rel=0.1)


def test_an_encoder_failure_is_one_line_and_the_other_clips_go_on(tmp_path):
    """libx264 takes frames up to 16384 pixels wide: a wider clip (a panorama strip, lossless
    FFV1) fails to encode; it is one error line, and the next clip is still done."""
    wide = tmp_path / "wide.mkv"
    with av.open(str(wide), "w") as out:
        vs = out.add_stream("ffv1", rate=5)
        vs.width, vs.height, vs.pix_fmt = 17000, 2, "yuv444p"
        mux_frames(out, vs, [np.full((2, 17000, 3), 128, np.uint8)])
    clip = write_clip(tmp_path / "a.mp4", moving_frames(3), audio=None)
    r = CliRunner().invoke(cli, ["video", str(wide), str(clip), "--out-dir", str(tmp_path / "o"), *GRAY])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "wide.mkv" in errors[0], r.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.mp4"]


# --- temporal consistency ----------------------------------------------------------------------------


def test_flow_blend_removes_most_flicker():
    frames = moving_frames(20)
    none = run_ab(frames, Flicker(), TemporalConfig("none"))
    flow = run_ab(frames, Flicker(), TemporalConfig("flow"))
    e_none, e_flow = clip_warp_error(frames, none), clip_warp_error(frames, flow)
    assert e_flow < 0.5 * e_none, (e_none, e_flow)
    c_none = metrics.cdc([cv2_rgb(f, ab) for f, ab in zip(frames, none, strict=True)])
    c_flow = metrics.cdc([cv2_rgb(f, ab) for f, ab in zip(frames, flow, strict=True)])
    assert c_flow < c_none


def test_old_film_brightness_flicker_keeps_the_flow_trusted():
    """Old film flickers in brightness from frame to frame; the frames still match along the
    flow once the global change is set aside, so the colours stay steady and no cut is seen."""
    gains = [1.0, 1.18, 0.9, 1.12, 0.95] * 4
    frames = [np.clip(f * g, 0, 255).astype(np.uint8) for f, g in zip(moving_frames(20), gains, strict=True)]
    smoother = TemporalSmoother()
    from colorizer.video import Frame

    feed = (Frame(f, i, "", i) for i, f in enumerate(frames))
    flow = [rgb2lab(rgb)[..., 1:].astype(np.float64)
            for _, rgb in colorize_frames(feed, Flicker(), size=48, smoother=smoother)]
    none = run_ab(frames, Flicker(), TemporalConfig("none"))
    assert smoother.shots == 1
    assert clip_warp_error(frames, flow) < 0.5 * clip_warp_error(frames, none)


def cv2_rgb(frame, ab):
    from colorizer.color import l_ab_to_srgb
    from colorizer.io import Picture

    return l_ab_to_srgb(Picture(frame).lightness(), ab.astype(np.float32), np.uint8)


class Shade(Colorizer):
    """A deterministic stand-in: ab follows L (a = (L - 50) / 2, b = 20), counting its calls."""

    name = "shade"
    preferred_size = 48

    def __init__(self):
        super().__init__()
        self.calls = 0

    def predict_ab(self, L, hints=None):
        self.calls += 1
        return torch.cat([(L - 50) / 2, torch.full_like(L, 20.0)], dim=1)


def test_shot_change_resets_the_state():
    """A cut (the lightness histogram jumps) starts afresh: from the cut on, the output is the
    model's own colours, with nothing carried over from the previous shot."""
    frames = moving_frames(16, cut_at=8)
    smoother = TemporalSmoother()
    from colorizer.video import Frame

    feed = (Frame(f, i, "", i) for i, f in enumerate(frames))
    flow = [rgb2lab(rgb)[..., 1:] for _, rgb in colorize_frames(feed, Shade(), size=48, smoother=smoother)]
    assert smoother.shots == 2
    none = run_ab(frames, Shade(), TemporalConfig("none"))
    for t in range(8, 16):  # the new shot is still: what the model says, unchanged
        assert np.abs(flow[t] - none[t]).max() < 1.0, t


def test_cut_between_lookalike_scenes_is_found_by_the_flow():
    """Two unrelated textures of the same brightness: the histograms hardly differ, but the flow
    finds nothing in common, so the state is dropped all the same."""
    a, b = texture(H, W + 40, 0), texture(H, W + 40, 11)
    frames = [a[:, i:i + W] for i in range(6)] + [b[:, i:i + W] for i in range(6)]
    smoother = TemporalSmoother()
    from colorizer.video import Frame

    feed = (Frame(f, i, "", i) for i, f in enumerate(frames))
    flow = [rgb2lab(rgb)[..., 1:] for _, rgb in colorize_frames(feed, Shade(), size=48, smoother=smoother)]
    assert smoother.shots == 2
    none = run_ab(frames, Shade(), TemporalConfig("none"))
    assert np.abs(flow[6] - none[6]).max() < 1.0


def test_keyframes_call_the_model_on_every_other_frame():
    frames = moving_frames(20)
    every, other = Shade(), Shade()
    run_ab(frames, every, TemporalConfig("flow", keyframe_interval=1))
    out = run_ab(frames, other, TemporalConfig("flow", keyframe_interval=2))
    assert every.calls == 20
    assert 10 <= other.calls <= 12, other.calls
    # the frames in between still carry the colours: the red square keeps its colour
    ref = run_ab(frames, Shade(), TemporalConfig("none"))
    t = 11  # a frame without a prediction
    square = (slice(14, 30), slice(6 + t + 2, 6 + t + 18))
    assert np.abs(out[t][square] - ref[t][square]).mean() < 3.0


def test_cli_temporal_defaults_mirror_the_config():
    """--strength and --keyframe-interval default to TemporalConfig's (for_reference's with a
    reference), and --help says both."""
    from colorizer.video import REFERENCE_KEYFRAMES, REFERENCE_STRENGTH

    params = {p.name: p for p in cli.commands["video"].params}
    for name, plain, with_ref in (("strength", TemporalConfig.strength, REFERENCE_STRENGTH),
                                  ("keyframe_interval", TemporalConfig.keyframe_interval,
                                   REFERENCE_KEYFRAMES)):
        assert f"[default: {plain}; {with_ref} with --reference" in " ".join(params[name].help.split())
    with pytest.raises(ColorizerError):
        TemporalConfig(keyframe_interval=0)


def test_still_clip_keeps_one_colour():
    """(Flicker wobbles by about 8 ab units a frame: under the give-way threshold once averaged.)"""
    frames = [moving_frames(1)[0]] * 12
    flow = run_ab(frames, Flicker(), TemporalConfig("flow", strength=0.9))
    none = run_ab(frames, Flicker(), TemporalConfig("none"))
    spread = lambda abs_: np.std([a.mean((0, 1)) for a in abs_[6:]], axis=0).max()  # noqa: E731
    assert spread(flow) < 0.4 * spread(none)


class ChangesItsMind(Shade):
    """A stand-in model whose first call says green and every later call says brown: the first
    keyframe's guess is wrong and the later ones are right."""

    name = "changes"

    def predict_ab(self, L, hints=None):
        self.calls += 1
        ab = (-40.0, 40.0) if self.calls == 1 else (15.0, 25.0)
        return torch.tensor(ab).view(1, 2, 1, 1).expand(L.shape[0], 2, *L.shape[2:]).contiguous()


def test_later_keyframes_correct_a_wrong_first_guess():
    """The pale dog on brown grass: the first keyframe's green must not stay for the whole clip."""
    frames = moving_frames(24, step=1)
    brown = np.array([15.0, 25.0])

    def last_error(cfg):
        ab = run_ab(frames, ChangesItsMind(), cfg)[-1]
        return float(np.linalg.norm(ab.reshape(-1, 2).mean(0) - brown))

    start = float(np.linalg.norm(np.array([-40.0, 40.0]) - brown))
    gives_way, holds = last_error(TemporalConfig()), last_error(TemporalConfig(give_way=0))
    assert gives_way < 0.15 * start  # 11 more keyframes have pulled it to brown
    assert holds > 0.5 * start  # without giving way, most of the green stays


class FirstGuessOff(Shade):
    """A stand-in model whose first call is 8.6 ab units off what every later call says, as the
    first keyframe of the DAVIS dog clip is off the later ones (chroma 24 against about 15)."""

    name = "first-off"

    def predict_ab(self, L, hints=None):
        self.calls += 1
        ab = (-9.0, 22.0) if self.calls == 1 else (-4.0, 15.0)
        return torch.tensor(ab).view(1, 2, 1, 1).expand(L.shape[0], 2, *L.shape[2:]).contiguous()


def test_a_moderately_wrong_first_guess_fades():
    """A first guess off by less than the model's frame-to-frame wobble still fades over a short
    clip: more than halved after 24 frames, where a threshold of 10 ab units kept most of it."""
    frames = moving_frames(24, step=1)
    later = np.array([-4.0, 15.0])

    def last_error(cfg):
        ab = run_ab(frames, FirstGuessOff(), cfg)[-1]
        return float(np.linalg.norm(ab.reshape(-1, 2).mean(0) - later))

    start = float(np.linalg.norm(np.array([-9.0, 22.0]) - later))
    assert last_error(TemporalConfig()) < 0.5 * start
    assert last_error(TemporalConfig(give_way=10)) > 0.8 * start


# --- frame-tied hints -------------------------------------------------------------------------------


def test_hint_on_frame_0_follows_the_object(tmp_path):
    """A hint on the square at frame 0 still colours the square 20 frames (20 px) later."""
    frames = moving_frames(24, step=1)
    blue = "#2050d0"
    hints = {0: [{"frame": 0, "points": [[12, 18], [20, 26]], "color": blue, "width": 5}]}
    target = rgb2lab(np.array([[[0x20, 0x50, 0xD0]]], np.uint8))[0, 0, 1:]
    model = get_colorizer("gray")
    with_hint = run_ab(frames, model, TemporalConfig("flow"), size=64, hints=hints)
    without = run_ab(frames, model, TemporalConfig("flow"), size=64)
    t = 20
    region = (slice(16, 28), slice(6 + t + 4, 6 + t + 16))  # inside the square at frame t
    err = np.linalg.norm(with_hint[t][region] - target, axis=2).mean()
    err_without = np.linalg.norm(without[t][region] - target, axis=2).mean()
    assert err < 0.25 * err_without, (err, err_without)
    # ... and the background far from it stays uncoloured
    assert np.linalg.norm(with_hint[t][40:, :10], axis=2).mean() < 0.25 * np.linalg.norm(target)


def test_cli_scribbles_and_frame_strokes(tmp_path, clip):
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps({"strokes": [
        {"frame": 0, "points": [[15, 20]], "color": "#2050d0", "width": 6},
        {"frame": 5, "points": [[30, 20]], "color": [200, 30, 30]}]}))
    by_frame = read_frame_strokes(hints)
    assert sorted(by_frame) == [0, 5]
    out = tmp_path / "h.mp4"
    r = CliRunner().invoke(cli, ["video", str(clip), "-o", str(out), "--model", "gray", "-s", str(hints)])
    assert r.exit_code == 0, r.output
    assert probe(out)["frames"] == 20
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"frame": -1, "points": [[1, 1]], "color": "#ffffff"}]))
    with pytest.raises(ColorizerError, match="frame must be"):
        read_frame_strokes(bad)


def test_colorize_video_library_call(tmp_path, clip):
    r = colorize_video(clip, tmp_path / "lib", Flicker(), size=48, progress=False)
    assert r.frames == 20 and r.shots == 1
    assert len(list((tmp_path / "lib").iterdir())) == 20


# --- evaluation ---------------------------------------------------------------------------------------


def test_evaluate_videos_cli(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    write_clip(clips / "a.mp4", moving_frames(8), audio=None)
    write_folder(clips / "b", moving_frames(6))
    out = tmp_path / "rep"
    r = CliRunner().invoke(cli, ["evaluate", "--videos", str(clips), "--models", "gray", "--out", str(out)])
    assert r.exit_code == 0, r.output
    made = {p.name for p in out.iterdir()}
    assert {"videos.md", "videos.json", "per_frame_video.csv", "flicker.png", "strip_a.mp4.png",
            "strip_b.png"} <= made
    summary = json.loads((out / "videos.json").read_text())
    assert set(summary["clips"]) == {"a.mp4", "b"}
    assert set(summary["mean"]) == {"truth", "gray/none", "gray/flow"}
    assert summary["clips"]["b"]["truth"]["auc"] == pytest.approx(100)
    assert summary["clips"]["b"]["gray/none"]["model_frames"] == 6
    assert summary["clips"]["b"]["gray/flow"]["model_frames"] < 6  # keyframes
    against = summary["against_none"]["gray/flow vs gray/none"]
    assert set(against) == {"a.mp4", "b", "mean", "worst"}
    assert set(against["mean"]) == {"warp_error_reduction", "cdc_reduction", "auc_change",
                                    "truth_cdc_reduction", "gray_cdc_reduction"}
    assert against["b"]["gray_cdc_reduction"] == pytest.approx(0)  # gray/none against itself
    from PIL import Image

    with Image.open(out / "strip_a.mp4.png") as im:  # 3 rows (truth, none, flow) of 6 frames
        assert im.width > im.height
    assert "strip_b.png" in (out / "videos.md").read_text()


@pytest.mark.slow
def test_davis_clip_default_model(shared_data, tmp_path):
    from colorizer.evaluate import VideoEvalConfig, evaluate_videos

    clip = shared_data / "video" / "davis" / "blackswan"
    if not clip.is_dir():
        pytest.skip(f"{clip} not found")
    cfg = VideoEvalConfig(videos=str(clip), out=str(tmp_path), max_frames=8)
    s = evaluate_videos(cfg, say=lambda _: None)
    none, flow = s["mean"]["default/none"], s["mean"]["default/flow"]
    assert flow["warp_error"] < none["warp_error"]
    assert flow["cdc"] < none["cdc"]
    assert flow["auc"] > none["auc"] - 0.5


def test_clips_that_would_share_an_output_each_get_their_own(tmp_path):
    """clip.mp4 and clip.MP4 both make out/clip.mp4, as do a/clip.mp4 and b/clip.mp4: the later
    one writes clip_2.mp4 (clip_3.mp4 ...), with one warning line each."""
    for rel in ("clip.mp4", "clip.MP4", "a/clip.mp4"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    said = []
    jobs = plan_video_jobs([tmp_path / "clip.mp4", tmp_path / "clip.MP4", tmp_path / "a" / "clip.mp4"],
                           out_dir=tmp_path / "out", report=said.append)
    assert [j.dst.name for j in jobs] == ["clip.mp4", "clip_2.mp4", "clip_3.mp4"]
    assert len(said) == 2 and all(line.startswith("warning: ") for line in said)
    # beside their clips: reel.mp4 and reel.wmv make reel_color.mp4 and reel_color_2.mp4, which a
    # second run over the folder takes for outputs, not for clips to colour
    reels = tmp_path / "reels"
    reels.mkdir()
    for name in ("reel.mp4", "reel.wmv"):
        (reels / name).write_bytes(b"")
    first = plan_video_jobs([reels], report=said.append)
    assert [j.dst.name for j in first] == ["reel_color.mp4", "reel_color_2.mp4"]
    for job in first:
        job.dst.write_bytes(b"")
    (reels / "other_color_2.mp4").write_bytes(b"")  # no clip "other": an input like any other
    again = plan_video_jobs([reels], report=said.append)
    assert [(j.src.name, j.dst.name) for j in again] == [
        ("other_color_2.mp4", "other_color_2_color.mp4"), ("reel.mp4", "reel_color.mp4"),
        ("reel.wmv", "reel_color_2.mp4")]


@pytest.mark.parametrize(("name", "codec", "fmt", "size"), [
    ("tape.vob", "mpeg2video", "vob", (W, H)), ("cam.mts", "libx264", "mpegts", (W, H)),
    ("old.wmv", "wmv2", "asf", (W, H)), ("web.flv", "flv", "flv", (W, H)),
    ("phone.3gp", "h263", "3gp", (128, 96))])
def test_archive_formats_are_read_and_written_as_mp4(tmp_path, name, codec, fmt, size):
    """Camcorder, DVD, capture and old web formats are found in a folder of clips and coloured;
    their output, a format we do not write, is an .mp4 (it was the input's own extension, which
    failed: "unsupported video output")."""
    folder = tmp_path / "reels"
    folder.mkdir()
    with av.open(str(folder / name), "w", format=fmt) as out:
        vs = out.add_stream(codec, rate=10)
        vs.width, vs.height, vs.pix_fmt = *size, "yuv420p"
        mux_frames(out, vs, [cv2.resize(f, size) for f in moving_frames(6)])  # h263: 128x96 only
    r = CliRunner().invoke(cli, ["video", str(folder), "--out-dir", str(tmp_path / "out"), *GRAY])
    assert r.exit_code == 0, r.output
    out = tmp_path / "out" / (Path(name).stem + ".mp4")
    assert out.exists() and probe(out)["frames"] == 6, r.output
    r = CliRunner().invoke(cli, ["video", str(folder / name), *GRAY])
    assert r.exit_code == 0 and (folder / (Path(name).stem + "_color.mp4")).exists(), r.output


def test_flow_at_a_smaller_size_finds_the_same_shift():
    """A texture moved 3 pixels right: the flow at half size, scaled up, says so too."""
    import cv2

    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur((rng.random((96, 140)) * 255).astype(np.uint8), (0, 0), 2)
    a, b = (np.ascontiguousarray(tex[:, s:s + 128]) for s in (6, 3))  # b: a moved 3 pixels right
    for scale in (1.0, 0.5):
        smoother = TemporalSmoother(TemporalConfig(flow_scale=scale))
        flow = smoother._flow(b, a)  # from b back to a: -3 in x
        inner = flow[16:-16, 16:-16]
        assert abs(float(np.median(inner[..., 0])) + 3) < 0.5 and abs(float(np.median(inner[..., 1]))) < 0.5
    with pytest.raises(ColorizerError, match="flow scale"):
        TemporalConfig(flow_scale=0)


def test_write_behind_writes_in_order_and_raises_what_failed():
    from colorizer.video import Frame, WriteBehind

    written = []
    behind = WriteBehind(lambda frame, rgb: written.append(("frame", frame.index)),
                         lambda packet: written.append(("audio", packet)), size=2)
    for i in range(20):
        behind.frame(Frame(np.zeros((2, 2, 3), np.uint8), i, f"{i}.png", i), None)
        if i % 5 == 0:
            behind.audio(i)
    behind.finish()
    expected = []
    for i in range(20):
        expected.append(("frame", i))
        if i % 5 == 0:
            expected.append(("audio", i))
    assert written == expected

    def fail(frame, rgb):
        raise OSError(28, "No space left on device")

    broken = WriteBehind(fail, size=2)
    with pytest.raises(OSError, match="No space"):
        for i in range(50):
            broken.frame(Frame(np.zeros((2, 2, 3), np.uint8), i, f"{i}.png", i), None)
        broken.finish()
    broken.abort()
