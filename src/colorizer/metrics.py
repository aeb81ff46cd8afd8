"""Colorization metrics: pure functions on arrays, with input checks.

Conventions: ``rgb`` arguments are uint8 (H, W, 3) images; ``lab`` arguments are float (H, W, 3)
in Lab units; ``ab`` arguments are float (H, W, 2) in Lab units. Every function compares a
prediction with its ground truth of the same shape and returns a float.

* The seed's grading algorithms: :func:`max_channel_agreement` (with per-channel shares) and
  :func:`grey_accuracy` (mean and 0.30R+0.59G+0.11B formulas, threshold 20).
* Standard ones: :func:`psnr`, :func:`ssim`, :func:`ciede2000`, :func:`auc` (Zhang et al.'s
  area under the cumulative ab-error curve, raw or class-rebalanced), :func:`colourfulness`
  (Hasler and Suesstrunk) and :func:`delta_colourfulness`.
"""

from __future__ import annotations

import numpy as np

from colorizer.color import grey

#: Zhang et al.'s AuC thresholds on the ab error (Lab units).
AUC_THRESHOLDS = np.arange(0, 151)


def _pair(pred, target, channels: int, name: str, dtype=None):
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"{name}: pred and target shapes differ: {pred.shape} vs {target.shape}")
    if pred.ndim != 3 or pred.shape[2] != channels:
        raise ValueError(f"{name}: expected (H, W, {channels}) arrays, got {pred.shape}")
    if dtype is not None and (pred.dtype != dtype or target.dtype != dtype):
        raise TypeError(f"{name}: expected {np.dtype(dtype)} arrays, got {pred.dtype} and {target.dtype}")
    return pred, target


def psnr(pred_rgb: np.ndarray, target_rgb: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over uint8 RGB (data range 255). inf for identical images."""
    pred, target = _pair(pred_rgb, target_rgb, 3, "psnr", np.uint8)
    mse = np.mean((pred.astype(np.float64) - target) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(pred_rgb: np.ndarray, target_rgb: np.ndarray) -> float:
    """Structural similarity over uint8 RGB (scikit-image, channel-averaged)."""
    from skimage.metrics import structural_similarity

    pred, target = _pair(pred_rgb, target_rgb, 3, "ssim", np.uint8)
    win = min(7, min(pred.shape[:2]) // 2 * 2 + 1) if min(pred.shape[:2]) < 7 else 7
    return float(structural_similarity(pred, target, channel_axis=2, data_range=255, win_size=win))


def ciede2000(pred_lab: np.ndarray, target_lab: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference between two Lab images."""
    from skimage.color import deltaE_ciede2000

    pred, target = _pair(pred_lab, target_lab, 3, "ciede2000")
    return float(np.mean(deltaE_ciede2000(target, pred)))


def _bin_codes(ab: np.ndarray, grid: int) -> np.ndarray:
    k = np.floor(np.asarray(ab, np.float64).reshape(-1, 2) / grid).astype(np.int64)
    return (k[:, 0] + 1000) * 4096 + (k[:, 1] + 1000)


def ab_prior(ab_images, grid: int = 10) -> dict:
    """Empirical distribution of ground-truth ab over bins of ``grid`` Lab units (for rebalancing)."""
    codes = np.concatenate([_bin_codes(ab, grid) for ab in ab_images])
    keys, counts = np.unique(codes, return_counts=True)
    return {"grid": grid, "codes": keys, "p": counts / counts.sum()}


def auc(pred_ab: np.ndarray, target_ab: np.ndarray, prior: dict | None = None) -> float:
    """Zhang et al.'s AuC, in percent: the share of pixels whose ab error (L2) is within a threshold,
    averaged over thresholds 0, 1, ..., 150.

    With ``prior`` (from :func:`ab_prior` over the ground truth of a whole test set), pixels are
    weighted by the inverse probability of their true colour's bin: the class-rebalanced AuC,
    which rewards getting rare (saturated) colours right.

    Examples
    --------
    >>> ab = np.random.default_rng(0).normal(0, 20, (8, 8, 2))
    >>> auc(ab, ab)
    100.0
    """
    pred, target = _pair(pred_ab, target_ab, 2, "auc")
    err = np.linalg.norm(pred.astype(np.float64) - target, axis=2).ravel()
    if prior is None:
        weights = np.ones_like(err)
    else:
        codes = _bin_codes(target, prior["grid"])
        pos = np.clip(np.searchsorted(prior["codes"], codes), 0, len(prior["codes"]) - 1)
        p = np.where(prior["codes"][pos] == codes, prior["p"][pos], 0.0)
        weights = np.where(p > 0, 1.0 / np.maximum(p, 1e-12), 0.0)
    order = np.sort(err)
    cum = np.cumsum(weights[np.argsort(err)]) / weights.sum()
    idx = np.searchsorted(order, AUC_THRESHOLDS, side="right")
    share = np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)
    return float(100 * share.mean())


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colourfulness of a uint8 RGB image; 0 for any grey image.

    ``rg = R - G``, ``yb = (R + G) / 2 - B``; M = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 +
    mean_yb^2).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"colourfulness: expected an (H, W, 3) image, got {rgb.shape}")
    f = rgb.astype(np.float64)
    rg = f[..., 0] - f[..., 1]
    yb = 0.5 * (f[..., 0] + f[..., 1]) - f[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def delta_colourfulness(pred_rgb: np.ndarray, target_rgb: np.ndarray) -> float:
    """Colourfulness of the prediction minus that of the ground truth (negative: too dull)."""
    pred, target = _pair(pred_rgb, target_rgb, 3, "delta_colourfulness", np.uint8)
    return colourfulness(pred) - colourfulness(target)


def blotchiness(L: np.ndarray, ab: np.ndarray, n_segments: int = 100, max_l_std: float = 5.0) -> float:
    """How much the colour of one surface varies: the ab spread inside regions of even lightness.

    The photo's L (H, W) or (H, W, 1) is cut into about ``n_segments`` SLIC regions (compactness
    0.1 on L / 100); the regions whose L standard deviation is below ``max_l_std`` are the
    even surfaces (a wall, a curtain, a sky), and the result is the area-weighted mean over them
    of the ab standard deviation, sqrt(var a + var b), in Lab units (0: every such region has one
    colour). A blotchy colorization (a curtain blue above and orange below) scores high; the
    ground truth's own value is the reference. NaN when no region is even.
    """
    from skimage.segmentation import slic

    L = np.asarray(L, np.float64).reshape(np.asarray(L).shape[:2])
    ab = np.asarray(ab, np.float64)
    if ab.shape != (*L.shape, 2):
        raise ValueError(f"blotchiness: L {L.shape} and ab {ab.shape} differ in size")
    labels = slic(L / 100.0, n_segments=n_segments, compactness=0.1, channel_axis=None,
                  start_label=0).ravel()
    n = np.bincount(labels).astype(np.float64)

    def var(x):
        mean = np.bincount(labels, x.ravel()) / np.maximum(n, 1)
        return np.bincount(labels, (x.ravel() - mean[labels]) ** 2) / np.maximum(n, 1)

    even = (np.sqrt(var(L)) < max_l_std) & (n > 0)
    if not even.any():
        return float("nan")
    spread = np.sqrt(var(ab[..., 0]) + var(ab[..., 1]))
    return float((spread[even] * n[even]).sum() / n[even].sum())


# --- the seed's grading algorithms -----------------------------------------------------------------


def _strongest_channel(rgb: np.ndarray) -> np.ndarray:
    """0 = red, 1 = green, 2 = blue. As in the seed's code, red or green wins only when strictly
    above both other channels; every other case (ties included) counts as blue."""
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    return np.where((r > g) & (r > b), 0, np.where((g > r) & (g > b), 1, 2))


def _region_average(rgb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    from colorizer.superpixels import paint_mean

    return paint_mean(labels, rgb)


def grading_regions(target_rgb: np.ndarray, n_segments: int = 10000, sigma: float = 5.0,
                    thresh: float = 35.0) -> np.ndarray:
    """The merged superpixels of the ground truth, as in data preparation (labels, (H, W))."""
    from colorizer.superpixels import merge_regions, slic_labels

    return merge_regions(slic_labels(target_rgb, n_segments, sigma), target_rgb, thresh)


def max_channel_agreement(pred_rgb: np.ndarray, target_rgb: np.ndarray, *,
                          labels: np.ndarray | None = None) -> dict:
    """The seed's max-colour-channel agreement, in percent, with per-channel shares.

    Both images are averaged over the same regions (the ground truth's merged superpixels unless
    ``labels`` are given); for each pixel the strongest channel is compared. Returns
    ``{"agreement": %, "red": %, "green": %, "blue": %}``, where a channel's share is the
    percentage of ground-truth pixels whose strongest channel it is that the prediction matches.
    """
    pred, target = _pair(pred_rgb, target_rgb, 3, "max_channel_agreement", np.uint8)
    if labels is None:
        labels = grading_regions(target)
    if labels.shape != pred.shape[:2]:
        raise ValueError(f"labels must have shape {pred.shape[:2]}, got {labels.shape}")
    cp = _strongest_channel(_region_average(pred, labels))
    ct = _strongest_channel(_region_average(target, labels))
    out = {"agreement": float(100 * np.mean(cp == ct))}
    for k, name in enumerate(("red", "green", "blue")):
        sel = ct == k
        out[name] = float(100 * np.mean(cp[sel] == k)) if sel.any() else float("nan")
    return out


def grey_accuracy(pred_rgb: np.ndarray, target_rgb: np.ndarray, formula: str = "mean",
                  threshold: float = 20.0) -> float:
    """The seed's grey back-projection accuracy, in percent: both images turned grey (``"mean"``
    or ``"seed"`` = 0.30R+0.59G+0.11B), share of pixels whose grey values differ by less than
    ``threshold`` (0-255). A grey output keeps L and so scores near 100 by construction."""
    pred, target = _pair(pred_rgb, target_rgb, 3, "grey_accuracy", np.uint8)
    diff = np.abs(grey(pred, formula) - grey(target, formula))
    return float(100 * np.mean(diff < threshold))


def flat_chroma_edges(rgb: np.ndarray, ab_step: float = 3.0, l_step: float = 0.5,
                      sigma: float = 1.0, border: float = 0.06) -> dict:
    """Colour that changes sharply where lightness does not: the stripes, bands and blotches a
    colorizer invents (it sees only L, so its chroma edges should follow L's edges).

    Both images are blurred (Gaussian ``sigma`` pixels) and differentiated (Sobel, per pixel);
    a pixel is flagged when its ab gradient exceeds ``ab_step`` Lab units per pixel while its L
    gradient is under ``l_step``. Natural photos do have such edges (a red ball on green grass
    of the same lightness), so this grades colorizations, not photos.

    Parameters
    ----------
    rgb : ndarray, uint8 (H, W, 3)
        A colorized picture.

    Returns
    -------
    dict
        ``share``: percentage of flagged pixels in the picture; ``border``: the highest
        percentage in the four border strips (``border`` of the short side, at least 8 pixels
        wide), where decoders put bands.

    Examples
    --------
    >>> grey = np.full((64, 64, 3), 120, np.uint8)
    >>> flat_chroma_edges(grey)["share"]
    0.0
    """
    import cv2

    from colorizer.color import rgb2lab

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"flat_chroma_edges: expected a uint8 (H, W, 3) image, got {rgb.dtype} {rgb.shape}")
    lab = cv2.GaussianBlur(rgb2lab(rgb).astype(np.float32), (0, 0), sigma)

    def gradient(x):
        gx = cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3) / 8
        gy = cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3) / 8
        return np.hypot(gx, gy)

    flagged = (np.hypot(gradient(lab[..., 1]), gradient(lab[..., 2])) > ab_step) & \
        (gradient(lab[..., 0]) < l_step)
    b = max(8, int(border * min(rgb.shape[:2])))
    strips = (flagged[:b], flagged[-b:], flagged[:, :b], flagged[:, -b:])
    return {"share": float(flagged.mean() * 100), "border": float(max(s.mean() for s in strips) * 100)}


# --- video: temporal consistency --------------------------------------------------------------------


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp with bilinear sampling: ``out[y, x] = image[y + flow[y, x, 1], x + flow[y, x, 0]]``.

    Parameters
    ----------
    image : ndarray, (H, W) or (H, W, C)
        Any numeric dtype; sampled as float64. Positions outside the image are clamped to the border.
    flow : ndarray, (H, W, 2) float
        Displacement in pixels (x, y) from each output pixel to where it is read.

    Returns
    -------
    ndarray, float64, the shape of ``image``.

    Examples
    --------
    >>> img = np.arange(12.0).reshape(3, 4)
    >>> flow = np.zeros((3, 4, 2)); flow[..., 0] = 1   # read one pixel to the right
    >>> warp(img, flow)[0].tolist()
    [1.0, 2.0, 3.0, 3.0]
    """
    image, flow = np.asarray(image, np.float64), np.asarray(flow, np.float64)
    h, w = image.shape[:2]
    if flow.shape != (h, w, 2):
        raise ValueError(f"warp: flow must have shape ({h}, {w}, 2), got {flow.shape}")
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    x = np.clip(xx + flow[..., 0], 0, w - 1)
    y = np.clip(yy + flow[..., 1], 0, h - 1)
    x0, y0 = np.minimum(np.floor(x).astype(np.int64), w - 2 if w > 1 else 0), \
        np.minimum(np.floor(y).astype(np.int64), h - 2 if h > 1 else 0)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    if image.ndim == 3:
        fx, fy = fx[..., None], fy[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def flow_valid_mask(flow_back: np.ndarray, flow_fwd: np.ndarray, tolerance: float = 0.5) -> np.ndarray:
    """Non-occluded pixels of frame t by forward-backward consistency (Sundaram et al., 2010).

    ``flow_back`` (H, W, 2) maps frame t to frame t-1 (as :func:`warp` reads it) and ``flow_fwd``
    maps t-1 to t. A pixel is valid when following the backward flow and then the forward flow
    returns it to within ``|b + f|^2 <= 0.01 (|b|^2 + |f|^2) + tolerance`` pixels^2, and the backward
    flow does not leave the frame. Returns a bool (H, W) array.

    Examples
    --------
    >>> still = np.zeros((4, 5, 2))
    >>> bool(flow_valid_mask(still, still).all())
    True
    """
    b, f = np.asarray(flow_back, np.float64), np.asarray(flow_fwd, np.float64)
    if b.shape != f.shape or b.ndim != 3 or b.shape[2] != 2:
        raise ValueError(f"flow_valid_mask: expected two (H, W, 2) flows, got {b.shape} and {f.shape}")
    h, w = b.shape[:2]
    f_at = warp(f, b)
    err = ((b + f_at) ** 2).sum(2)
    ok = err <= 0.01 * ((b**2).sum(2) + (f_at**2).sum(2)) + tolerance
    yy, xx = np.mgrid[0:h, 0:w]
    inside = (xx + b[..., 0] >= 0) & (xx + b[..., 0] <= w - 1) & (yy + b[..., 1] >= 0) & \
        (yy + b[..., 1] <= h - 1)
    return ok & inside


def warp_error(ab_prev: np.ndarray, ab: np.ndarray, flow_back: np.ndarray,
               valid: np.ndarray | None = None) -> float:
    """Temporal warp error: mean ab distance (CIELAB chroma, L2) between frame t and frame t-1 warped
    onto it, over the ``valid`` (non-occluded) pixels.

    The flow should come from the ground-truth frames (:func:`flow_valid_mask` gives ``valid``), so
    that every colorization of a clip is measured along the same motion. L is left out: it is the
    input's own and would only add flow noise.

    Parameters
    ----------
    ab_prev, ab : ndarray, (H, W, 2) float
        ab of frames t-1 and t in Lab units.
    flow_back : ndarray, (H, W, 2)
        Flow from frame t to frame t-1 (see :func:`warp`).
    valid : ndarray, (H, W) bool, optional
        Pixels to score (default: all). NaN when none is valid.

    Examples
    --------
    >>> ab = np.zeros((6, 6, 2)); ab[:, :3] = (20, 0)
    >>> moved = np.roll(ab, 1, axis=1); flow = np.zeros((6, 6, 2)); flow[..., 0] = -1
    >>> warp_error(ab, moved, flow, valid=np.ones((6, 6), bool) & (np.arange(6) >= 1))
    0.0
    """
    prev, cur = _pair(ab_prev, ab, 2, "warp_error")
    warped = warp(prev, flow_back)
    dist = np.linalg.norm(cur.astype(np.float64) - warped, axis=2)
    if valid is not None:
        valid = np.asarray(valid, bool)
        if valid.shape != dist.shape:
            raise ValueError(f"warp_error: valid must have shape {dist.shape}, got {valid.shape}")
        dist = dist[valid]
    return float(dist.mean()) if dist.size else float("nan")


def rgb_histograms(rgb: np.ndarray) -> np.ndarray:
    """Per-channel 256-bin histograms of a uint8 RGB image, each normalised to sum 1: (3, 256)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb_histograms: expected a uint8 (H, W, 3) image, got {rgb.dtype} {rgb.shape}")
    hist = np.stack([np.bincount(rgb[..., c].ravel(), minlength=256) for c in range(3)]).astype(np.float64)
    return hist / hist.sum(1, keepdims=True)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (natural log, so in [0, ln 2]) between two distributions.

    Examples
    --------
    >>> round(js_divergence([1.0, 0.0], [0.0, 1.0]) / float(np.log(2)), 6)
    1.0
    """
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.shape != q.shape:
        raise ValueError(f"js_divergence: shapes differ: {p.shape} vs {q.shape}")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a):
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    return 0.5 * kl(p) + 0.5 * kl(q)


def cdc(frames, offsets: tuple[int, ...] = (1, 2, 4)) -> float:
    """Colour distribution consistency (Liu et al.'s CDC; lower is steadier).

    For each offset k, the Jensen-Shannon divergence (:func:`js_divergence`) between the
    per-channel 256-bin RGB histograms of frames t and t+k, averaged over channels and t; the
    result is the mean over the offsets that fit in the clip (NaN for a single frame).

    Parameters
    ----------
    frames : sequence of uint8 (H, W, 3) arrays, or of (3, 256) histograms
        The clip in order; histograms (from :func:`rgb_histograms`) let a caller stream the frames.

    Examples
    --------
    >>> still = [np.full((4, 4, 3), 90, np.uint8)] * 6
    >>> cdc(still)
    0.0
    """
    hists = [np.asarray(f, np.float64) if np.shape(f) == (3, 256) else rgb_histograms(f) for f in frames]
    per_offset = []
    for k in offsets:
        if k < 1:
            raise ValueError(f"cdc: offsets must be positive, got {k}")
        if len(hists) > k:
            per_offset.append(np.mean([js_divergence(hists[t][c], hists[t + k][c])
                                       for t in range(len(hists) - k) for c in range(3)]))
    return float(np.mean(per_offset)) if per_offset else float("nan")


def mask_precision_recall(pred_mask: np.ndarray, true_mask: np.ndarray,
                          tolerance: int = 2) -> tuple[float, float]:
    """Precision and recall of a found damage mask against the true one, with a tolerance.

    A found pixel is right when a true damage pixel lies within ``tolerance`` pixels of it
    (Euclidean), and a true pixel is found when a found pixel lies within ``tolerance`` of it.
    An empty found mask has precision 1; an empty true mask has recall 1.

    >>> true = np.zeros((20, 20), bool); true[:, 10] = True
    >>> found = np.zeros((20, 20), bool); found[:10, 11] = True; found[0, 0] = True
    >>> tuple(round(x, 2) for x in mask_precision_recall(found, true))
    (0.91, 0.55)
    """
    import cv2

    pred, true = np.asarray(pred_mask, bool), np.asarray(true_mask, bool)
    if pred.shape != true.shape or pred.ndim != 2:
        raise ValueError(f"mask_precision_recall: expected two (H, W) masks, got {pred.shape} "
                         f"and {true.shape}")

    def near(mask):  # pixels within the tolerance of the mask
        dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
        return dist <= tolerance + 1e-6

    precision = float(near(true)[pred].mean()) if pred.any() else 1.0
    recall = float(near(pred)[true].mean()) if true.any() else 1.0
    return precision, recall


def psnr_where(pred: np.ndarray, target: np.ndarray, where: np.ndarray) -> float:
    """PSNR in dB (data range 255) of uint8 images (H, W) or (H, W, C) over the pixels of the
    (H, W) mask ``where``; inf where they agree there or the mask is empty."""
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape or pred.shape[:2] != np.shape(where):
        raise ValueError(f"psnr_where: shapes differ: {pred.shape}, {target.shape}, {np.shape(where)}")
    if not np.any(where):
        return float("inf")
    diff = pred[where].astype(np.float64) - target[where]
    mse = float(np.mean(diff ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
