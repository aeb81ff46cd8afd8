import numpy as np
import pytest
from skimage.color import deltaE_ciede2000
from skimage.metrics import peak_signal_noise_ratio

from colorizer import color, metrics


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 30, a.shape), 0, 255).astype(np.uint8)
    return a, b


def test_psnr_matches_skimage(pair):
    a, b = pair
    assert np.isclose(metrics.psnr(a, b), peak_signal_noise_ratio(b, a, data_range=255))
    assert metrics.psnr(a, a) == float("inf")


def test_ciede2000_matches_skimage(pair):
    a, b = pair
    la, lb = color.rgb2lab(a).astype(np.float64), color.rgb2lab(b).astype(np.float64)
    assert np.isclose(metrics.ciede2000(la, lb), deltaE_ciede2000(lb, la).mean())


def test_ssim_identity_and_range(pair):
    a, b = pair
    assert np.isclose(metrics.ssim(a, a), 1.0)
    assert 0 < metrics.ssim(a, b) < 1


def test_auc_known_answers():
    rng = np.random.default_rng(1)
    ab = rng.normal(0, 30, (16, 16, 2))
    assert metrics.auc(ab, ab) == 100.0
    shifted = ab + np.array([30.3, 40.4])  # error 50.5 everywhere
    # thresholds 0..150: within for t >= 51, i.e. 100 of 151 thresholds
    assert np.isclose(metrics.auc(shifted, ab), 100 * 100 / 151)
    prior = metrics.ab_prior([ab])
    assert np.isclose(metrics.auc(shifted, ab, prior=prior), 100 * 100 / 151)


def test_rebalanced_auc_weights_rare_colours():
    target = np.zeros((10, 10, 2))
    target[0, :2] = (60, 60)  # rare saturated pixels
    pred = np.zeros_like(target)  # right on the common grey, wrong on the rare colour
    prior = metrics.ab_prior([target])
    assert metrics.auc(pred, target, prior=prior) < metrics.auc(pred, target) - 20


def test_colourfulness():
    grey = np.repeat(np.arange(100, dtype=np.uint8).reshape(10, 10, 1), 3, axis=2)
    assert metrics.colourfulness(grey) == 0.0
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 200
    # rg = 200, yb = 100, no spread: 0.3 * sqrt(200^2 + 100^2)
    assert np.isclose(metrics.colourfulness(red), 0.3 * np.hypot(200, 100))
    assert np.isclose(metrics.delta_colourfulness(grey[:4, :4], red), -metrics.colourfulness(red))


def _loop_max_channel(pred, target, labels):
    """A plain per-pixel loop of the seed's algorithm, for reference."""
    h, w = labels.shape
    avg = {}
    for name, img in (("p", pred), ("t", target)):
        sums, counts = {}, {}
        for y in range(h):
            for x in range(w):
                k = labels[y, x]
                sums[k] = sums.get(k, np.zeros(3)) + img[y, x]
                counts[k] = counts.get(k, 0) + 1
        avg[name] = {k: (sums[k] / counts[k]).astype(np.uint8) for k in sums}
    agree = 0
    for y in range(h):
        for x in range(w):
            chans = []
            for name in ("p", "t"):
                r, g, b = (int(v) for v in avg[name][labels[y, x]])
                chans.append(0 if (r > g and r > b) else 1 if (g > r and g > b) else 2)
            agree += chans[0] == chans[1]
    return 100 * agree / (h * w)


def _loop_grey(pred, target, weights, threshold):
    h, w, _ = pred.shape
    hits = 0
    for y in range(h):
        for x in range(w):
            gp = sum(wt * float(v) for wt, v in zip(weights, pred[y, x], strict=True))
            gt = sum(wt * float(v) for wt, v in zip(weights, target[y, x], strict=True))
            hits += abs(gp - gt) < threshold
    return 100 * hits / (h * w)


def test_seed_metrics_against_plain_loops(pair):
    a, b = pair
    labels = (np.arange(24)[:, None] // 6) * 4 + np.arange(20)[None, :] // 5
    got = metrics.max_channel_agreement(b, a, labels=labels)["agreement"]
    assert np.isclose(got, _loop_max_channel(b, a, labels))
    assert np.isclose(metrics.grey_accuracy(b, a, "mean"), _loop_grey(b, a, (1 / 3,) * 3, 20))
    assert np.isclose(metrics.grey_accuracy(b, a, "seed"), _loop_grey(b, a, (0.30, 0.59, 0.11), 20))


def test_tie_rule_counts_ties_as_blue():
    img = np.zeros((2, 2, 3), np.uint8)
    img[0, 0] = (100, 100, 50)  # red = green: a tie, so blue
    img[0, 1] = (10, 10, 10)
    img[1, 0] = (200, 10, 10)
    img[1, 1] = (10, 200, 10)
    assert metrics._strongest_channel(img).tolist() == [[2, 2], [0, 1]]


def test_grey_baseline_scores_high_on_grey_accuracy():
    from helpers import smooth_photo

    # photo-like chroma: a synthetic photo mixed 40/60 with its own grey
    photo = smooth_photo(40, 50).astype(np.float64)
    a = (0.4 * photo + 0.6 * photo.mean(axis=2, keepdims=True)).astype(np.uint8)
    L = color.srgb_to_l(a)
    grey = color.l_ab_to_srgb(L, np.zeros((*L.shape, 2), np.float32))
    assert metrics.grey_accuracy(grey, a, "seed") >= 95


def test_input_validation(pair):
    a, b = pair
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.psnr(a, b[:5])
    with pytest.raises(TypeError, match="uint8"):
        metrics.psnr(a.astype(float), b.astype(float))
    with pytest.raises(ValueError, match="expected"):
        metrics.auc(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)))


def test_flat_chroma_edges_flags_bands_not_colour_that_follows_lightness():
    from colorizer.color import lab2rgb_u8

    lab = np.zeros((64, 96, 3))
    lab[..., 0] = 50
    banded = lab.copy()
    banded[-8:, :, 1] = np.where(np.arange(8) % 2 == 0, 40, -40)[:, None]  # stripes on flat L
    r = metrics.flat_chroma_edges(lab2rgb_u8(banded))
    assert r["border"] > 5 and r["share"] > 1
    follows = lab.copy()
    follows[:, 48:, 0] = 80  # an L edge, and the colour changes with it
    follows[:, 48:, 1] = 40
    r = metrics.flat_chroma_edges(lab2rgb_u8(follows))
    assert r["share"] < 0.5 and r["border"] < 0.5
    with pytest.raises(ValueError):
        metrics.flat_chroma_edges(np.zeros((4, 4)))


def test_flat_chroma_edges_flags_the_v0_1_demo_stripes():
    """A crop of the lower left of `colorize demo`'s picture from the from-scratch gan (v0.1),
    with its green, orange and pink bands: the check in test_artifacts.py must fail on it."""
    from pathlib import Path

    from PIL import Image
    from test_artifacts import MAX_BORDER

    crop = Image.open(Path(__file__).parent / "data" / "stripes_sample_gan_v0.1.png").convert("RGB")
    crop = np.asarray(crop)
    assert metrics.flat_chroma_edges(crop)["border"] > 2 * MAX_BORDER


def test_blotchiness_known_answers():
    rng = np.random.default_rng(0)
    L = np.full((64, 64), 50.0)
    assert metrics.blotchiness(L, np.full((64, 64, 2), 20.0)) == 0.0  # one colour: no blotches
    noisy = rng.normal(0, 5, (64, 64, 2))  # iid ab noise: spread sqrt(var a + var b) = 5 sqrt(2)
    assert abs(metrics.blotchiness(L, noisy) - 5 * np.sqrt(2)) < 0.3
    stripes = np.zeros((64, 64))
    stripes[:, ::2] = 100.0  # no region of even lightness
    assert np.isnan(metrics.blotchiness(stripes, noisy))
