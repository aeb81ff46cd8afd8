"""Data preparation speed: superpixel smoothing against scikit-image, and whole-folder throughput.

    python benchmarks/bench_prepare.py [--photos 20] [--folder ../shared/data/photos/train]
                                       [--cold 120] [--skip-prepare]

Prints, on the same 224x224 photos in the same run: seconds per image for scikit-image's
pipeline (slic -> rag_mean_color -> merge_hierarchical -> label2rgb) and for ours, their ratio,
and the mean |dRGB| between them; then photos per second of ``colorize prepare --superpixels`` on
``--cold`` photos of the folder counted from process start (a fresh process: imports, numba's
cached code and the pool included), and of `prepare` on the whole folder with and without
superpixels (all cores).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from colorizer.batch import find_images
from colorizer.data import PrepareConfig, prepare, resize_photo
from colorizer.superpixels import reference_smooth, smooth

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos" / "train"


def cold_start(files: list[Path], n: int) -> None:
    """``colorize prepare --superpixels`` on ``n`` photos (spread over the folder), timed from
    process start to exit."""
    picked = files[:: max(1, len(files) // n)][:n]
    script = shutil.which("colorize", path=str(Path(sys.executable).parent))
    cmd = [script] if script else [sys.executable, "-m", "colorizer.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        src.mkdir()
        for i, f in enumerate(picked):
            (src / f"{i:05d}{f.suffix}").symlink_to(f.resolve())
        t = time.perf_counter()
        r = subprocess.run([*cmd, "prepare", str(src), "--out", str(Path(tmp) / "ds"), "--superpixels"],
                           capture_output=True, text=True)
        dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"colorize prepare failed: {r.stderr.strip()}")
    print(f"colorize prepare --superpixels, {len(picked)} photos from process start: {dt:.2f} s = "
          f"{len(picked) / dt:.1f} photos/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=20, help="photos for the per-image comparison")
    ap.add_argument("--folder", type=Path, default=DEFAULT)
    ap.add_argument("--cold", type=int, default=120, help="photos for the from-process-start run")
    ap.add_argument("--skip-prepare", action="store_true", help="skip the whole-folder runs")
    args = ap.parse_args()
    files = find_images(args.folder)
    if not files:
        raise SystemExit(f"no photos in {args.folder}")
    step = max(1, len(files) // args.photos)
    photos = [resize_photo(np.asarray(Image.open(f).convert("RGB")), 224) for f in files[::step]]
    photos = photos[: args.photos]
    smooth(photos[0])  # compile (cached on disk after the first run)
    t = time.perf_counter()
    refs = [reference_smooth(p) for p in photos]
    t_ref = (time.perf_counter() - t) / len(photos)
    t = time.perf_counter()
    ours = [smooth(p) for p in photos]
    t_ours = (time.perf_counter() - t) / len(photos)
    diff = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(ours, refs, strict=True)])
    print(f"superpixel smoothing on {len(photos)} photos of 224x224:")
    print(f"  scikit-image {t_ref:.3f} s/img, ours {t_ours:.3f} s/img, ratio {t_ref / t_ours:.1f}x,"
          f" mean |dRGB| {diff:.3f}")
    if args.cold:
        cold_start(files, args.cold)
    if args.skip_prepare:
        return
    for superpixels in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            s = prepare([args.folder], Path(tmp) / "ds", PrepareConfig(superpixels=superpixels),
                        progress=False)
            dt = time.perf_counter() - t
        n = s["kept"] + s["skipped"]
        print(f"prepare {'with' if superpixels else 'without'} superpixels: {n} photos in {dt:.1f} s"
              f" = {n / dt:.1f} img/s (kept {s['kept']}, skipped {s['skipped']})")


if __name__ == "__main__":
    main()
