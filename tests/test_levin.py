import numpy as np
import pytest
import torch
from skimage.color import deltaE_ciede2000

from colorizer import levin
from colorizer.errors import ColorizerError
from colorizer.registry import Hints, get_colorizer


def two_regions(h=40, w=60, noise=0.3):
    L = np.full((h, w), 35.0)
    L[:, w // 2:] = 75.0
    return L + np.random.default_rng(0).normal(0, noise, L.shape)  # a little texture


def scribble_two(L):
    h, w = L.shape
    hint = np.zeros((h, w, 2))
    mask = np.zeros((h, w), bool)
    mask[h // 2, 5:12] = True
    hint[h // 2, 5:12] = (45, 30)
    mask[5:9, w - 10] = True
    hint[5:9, w - 10] = (-35, 20)
    return hint, mask


def test_two_flat_regions_take_their_scribble_colours():
    L = two_regions()
    hint, mask = scribble_two(L)
    ab = levin.colorize(L, hint, mask)
    w = L.shape[1]
    for region, colour in ((np.s_[:, : w // 2], (45, 30)), (np.s_[:, w // 2:], (-35, 20))):
        got = np.concatenate([L[region][..., None], ab[region]], -1)
        want = np.concatenate([L[region][..., None], np.broadcast_to(colour, ab[region].shape)], -1)
        assert (deltaE_ciede2000(got, want) < 5).mean() >= 0.95


@pytest.mark.parametrize("prior", [False, True])
def test_matches_direct_solve(prior):
    rng = np.random.default_rng(1)
    L = rng.uniform(20, 80, (30, 25))
    L = (L + np.roll(L, 1, 0) + np.roll(L, 1, 1)) / 3
    hint = rng.uniform(-50, 50, (30, 25, 2))
    mask = rng.random((30, 25)) < 0.05
    kwargs = {"prior_ab": rng.uniform(-20, 20, (30, 25, 2)), "prior_weight": 0.1} if prior else {}
    fast = levin.solve(L, hint, mask, **kwargs)
    direct = levin.solve(L, hint, mask, method="direct", **kwargs)
    assert np.linalg.norm(fast - direct) / np.linalg.norm(direct) <= 1e-3


def test_an_unconverged_multigrid_solve_falls_back_to_the_direct_one():
    # one CG step cannot reach the tolerance in float32 or float64: the answer must still be the
    # direct solve's (the fill once returned 1e11 where float32 CG diverged on a real photo)
    rng = np.random.default_rng(3)
    L = rng.uniform(0, 100, (40, 50))
    prior = rng.uniform(-30, 30, (40, 50, 2))
    hint = rng.uniform(-60, 60, (40, 50, 2))
    mask = rng.random((40, 50)) < 0.02
    kwargs = {"prior_ab": prior, "prior_weight": 1e-5, "edge_sharpness": 2.0, "contrast_sigma": 5.0}
    direct = levin.solve(L, hint, mask, method="direct", **kwargs)
    stopped = levin.solve(L, hint, mask, maxiter=1, tol=1e-9, **kwargs)
    assert np.abs(stopped - direct).max() < 1e-6
    # and the multigrid answer, when it converges, keeps within the hints' range (maximum principle)
    fast = levin.solve(L, hint, mask, **kwargs)
    assert np.abs(fast - prior).max() <= np.abs((hint - prior)[mask]).max() * 1.01


def test_system_is_levins_for_symmetric_weights():
    """Each free pixel is the weighted mean of its neighbours (Levin's equation)."""
    rng = np.random.default_rng(2)
    L = rng.uniform(0, 100, (12, 9))
    hint = rng.uniform(-40, 40, (12, 9, 2))
    mask = rng.random((12, 9)) < 0.2
    ab = levin.solve(L, hint, mask, method="direct")
    W = levin.affinity_matrix(L / 100).toarray()
    assert np.allclose(W, W.T) and (np.diag(W) == 0).all()
    flat = ab.reshape(-1, 2)
    free = ~mask.ravel()
    mean = (W @ flat) / W.sum(1, keepdims=True)
    assert np.allclose(flat[free], mean[free], atol=1e-6)
    assert np.allclose(flat[~free], hint.reshape(-1, 2)[~free])


def test_weights_follow_the_formula_inside():
    L = np.random.default_rng(3).uniform(0, 100, (5, 5))
    Y = L / 100
    fw = levin.forward_weights(Y)
    r, s = (2, 2), (2, 3)  # forward neighbour (0, 1)

    def two_sigma2(p):  # the authors' csig
        win = Y[p[0] - 1:p[0] + 2, p[1] - 1:p[1] + 2]
        nearest = np.sort(((win - Y[p]) ** 2).ravel())[1]  # the pixel itself is the 0
        return max(0.6 * win.var(), nearest / np.log(100), 2e-6)

    d2 = (Y[r] - Y[s]) ** 2
    want = 0.5 * (np.exp(-d2 / two_sigma2(r)) + np.exp(-d2 / two_sigma2(s)))
    assert np.isclose(fw[0][r], want)


def test_prior_mode_keeps_unscribbled_flat_region():
    L = two_regions(noise=0)
    prior = np.zeros(L.shape + (2,))
    prior[..., 0], prior[..., 1] = 10.0, -5.0
    hint = np.zeros_like(prior)
    mask = np.zeros(L.shape, bool)
    mask[20, 3:10] = True
    hint[20, 3:10] = (50, 40)  # correct the left region only
    ab = levin.colorize(L, hint, mask, prior_ab=prior, prior_weight=0.01)
    right = ab[:, L.shape[1] // 2:]
    assert np.abs(right - prior[:, L.shape[1] // 2:]).max() < 1.0
    assert np.abs(ab[20, 12] - (50, 40)).max() < 20  # the correction spread on the left
    assert np.abs(ab[20, 12] - (10, -5)).max() > 20


def test_fully_scribbled_returns_scribbles():
    L = two_regions(10, 10)
    hint = np.random.default_rng(4).uniform(-30, 30, (10, 10, 2))
    assert np.allclose(levin.colorize(L, hint, np.ones((10, 10), bool)), hint)


def test_no_scribbles_and_bad_shapes():
    L = two_regions(10, 10)
    with pytest.raises(ColorizerError, match="no scribbles"):
        levin.colorize(L, np.zeros((10, 10, 2)), np.zeros((10, 10), bool))
    with pytest.raises(ColorizerError, match="need L"):
        levin.colorize(L, np.zeros((10, 9, 2)), np.zeros((10, 10), bool))


def test_large_image_strategy_matches_full_solve_and_keeps_edges():
    L = two_regions(400, 600, noise=0)
    hint, mask = np.zeros((400, 600, 2)), np.zeros((400, 600), bool)
    mask[100:300:40, 50:250] = True  # strokes, as a user draws on a big photo
    hint[:, :300][mask[:, :300]] = (45, 30)
    mask[50:350:50, 350:550] = True
    hint[:, 300:][mask[:, 300:]] = (-35, 20)
    ab = levin.colorize(L, hint, mask, max_solve_pixels=100 * 150)  # solved at 1/16 the pixels
    assert ab.shape == (400, 600, 2)
    assert np.abs(ab - levin.solve(L, hint, mask)).mean() < 1.0
    assert ab[200, 299, 0] > 30 and ab[200, 300, 0] < -20  # the edge stays sharp
    assert np.allclose(ab[mask], hint[mask])


def test_registered_levin_uses_hints():
    model = get_colorizer("levin")
    L = torch.from_numpy(two_regions(16, 32)).float()[None, None]
    hint, mask = scribble_two(L[0, 0].numpy())
    hints = Hints(torch.from_numpy(hint).permute(2, 0, 1)[None].float(),
                  torch.from_numpy(mask)[None, None].float())
    ab = model.predict_ab(L, hints)
    assert ab.shape == (1, 2, 16, 32) and ab[0, 0, 2, 2] > 30
    with pytest.raises(ColorizerError, match="only from your scribbles"):
        model.predict_ab(L)


def _true_colour_strokes(lab, n=12, seed=0):
    """Short horizontal strokes that take the photo's true colour, as in bench_levin.py."""
    h, w = lab.shape[:2]
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), bool)
    for _ in range(n):
        y, x = rng.integers(0, h - 2), rng.integers(0, w - w // 8)
        mask[y:y + 2, x:x + w // 8] = True
    return np.where(mask[..., None], lab[..., 1:], 0.0), mask


@pytest.mark.parametrize("source", ["astronaut", "chelsea", "eval photo"])
def test_reduced_solve_scores_as_the_direct_solve(source, request):
    """What users get (solved at a quarter of the pixels, guided upsampling) scores the AuC of
    SciPy's direct solve of the full-size system, or better, within 0.5 (the bench's bar)."""
    import cv2
    from PIL import Image
    from skimage import data

    from colorizer.color import rgb2lab
    from colorizer.metrics import auc

    if source == "eval photo":
        files = sorted((request.getfixturevalue("shared_data") / "photos" / "eval" / "val20").glob("*.png"))
        photo = np.asarray(Image.open(files[1]).convert("RGB"))
    else:  # photos bundled with scikit-image
        photo = getattr(data, source)()
    lab = rgb2lab(cv2.resize(photo, (160, 128), interpolation=cv2.INTER_AREA)).astype(np.float64)
    hint, mask = _true_colour_strokes(lab)
    direct = levin.solve(lab[..., 0], hint, mask, method="direct")
    fast = levin.colorize(lab[..., 0], hint, mask, max_solve_pixels=64 * 80)
    truth = lab[..., 1:]
    assert auc(fast, truth) >= auc(direct, truth) - 0.5
    assert auc(fast, direct) > 97  # and close to it pixel by pixel
    assert np.allclose(fast[mask], hint[mask])


# --- fill_hints: hints on top of a model ------------------------------------------------------------


def _dot(shape, y, x, colour, r=2):
    hint, mask = np.zeros((*shape, 2)), np.zeros(shape, bool)
    mask[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = True
    hint[mask] = colour
    return hint, mask


@pytest.mark.parametrize("size", [(64, 96), (400, 600)])  # solved as is, and at reduced size
def test_fill_hints_one_dot_fills_its_region_and_leaves_the_other(size):
    h, w = size
    L = two_regions(h, w)
    model = np.zeros((h, w, 2))
    model[...] = (8.0, 12.0)
    hint, mask = _dot((h, w), h // 5, w // 10, (45.0, -30.0))
    ab = levin.fill_hints(L, model, hint, mask)
    left, right = ab[:, : w // 2 - 4], ab[:, w // 2 + 4:]  # a few pixels off the edge
    # the whole left region (far corners included) takes the dot's colour ...
    assert (np.abs(left - (45, -30)).max(-1) < 5).mean() >= 0.95, np.abs(left - (45, -30)).max()
    # ... and the right region keeps the model's
    assert np.abs(right - (8, 12)).max() < 1.5, np.abs(right - (8, 12)).max()
    assert np.allclose(ab[mask], hint[mask])


def test_fill_hints_without_hints_is_the_model():
    L = two_regions(20, 30)
    model = np.random.default_rng(5).uniform(-20, 20, (20, 30, 2))
    out = levin.fill_hints(L, model, np.zeros((20, 30, 2)), np.zeros((20, 30), bool))
    assert np.allclose(out, model, atol=1e-5)


def test_fill_hints_soft_weights():
    """Confidence 1 is a hard constraint, 0 ignores the hint, in between pulls part of the way."""
    h, w = 48, 64
    L = two_regions(h, w)
    model = np.zeros((h, w, 2))
    hint, mask = _dot((h, w), 20, 10, (40.0, 20.0))
    far = np.s_[40, 25]
    got = {}
    for c in (0.0, 0.3, 0.9, 1.0):
        ab = levin.fill_hints(L, model, hint, mask, hint_weight=np.full((h, w), c))
        got[c] = ab[far][0]
    assert abs(got[0.0]) < 1e-3 and got[1.0] > 35
    assert 0 < got[0.3] < got[0.9] < got[1.0]
    assert np.allclose(levin.fill_hints(L, model, hint, mask, hint_weight=np.ones((h, w))),
                       levin.fill_hints(L, model, hint, mask))
    with pytest.raises(ColorizerError, match="hint_weight"):
        levin.fill_hints(L, model, hint, mask, hint_weight=np.ones((h, w + 1)))
    with pytest.raises(ColorizerError, match="ab_model"):
        levin.fill_hints(L, model[:, :-1], hint, mask)


def _regions_photo(h=96, w=128, seed=0):
    """A synthetic colour photo: six flat-ish patches of different lightness and colour."""
    from colorizer.color import l_ab_to_srgb

    rng = np.random.default_rng(seed)
    L = np.zeros((h, w))
    ab = np.zeros((h, w, 2))
    for i, (y0, x0) in enumerate([(0, 0), (0, w // 3), (0, 2 * w // 3), (h // 2, 0),
                                   (h // 2, w // 3), (h // 2, 2 * w // 3)]):
        L[y0:y0 + h // 2, x0:x0 + w // 3 + 1] = 25 + 10 * i
        ab[y0:y0 + h // 2, x0:x0 + w // 3 + 1] = rng.uniform(-40, 40, 2)
    L += rng.normal(0, 0.5, L.shape)
    return l_ab_to_srgb(L.astype(np.float32), ab.astype(np.float32), np.uint8)


def _ten_dots(lab, seed=0):
    h, w = lab.shape[:2]
    rng = np.random.default_rng(seed)
    hint, mask = np.zeros((h, w, 2), np.float32), np.zeros((h, w), bool)
    for y, x in zip(rng.integers(2, h - 2, 10), rng.integers(2, w - 2, 10), strict=True):
        mask[y - 2:y + 3, x - 2:x + 3] = True
        hint[y - 2:y + 3, x - 2:x + 3] = lab[y - 2:y + 3, x - 2:x + 3, 1:].mean((0, 1))
    return hint, mask


def _psnr_gain(rgb, model_ab_fn):
    from colorizer.color import l_ab_to_srgb, rgb2lab
    from colorizer.metrics import psnr

    lab = rgb2lab(rgb).astype(np.float32)
    L = lab[..., 0]
    model = model_ab_fn(L)
    hint, mask = _ten_dots(lab)
    before = psnr(l_ab_to_srgb(L, model, np.uint8), rgb)
    after = psnr(l_ab_to_srgb(L, levin.fill_hints(L, model, hint, mask), np.uint8), rgb)
    return after - before


def test_ten_true_colour_dots_beat_a_wrong_model_on_synthetic_patches():
    rgb = _regions_photo()
    gain = _psnr_gain(rgb, lambda L: np.full((*L.shape, 2), (10.0, 10.0), np.float32))
    assert gain > 2.5


@pytest.mark.slow
def test_ten_true_colour_dots_beat_the_default_on_train_photos(shared_data):
    """The regression check of benchmarks/bench_hints.py on two training photos."""
    from colorizer.api import model_ab
    from colorizer.io import read_image

    model = get_colorizer("default", device="cpu")
    folder = shared_data / "photos" / "train"
    gains = []
    for sub in ("bsds500", "sun80", "flowers102"):  # the first photo of each
        rgb = read_image(sorted((folder / sub).glob("*.jpg"))[0]).to_array(np.uint8)[..., :3]
        gains.append(_psnr_gain(rgb, lambda L: model_ab(L, model)))
    # measured: +5.4, +0.5 and +4.8 dB
    assert min(gains) > 0.2 and np.mean(gains) > 1.5, gains
