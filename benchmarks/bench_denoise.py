"""Denoising quality and speed: ours against OpenCV non-local means and BM3D, in one run.

    python benchmarks/bench_denoise.py --images ../shared/data/photos/eval \
        --val-data /work/wk/ds_main [--sigmas 15,25,50] [--out bench_denoise.json]

Measurement set: the grey L of every photo in --images at its native size. Each photo's 8-bit
grey gets seeded Gaussian noise (clipped to [0, 255] and rounded, as a saved scan; seed: sigma
and the photo's index), and each method's output is scored against the clean 8-bit grey: PSNR
(data range 255) and SSIM (scikit-image, data range 255), mean over photos.

* ``nlm``: OpenCV ``fastNlMeansDenoising`` (template 7, search 21), its filter strength h tuned
  per sigma on the validation photos of --val-data (a prepared dataset's val split), never on
  the measurement set; it is told sigma through that h.
* ``bm3d``: BM3D from PyPI ``bm3d``, given the true sigma (it is not blind); skipped with a
  message when the package is missing.
* ``ours``: the shipped ``denoise`` model (or --weights), blind, through the same path as
  ``colorize denoise --backend torch`` (read -> L -> model -> 8-bit grey).
* ``ours_onnx``: the same model's ONNX export in onnxruntime (``assets/denoise.onnx``, or the
  ``.onnx`` beside --weights), the path ``colorize denoise`` takes by default; its PSNR matches
  ``ours`` to rounding, its time is what a user waits.

Speed: ms per 512x512 photo (best of --repeat), ours with --threads threads (torch or
onnxruntime). The machine may be shared: rerun on a quiet one for the figures that matter.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from colorizer.resize import DEFAULT_PASSES


def clean_greys(folder: str) -> list[tuple[str, np.ndarray]]:
    """(name, 8-bit grey (H, W)) of each photo: its L through the read path, stored as grey."""
    from colorizer.batch import find_images
    from colorizer.damage import grey_u8
    from colorizer.io import read_image

    return [(p.name, grey_u8(read_image(p).lightness())) for p in find_images(Path(folder))]


def val_greys(roots: list[str], limit: int) -> list[np.ndarray]:
    """8-bit grey of up to ``limit`` validation photos of prepared datasets."""
    from colorizer.damage import grey_u8
    from colorizer.data import LabDataset

    val = LabDataset(roots, "val")
    step = max(1, len(val) // limit)
    return [grey_u8(val[i][0][0].numpy()) for i in range(0, len(val), step)][:limit]


def noisy(grey: np.ndarray, sigma: float, index: int) -> np.ndarray:
    from colorizer.damage import add_gaussian_noise

    return add_gaussian_noise(grey, sigma, np.random.default_rng([int(sigma * 100), index]))


def psnr(a, b) -> float:
    from colorizer.models.denoise import psnr_u8

    return psnr_u8(a, b)


def ssim(a, b) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, data_range=255))


def nlm(h: float):
    import cv2

    return lambda img, sigma: cv2.fastNlMeansDenoising(img, None, h=float(h), templateWindowSize=7,
                                                        searchWindowSize=21)


def tune_nlm(greys: list[np.ndarray], sigma: float) -> tuple[float, dict]:
    """The h with the best mean PSNR on ``greys`` (a grid around sigma), and every h's PSNR."""
    scores = {}
    for h in np.round(np.arange(0.5, 1.31, 0.1) * sigma, 1):
        fn = nlm(h)
        scores[float(h)] = float(np.mean([psnr(fn(noisy(g, sigma, 10_000 + i), sigma), g)
                                          for i, g in enumerate(greys)]))
    return max(scores, key=scores.get), scores


def bm3d_fn():
    try:
        import bm3d
    except ImportError as exc:
        print(f"bm3d skipped: {exc} (pip install bm3d==4.0.3)")
        return None

    def run(img, sigma):
        out = bm3d.bm3d(img.astype(np.float32) / 255.0, sigma_psd=sigma / 255.0)
        return np.clip(np.rint(np.asarray(out) * 255.0), 0, 255).astype(np.uint8)

    return run


def ours_fn(weights: str | None, passes: int):
    from colorizer.api import denoise_picture
    from colorizer.io import Picture
    from colorizer.registry import get_denoiser

    net = get_denoiser(weights=weights, device="cpu")

    def run(img, sigma):  # blind: sigma is not used
        return denoise_picture(Picture.from_array(img), net, passes=passes).to_array(np.uint8)[..., 0]

    return run


def ours_onnx_fn(weights: str | None, threads: int, passes: int):
    from colorizer import onnx_backend
    from colorizer.io import Picture

    try:
        net = onnx_backend.load_for_job("onnx", "denoise", weights, kind="denoiser", threads=threads)
    except Exception as exc:  # no export for these weights: say so, measure the rest
        print(f"ours_onnx skipped: {exc}")
        return None

    def run(img, sigma):  # blind: sigma is not used
        out = onnx_backend.denoise_picture(Picture.from_array(img), net, passes=passes)
        return out.to_array(np.uint8)[..., 0]

    return run


def best_ms(fn, img, sigma, repeat: int) -> float:
    fn(img, sigma)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(img, sigma)
        times.append(time.perf_counter() - t)
    return 1000 * min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", required=True,
                    help="Measurement photos (the issue's: ../shared/data/photos/eval).")
    ap.add_argument("--val-data", action="append", required=True,
                    help="Prepared dataset(s) whose validation photos tune NLM's h. Repeatable.")
    ap.add_argument("--val-images", type=int, default=24)
    ap.add_argument("--sigmas", default="15,25,50")
    ap.add_argument("--weights", help="Our denoiser's weights (default: the shipped ones).")
    ap.add_argument("--methods", default="nlm,bm3d,ours,ours_onnx")
    ap.add_argument("--passes", type=int, default=DEFAULT_PASSES,
                    help="Our denoiser's shifted passes (colorize denoise --passes; default as shipped).")
    ap.add_argument("--photos", type=int,
                    help="Only N photos, spread over the set (BM3D takes seconds to a minute a photo "
                         "on a busy 2-core machine).")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--include", action="append", default=[],
                    help="JSON of an earlier run on the same photos and sigmas (e.g. BM3D's, which is "
                         "slow): its methods that this run lacks join the table, after checking that "
                         "its noisy inputs were identical (per-photo PSNR). Repeatable.")
    ap.add_argument("--out", help="Also write the results as JSON here.")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sigmas = [float(s) for s in args.sigmas.split(",")]
    photos = clean_greys(args.images)
    if args.photos:
        photos = [photos[round(k)] for k in np.linspace(0, len(photos) - 1, min(args.photos, len(photos)))]
    print(f"{len(photos)} photos from {args.images}; noise sigma {', '.join(f'{s:g}' for s in sigmas)}")
    methods = {}
    tuned = {}
    wanted = args.methods.split(",")
    if "nlm" in wanted:
        val = val_greys(args.val_data, args.val_images)
        for s in sigmas:
            h, scores = tune_nlm(val, s)
            tuned[s] = {"h": h, "val_psnr": scores}
            print(f"nlm sigma {s:g}: h {h:g} (validation PSNR by h: "
                  + ", ".join(f"{k:g}: {v:.2f}" for k, v in scores.items()) + f"; {len(val)} photos)")
    if "bm3d" in wanted and (fn := bm3d_fn()) is not None:
        methods["bm3d"] = fn
    if "ours" in wanted:
        methods["ours"] = ours_fn(args.weights, args.passes)
    if "ours_onnx" in wanted and (fn := ours_onnx_fn(args.weights, args.threads, args.passes)) is not None:
        methods["ours_onnx"] = fn
    results = {"images": args.images, "passes": args.passes, "photos": len(photos),
               "names": [n for n, _ in photos],
               "nlm_h": {str(k): v for k, v in tuned.items()}, "sigmas": {}}
    for s in sigmas:
        runs = ({"nlm": nlm(tuned[s]["h"])} if s in tuned else {}) | methods
        row = {"noisy": {"psnr": [], "ssim": []}}
        row |= {m: {"psnr": [], "ssim": [], "seconds": 0.0} for m in runs}
        for i, (_, clean) in enumerate(photos):
            x = noisy(clean, s, i)
            row["noisy"]["psnr"].append(psnr(x, clean))
            row["noisy"]["ssim"].append(ssim(x, clean))
            for m, fn in runs.items():
                t = time.perf_counter()
                y = fn(x, s)
                row[m]["seconds"] += time.perf_counter() - t
                row[m]["psnr"].append(psnr(y, clean))
                row[m]["ssim"].append(ssim(y, clean))
        results["sigmas"][str(s)] = {m: {"psnr": float(np.mean(v["psnr"])), "ssim": float(np.mean(v["ssim"])),
                                         "per_photo_psnr": [round(p, 3) for p in v["psnr"]]}
                                     for m, v in row.items()}
        print(f"sigma {s:g}: " + ", ".join(f"{m} {np.mean(v['psnr']):.2f} dB / {np.mean(v['ssim']):.4f}"
                                           for m, v in row.items()), flush=True)
    # speed on a 512x512 photo (the first photo, reflected/cropped to 512x512)
    first = photos[0][1]
    img = np.pad(first, ((0, max(0, 512 - first.shape[0])), (0, max(0, 512 - first.shape[1]))),
                 mode="reflect")[:512, :512]
    x = noisy(np.ascontiguousarray(img), 25, 0)
    runs = {"nlm": nlm(tuned.get(25.0, {"h": 25.0})["h"])} | methods
    results["ms_per_512"] = {m: best_ms(fn, x, 25, args.repeat if m != "bm3d" else 1)
                             for m, fn in runs.items()}
    results["threads"] = args.threads
    for other_path in args.include:
        other = json.loads(Path(other_path).read_text())
        for key, row in results["sigmas"].items():
            theirs = other["sigmas"].get(key)
            if theirs is None or theirs["noisy"]["per_photo_psnr"] != row["noisy"]["per_photo_psnr"]:
                raise SystemExit(f"{other_path}: not the same noisy photos at sigma {key}")
            for m, v in theirs.items():
                if m not in row:
                    row[m] = {**v, "from": other_path}
                    if m in other.get("ms_per_512", {}):
                        results["ms_per_512"][m] = other["ms_per_512"][m]
    shown = list(dict.fromkeys(m for row in results["sigmas"].values() for m in row))
    lines = ["| method | " + " | ".join(f"PSNR σ={s:g}" for s in sigmas) + " | "
             + " | ".join(f"SSIM σ={s:g}" for s in sigmas) + " | ms per 512² |",
             "|---|" + "---|" * (2 * len(sigmas) + 1)]
    for m in shown:
        cells = [results["sigmas"][str(s)][m]["psnr"] for s in sigmas if m in results["sigmas"][str(s)]]
        cells_s = [results["sigmas"][str(s)][m]["ssim"] for s in sigmas if m in results["sigmas"][str(s)]]
        ms = results["ms_per_512"].get(m)
        lines.append(f"| {m} | " + " | ".join(f"{c:.2f}" for c in cells) + " | "
                     + " | ".join(f"{c:.4f}" for c in cells_s) + f" | {'' if ms is None else f'{ms:.0f}'} |")
    table = "\n".join(lines)
    results["table"] = table
    print(table)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
