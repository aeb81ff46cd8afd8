"""Video colorization speed at 854x480 or --size, end to end (decode, model, flow, encode), in one run.

    python benchmarks/bench_video.py [--frames 48] [--model default] [--threads N] [--backend auto]
                                     [--size 1920x1080]

Writes a test clip once (the first frames of ../shared/data/video/davis/<clip> when present,
otherwise a synthetic panning texture; resized to ``--size`` when it differs), then times
``colorize_video`` to an H.264 mp4 with ``--temporal none`` (the per-frame baseline), with the
default temporal method, and with the default but decoding and encoding in the calling thread
(``threaded=False``, as before they had threads of their own), and prints frames per second for
each and the ratio to the per-frame baseline. Each setting is run ``--repeat`` times and the best
run is kept. Then it times each stage of the default pipeline
alone over the same frames (decode, lightness, model, flow and blend, join to RGB, encode), in
milliseconds per frame, with how many frames the model coloured. ``--backend`` chooses what
runs the model as ``colorize video --backend`` does (auto: onnxruntime for the shipped default).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from colorizer import onnx_backend
from colorizer.registry import get_colorizer
from colorizer.video import (
    DEFAULT_FPS,
    FrameReader,
    TemporalConfig,
    TemporalSmoother,
    VideoWriter,
    colorize_video,
    frame_lightness,
    join_frame,
    predict_ab,
    video_threads,
)

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "davis"
WIDTH, HEIGHT = 854, 480


def source_frames(n: int, clip: str, size: tuple[int, int] = (WIDTH, HEIGHT)):
    width, height = size
    folder = DAVIS / clip
    if folder.is_dir():
        with FrameReader(folder) as reader:
            for frame in reader:
                if frame.index >= n:
                    return
                if frame.rgb.shape[:2] != (height, width):
                    import cv2

                    yield cv2.resize(frame.rgb, (width, height), interpolation=cv2.INTER_AREA)
                else:
                    yield frame.rgb
        return
    import cv2

    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur((rng.random((height, width + 4 * n, 3)) * 255).astype(np.uint8), (0, 0), 3)
    for i in range(n):
        yield np.ascontiguousarray(texture[:, 4 * i:4 * i + width])


def write_test_clip(path: Path, n: int, clip: str, size: tuple[int, int] = (WIDTH, HEIGHT)) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=DEFAULT_FPS)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for rgb in source_frames(n, clip, size):
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def stage_times(src: Path, dst: Path, model) -> tuple[dict, int, int]:
    """Milliseconds per frame of each stage of the default pipeline, run one after another on
    the frames of ``src`` (what ``colorize_video`` does, with a clock around each step)."""
    totals = dict.fromkeys(("decode", "lightness", "model", "flow + blend", "join to RGB", "encode"), 0.0)
    smoother = TemporalSmoother(TemporalConfig())
    n = 0
    with FrameReader(src) as reader:
        writer = VideoWriter(dst, "mp4", reader)
        frames = iter(reader)
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            t1 = time.perf_counter()
            totals["decode"] += t1 - t0
            if frame is None:
                break
            L, small_L = frame_lightness(frame.rgb, model)
            t2 = time.perf_counter()
            need = smoother.needs_prediction(small_L)
            t3 = time.perf_counter()
            ab = predict_ab(L, model) if need else None
            t4 = time.perf_counter()
            out = smoother.step(small_L, ab)
            t5 = time.perf_counter()
            rgb = join_frame(L, out, model)
            t6 = time.perf_counter()
            writer.write(rgb, frame.pts)
            t7 = time.perf_counter()
            for key, dt in zip(list(totals)[1:], (t2 - t1, t4 - t3, (t3 - t2) + (t5 - t4), t6 - t5, t7 - t6),
                               strict=True):
                totals[key] += dt
            n += 1
        t0 = time.perf_counter()
        writer.close()
        totals["encode"] += time.perf_counter() - t0
    return {k: 1000 * v / n for k, v in totals.items()}, n, smoother.predictions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--model", default="default")
    parser.add_argument("--clip", default="blackswan", help="DAVIS clip used when ../shared/data is there")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int,
                        help="threads for the model (default: colorize video's, video_threads())")
    parser.add_argument("--backend", default="auto", choices=("auto", "onnx", "torch"),
                        help="what runs the model, as for colorize video (default: auto)")
    parser.add_argument("--size", default=f"{WIDTH}x{HEIGHT}", help="frame size WxH (default 854x480)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    threads = args.threads or video_threads(onnx=True)
    model = onnx_backend.load_for_job(args.backend, args.model, device="cpu", threads=threads)
    kind = f"onnxruntime, {threads} threads"
    if model is None:
        import torch

        threads = args.threads or video_threads()
        torch.set_num_threads(threads)
        model = get_colorizer(args.model, device="cpu")
        kind = f"torch, {threads} threads"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mp4"
        write_test_clip(src, args.frames, args.clip, size)
        colorize_video(src, Path(tmp) / "warm.mp4", model, progress=False, threads=threads)  # warm-up
        results = {}
        settings = [("per-frame (--temporal none)", TemporalConfig("none"), True),
                    ("temporal (--temporal flow, default)", TemporalConfig(), True),
                    ("default, decode/encode in this thread", TemporalConfig(), False)]
        best = {name: float("inf") for name, _, _ in settings}
        for k in range(args.repeat):  # interleaved, so that a busy moment of the machine hits all
            for name, cfg, threaded in settings:
                start = time.perf_counter()
                r = colorize_video(src, Path(tmp) / f"out{k}.mp4", model, temporal=cfg, overwrite=True,
                                   progress=False, threads=threads, threaded=threaded)
                best[name] = min(best[name], time.perf_counter() - start)
                results[name] = r.frames / best[name]
        stages, n, predicted = stage_times(src, Path(tmp) / "stages.mp4", model)

    base = next(iter(results.values()))
    print(f"{args.frames} frames at {size[0]}x{size[1]}, model {model.name}, decode + encode included, "
          f"{kind}, {os.cpu_count()} CPUs")
    for name, fps in results.items():
        print(f"  {name:38s} {fps:6.2f} fps   x{fps / base:.2f} vs per-frame")
    print(f"default pipeline by stage, ms per frame (model on {predicted} of {n} frames):")
    for name, ms in stages.items():
        print(f"  {name:14s} {ms:7.1f}")
    print(f"  {'total':14s} {sum(stages.values()):7.1f}  ({1000 / sum(stages.values()):.2f} fps)")


if __name__ == "__main__":
    main()
