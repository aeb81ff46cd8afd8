"""Does temporal consistency cost accuracy? Per-frame AuC, warp error and CDC of the default
video path, per clip, with the model's colours on every frame (``--temporal none``), with the
default temporal method (the carried colour gives way where the keyframes keep disagreeing
with it), and with ``give_way=0`` (the earlier behaviour, where the first keyframe's colours of
a shot stay for the whole shot).

    python benchmarks/bench_temporal.py [--clips ../shared/data/video/davis] [--max-frames N]

Runs the shipped default as ``colorize video`` does (onnxruntime, int8 where it is there; all
three settings share the model's predictions). Prints one row per clip and the mean, and the
largest AuC loss of each temporal setting against ``none``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from colorizer import onnx_backend
from colorizer.evaluate import find_clips, score_clip
from colorizer.video import TemporalConfig

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "davis"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=Path, default=DAVIS,
                    help="folder of clips (video files or frame folders)")
    ap.add_argument("--max-frames", type=int, default=None, help="score at most N frames a clip")
    ap.add_argument("--only", default="", help="comma-separated clip names (default: all)")
    ap.add_argument("--precision", default="auto", choices=onnx_backend.PRECISIONS)
    args = ap.parse_args(argv)
    model = onnx_backend.load_for_job("auto", "default", precision=args.precision, threads=1)
    if model is None:
        raise SystemExit("error: no ONNX export of the default model in this install")
    runs = {"none": (model, TemporalConfig("none"), None),
            "default": (model, TemporalConfig(), None),
            "never gives way": (model, TemporalConfig(give_way=0), None)}
    keys = ("auc", "warp_error", "cdc")
    table = {}
    print(f"model: {model.path.name}; per clip: AuC / warp error / CDC")
    print("| clip | frames | " + " | ".join(runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    only = {c for c in args.only.split(",") if c}
    for clip in find_clips(args.clips):
        if only and clip.name not in only:
            continue
        _, summary, _ = score_clip(clip, runs, args.max_frames)
        table[clip.name] = {name: {k: summary[name][k] for k in keys} for name in runs}
        cells = [f"{s['auc']:.2f} / {s['warp_error']:.3f} / {s['cdc']:.5f}"
                 for s in table[clip.name].values()]
        print(f"| {clip.name} | {summary['none']['frames']} | " + " | ".join(cells) + " |", flush=True)
    mean = {name: {k: float(np.mean([table[c][name][k] for c in table])) for k in keys} for name in runs}
    print("| mean | | " + " | ".join(f"{s['auc']:.2f} / {s['warp_error']:.3f} / {s['cdc']:.5f}"
                                    for s in mean.values()) + " |")
    for name in list(runs)[1:]:
        gaps = [table[c][name]["auc"] - table[c]["none"]["auc"] for c in table]
        print(f"{name}: AuC against none {np.mean(gaps):+.2f} on average, worst clip {min(gaps):+.2f}; "
              f"warp error {mean[name]['warp_error'] / mean['none']['warp_error']:.2f}x none's")


if __name__ == "__main__":
    main()
