"""Video colorization speed at 854x480, end to end (decode, model, temporal blend, encode), in one run.

    python benchmarks/bench_video.py [--frames 48] [--model default]

Writes a test clip once (the first frames of ../shared/data/video/davis/<clip> when present,
otherwise a synthetic panning texture), then times ``colorize_video`` to an H.264 mp4 with
``--temporal none`` (the per-frame baseline) and with the default flow blend, and prints frames
per second for each and the ratio to the per-frame baseline. Each setting is run ``--repeat``
times and the best run is kept.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from colorizer.registry import get_colorizer
from colorizer.video import DEFAULT_FPS, FrameReader, TemporalConfig, colorize_video

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "davis"
WIDTH, HEIGHT = 854, 480


def source_frames(n: int, clip: str):
    folder = DAVIS / clip
    if folder.is_dir():
        with FrameReader(folder) as reader:
            for frame in reader:
                if frame.index >= n:
                    return
                if frame.rgb.shape[:2] != (HEIGHT, WIDTH):
                    import cv2

                    yield cv2.resize(frame.rgb, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
                else:
                    yield frame.rgb
        return
    import cv2

    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur((rng.random((HEIGHT, WIDTH + 4 * n, 3)) * 255).astype(np.uint8), (0, 0), 3)
    for i in range(n):
        yield np.ascontiguousarray(texture[:, 4 * i:4 * i + WIDTH])


def write_test_clip(path: Path, n: int, clip: str) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=DEFAULT_FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for rgb in source_frames(n, clip):
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--model", default="default")
    parser.add_argument("--clip", default="blackswan", help="DAVIS clip used when ../shared/data is there")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    model = get_colorizer(args.model, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mp4"
        write_test_clip(src, args.frames, args.clip)
        colorize_video(src, Path(tmp) / "warm.mp4", model, progress=False)  # warm-up: kernels, caches
        results = {}
        for name, cfg in (("per-frame (--temporal none)", TemporalConfig("none")),
                          ("temporal (--temporal flow, default)", TemporalConfig())):
            best = float("inf")
            for k in range(args.repeat):
                start = time.perf_counter()
                r = colorize_video(src, Path(tmp) / f"out{k}.mp4", model, temporal=cfg, overwrite=True,
                                   progress=False)
                best = min(best, time.perf_counter() - start)
            results[name] = r.frames / best
    base = next(iter(results.values()))
    print(f"{args.frames} frames at {WIDTH}x{HEIGHT}, model {model.name}, decode + encode included")
    for name, fps in results.items():
        print(f"  {name:38s} {fps:6.2f} fps   x{fps / base:.2f} vs per-frame")


if __name__ == "__main__":
    main()
