"""``colorize video`` timed from process start (start-up, model load, decode, colorize, encode),
from a file and through pipes, for this checkout and optionally another one, in turns.

    python benchmarks/bench_video_cli.py [--frames 90] [--repeat 2] [--baseline-src /work/main/src]

Writes a 854x480 H.264 clip of ``--frames`` frames once (the DAVIS clip played forth and back
when ../shared/data is there, else bench_video's synthetic texture), then runs, each
``--repeat`` times, taking the best:

* ``colorize video clip.mp4 -o out.mp4`` (a file),
* ``cat clip.mp4 | colorize video - -o out.mp4`` (standard input),
* ``cat clip.mp4 | colorize video - -o - > out.mkv`` (both pipes),

and prints frames per second from process start and the frames in each output. With
``--baseline-src``, the same commands run with that ``src`` folder on PYTHONPATH (another
checkout), interleaved with this one's, and the ratio is printed; a command that checkout
refuses (standard input before it was accepted) is shown as refused.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def _bench_video():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_video", HERE / "bench_video.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_clip(path: Path, n: int, clip: str) -> None:
    """``n`` frames at 854x480: the clip forth and back (or the synthetic texture)."""
    import av

    bench = _bench_video()
    frames = list(bench.source_frames(n, clip))
    cycle = frames + frames[-2:0:-1] if len(frames) > 1 else frames
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=bench.DEFAULT_FPS)
        stream.width, stream.height, stream.pix_fmt = bench.WIDTH, bench.HEIGHT, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for i in range(n):
            for packet in stream.encode(av.VideoFrame.from_ndarray(cycle[i % len(cycle)], format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def count_frames(path: Path) -> int:
    import av

    try:
        with av.open(str(path)) as c:
            return sum(1 for _ in c.decode(video=0))
    except (av.FFmpegError, OSError):
        return 0


def run(src: Path, how: str, clip: Path, out: Path) -> tuple[float, int, bool]:
    """Seconds from process start, frames written, and whether it succeeded."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "colorizer.cli", "video"]
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    with open(clip, "rb") as fin:
        if how == "file":
            p = subprocess.run(cmd + [str(clip), "-o", str(out)], env=env, capture_output=True)
        elif how == "stdin":
            p = subprocess.run(cmd + ["-", "-o", str(out)], env=env, input=fin.read(), capture_output=True)
        else:
            with open(out, "wb") as fout:
                p = subprocess.run(cmd + ["-", "-o", "-"], env=env, input=fin.read(), stdout=fout,
                                   stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    return seconds, count_frames(out) if p.returncode == 0 else 0, p.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--clip", default="blackswan")
    parser.add_argument("--baseline-src", type=Path, help="another checkout's src folder to compare with")
    args = parser.parse_args()
    trees = {"this checkout": SRC}
    if args.baseline_src:
        trees["baseline"] = args.baseline_src.resolve()
    hows = {"file": "clip.mp4 -o out.mp4", "stdin": "- -o out.mp4 (pipe in)", "pipes": "- -o - (pipes)"}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        write_clip(clip, args.frames, args.clip)
        best: dict = {}
        for _ in range(args.repeat):
            for how in hows:
                for name, src in trees.items():
                    out = Path(tmp) / ("out.mkv" if how == "pipes" else "out.mp4")
                    seconds, frames, ok = run(src, how, clip, out)
                    key = (name, how)
                    if ok and (key not in best or seconds < best[key][0]):
                        best[key] = (seconds, frames)
                    best.setdefault(key, (float("nan"), 0))
    print(f"colorize video from process start, {args.frames} frames at 854x480, best of {args.repeat}, "
          f"{os.cpu_count()} CPUs")
    for how, label in hows.items():
        cells = []
        for name in trees:
            seconds, frames = best[(name, how)]
            cells.append(f"{name}: " + ("refused" if frames == 0 else
                                        f"{args.frames / seconds:5.2f} fps ({frames} frames out)"))
        ratio = ""
        if len(trees) == 2 and best[("baseline", how)][1] and best[("this checkout", how)][1]:
            ratio = f"  x{best[('baseline', how)][0] / best[('this checkout', how)][0]:.2f}"
        print(f"  {label:26s} " + "; ".join(cells) + ratio)


if __name__ == "__main__":
    main()
