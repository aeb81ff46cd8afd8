"""Colour hints the standard way (Zhang et al. 2017): true colours revealed at N random points.

    python benchmarks/bench_hints.py                      # eval photos, N = 0 1 5 10 50
    python benchmarks/bench_hints.py --tune               # choose fill_hints' settings on train photos
    python benchmarks/bench_hints.py --speed              # seconds on an 854x480 photo

For every colour photo (greyscale ones are left out), N random dots (5 px across, each the
photo's mean colour under it; the first N of one seeded list, so the 5 dots include the 1 and the
10 include the 5) are given as hints to three methods, and PSNR (dB, uint8 RGB, against the
photo) is measured at full resolution (or at ``--size``):

* ``levin``: pure Levin et al. 2004 from the dots alone (no dot: grey);
* ``model``: the model alone (``--model``, default ``default``), which ignores the dots;
* ``model+hints``: the model's colours corrected by the dots with :func:`colorizer.levin.fill_hints`,
  exactly as ``colorize scribble --model`` and ``colorizer.colorize(hints=...)`` do; a model that
  takes hints itself (``uses_hints``) sees the dots first, and ``model(dots)`` is its own answer
  before the fill.

It prints the mean PSNR table, the mean gain over N = 0 of each method and the smallest
per-photo gain, and writes one CSV row per photo, method and N (``--csv``).

``--tune`` runs the model+hints method with several fill_hints settings (``--settings``) on
a seeded sample of training photos (never the eval photos) and prints, per setting, the mean gain
at each N and the smallest per-photo gain at 10 dots.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch
from timing import best_seconds

from colorizer import levin
from colorizer.api import model_ab
from colorizer.batch import find_images
from colorizer.color import l_ab_to_srgb, rgb2lab
from colorizer.io import read_image
from colorizer.metrics import psnr
from colorizer.registry import get_colorizer

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos"
METHODS = ("levin", "model", "model+hints")
DOT = 5  # dot diameter in pixels


def dot_offsets(diameter: int = DOT) -> np.ndarray:
    """(dy, dx) of the pixels of a round dot ``diameter`` pixels across."""
    r = diameter // 2
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    keep = yy**2 + xx**2 <= r * r + r  # 5 px: the 5x5 square without its corners
    return np.stack([yy[keep], xx[keep]], 1)


def dots(lab: np.ndarray, n: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """n random dots inside the photo: (pixel rows and columns, mean true ab under the dot)."""
    h, w = lab.shape[:2]
    r = DOT // 2
    off = dot_offsets()
    out = []
    for y, x in zip(rng.integers(r, h - r, n), rng.integers(r, w - r, n), strict=True):
        ys, xs = y + off[:, 0], x + off[:, 1]
        out.append(((ys, xs), lab[ys, xs, 1:].mean(0)))
    return out


def hints_from(dot_list, shape) -> tuple[np.ndarray, np.ndarray]:
    hint = np.zeros((*shape, 2), np.float32)
    mask = np.zeros(shape, bool)
    for (ys, xs), ab in dot_list:
        hint[ys, xs] = ab
        mask[ys, xs] = True
    return hint, mask


def load(files, size: int | None):
    """(file, uint8 RGB) of each colour photo; greyscale ones (``man`` and ``bridge`` of Set14)
    are left out, as in ``colorize evaluate``: their dots carry no colour."""
    import cv2

    from colorizer.data import greyscale_chroma

    for f in files:
        rgb = read_image(f).to_array(np.uint8)[..., :3]
        if greyscale_chroma(rgb) < 3.0:
            print(f"\nleft out (greyscale): {f}")
            continue
        if size:
            rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
        yield f, rgb


def run_photo(rgb, model, points, seed, index, fill_kwargs_list):
    """PSNR of each method (and of model+hints for each fill setting) at each N, for one photo."""
    from colorizer.api import _as_hints

    lab = rgb2lab(rgb).astype(np.float32)
    L = lab[..., 0]
    ab_model = model_ab(L, model)
    rng = np.random.default_rng([seed, index])
    all_dots = dots(lab, max(points), rng)
    model_psnr = psnr(l_ab_to_srgb(L, ab_model, np.uint8), rgb)
    rows = []
    for n in points:
        hint, mask = hints_from(all_dots[:n], L.shape)
        row = {"n": n, "model": model_psnr}
        ab_levin = levin.colorize(L, hint, mask) if n else np.zeros_like(ab_model)
        row["levin"] = psnr(l_ab_to_srgb(L, ab_levin, np.uint8), rgb)
        prior = ab_model
        if model.uses_hints:
            if n:
                prior = model_ab(L, model, None, _as_hints((hint, mask), *L.shape))
            row["model(dots)"] = psnr(l_ab_to_srgb(L, prior, np.uint8), rgb)
        for k, kw in enumerate(fill_kwargs_list):
            ab = levin.fill_hints(L, prior, hint, mask, **kw)
            row[f"fill{k}"] = psnr(l_ab_to_srgb(L, ab, np.uint8), rgb)
        rows.append(row)
    return rows


def summarise(per_photo: list[list[dict]], points, keys) -> dict:
    """{key: (mean PSNR per N, mean gain per N, min gain per N)}."""
    out = {}
    for key in keys:
        table = np.array([[r[key] for r in rows] for rows in per_photo])  # photos x N
        gains = table - table[:, [0]]
        out[key] = (table.mean(0), gains.mean(0), gains.min(0))
    return out


def gain_row(label: str, mean, low) -> str:
    """One table row: the label, then "mean/smallest" gain in dB at each N."""
    return f"{label:<14}" + "".join(f"{m:+.2f}/{lo:+.2f}  " for m, lo in zip(mean, low, strict=True))


def photo_files(folder: Path, limit: int | None, seed: int) -> list[Path]:
    files = sorted(find_images(folder))
    if limit and len(files) > limit:
        rng = np.random.default_rng(seed)
        files = sorted(rng.choice(np.array(files, dtype=object), limit, replace=False).tolist())
    return files


def speed(frame: Path | None, model, repeat: int = 3) -> None:
    """Seconds for fill_hints on an 854x480 photo with 10 dots, against pure Levin (the baseline,
    same dots) and the model's own prediction, best of ``repeat``."""
    import cv2

    if frame is not None and frame.is_file():
        rgb = read_image(frame).to_array(np.uint8)[..., :3]
    else:
        rgb = np.asarray(np.random.default_rng(0).integers(0, 256, (48, 86, 3)), np.uint8)
    rgb = cv2.resize(rgb, (854, 480), interpolation=cv2.INTER_LINEAR)
    lab = rgb2lab(rgb).astype(np.float32)
    L = lab[..., 0]
    hint, mask = hints_from(dots(lab, 10, np.random.default_rng(0)), L.shape)
    ab_model = model_ab(L, model)

    t_model = best_seconds(lambda: model_ab(L, model), repeat)
    t_levin = best_seconds(lambda: levin.colorize(L, hint, mask), repeat)
    t_fill = best_seconds(lambda: levin.fill_hints(L, ab_model, hint, mask), repeat)
    print(f"854x480, 10 dots, best of {repeat} (1 thread): model {t_model:.2f} s, pure Levin "
          f"{t_levin:.2f} s, fill_hints {t_fill:.2f} s (fill_hints / pure Levin = {t_fill / t_levin:.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, help="folder of colour photos (default: shared eval "
                    "photos; with --tune, shared train photos)")
    ap.add_argument("--points", type=int, nargs="+", default=[0, 1, 5, 10, 50])
    ap.add_argument("--model", default="default")
    ap.add_argument("--weights", help="weights file for --model (default: the shipped ones)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, help="resize photos to SIZE x SIZE first (default: full size)")
    ap.add_argument("--limit", type=int, help="at most this many photos (a seeded sample)")
    ap.add_argument("--csv", type=Path, help="write per-photo rows here")
    ap.add_argument("--tune", action="store_true", help="grid over fill_hints settings (train photos)")
    ap.add_argument("--settings", nargs="+", default=["1e-5:2:1:5", "1e-5:2:1:inf", "1e-4:2:1:5"],
                    help="with --tune: fill_hints settings, each "
                    "PRIOR_WEIGHT:EDGE_SHARPNESS:FLAT_SIGMA:CONTRAST_SIGMA (inf: none)")
    ap.add_argument("--speed", action="store_true", help="time fill_hints on an 854x480 photo and stop")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.speed:
        davis = SHARED.parent / "video" / "davis"
        frames = sorted(davis.glob("*/00000.jpg")) if davis.is_dir() else []
        speed(frames[0] if frames else args.photos, get_colorizer(args.model, device="cpu"))
        return
    if 0 not in args.points:
        args.points = [0, *args.points]
    folder = args.photos or SHARED / ("train" if args.tune else "eval")
    if not folder.is_dir():
        raise SystemExit(f"{folder}: no such folder (give --photos)")
    files = photo_files(folder, args.limit if not args.tune or args.limit else 60, args.seed)
    settings = ([{}] if not args.tune else
                [dict(zip(("prior_weight", "edge_sharpness", "flat_sigma", "contrast_sigma"),
                          map(float, t.split(":")), strict=True)) for t in args.settings])
    model = get_colorizer(args.model, weights=args.weights, device="cpu")
    per_photo, names = [], []
    t0 = time.perf_counter()
    for i, (f, rgb) in enumerate(load(files, args.size)):
        per_photo.append(run_photo(rgb, model, args.points, args.seed, i, settings))
        names.append(str(f))
        print(f"\r{i + 1}/{len(files)} photos, {time.perf_counter() - t0:.0f} s", end="", flush=True)
    print()
    keys = ["levin", "model", *(["model(dots)"] if model.uses_hints else []),
            *[f"fill{k}" for k in range(len(settings))]]
    summary = summarise(per_photo, args.points, keys)
    print(f"{len(per_photo)} photos from {folder}, model {args.model!r}, seed {args.seed}, "
          f"{'full size' if not args.size else f'{args.size}x{args.size}'}")
    if args.tune:
        print("prior_weight sharpness flat_sigma contrast_sigma | mean gain over N=0 (dB) at N="
              + " ".join(map(str, args.points[1:])) + " | min gain at 10")
        ten = args.points.index(10) if 10 in args.points else -1
        for k, kw in enumerate(settings):
            _, gain, low = summary[f"fill{k}"]
            print(f"{kw['prior_weight']:<12g} {kw['edge_sharpness']:<9g} {kw['flat_sigma']:<10g} "
                  f"{kw['contrast_sigma']:<14g} | "
                  + " ".join(f"{g:+.2f}" for g in gain[1:]) + f" | {low[ten]:+.2f}")
        _, gain, low = summary["levin"]
        print("pure levin (gain over the model alone): "
              + " ".join(f"{m - summary['model'][0][0]:+.2f}" for m in summary["levin"][0][1:]))
    else:
        label = {"levin": "levin", "model": "model", "model(dots)": "model(dots)", "fill0": "model+hints"}
        print("method        " + "".join(f"N={n:<7d}" for n in args.points))
        for key in keys:
            mean, _, _ = summary[key]
            print(f"{label[key]:<14}" + "".join(f"{m:<9.2f}" for m in mean))
        print("gain over the model alone (mean / smallest per photo), dB:")
        base = np.array([[r["model"] for r in rows] for rows in per_photo])
        for key in [k for k in ("levin", "model(dots)", "fill0") if k in keys]:
            g = np.array([[r[key] for r in rows] for rows in per_photo]) - base
            print(gain_row(label[key], g.mean(0), g.min(0)))
        _, gain, low = summary["levin"]  # the measure the hints' gain on the model is held to
        print("pure levin's own gain over grey (N=0) (mean / smallest per photo), dB:")
        print(gain_row("levin", gain, low))
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["photo", "n", *keys])
            for name, rows in zip(names, per_photo, strict=True):
                for r in rows:
                    w.writerow([name, r["n"], *[f"{r[k]:.4f}" for k in keys]])


if __name__ == "__main__":
    main()
