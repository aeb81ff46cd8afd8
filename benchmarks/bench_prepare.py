"""Data preparation speed: superpixel smoothing against scikit-image, and whole-folder throughput.

    python benchmarks/bench_prepare.py [--photos 20] [--folder ../shared/data/photos/train]
                                       [--cold 120] [--skip-prepare] [--baseline SRC] [--rounds 2]

Prints, on the same 224x224 photos in the same run: seconds per image for scikit-image's
pipeline (slic -> rag_mean_color -> merge_hierarchical -> label2rgb) and for ours, their ratio,
and the mean |dRGB| between them; then photos per second of ``colorize prepare --superpixels`` on
``--cold`` photos of the folder counted from process start (a fresh process: imports, numba's
cached code and the pool included), and of `prepare` on the whole folder with and without
superpixels (all cores).

``--baseline SRC`` (a source folder, e.g. another checkout's ``src``) also runs that code's
``smooth`` on the same photos in this process: how many outputs are identical, and the CPU time
per photo of each (CPU time, not wall time, so that other work on the machine counts less); and
it times the from-process-start run of that code too, alternating with this one ``--rounds``
times on the same photos, and prints the ratio of the medians: on a busy machine only such a
ratio means much. ``--compare N`` photos (spread over the folder) for the first comparison.
"""

from __future__ import annotations

import argparse
import os
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


def cold_start(files: list[Path], n: int, src: Path | None = None) -> float:
    """``colorize prepare --superpixels`` on ``n`` photos (spread over the folder), timed from
    process start to exit, with the package from ``src`` (default: the installed one); returns
    photos per second."""
    picked = files[:: max(1, len(files) // n)][:n]
    script = shutil.which("colorize", path=str(Path(sys.executable).parent))
    cmd = [script] if script else [sys.executable, "-m", "colorizer.cli"]
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(Path(src).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        for i, f in enumerate(picked):
            (photos / f"{i:05d}{f.suffix}").symlink_to(f.resolve())
        t = time.perf_counter()
        r = subprocess.run([*cmd, "prepare", str(photos), "--out", str(Path(tmp) / "ds"), "--superpixels"],
                           capture_output=True, text=True, env=env)
        dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"colorize prepare failed: {r.stderr.strip()}")
    print(f"colorize prepare --superpixels{f' ({src})' if src else ''}, {len(picked)} photos from "
          f"process start: {dt:.2f} s = {len(picked) / dt:.1f} photos/s")
    return len(picked) / dt


def compare_smooth(photos: list[np.ndarray], src: Path) -> None:
    """``smooth`` of the code in ``src`` against this one's: identical outputs and CPU time."""
    import importlib.util

    # a copy under its own name and folder: numba's disk cache, kept beside the source file,
    # finds the module again by that name, and the baseline's own cache (which its
    # from-process-start runs load as colorizer.superpixels) is left alone
    cache = Path(tempfile.gettempdir()) / "bench_prepare_baseline"
    cache.mkdir(exist_ok=True)
    copy = cache / "baseline_superpixels.py"
    text = (Path(src) / "colorizer" / "superpixels.py").read_text()
    if not copy.exists() or copy.read_text() != text:
        copy.write_text(text)
    spec = importlib.util.spec_from_file_location("baseline_superpixels", copy)
    base = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = base
    spec.loader.exec_module(base)
    base.smooth(photos[0])
    smooth(photos[0])
    same, t_base, t_ours = 0, 0.0, 0.0
    for p in photos:
        t = time.process_time()
        a = base.smooth(p)
        t_base += time.process_time() - t
        t = time.process_time()
        b = smooth(p)
        t_ours += time.process_time() - t
        same += int(np.array_equal(a, b))
    n = len(photos)
    print(f"smooth against {src} on {n} photos: identical {same}/{n}; CPU ms per photo: baseline "
          f"{1000 * t_base / n:.1f}, this code {1000 * t_ours / n:.1f}, ratio {t_base / t_ours:.2f}x")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=20, help="photos for the per-image comparison")
    ap.add_argument("--folder", type=Path, default=DEFAULT)
    ap.add_argument("--cold", type=int, default=120, help="photos for the from-process-start run")
    ap.add_argument("--skip-prepare", action="store_true", help="skip the whole-folder runs")
    ap.add_argument("--baseline", type=Path, help="source folder of the code to compare with")
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs with --baseline")
    ap.add_argument("--compare", type=int, default=100, help="photos for smooth against --baseline")
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
    if args.baseline:
        pick = files[:: max(1, len(files) // args.compare)][: args.compare]
        compare_smooth([resize_photo(np.asarray(Image.open(f).convert("RGB")), 224) for f in pick],
                       args.baseline)
    if args.cold and args.baseline:
        ours, base = [], []
        here = Path(__file__).resolve().parents[1] / "src"
        # untimed: a first run compiles the numba code into its disk cache, later runs load it
        cold_start(files, 2, args.baseline)
        cold_start(files, 2, here)
        for _ in range(args.rounds):
            base.append(cold_start(files, args.cold, args.baseline))
            ours.append(cold_start(files, args.cold, here))
        print(f"from process start, median of {args.rounds}: this code {np.median(ours):.1f} photos/s, "
              f"baseline {np.median(base):.1f} photos/s, ratio {np.median(ours) / np.median(base):.2f}x")
    elif args.cold:
        cold_start(files, 2)  # untimed: numba's disk cache filled if it was not
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
