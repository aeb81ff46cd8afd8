"""Damage repair (``colorize restore``): detection and fill quality, and speed, in one run.

    python benchmarks/bench_restore.py --photos ../shared/data/photos/eval [--out bench_restore.json]
    python benchmarks/bench_restore.py --speed            # a 12 MP scan, in process and from process start

Quality. Each photo of --photos (read as the CLI reads it; colour stays colour) gets damage from
:func:`colorizer.damage.draw_defects` (seeded by its index and --seed) and is restored with the
shipped detector (or --weights) at its chosen thresholds. Per photo, then averaged:

* precision and recall of the found mask against the drawn one, 2-pixel tolerance
  (:func:`colorizer.metrics.mask_precision_recall`);
* PSNR (uint8 RGB, data range 255) of the damaged photo, of ours, and of the ceiling for
  detect-then-fill: OpenCV's Telea fill of the true mask widened by the same pixel ours is
  (``true_mask_fill``); also ours inside and outside the true damage;
* ``undamaged``: PSNR of the photo restored without damage (how much a clean photo is touched).

Quality also on damage drawn otherwise (--generator other: soft Gaussian curves and
specks of relative contrast), to see whether the detector generalises beyond its own generator.

Speed (--speed): an eval photo enlarged to 4000 x 3000 with damage drawn on it; detect + fill in
this process (best of --repeat), against reading the same photo from a PNG as the baseline, and
``colorize restore`` on it from process start (read, detect, fill, write).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from colorizer.damage import DefectConfig, draw_defects
from colorizer.metrics import mask_precision_recall, psnr_where
from colorizer.repair import Restorer, default_config, fill, grey_of


def photos(folder: str) -> list[tuple[str, np.ndarray]]:
    from colorizer.batch import find_images
    from colorizer.io import read_image

    files = find_images(Path(folder))
    return [(p.name, read_image(p).to_array(np.uint8)) for p in files]


def other_defects(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Damage drawn differently from :func:`colorizer.damage.draw_defects`, to see whether the
    detector learnt damage or one generator's look: thin curves (quadratic, random width 0.7-2.5
    px) with a Gaussian cross-section, so every edge is soft, brighter or darker than the photo
    under them by a relative amount (not a fixed tone), and round Gaussian dust specks. The mask
    is where the mark reaches half its peak."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    profile = np.zeros((h, w), np.float32)
    sign = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, 5))):
        p0, p1, p2 = (rng.uniform(0, 1, 2) * [w, h] for _ in range(3))
        t = np.linspace(0, 1, 400)[:, None]
        curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2
        line = np.zeros((h, w), np.uint8)
        import cv2

        cv2.polylines(line, [np.round(curve).astype(np.int32).reshape(-1, 1, 2)], False, 1, 1)
        dist = cv2.distanceTransform(1 - line, cv2.DIST_L2, 5)
        width = rng.uniform(0.7, 2.5)
        mark = np.exp(-0.5 * (dist / (width / 2)) ** 2) * rng.uniform(0.5, 1.0)
        sign = np.where(mark > profile, 1.0 if rng.random() < 0.5 else -1.0, sign)
        profile = np.maximum(profile, mark)
    for _ in range(int(rng.integers(5, 40 * h * w / 250_000 + 6))):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.6, 2.5)
        y0, y1 = int(max(cy - 4 * r, 0)), int(min(cy + 4 * r + 1, h))
        x0, x1 = int(max(cx - 4 * r, 0)), int(min(cx + 4 * r + 1, w))
        blob = np.exp(-((yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2) / (2 * r * r))
        blob *= rng.uniform(0.5, 1.0)
        s = 1.0 if rng.random() < 0.5 else -1.0
        sign[y0:y1, x0:x1] = np.where(blob > profile[y0:y1, x0:x1], s, sign[y0:y1, x0:x1])
        profile[y0:y1, x0:x1] = np.maximum(profile[y0:y1, x0:x1], blob)
    x = image.astype(np.float32)
    amount = rng.uniform(60, 140)
    change = sign * profile * amount
    out = np.clip(np.rint(x + (change if x.ndim == 2 else change[..., None])), 0, 255).astype(np.uint8)
    return out, profile >= 0.5


GENERATORS = {"ours": lambda image, rng: draw_defects(image, rng, DefectConfig()), "other": other_defects}


def quality(items, weights: str | None, seed: int, strength: float, generator: str = "ours") -> dict:
    restorer = Restorer(weights)
    config = default_config(weights, strength)
    rows = []
    for i, (name, clean) in enumerate(items):
        damaged, true = GENERATORS[generator](clean, np.random.default_rng(seed * 100_003 + i))
        found = restorer.detect(grey_of(damaged), config)
        fixed = fill(damaged, found, config.radius)
        widened = Restorer.decide(true.astype(np.float32), config)  # as wide as ours
        ceiling = fill(damaged, widened, config.radius)
        untouched = fill(clean, restorer.detect(grey_of(clean), config), config.radius)
        every = np.ones(true.shape, bool)
        precision, recall = mask_precision_recall(found, true)
        rows.append({"photo": name, "precision": precision, "recall": recall,
                     "damaged": psnr_where(damaged, clean, every), "ours": psnr_where(fixed, clean, every),
                     "true_mask_fill": psnr_where(ceiling, clean, every),
                     "ours_inside": psnr_where(fixed, clean, true),
                     "damaged_inside": psnr_where(damaged, clean, true),
                     "ours_outside": min(psnr_where(fixed, clean, ~true), 99.0),
                     "undamaged": min(psnr_where(untouched, clean, every), 99.0),
                     "damage_share": float(true.mean())})
    keys = [k for k in rows[0] if k != "photo"]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    mean["gain"] = mean["ours"] - mean["damaged"]
    mean["worst_gain"] = float(min(r["ours"] - r["damaged"] for r in rows))
    mean["worst_undamaged"] = float(min(r["undamaged"] for r in rows))
    return {"photos": len(rows), "mean": mean, "per_photo": rows}


def speed(items, weights: str | None, repeat: int) -> dict:
    import cv2
    from timing import best_seconds

    from colorizer.io import read_image

    name, clean = max(items, key=lambda item: item[1].size)
    big = cv2.resize(clean, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    damaged, _ = draw_defects(big, np.random.default_rng(0))
    restorer, config = Restorer(weights), default_config(weights)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "scan.png"
        cv2.imwrite(str(src), cv2.cvtColor(damaged, cv2.COLOR_RGB2BGR))
        read = best_seconds(lambda: read_image(src), repeat)
        work = best_seconds(lambda: fill(damaged, restorer.detect(grey_of(damaged), config)), repeat,
                            warmup=True)
        cmd = [sys.executable, "-m", "colorizer.cli", "restore", str(src), "-o", str(Path(tmp) / "out.png"),
               "--overwrite"] + (["--weights", weights] if weights else [])
        cold = []
        for _ in range(repeat):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            cold.append(time.perf_counter() - t)
    return {"photo": name, "size": "4000x3000", "read_png_s": read, "detect_fill_s": work,
            "ratio_to_read": work / read, "cli_from_start_s": min(cold)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default="../shared/data/photos/eval")
    parser.add_argument("--weights", help="Detector weights instead of the shipped ones.")
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--generator", default="ours", choices=sorted(GENERATORS),
                        help="ours: draw_defects, as in training; other: a differently drawn kind of "
                             "damage (soft Gaussian curves and specks, relative contrast).")
    parser.add_argument("--speed", action="store_true", help="Also time a 12 MP scan.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", help="Write the figures as JSON here.")
    args = parser.parse_args(argv)

    items = photos(args.photos)
    result = {"generator": args.generator,
              "quality": quality(items, args.weights, args.seed, args.strength, args.generator)}
    m = result["quality"]["mean"]
    print(f"{len(items)} photos, damage drawn by {args.generator}: precision {m['precision']:.3f}, "
          f"recall {m['recall']:.3f}; PSNR damaged "
          f"{m['damaged']:.2f}, ours {m['ours']:.2f} (+{m['gain']:.2f}, worst {m['worst_gain']:+.2f}), "
          f"true-mask fill {m['true_mask_fill']:.2f}; inside the damage {m['damaged_inside']:.2f} -> "
          f"{m['ours_inside']:.2f}, outside {m['ours_outside']:.2f}; undamaged photos {m['undamaged']:.2f} "
          f"(worst {m['worst_undamaged']:.2f})")
    if args.speed:
        result["speed"] = speed(items, args.weights, args.repeat)
        s = result["speed"]
        print(f"12 MP scan: detect + fill {s['detect_fill_s']:.2f} s ({s['ratio_to_read']:.1f}x reading "
              f"the PNG, {s['read_png_s']:.2f} s); colorize restore from process start "
              f"{s['cli_from_start_s']:.2f} s")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
