"""The temporal method with its optical flow computed at a smaller size: warp error, CDC and
per-frame AuC on the DAVIS clips, and the time of the flow step, against the flow at the
working size and against per-frame colorization.

    python benchmarks/bench_flow_scale.py [--scales 1,0.5] [--max-frames N]

Each clip is coloured once per run in step (``colorizer.evaluate.score_clip``: the runs share
the model's predictions), so the differences are the flow's alone. Per clip and on average it
prints each run's warp error, CDC x1000, AuC (%), and the ms per frame of the temporal step
(``TemporalSmoother.needs_prediction`` and ``step``: flow, checks and blend).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from colorizer import onnx_backend
from colorizer.evaluate import find_clips, score_clip
from colorizer.video import TemporalConfig, TemporalSmoother, video_threads

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "davis"


def step_ms(clip: Path, model, cfg: TemporalConfig, max_frames: int | None) -> float:
    """ms per frame of the temporal step alone (the model's colours replaced by zeros)."""
    from colorizer.video import FrameReader, frame_lightness

    with FrameReader(clip) as reader:
        small = [frame_lightness(f.rgb, model)[1] for f in reader
                 if max_frames is None or f.index < max_frames]
    smoother = TemporalSmoother(cfg)
    start = time.perf_counter()
    for L in small:
        need = smoother.needs_prediction(L)
        smoother.step(L, np.zeros((*L.shape, 2), np.float32) if need else None)
    return 1000 * (time.perf_counter() - start) / len(small)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, default=DAVIS)
    parser.add_argument("--scales", default="1,0.5")
    parser.add_argument("--max-frames", type=int)
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(1)
    model = onnx_backend.load_for_job("auto", "default", device="cpu", threads=video_threads(onnx=True))
    scales = [float(s) for s in args.scales.split(",")]
    runs = {"none": (model, TemporalConfig("none"), None)}
    runs.update({f"flow x{s:g}": (model, TemporalConfig(flow_scale=s), None) for s in scales})
    table = {name: [] for name in runs}
    print(f"{'clip':16s} " + " | ".join(f"{n}: warp, cdc, auc, ms" for n in runs))
    for clip in find_clips(args.videos):
        _, summary, _ = score_clip(clip, runs, args.max_frames)
        cells = []
        for name, (_, cfg, _) in runs.items():
            ms = step_ms(clip, model, cfg, args.max_frames) if cfg.method == "flow" else float("nan")
            s = summary[name]
            table[name].append((s["warp_error"], 1000 * s["cdc"], s["auc"], ms))
            cells.append(f"{s['warp_error']:.3f} {1000 * s['cdc']:.3f} {s['auc']:.2f} {ms:5.1f}")
        print(f"{clip.name:16s} " + " | ".join(cells), flush=True)
    with warnings.catch_warnings():  # per-frame colorization has no flow step: its ms stay nan
        warnings.simplefilter("ignore", RuntimeWarning)
        means = [" ".join(f"{v:.3f}" for v in np.nanmean(np.array(rows), 0)) for rows in table.values()]
    print(f"{'mean':16s} " + " | ".join(means))


if __name__ == "__main__":
    main()
