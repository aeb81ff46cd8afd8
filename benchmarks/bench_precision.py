"""Accuracy and speed of the int8 default against the float one, both in onnxruntime.

    python benchmarks/bench_precision.py [--images ../shared/data/photos/eval] [--size 256]
                                         [--repeat 20] [--data DATASET ...] [--int8 FILE]
                                         [--clips ../shared/data/video/davis --every 3]

Accuracy: the photos of ``--images`` are read as `colorize evaluate` reads them (resized to
``--size`` squared; greyscale ones not scored), colorized by the shipped float export and by
its int8 twin (``assets/NAME.int8.onnx``, scripts/quantize_model.py), and scored against the
photo with the evaluation's AuC and PSNR (:mod:`colorizer.metrics`); printed: the means and the int8 - float
differences. ``--data`` scores the validation split of prepared datasets instead (``--photos``
of them, spread evenly): the photos to choose quantization settings on, never the eval ones.
``--int8`` compares another int8 file (scripts/quantize_model.py --out) with the float export.
``--clips`` scores video frames instead, per clip: every ``--every``-th frame of each clip (a
folder of frames or a video file), at the working size the video path gives the model (aspect
kept), AuC of the model's ab against the frame's; printed per clip, since a clip's frames share
their content and one clip can lose where photos do not (dark water, say).
Speed: the model alone on one 1x1x256x256 L, float and int8 in the same process,
alternating, best of ``--repeat``, with 1 and 2 onnxruntime threads, and the ratio.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from colorizer import metrics, onnx_backend
from colorizer.color import rgb2lab
from colorizer.evaluate import EvalConfig, _load_photos
from colorizer.io import Picture

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos" / "eval"


def best_ms(fns: list, repeat: int) -> list[float]:
    """Best time of each function, run in turn so that load on the machine hits them alike."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for t, fn in zip(times, fns, strict=True):
            start = time.perf_counter()
            fn()
            t.append(time.perf_counter() - start)
    return [1000 * min(t) for t in times]


def validation_photos(datasets: list[Path], photos: int, size: int) -> list:
    """(name, RGB at ``size`` x ``size``, False, shape) for ``photos`` validation photos spread
    evenly over prepared datasets (their stored 8-bit Lab, as training reads it)."""
    import cv2

    from colorizer.color import lab2rgb_u8, lab8_to_lab

    per = -(-photos // len(datasets))
    out = []
    for d in datasets:
        l8, ab8 = np.load(d / "l.npy", mmap_mode="r"), np.load(d / "ab.npy", mmap_mode="r")
        val = np.flatnonzero(np.load(d / "split.npy") == 1)
        for i in val[np.linspace(0, len(val) - 1, min(per, len(val))).astype(int)]:
            rgb = lab2rgb_u8(lab8_to_lab(np.dstack([l8[i], ab8[i]])))
            rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
            out.append((f"{d.name}[{i}]", rgb, False, rgb.shape[:2]))
    return out


def clip_frames(folder: Path, every: int, net) -> dict[str, list]:
    """{clip: [(L, ab) at ``net``'s working size, ...]} for every ``every``-th frame: L as the
    video path gives it to the model (:func:`colorizer.video.frame_lightness`), the frame's own
    ab area-averaged to the same size."""
    import cv2

    from colorizer.evaluate import find_clips
    from colorizer.video import FrameReader, frame_lightness

    out = {}
    for clip in find_clips(folder):
        frames = []
        with FrameReader(clip) as reader:
            for k, frame in enumerate(reader):
                if k % every:
                    continue
                _, small = frame_lightness(frame.rgb, net)
                ab = cv2.resize(rgb2lab(frame.rgb)[..., 1:], small.shape[::-1], interpolation=cv2.INTER_AREA)
                frames.append((small[None, None].astype(np.float32), ab.astype(np.float32)))
        out[clip.name] = frames
    return out


def compare_on_clips(nets: dict, folder: Path, every: int) -> None:
    clips = clip_frames(folder, every, nets["float"])
    gaps = []
    print(f"AuC on 1 frame in {every} of {len(clips)} clips of {folder}, at the working size:")
    for name, frames in clips.items():
        auc = {k: np.mean([metrics.auc(net.predict_ab(L)[0].transpose(1, 2, 0), ab) for L, ab in frames])
               for k, net in nets.items()}
        gaps.append(auc["int8"] - auc["float"])
        print(f"  {name:16s} {len(frames):3d} frames  float {auc['float']:.2f}  int8 {auc['int8']:.2f}  "
              f"int8 - float {gaps[-1]:+.2f}")
    print(f"  mean int8 - float {np.mean(gaps):+.3f}, worst clip {min(gaps):+.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=EVAL)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--data", type=Path, action="append", help="prepared dataset: score its validation split")
    ap.add_argument("--photos", type=int, default=256, help="validation photos scored with --data")
    ap.add_argument("--int8", type=Path, help="int8 file to compare (default: the shipped one)")
    ap.add_argument("--clips", type=Path, help="folder of clips: score their frames instead of photos")
    ap.add_argument("--every", type=int, default=3, help="with --clips: every Nth frame")
    args = ap.parse_args()
    float_file = onnx_backend.packaged_onnx(onnx_backend.resolve_default("default"))
    int8_file = args.int8 or onnx_backend.int8_path(float_file)
    source = float_file.with_suffix(".safetensors")
    print(f"float: {float_file.name}, int8: {int8_file.name}")
    print("speed, model alone, 1x1x256x256:")
    L = (np.random.default_rng(0).random((1, 1, 256, 256)) * 100).astype(np.float32)
    for threads in (1, 2):
        f = onnx_backend.load(float_file, source=source, threads=threads)
        q = onnx_backend.load(int8_file, source=source, threads=threads)
        tf, tq = best_ms([lambda n=f: n.predict_ab(L), lambda n=q: n.predict_ab(L)], args.repeat)
        print(f"  {threads} thread{'s' if threads > 1 else ''}: float {tf:.1f} ms, int8 {tq:.1f} ms, "
              f"int8 {tf / tq:.2f}x faster")
    if args.skip_accuracy:
        return
    nets = {"float": onnx_backend.load(float_file, source=source),
            "int8": onnx_backend.load(int8_file, source=source)}
    if args.clips:
        compare_on_clips(nets, args.clips, args.every)
        return
    scores = {k: {"auc": [], "psnr": []} for k in nets}
    if args.data:
        photos, where = validation_photos(args.data, args.photos, args.size), "the validation split of " + \
            ", ".join(str(d) for d in args.data)
    else:
        photos = _load_photos(EvalConfig(images=[str(args.images)], size=args.size), print)
        where = args.images
    skipped = sum(is_grey for _, _, is_grey, _ in photos)
    for _, truth, is_grey, _ in photos:
        if is_grey:
            continue
        truth_lab = rgb2lab(truth)
        pic = Picture.from_array(truth)
        for name, net in nets.items():
            pred = onnx_backend.colorize_picture(pic, net).to_array(np.uint8)
            scores[name]["auc"].append(metrics.auc(rgb2lab(pred)[..., 1:], truth_lab[..., 1:]))
            scores[name]["psnr"].append(metrics.psnr(pred, truth))
    n = len(scores["float"]["auc"])
    print(f"accuracy on {n} colour photos of {where} ({skipped} greyscale not scored), at "
          f"{args.size}x{args.size}:")
    for key in ("auc", "psnr"):
        fl, q = np.mean(scores["float"][key]), np.mean(scores["int8"][key])
        print(f"  {key.upper():5s} float {fl:.3f}  int8 {q:.3f}  int8 - float {q - fl:+.3f}")


if __name__ == "__main__":
    main()
