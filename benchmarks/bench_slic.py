"""SLIC labels for ``colorize prepare --superpixels``: the compiled path against scikit-image's.

    python benchmarks/bench_slic.py [--photos 300] [--folder ../shared/data/photos/train]
                                    [--rounds 5]

On ``--photos`` photos spread over the folder, resized to 224x224 as ``prepare`` does, prints:

* how many photos give identical labels from ``slic_labels`` (numba SLIC on the one-channel L)
  and from the reference ``_slic_labels_skimage`` (scikit-image's conversions and its compiled
  SLIC steps), and for any that differ, by how many pixels; and how many give identical L;
* CPU milliseconds per photo of each, and of their two parts (the L picture; the SLIC steps
  with the connectivity step, on the same L; and that last step alone), timed in this process
  on the same photos, calling the two alternately photo by photo (CPU time and alternation, so
  that other work on a shared machine weighs on both alike; the median of ``--rounds`` rounds is
  printed), and the ratios.

Run it with one core (e.g. ``taskset -c 1``); numpy's BLAS is held to one thread here.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads: one BLAS thread
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from colorizer import superpixels as sp  # noqa: E402
from colorizer.batch import find_images  # noqa: E402
from colorizer.data import resize_photo  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos" / "train"


def alternate_ms(old, new, items) -> tuple[float, float]:
    """CPU milliseconds per item of ``old`` and of ``new``, called alternately on each item (so
    that changing load on a shared machine falls on both alike)."""
    t_old = t_new = 0.0
    for item in items:
        t = time.process_time()
        old(item)
        t_old += time.process_time() - t
        t = time.process_time()
        new(item)
        t_new += time.process_time() - t
    return 1000 * t_old / len(items), 1000 * t_new / len(items)


def spread_photos(folder: Path, count: int) -> tuple[list[Path], list[np.ndarray]]:
    """``count`` photo files spread evenly over ``folder`` and each resized as ``colorize prepare``
    does (224); exits with a message when the folder holds none."""
    files = find_images(folder)
    if not files:
        raise SystemExit(f"no photos in {folder}")
    picked = files[:: max(1, len(files) // count)][:count]
    return picked, [resize_photo(np.asarray(Image.open(f).convert("RGB")), 224) for f in picked]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=300, help="photos spread over the folder")
    ap.add_argument("--folder", type=Path, default=DEFAULT)
    ap.add_argument("--rounds", type=int, default=5, help="alternating timing rounds")
    args = ap.parse_args()
    picked, photos = spread_photos(args.folder, args.photos)
    n = len(photos)

    same_labels, same_L, differ = 0, 0, []
    for f, rgb in zip(picked, photos, strict=True):
        new, old = sp.slic_labels(rgb), sp._slic_labels_skimage(rgb)
        if np.array_equal(new, old):
            same_labels += 1
        else:
            differ.append(f"{f.name}: {int((new != old).sum())} px")
        same_L += int(np.array_equal(sp.slic_input(rgb, 5.0), sp._slic_input_skimage(rgb, 5.0)))
    print(f"{n} photos of 224x224 from {args.folder}:")
    print(f"  labels identical on {same_labels}/{n} photos" + (f"; differ: {', '.join(differ)}"
                                                              if differ else ""))
    print(f"  L (slic_input) identical on {same_L}/{n} photos")

    Ls = [sp.slic_input(rgb, 5.0) for rgb in photos]
    from skimage.segmentation._slic import _enforce_label_connectivity_cython

    raw = [sp._slic_raw(L, 10000) for L in Ls]  # SLIC labels before the connectivity step
    timed = {
        "slic_labels": (lambda p: sp._slic_labels_skimage(p), sp.slic_labels, photos),
        "  L picture": (lambda p: sp._slic_input_skimage(p, 5.0), lambda p: sp.slic_input(p, 5.0),
                        photos),
        "  SLIC steps + connectivity": (lambda L: sp._slic_chained(L, 10000),
                                        lambda L: sp._slic_grey(L, 10000), Ls),
        "    connectivity step": (
            lambda r: _enforce_label_connectivity_cython(r[0].astype(np.intp)[np.newaxis], r[1],
                                                         r[2], start_label=1),
            lambda r: sp._connect(*r), raw),
    }
    print(f"CPU ms per photo, median of {args.rounds} rounds, calls alternating photo by photo:")
    for name, (old, new, items) in timed.items():
        a, b = np.median([alternate_ms(old, new, items) for _ in range(args.rounds)], axis=0)
        print(f"  {name:<28} scikit-image {a:6.2f}  compiled {b:6.2f}  ratio {a / b:.2f}x")


if __name__ == "__main__":
    main()
