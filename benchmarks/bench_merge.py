"""The steps of ``colorize prepare --superpixels`` after SLIC: the new code against the old, in one process.

    python benchmarks/bench_merge.py [--photos 300] [--folder ../shared/data/photos/train]
                                     [--rounds 3]

On ``--photos`` photos spread over the folder, resized to 224x224 as ``prepare`` does, with
their SLIC labels, prints:

* how many photos give identical ``(l8, ab8)`` from ``prepare_photo`` and from the old steps
  (scikit-image's SLIC steps, the first compiled merge, ``paint_mean``, ``lab_to_lab8``);
* how many give identical region sums from ``_region_sums`` and ``np.bincount``;
* how many photos give identical merged labels from ``merge_regions`` (the compiled merge,
  ``_merge``) and from its first version (``_merge_reference``); how many give identical
  pictures from ``smooth``'s painting (``_paint_merged``, from the merge's own region totals)
  and from ``paint_mean`` of the merged labels; how many give identical grey pictures from
  ``_grey`` and from scikit-image's ``rgb2gray``;
* CPU milliseconds per photo of each old and new step (the merge, the painting, the grey
  picture, the region sums, prepare_photo's conversion to 8-bit Lab), called alternately photo
  by photo (CPU time and alternation, so that other work on a shared machine weighs on both
  alike; the median of ``--rounds`` rounds), and the ratios.

Run it with one core (e.g. ``taskset -c 1``); numpy's BLAS is held to one thread here.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads: one BLAS thread
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from bench_slic import alternate_ms, spread_photos  # noqa: E402

from colorizer import superpixels as sp  # noqa: E402
from colorizer.color import ab_to_ab8, l_to_l8, lab_to_lab8, srgb_to_lab  # noqa: E402
from colorizer.data import PrepareConfig, prepare_photo  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos" / "train"


def main():
    from skimage.color import rgb2gray

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=300, help="photos spread over the folder")
    ap.add_argument("--folder", type=Path, default=DEFAULT)
    ap.add_argument("--rounds", type=int, default=3, help="alternating timing rounds")
    ap.add_argument("--thresh", type=float, default=sp.DEFAULTS["thresh"])
    args = ap.parse_args()
    _, photos = spread_photos(args.folder, args.photos)
    items = [(sp.slic_labels(rgb), rgb) for rgb in photos]
    n, t = len(items), args.thresh

    def old_merge(item):
        return sp.merge_regions(*item, t, reference=True)

    def new_merge(item):
        return sp.merge_regions(*item, t)

    def old_paint(item):  # smooth's painting before: paint_mean of the merged labels
        labels, parent = item[:2]
        return sp.paint_mean(parent[labels], item[4])

    def new_paint(item):
        return sp._paint_merged(*item[:4])

    same_merge = sum(np.array_equal(old_merge(it), new_merge(it)) for it in items)
    merged = [(*sp._merged(labels, rgb, t), rgb) for labels, rgb in items]
    same_paint = sum(np.array_equal(old_paint(it), new_paint(it)) for it in merged)
    same_grey = sum(np.array_equal(sp._grey(rgb), rgb2gray(rgb)) for rgb in photos)
    cfg = PrepareConfig(superpixels=True, thresh=t)
    same_prepared = 0
    for rgb in photos:  # the whole photo step against the old steps one by one
        target = sp.paint_mean(sp.merge_regions(sp._slic_labels_skimage(rgb), rgb, t, reference=True), rgb)
        old_l8 = lab_to_lab8(srgb_to_lab(rgb))[..., 0]
        old_ab8 = lab_to_lab8(srgb_to_lab(target))[..., 1:]
        l8, ab8 = prepare_photo(rgb, cfg)
        same_prepared += int(np.array_equal(l8, old_l8) and np.array_equal(ab8, old_ab8))
    print(f"{n} photos of 224x224 from {args.folder}:")
    print(f"  prepare_photo's (l8, ab8) identical to the old steps' (scikit-image's SLIC steps, "
          f"_merge_reference, paint_mean, lab_to_lab8) on {same_prepared}/{n}")
    print(f"  merged labels identical (merge_regions: _merge against _merge_reference) on "
          f"{same_merge}/{n} photos")
    print(f"  painted pictures identical (_paint_merged against paint_mean) on {same_paint}/{n}")
    print(f"  grey pictures identical (_grey against rgb2gray) on {same_grey}/{n}")
    def old_lab8(lab):  # prepare_photo's 8-bit conversion before: all channels, twice
        return lab_to_lab8(lab)[..., 0], lab_to_lab8(lab)[..., 1:]

    def new_lab8(lab):
        return l_to_l8(lab[..., 0]), ab_to_ab8(lab[..., 1:])

    def old_sums(item):  # the merge's region sums before: np.bincount, per channel
        flat, rgb = (item[0] - 1).ravel(), item[1]
        n = int(flat.max()) + 1
        np.bincount(flat).min()  # the contiguity check it made
        return np.bincount(flat, minlength=n).astype(np.float64), np.stack(
            [np.bincount(flat, weights=rgb[..., c].ravel().astype(np.float64), minlength=n)
             for c in range(3)], axis=1)

    def new_sums(item):
        labels = item[0].astype(np.int64) - 1
        return sp._region_sums(labels, item[1], int(labels.max()) + 1)

    same_sums = sum(all(np.array_equal(a, b) for a, b in zip(old_sums(it), new_sums(it), strict=True))
                    for it in items)
    print(f"  region counts and colour sums identical (_region_sums against np.bincount) on "
          f"{same_sums}/{n}")
    labs = [srgb_to_lab(rgb) for rgb in photos]
    print(f"CPU ms per photo, one core, median of {args.rounds} alternating rounds (old, new, ratio):")
    for name, old, new, data in (("merge_regions", old_merge, new_merge, items),
                                 ("painting", old_paint, new_paint, merged),
                                 ("grey picture", rgb2gray, sp._grey, photos),
                                 ("region sums", old_sums, new_sums, items),
                                 ("8-bit Lab", old_lab8, new_lab8, labs)):
        old(data[0]), new(data[0])  # compiled code loaded, caches warm
        times = np.array([alternate_ms(old, new, data) for _ in range(args.rounds)])
        t_old, t_new = np.median(times[:, 0]), np.median(times[:, 1])
        print(f"  {name:14s} {t_old:6.2f} {t_new:6.2f}  {t_old / t_new:.2f}x")


if __name__ == "__main__":
    main()
