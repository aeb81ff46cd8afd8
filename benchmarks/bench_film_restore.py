"""Film repair (``colorize video --restore``): detection and fill quality per frame, and speed.

    python benchmarks/bench_film_restore.py [--frames 24] [--out bench_film_restore.json]
    python benchmarks/bench_film_restore.py --speed [--speed-frames 48] [--repeat 2]

Quality. The first --frames frames of each DAVIS clip (../shared/data/video/davis/<clip>, 854 x
480, read as 8-bit grey) get synthetic film damage (:func:`colorizer.film_restore.film_defects`,
seeded by the clip's index and --seed): dust, hairs and a rare blotch on each frame, different
on every frame, and one thin vertical scratch down every frame in about the same column. The
clip is repaired with :func:`colorizer.film_restore.restore_frames` (the flow at the default
model's working size, as in ``colorize video``). Per frame:

* precision and recall of the repaired mask against the drawn one, 2-pixel tolerance
  (:func:`colorizer.metrics.mask_precision_recall`);
* PSNR of the damaged frame and of ours against the clean one (grey, data range 255), and the gain;
* ``undamaged``: PSNR of the clean clip's frame after the same repair (how much it is touched).

A frame passes when its gain is at least 6 dB, recall at least 0.8, precision at least 0.6 and its
undamaged copy at least 40 dB. Printed per clip (means, worst frame, frames passing) and over all.

Speed (--speed): the damaged frames of --clip as an 854 x 480 H.264 clip, coloured by
``colorize_video`` with the default model (onnxruntime where it is shipped, as ``colorize video``
runs it), without and with ``restore=True``, in turns (--repeat, best of each), in this process;
the ratio is the cost of ``--restore``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from colorizer.film_restore import film_defects, restore_frames
from colorizer.metrics import mask_precision_recall, psnr_where

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "davis"
CLIPS = ("blackswan", "bmx-trees", "breakdance", "camel", "car-roundabout", "cows")
GAIN, RECALL, PRECISION, UNDAMAGED = 6.0, 0.8, 0.6, 40.0


def grey_frames(folder: Path, n: int) -> list[np.ndarray]:
    import cv2

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))[:n]
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in files]


def clip_quality(clean: list[np.ndarray], seed: int) -> list[dict]:
    damaged, true = film_defects(clean, np.random.default_rng(seed))
    fixed = list(restore_frames(damaged))
    untouched = [g for g, _ in restore_frames(clean)]
    every = np.ones(clean[0].shape, bool)
    rows = []
    for i, (c, d, t, (ours, found), u) in enumerate(zip(clean, damaged, true, fixed, untouched, strict=True)):
        precision, recall = mask_precision_recall(found, t)
        before, after = psnr_where(d, c, every), psnr_where(ours, c, every)
        rows.append({"frame": i, "precision": precision, "recall": recall, "damaged": before, "ours": after,
                     "gain": after - before, "undamaged": min(psnr_where(u, c, every), 99.0),
                     "damage_share": float(t.mean())})
    for r in rows:
        r["passes"] = bool(r["gain"] >= GAIN and r["recall"] >= RECALL and r["precision"] >= PRECISION
                           and r["undamaged"] >= UNDAMAGED)
    return rows


def summary(rows: list[dict]) -> dict:
    keys = ("precision", "recall", "damaged", "ours", "gain", "undamaged")
    out = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    out.update(worst_precision=min(r["precision"] for r in rows), worst_recall=min(r["recall"] for r in rows),
               worst_gain=min(r["gain"] for r in rows), worst_undamaged=min(r["undamaged"] for r in rows),
               passing=sum(r["passes"] for r in rows), frames=len(rows))
    return out


def quality(clips_dir: Path, n: int, seed: int) -> dict:
    result = {}
    for i, clip in enumerate(CLIPS):
        folder = clips_dir / clip
        if not folder.is_dir():
            continue
        rows = clip_quality(grey_frames(folder, n), seed * 1000 + i)
        result[clip] = {"mean": summary(rows), "per_frame": rows}
    every = [r for c in result.values() for r in c["per_frame"]]
    result["all"] = {"mean": summary(every)}
    return result


def speed(clips_dir: Path, clip: str, n: int, repeat: int, seed: int) -> dict:
    import av

    from colorizer import onnx_backend
    from colorizer.registry import get_colorizer
    from colorizer.video import DEFAULT_FPS, colorize_video, video_threads

    clean = grey_frames(clips_dir / clip, n)
    damaged, _ = film_defects(clean, np.random.default_rng(seed))
    threads = video_threads(onnx=True)
    model = onnx_backend.load_for_job("auto", "default", device="cpu", threads=threads)
    kind = f"onnxruntime, {threads} threads"
    if model is None:
        import torch

        threads = video_threads()
        torch.set_num_threads(threads)
        model = get_colorizer("default", device="cpu")
        kind = f"torch, {threads} threads"
    best = {"colorize": float("inf"), "colorize --restore": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "damaged.mp4"
        with av.open(str(src), "w") as out:
            stream = out.add_stream("libx264", rate=DEFAULT_FPS)
            stream.width, stream.height, stream.pix_fmt = damaged[0].shape[1], damaged[0].shape[0], "yuv420p"
            stream.options = {"crf": "18", "preset": "veryfast"}
            for g in damaged:
                frame = av.VideoFrame.from_ndarray(np.repeat(g[..., None], 3, axis=2), format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        colorize_video(src, Path(tmp) / "warm.mp4", model, progress=False, threads=threads, restore=True)
        for _ in range(repeat):  # in turns, so that a busy moment of the machine hits both
            for name, restore in (("colorize", False), ("colorize --restore", True)):
                start = time.perf_counter()
                colorize_video(src, Path(tmp) / "out.mp4", model, progress=False, threads=threads,
                               overwrite=True, restore=restore)
                best[name] = min(best[name], time.perf_counter() - start)
    h, w = damaged[0].shape
    return {"clip": clip, "frames": n, "size": f"{w}x{h}", "model": model.name, "runs": kind,
            "seconds": best, "ms_per_frame": {k: 1000 * v / n for k, v in best.items()},
            "ratio": best["colorize --restore"] / best["colorize"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DAVIS, help="folder of DAVIS clips (frame folders)")
    parser.add_argument("--frames", type=int, default=24, help="frames per clip for the quality figures")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", action="store_true", help="time colorize video with and without --restore")
    parser.add_argument("--no-quality", action="store_true", help="only the speed")
    parser.add_argument("--clip", default="camel", help="clip of the speed run")
    parser.add_argument("--speed-frames", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)

    result = {}
    if not args.no_quality:
        result["quality"] = q = quality(args.clips, args.frames, args.seed)
        print(f"{args.frames} frames per clip, 854x480 grey, one-frame dust + a persistent vertical scratch; "
              f"a frame passes with gain >= {GAIN:g} dB, recall >= {RECALL:g}, precision >= {PRECISION:g}, "
              f"undamaged >= {UNDAMAGED:g} dB")
        print("means over the frames (worst frame):")
        print(f"{'clip':15s} {'precision':>12s} {'recall':>12s} {'PSNR damaged':>13s} {'ours':>6s} "
              f"{'gain':>12s} {'undamaged':>12s} {'passing':>8s}")
        for clip, c in q.items():
            m = c["mean"]
            print(f"{clip:15s} {m['precision']:5.2f} ({m['worst_precision']:.2f}) "
                  f"{m['recall']:5.2f} ({m['worst_recall']:.2f}) {m['damaged']:13.2f} {m['ours']:6.2f} "
                  f"{m['gain']:+5.1f} ({m['worst_gain']:+.1f}) "
                  f"{m['undamaged']:5.1f} ({m['worst_undamaged']:.1f}) {m['passing']:>4d}/{m['frames']}")
    if args.speed:
        result["speed"] = s = speed(args.clips, args.clip, args.speed_frames, args.repeat, args.seed)
        ms = s["ms_per_frame"]
        print(f"speed, {s['frames']} frames of {s['clip']} at {s['size']}, model {s['model']} "
              f"({s['runs']}), decode + encode included: colorize {ms['colorize']:.1f} ms/frame, "
              f"with --restore {ms['colorize --restore']:.1f} ms/frame: x{s['ratio']:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
