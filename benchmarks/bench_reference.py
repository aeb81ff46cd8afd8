"""Colour from a reference photo (`colorize image --reference`): accuracy, a wrong reference, video, speed.

    python benchmarks/bench_reference.py                 # (a) + (b) + (d) at frame 30
    python benchmarks/bench_reference.py --frame 20      # tune on other frames, never on 30
    python benchmarks/bench_reference.py --video         # (c) reference video on the whole clips
    python benchmarks/bench_reference.py --speed         # (d) alone

(a) On each DAVIS clip in ../shared/data/video/davis, frame 0 in colour is the reference and frame
    ``--frame`` in grey is the photo. Mean AuC and CIEDE2000 against the true frame of: the
    automatic default, frame 0's ab copied pixel for pixel, the reference's mean colour
    everywhere, and the reference matched by content (``colorizer.api.colorize_with_reference``).
(b) A wrong reference: the next clip's frame 0 (another scene) for each clip.
(c) ``--video``: every frame of each clip coloured by ``colorize_frames`` with and without
    the reference (frame 0); per-frame AuC over the clip and warp error (``colorizer.evaluate``).
(d) Speed: one 854x480 photo with one reference against the plain default, timed in the same
    process with one torch thread (best of ``--repeat``).
``--set name=value`` overrides a :class:`colorizer.reference.ReferenceConfig` setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

# one BLAS thread, like the one torch thread, so that speed ratios are not at the mercy of how many
# cores a loaded machine lends (set before numpy and scipy load their BLAS)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from colorizer import metrics  # noqa: E402
from colorizer.color import rgb2lab  # noqa: E402
from colorizer.io import Picture, read_image  # noqa: E402

DAVIS = ROOT.parent / "shared" / "data" / "video" / "davis"


def scores(rgb: np.ndarray, truth_lab: np.ndarray) -> tuple[float, float]:
    lab = rgb2lab(rgb).astype(np.float64)
    return metrics.auc(lab[..., 1:], truth_lab[..., 1:]), metrics.ciede2000(lab, truth_lab)


def with_ab(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    from colorizer.color import l_ab_to_srgb

    return l_ab_to_srgb(L, np.ascontiguousarray(ab, np.float32), np.uint8)


def config_from(pairs: list[str]):
    from colorizer.reference import ReferenceConfig

    cfg = ReferenceConfig()
    for pair in pairs:
        key, value = pair.split("=", 1)
        field = {f.name: f for f in dataclasses.fields(cfg)}[key]
        setattr(cfg, key, type(getattr(cfg, field.name))(value))
    return cfg


def photo_table(clips, net, cfg, frame: int, say) -> dict:
    from colorizer.api import colorize_picture, colorize_with_reference, prepare_reference

    rows = {name: [] for name in ("default", "copy ab", "mean colour", "reference", "wrong reference")}
    used_share = {"reference": [], "wrong reference": []}
    for i, clip in enumerate(clips):
        ref = read_image(clip / "00000.jpg")
        truth = read_image(clip / f"{frame:05d}.jpg")
        truth_lab = rgb2lab(truth.pixels).astype(np.float64)
        L = truth.lightness()
        grey = Picture(truth.pixels, name=truth.name)
        ref_lab = rgb2lab(ref.pixels)
        rows["default"].append(scores(colorize_picture(grey, net).pixels, truth_lab))
        rows["copy ab"].append(scores(with_ab(L, ref_lab[..., 1:]), truth_lab))
        rows["mean colour"].append(scores(with_ab(L, np.broadcast_to(ref_lab[..., 1:].mean((0, 1)),
                                                                     ref_lab[..., 1:].shape)), truth_lab))
        out, used = colorize_with_reference(grey, net, prepare_reference(ref, net, cfg))
        rows["reference"].append(scores(out.pixels, truth_lab))
        used_share["reference"].append(float((used > 0.25).mean()))
        wrong = read_image(clips[(i + 1) % len(clips)] / "00000.jpg")
        out, used = colorize_with_reference(grey, net, prepare_reference(wrong, net, cfg))
        rows["wrong reference"].append(scores(out.pixels, truth_lab))
        used_share["wrong reference"].append(float((used > 0.25).mean()))
        say(f"{clip.name:16s} " + "  ".join(f"{k}: {v[-1][0]:.2f}/{v[-1][1]:.2f}" for k, v in rows.items())
            + f"  used {used_share['reference'][-1]:.2f}/{used_share['wrong reference'][-1]:.2f}")
    return {k: np.mean(v, 0) for k, v in rows.items()}, {k: np.mean(v) for k, v in used_share.items()}


def speed(net, cfg, repeat: int, say) -> None:
    import torch

    from colorizer.api import colorize_picture, colorize_with_reference, prepare_reference

    torch.set_num_threads(1)
    clip = sorted(p for p in DAVIS.iterdir() if p.is_dir())[0]
    ref_path, photo = clip / "00000.jpg", read_image(clip / "00030.jpg")
    grey = Picture(photo.pixels, name=photo.name)

    def plain():
        colorize_picture(grey, net)

    def with_reference():
        colorize_with_reference(grey, net, prepare_reference(ref_path, net, cfg))

    for fn in (plain, with_reference):  # warm up
        fn()
    times = {}
    for fn in (plain, with_reference):
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        times[fn.__name__] = best
    say(f"\n(d) speed, 854x480 photo, 1 torch thread, best of {repeat} (machine shared, loaded):")
    say(f"  default alone           {times['plain']:.3f} s")
    ratio = times["with_reference"] / times["plain"]
    say(f"  with one reference      {times['with_reference']:.3f} s  (x{ratio:.2f}"
        " of the default; reading and describing the reference included)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frame", type=int, default=30)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--speed", action="store_true", help="only (d), the speed")
    parser.add_argument("--video", action="store_true")
    parser.add_argument("--max-frames", type=int)
    parser.add_argument("--temporal", action="append", default=[], metavar="NAME=VALUE",
                        help="a TemporalConfig setting for the video with the reference")
    parser.add_argument("--clips", help="comma-separated clip names (default: all)")
    parser.add_argument("--davis", type=Path, default=DAVIS, help="folder of DAVIS clips")
    args = parser.parse_args(argv)
    globals()["DAVIS"] = davis = args.davis
    if not davis.is_dir():
        print(f"{davis} not found; give --davis FOLDER", file=sys.stderr)
        return 1
    import torch

    from colorizer.registry import get_colorizer

    torch.set_num_threads(1)
    net = get_colorizer("default", device="cpu")
    cfg = config_from(args.set)
    clips = sorted(p for p in davis.iterdir() if p.is_dir())
    if args.clips:
        clips = [c for c in clips if c.name in args.clips.split(",")]
    if args.speed:
        speed(net, cfg, args.repeat, print)
        return 0
    if args.video:
        from colorizer.video import TemporalConfig

        temporal = TemporalConfig.for_reference()  # as colorize video --reference
        for pair in args.temporal:
            key, value = pair.split("=", 1)
            setattr(temporal, key, type(getattr(temporal, key))(value))
        video_table(clips, net, cfg, args.max_frames, print, temporal)
        return 0
    means, used = photo_table(clips, net, cfg, args.frame, print)
    print(f"\n(a, b) frame 0 in colour as the reference, frame {args.frame} in grey, mean over "
          f"{len(clips)} DAVIS clips (854x480):")
    print("| method | AuC | CIEDE2000 | AuC vs default | CIEDE2000 vs default |")
    print("|---|---|---|---|---|")
    for name, (a, c) in means.items():
        print(f"| {name} | {a:.2f} | {c:.2f} | {a - means['default'][0]:+.2f} | "
              f"{c - means['default'][1]:+.2f} |")
    print(f"share of the photo coloured from the reference: right {used['reference']:.2f}, "
          f"wrong {used['wrong reference']:.2f}")
    if not args.no_speed:
        speed(net, cfg, args.repeat, print)
    return 0


def video_table(clips, net, cfg, max_frames, say, temporal=None) -> None:
    """(c) Each clip coloured with and without frame 0 as the reference (the default temporal
    settings): per-frame AuC against the true frames, and warp error along the true frames' flow
    (:func:`colorizer.metrics.warp_error`, as ``colorize evaluate --videos``)."""
    from colorizer.api import prepare_reference
    from colorizer.video import FrameReader, colorize_frames, ground_truth_flow

    totals = {"automatic": [], "reference": [], "truth": []}
    say("| clip | frames | AuC automatic | AuC reference | warp automatic | warp reference | "
        "warp of the true colours |")
    say("|---|---|---|---|---|---|---|")
    for clip in clips:
        ref = prepare_reference(read_image(clip / "00000.jpg"), net, cfg)
        with FrameReader(clip) as a, FrameReader(clip) as b, FrameReader(clip) as c:
            runs = zip(c, colorize_frames(a, net),
                       colorize_frames(b, net, reference=ref, temporal=temporal), strict=False)
            aucs = {k: [] for k in totals}
            warps = {k: [] for k in totals}
            prev_truth, prev = None, {}
            for n, (truth, (_, auto), (_, with_ref)) in enumerate(runs):
                if max_frames is not None and n >= max_frames:
                    break
                truth_ab = rgb2lab(truth.rgb)[..., 1:].astype(np.float64)
                flow = ground_truth_flow(prev_truth, truth.rgb) if prev_truth is not None else None
                for name, rgb in (("automatic", auto), ("reference", with_ref), ("truth", truth.rgb)):
                    ab = rgb2lab(rgb)[..., 1:].astype(np.float64)
                    aucs[name].append(metrics.auc(ab, truth_ab))
                    if flow is not None:
                        warps[name].append(metrics.warp_error(prev[name], ab, flow[0], flow[1]))
                    prev[name] = ab
                prev_truth = truth.rgb
        row = {k: (float(np.mean(aucs[k])), float(np.nanmean(warps[k]))) for k in totals}
        for k in totals:
            totals[k].append(row[k])
        say(f"| {clip.name} | {len(aucs['automatic'])} | {row['automatic'][0]:.2f} | "
            f"{row['reference'][0]:.2f} | {row['automatic'][1]:.3f} | {row['reference'][1]:.3f} | "
            f"{row['truth'][1]:.3f} |")
    mean = {k: np.mean(v, 0) for k, v in totals.items()}
    say(f"| mean | | {mean['automatic'][0]:.2f} | {mean['reference'][0]:.2f} | "
        f"{mean['automatic'][1]:.3f} | {mean['reference'][1]:.3f} | {mean['truth'][1]:.3f} |")
    say(f"(c) reference video: per-frame AuC {mean['reference'][0] - mean['automatic'][0]:+.2f} over the "
        f"automatic video, warp error {mean['reference'][1] - mean['automatic'][1]:+.3f}")


if __name__ == "__main__":
    sys.exit(main())
