import numpy as np
import pytest
from PIL import Image

from colorizer import superpixels as sp


def quadrants(noise=0.0, size=32):
    img = np.zeros((size, size, 3), np.float64)
    h = size // 2
    img[:h, :h] = (200, 200, 200)
    img[:h, h:] = (220, 30, 30)
    img[h:, :h] = (30, 200, 40)
    img[h:, h:] = (20, 40, 210)
    img += np.random.default_rng(0).normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_quadrants_give_four_flat_regions():
    out = sp.smooth(quadrants(noise=4), n_segments=16, sigma=0)  # 8x8 superpixels
    assert len(np.unique(out.reshape(-1, 3), axis=0)) == 4
    # SLIC's borders follow the grey image, so a few pixels may cross a quadrant edge
    for (y, x), true in (((8, 8), (200, 200, 200)), ((8, 24), (220, 30, 30)),
                         ((24, 8), (30, 200, 40)), ((24, 24), (20, 40, 210))):
        assert np.abs(out[y, x].astype(int) - true).max() <= 25


def test_merge_of_a_block_grid_finds_the_quadrants():
    rgb = quadrants(noise=8, size=40)
    labels = (np.arange(40)[:, None] // 5) * 8 + np.arange(40)[None, :] // 5  # 64 blocks of 5x5
    merged = sp.merge_regions(labels, rgb, thresh=35)
    assert len(np.unique(merged)) == 4
    assert len(np.unique(merged[:20, :20])) == 1 and merged[0, 0] != merged[0, -1]


def test_threshold_zero_keeps_every_superpixel():
    from skimage.segmentation import slic

    rgb = quadrants(noise=10)
    labels = slic(sp._grey3(rgb, np.float64), n_segments=64, sigma=0)
    merged = sp.merge_regions(labels, rgb, thresh=0)
    assert len(np.unique(merged)) == len(np.unique(labels))


def test_slic_labels_equal_skimage_on_grey3(shared_data):
    import cv2
    from skimage.segmentation import slic

    for f in sorted((shared_data / "photos" / "train" / "sun80").glob("*.jpg"))[:4]:
        rgb = cv2.resize(np.asarray(Image.open(f).convert("RGB")), (224, 224),
                         interpolation=cv2.INTER_AREA)
        expected = slic(sp._grey3(rgb, np.float64), n_segments=10000, sigma=5)
        assert (sp.slic_labels(rgb) == expected).mean() > 0.999, f.name


def test_merge_against_reference_on_synthetic():
    rgb = np.asarray(Image.fromarray(quadrants(noise=25, size=64)).resize((120, 90)))
    ours = sp.smooth(rgb, n_segments=800, sigma=2, thresh=35)
    ref = sp.reference_smooth(rgb, n_segments=800, sigma=2, thresh=35)
    assert np.abs(ours.astype(int) - ref).mean() <= 1.0


def test_agrees_with_scikit_image_on_real_photos(shared_data):
    import cv2

    files = sorted((shared_data / "photos" / "train" / "bsds500").glob("*.jpg"))[:3]
    files += sorted((shared_data / "photos" / "train" / "imagenet").glob("*.jpg"))[:3]
    for f in files:
        rgb = cv2.resize(np.asarray(Image.open(f).convert("RGB")), (224, 224),
                         interpolation=cv2.INTER_AREA)
        diff = np.abs(sp.smooth(rgb).astype(int) - sp.reference_smooth(rgb)).mean()
        assert diff <= 1.0, f.name


def test_bad_input():
    with pytest.raises(ValueError):
        sp.smooth(np.zeros((8, 8), np.uint8))


@pytest.mark.slow  # compiles the merge from scratch once: about 10 s of CPU
def test_compiled_merge_is_loaded_from_the_disk_cache_by_the_next_process(tmp_path):
    """numba compiles the merge and SLIC once (seconds) and later runs load them from its cache; with the
    source tree read-only numba uses a user cache folder, here NUMBA_CACHE_DIR stands in for it."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from colorizer import superpixels as sp\n"
            "sp.smooth(np.zeros((8, 8, 3), np.uint8), n_segments=4, sigma=0)\n"
            "fns = (sp._merge, sp._adjacent_pairs, sp._slic_run, sp._connect, sp._paint_merged)\n"
            "print(sum(sum(f.stats.cache_hits.values()) for f in fns),"
            " sum(sum(f.stats.cache_misses.values()) for f in fns))\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    def hits_misses():
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        return tuple(int(x) for x in out.stdout.split())

    assert hits_misses() == (0, 5)  # first run: compiled, and written to the cache
    assert hits_misses() == (5, 0)  # next run: all loaded, nothing compiled


def test_slic_shortcut_gives_the_ten_iteration_labels():
    """Stopping SLIC at its fixed point gives exactly the labels of its ten iterations."""
    import cv2
    from skimage.color import rgb2lab
    from skimage.segmentation import slic

    rgb = np.asarray(Image.fromarray(quadrants(noise=30, size=64)).resize((96, 80)))
    for n_segments, sigma in ((2000, 5.0), (40, 1.0)):
        labels = sp.slic_labels(rgb, n_segments, sigma)
        L = rgb2lab(sp._grey3(rgb, np.float32))[..., 0].astype(np.float32)
        radius = int(4.0 * sigma + 0.5)
        kernel = cv2.getGaussianKernel(2 * radius + 1, sigma)
        L = cv2.sepFilter2D(L, -1, kernel, kernel, borderType=cv2.BORDER_REFLECT)
        assert np.array_equal(labels, slic(L, n_segments=n_segments, sigma=0, channel_axis=None,
                                           convert2lab=False))


def _naive_merge(labels, rgb, thresh):
    """Greedy mean-colour merge written the slow, obvious way: every step merges the closest
    adjacent pair (ties: lower ids) into the second region, until none is closer than thresh."""
    n = labels.max() + 1
    total = np.array([rgb[labels == i].sum(0) for i in range(n)], np.float64)
    count = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
    pairs = set()
    h, w = labels.shape
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
                if 0 <= y + dy < h and 0 <= x + dx < w and labels[y, x] != labels[y + dy, x + dx]:
                    pairs.add(frozenset((labels[y, x], labels[y + dy, x + dx])))
    region = np.arange(n)
    while pairs:
        def dist(p):
            a, b = sorted(p)
            return np.linalg.norm(total[a] / count[a] - total[b] / count[b])
        best = min(pairs, key=lambda p: (dist(p), sorted(p)))
        if dist(best) >= thresh:
            break
        a, b = sorted(best)
        total[b] += total[a]
        count[b] += count[a]
        region[region == a] = b
        pairs = {frozenset(b if r == a else r for r in p) for p in pairs}
        pairs = {p for p in pairs if len(p) == 2}
    return region[labels]


@pytest.mark.parametrize("seed", range(4))
def test_merge_equals_the_obvious_greedy_merge(seed):
    """Same regions as the slow obvious algorithm (random colours, so no tied distances): the
    lazily renamed neighbour lists and the one-entry-per-region heap change nothing."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(36)[:, None] // 3) * 12 + np.arange(36)[None, :] // 3  # 144 blocks of 3x3
    rgb = np.repeat(np.repeat(rng.integers(0, 256, (12, 12, 3)), 3, 0), 3, 1).astype(np.uint8)
    rgb = np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)
    for thresh in (20.0, 60.0, 120.0):
        ours = sp.merge_regions(labels, rgb, thresh)
        naive = _naive_merge(labels, rgb, thresh)
        # the same partition (ids may differ)
        assert len(np.unique(ours)) == len(np.unique(naive))
        assert len(np.unique(ours * 1000 + naive)) == len(np.unique(naive))


def test_chained_slic_equals_scikit_image():
    """SLIC's steps called one iteration at a time give scikit-image's slic labels exactly, both
    where the first two iterations agree and where all ten run (random images)."""
    from skimage.segmentation import slic

    rng = np.random.default_rng(1)
    for shape, n_segments in (((60, 70), 300), ((45, 80), 40), ((32, 32), 64)):
        L = (rng.random(shape) * 100).astype(np.float32)
        assert np.array_equal(sp._slic_chained(L, n_segments),
                              slic(L, n_segments=n_segments, sigma=0, channel_axis=None,
                                   convert2lab=False))


def test_smooth_on_real_photos_equals_the_three_call_slic(shared_data):
    """The prepared arrays are unchanged: on real training photos the chained SLIC gives the
    labels of the earlier three public slic calls (1 and 2 iterations, then the final one)."""
    import cv2
    from skimage.segmentation import slic

    files = sorted((shared_data / "photos" / "train" / "imagenet").glob("*.jpg"))[:6]
    for f in files:
        rgb = cv2.resize(np.asarray(Image.open(f).convert("RGB")), (224, 224),
                         interpolation=cv2.INTER_AREA)
        L = sp.slic_input(rgb, 5.0)
        kwargs = {"n_segments": 10000, "sigma": 0, "channel_axis": None, "convert2lab": False}
        one = slic(L, max_num_iter=1, enforce_connectivity=False, **kwargs)
        two = slic(L, max_num_iter=2, enforce_connectivity=False, **kwargs)
        expected = slic(L, max_num_iter=1 if np.array_equal(one, two) else 10, **kwargs)
        assert np.array_equal(sp.slic_labels(rgb), expected), f.name


def _training_photos(shared_data, n):
    """n training photos spread over the folders, resized as ``colorize prepare`` does."""
    from colorizer.batch import find_images
    from colorizer.data import resize_photo

    files = find_images(shared_data / "photos" / "train")
    return [(f.name, resize_photo(np.asarray(Image.open(f).convert("RGB")), 224))
            for f in files[:: max(1, len(files) // n)][:n]]


def test_compiled_slic_equals_scikit_image_steps():
    """The numba SLIC gives scikit-image's labels exactly, on random images where the first two
    iterations agree and where they do not (then all ten run), at several grid sizes."""
    from skimage.segmentation import slic

    rng = np.random.default_rng(2)
    kwargs = {"sigma": 0, "channel_axis": None, "convert2lab": False, "enforce_connectivity": False}
    long_runs = 0
    for shape, n_segments in (((60, 70), 300), ((45, 80), 40), ((32, 32), 64), ((33, 47), 5000),
                              ((224, 224), 10000), ((7, 9), 10), ((1, 12), 3), ((1, 1), 10)):
        L = (rng.random(shape) * 100).astype(np.float32)
        assert np.array_equal(sp._slic_grey(L, n_segments), sp._slic_chained(L, n_segments)), shape
        one = slic(L, n_segments=n_segments, max_num_iter=1, **kwargs)
        long_runs += not np.array_equal(one, slic(L, n_segments=n_segments, max_num_iter=2, **kwargs))
    assert long_runs > 0  # the ten-iteration path was taken at least once
    flat = np.full((20, 30), 7.0, np.float32)  # a constant picture (no rescaling)
    assert np.array_equal(sp._slic_grey(flat, 50), sp._slic_chained(flat, 50))


def test_slic_input_equals_scikit_image_on_synthetic():
    """L of the grey picture on one channel: scikit-image's values on every grey level and on a
    random picture (exactly here; within float32 rounding where the BLAS sums another way)."""
    rng = np.random.default_rng(3)
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)  # every grey
    noise = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    for rgb in (ramp, noise):
        for sigma in (0.0, 5.0):
            ours, ref = sp.slic_input(rgb, sigma), sp._slic_input_skimage(rgb, sigma)
            assert ours.dtype == np.float32 and ours.shape == rgb.shape[:2]
            np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4)
        assert np.array_equal(sp.slic_labels(rgb, 200, 1.0), sp._slic_labels_skimage(rgb, 200, 1.0))


def test_slic_labels_equal_the_scikit_image_path_on_training_photos(shared_data):
    """On real training photos at 224x224 (as prepared), the compiled SLIC and its one-channel
    input give exactly the labels of scikit-image's steps on scikit-image's conversion.
    benchmarks/bench_slic.py checks the same on 300 photos."""
    for name, rgb in _training_photos(shared_data, 24):
        assert np.array_equal(sp.slic_input(rgb, 5.0), sp._slic_input_skimage(rgb, 5.0)), name
        assert np.array_equal(sp.slic_labels(rgb), sp._slic_labels_skimage(rgb)), name
    # other sizes and settings (the metrics call slic_labels on photos of any size)
    import cv2

    sizes = ((251, 173), (64, 96), (211, 300))  # (width, height) for cv2
    for (name, rgb), size in zip(_training_photos(shared_data, 3), sizes, strict=True):
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        for n_segments, sigma in ((10000, 5.0), (300, 1.0)):
            assert np.array_equal(sp.slic_labels(rgb, n_segments, sigma),
                                  sp._slic_labels_skimage(rgb, n_segments, sigma)), name


def test_compiled_connectivity_equals_scikit_image():
    """SLIC's connectivity step in numba relabels exactly as scikit-image's: random label fields
    full of small pieces, unassigned (0) pixels, and small and large size limits."""
    from skimage.segmentation._slic import _enforce_label_connectivity_cython

    rng = np.random.default_rng(4)
    for i in range(60):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        labels = rng.integers(0 if i % 3 == 0 else 1, int(rng.integers(2, 12)), (h, w))
        if i % 2:  # blocks, so that pieces of several pixels occur
            labels = np.repeat(np.repeat(labels, 3, 0), 2, 1)[:h, :w]
        min_size, max_size = int(rng.integers(0, 8)), int(rng.integers(1, 30))
        expected = _enforce_label_connectivity_cython(
            np.ascontiguousarray(labels[np.newaxis], dtype=np.intp), min_size, max_size,
            start_label=1)[0]
        assert np.array_equal(sp._connect(labels.astype(np.int32), min_size, max_size), expected)


def _label_fields(seed: int, count: int):
    """Random (labels, rgb) pairs: blocky label fields of many sizes, with colours drawn from a
    few levels (so that many distances tie exactly) or from all 256."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        h, w = (int(v) for v in rng.integers(2, 48, 2))
        by, bx = (int(v) for v in rng.integers(1, 4, 2))
        grid = rng.integers(0, int(rng.integers(2, 400)), (h // by + 1, w // bx + 1))
        labels = np.repeat(np.repeat(grid, by, 0), bx, 1)[:h, :w]
        levels = (0, 20, 40) if i % 2 else tuple(range(256))
        rgb = rng.choice(np.array(levels, np.uint8), (h, w, 3))
        if i % 3 == 0:  # flat regions: each label one colour, so many exact ties between regions
            rgb = rng.choice(np.array(levels, np.uint8), (int(labels.max()) + 1, 3))[labels]
        yield labels, rgb


def test_merge_equals_the_reference_merge_on_synthetic_label_fields():
    """_merge (int32 tables, packed lists, four-way heap) merges exactly as the first compiled
    merge, _merge_reference, including tied distances and thresholds at tie values."""
    for labels, rgb in _label_fields(5, 120):
        for thresh in (0.0, 20.0, 35.0, 40.0, 1000.0):
            assert np.array_equal(sp.merge_regions(labels, rgb, thresh),
                                  sp.merge_regions(labels, rgb, thresh, reference=True))


def test_smooth_paints_what_paint_mean_paints():
    """smooth paints from the merge's own region totals; paint_mean of the merged labels gives
    the same picture (integer sums, exact in any order)."""
    for labels, rgb in _label_fields(6, 40):
        rgb = np.ascontiguousarray(rgb)
        merged = sp._merged(labels, rgb, 35.0)
        assert np.array_equal(sp._paint_merged(*merged), sp.paint_mean(merged[1][merged[0]], rgb))
    quad = quadrants(noise=20, size=48)
    expected = sp.paint_mean(sp.merge_regions(sp.slic_labels(quad, 200, 1.0), quad, 35.0), quad)
    assert np.array_equal(sp.smooth(quad, 200, 1.0, 35.0), expected)


def test_grey_equals_scikit_image_rgb2gray():
    from skimage.color import rgb2gray

    rng = np.random.default_rng(7)
    for h, w in ((1, 1), (7, 13), (224, 224), (90, 161)):
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        assert np.array_equal(sp._grey(rgb), rgb2gray(rgb))
    floats = rng.random((9, 5, 3))  # not uint8: scikit-image's own function
    assert np.array_equal(sp._grey(floats), rgb2gray(floats))


def test_merge_equals_the_reference_merge_on_training_photos(shared_data):
    """On real training photos at 224x224 with their SLIC labels, the merged labels are those of
    the first compiled merge, array for array; benchmarks/bench_merge.py checks 300 photos."""
    for name, rgb in _training_photos(shared_data, 24):
        labels = sp.slic_labels(rgb)
        assert np.array_equal(sp.merge_regions(labels, rgb, 35.0),
                              sp.merge_regions(labels, rgb, 35.0, reference=True)), name
        merged = sp._merged(labels, rgb, 35.0)
        assert np.array_equal(sp._paint_merged(*merged),
                              sp.paint_mean(merged[1][merged[0]], rgb)), name


def test_region_sums_equal_bincount_and_gapped_labels_merge_alike():
    for labels, rgb in _label_fields(8, 20):
        labels = labels.astype(np.int64)
        n = int(labels.max()) + 1
        count, total = sp._region_sums(labels, rgb, n)
        assert np.array_equal(count, np.bincount(labels.ravel(), minlength=n).astype(np.float64))
        for c in range(3):
            expected = np.bincount(labels.ravel(), weights=rgb[..., c].ravel().astype(np.float64),
                                   minlength=n)
            assert np.array_equal(total[:, c], expected)
        # labels with gaps and an offset are renumbered: the same partition
        gapped = sp.merge_regions(labels * 3 + 7, rgb, 35.0)
        plain = sp.merge_regions(np.unique(labels, return_inverse=True)[1].reshape(labels.shape),
                                 rgb, 35.0)
        assert len(np.unique(gapped * 100000 + plain)) == len(np.unique(plain))
        assert len(np.unique(gapped)) == len(np.unique(plain))
