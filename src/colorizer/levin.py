"""Levin, Lischinski & Weiss (2004), "Colorization using Optimization", made fast.

Colour spreads from user scribbles to neighbouring pixels of similar lightness. Each pixel r is
tied to its 3x3 neighbours s by the affinity ``w_rs = exp(-(Y_r - Y_s)^2 / (2 sigma_r^2))``, where
``2 sigma_r^2`` is 0.6 times the lightness variance of r's 3x3 window, with the floors of the
authors' code. The affinities are symmetrised, ``(w_rs + w_sr) / 2``, which makes the system a graph
Laplacian: symmetric positive definite once scribbled pixels are fixed, so conjugate gradients with
an algebraic-multigrid preconditioner (pyamg) solve it, with one set-up for both chroma channels.
For symmetric weights this is exactly Levin's system "each free pixel equals the weighted mean of
its neighbours"; the authors' per-pixel sigma makes their matrix slightly asymmetric.

With a model's prediction as ``prior_ab`` the unknown is the *correction* to that prediction: it
equals (hint - prior) at the scribbles, spreads by the same affinities, and decays with
``prior_weight``, so pixels far from any scribble (or across an edge) keep the model's colours.

Images larger than ``max_solve_pixels`` (256x256) are solved at that reduced size and brought back
to full size by a fast guided filter (He & Sun 2015): its linear coefficients are fitted at the
solve size and upsampled, then applied to the full-resolution lightness, so colour edges snap to the
photo's edges; the scribbled pixels are then restored exactly. Colour from scribbles varies slowly
away from edges, so on real 512x512 photos this scores the same AuC as the full-size direct solve
(within 0.5) in a fraction of the time (benchmarks/bench_levin.py prints both). Levin's solution
does depend a little on scale: where a region touches another of similar lightness along a long
border, a reduced-size solve lets a little more colour across it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from colorizer.errors import ColorizerError

#: Above this many pixels, solve at reduced size and upsample with a guided filter.
MAX_SOLVE_PIXELS = 256 * 256

# the four "forward" neighbour offsets; the other four are their mirror images
_FORWARD = [(0, 1), (1, -1), (1, 0), (1, 1)]


def _shift(a: np.ndarray, dy: int, dx: int, fill=0.0) -> np.ndarray:
    """out[y, x] = a[y + dy, x + dx], with ``fill`` outside (extra trailing axes allowed)."""
    h, w = a.shape[:2]
    out = np.full_like(a, fill)
    out[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] = \
        a[max(0, dy):h + min(0, dy) or None, max(0, dx):w + min(0, dx) or None]
    return out


def forward_weights(Y: np.ndarray, sharpness: float = 1.0, flat_sigma: float = 0.0,
                    contrast_sigma: float = np.inf) -> list[np.ndarray]:
    """Symmetrised Levin affinities between each pixel and its 4 forward neighbours.

    Parameters
    ----------
    Y : ndarray, (H, W) float
        Lightness scaled to [0, 1] (e.g. L / 100).
    sharpness : float
        Divides ``2 sigma_r^2``: 1 is Levin's affinity; larger lets less colour across edges
        (every weight is raised to this power).
    flat_sigma : float
        A floor on sigma_r in lightness units of ``Y`` (0: none, Levin's). Levin's sigma follows
        the window's own variance, so faint noise on a flat area weighs as much as an edge and
        holds colour back; with a floor, differences well below ``flat_sigma`` pass freely.
    contrast_sigma : float
        Multiplies each weight by ``exp(-(Y_r - Y_s)^2 / (2 contrast_sigma^2))`` (inf: no
        change, Levin's): Levin's own weight across a step edge is about exp(-7.5) whatever the
        step's contrast, and more where the step is spread over two pixels; this term makes a
        strong edge hold firm.

    Returns
    -------
    list of 4 ndarrays (H, W)
        ``out[k][y, x]`` = (w_rs + w_sr) / 2 between r = (y, x) and s = r + ``_FORWARD[k]``
        (0 where s is outside the image). ``2 sigma_r^2`` is 0.6 times the variance of r's 3x3
        window (clipped at the border), floored as in the authors' code.
    """
    Y = np.asarray(Y, np.float64)
    h, w = Y.shape
    ones = np.ones_like(Y)
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    count = sum(_shift(ones, dy, dx) for dy, dx in offsets)
    mean = sum(_shift(Y, dy, dx) for dy, dx in offsets) / count
    var = sum(_shift(Y * Y, dy, dx) for dy, dx in offsets) / count - mean * mean
    diffs = {}
    for dy, dx in offsets:
        if (dy, dx) != (0, 0):
            diffs[dy, dx] = np.where(_shift(ones, dy, dx) > 0, (_shift(Y, dy, dx) - Y) ** 2, np.inf)
    nearest = np.minimum.reduce(list(diffs.values()))
    # As in the authors' code, 2 sigma^2 = 0.6 var, floored so that the closest neighbour still
    # weighs at least 0.01, and at 2e-6.
    two_sigma2 = np.maximum(np.maximum(0.6 * np.maximum(var, 0), nearest / np.log(100.0)),
                            max(2e-6, 2 * flat_sigma**2))
    out = []
    for dy, dx in _FORWARD:
        d2 = np.where(np.isfinite(diffs[dy, dx]), diffs[dy, dx], 0.0)
        w_rs = np.exp(-sharpness * d2 / two_sigma2)
        w_sr = np.exp(-sharpness * d2 / _shift(two_sigma2, dy, dx, fill=1.0))
        w_c = np.exp(-d2 / (2 * contrast_sigma**2)) if np.isfinite(contrast_sigma) else 1.0
        out.append(np.where(np.isfinite(diffs[dy, dx]), 0.5 * (w_rs + w_sr) * w_c, 0.0))
    return out


def _flat_offset(dy: int, dx: int, width: int) -> int:
    return dy * width + dx


def affinity_matrix(Y: np.ndarray) -> sp.csr_matrix:
    """The symmetric affinity matrix W (H*W, H*W) of :func:`forward_weights`, zero diagonal."""
    h, w = Y.shape
    upper = sp.diags([fw.ravel()[: h * w - _flat_offset(dy, dx, w)]
                      for fw, (dy, dx) in zip(forward_weights(Y), _FORWARD, strict=True)],
                     [_flat_offset(dy, dx, w) for dy, dx in _FORWARD], shape=(h * w, h * w))
    return (upper + upper.T).tocsr()


def _system(Y: np.ndarray, mask: np.ndarray, diag_extra, sharpness: float = 1.0,
            flat_sigma: float = 0.0, contrast_sigma: float = np.inf):
    """The SPD system over all pixels, with scribbled pixels eliminated symmetrically.

    Free rows hold the graph Laplacian plus ``diag_extra`` (a scalar or an (H, W) array: the prior
    pull, and the pull of soft hints) on the diagonal, with the couplings to fixed pixels removed;
    fixed rows are identity. ``coupling(values)`` gives, for free pixels, the sum of weights times
    the fixed neighbours' values (the right-hand side).
    """
    h, w = Y.shape
    free = ~mask
    fw = forward_weights(Y, sharpness, flat_sigma, contrast_sigma)
    degree = np.zeros((h, w))
    for weight, (dy, dx) in zip(fw, _FORWARD, strict=True):
        degree += weight + _shift(weight, -dy, -dx)  # to s = r + o, and from r - o
    diag = np.where(free, degree + diag_extra, 1.0)
    both_free = [weight * free * _shift(free.astype(np.float64), dy, dx) for weight, (dy, dx)
                 in zip(fw, _FORWARD, strict=True)]
    n = h * w
    offs = [_flat_offset(dy, dx, w) for dy, dx in _FORWARD]
    upper = sp.diags([-bf.ravel()[: n - o] for bf, o in zip(both_free, offs, strict=True)],
                     offs, shape=(n, n))
    A = (sp.diags(diag.ravel()) + upper + upper.T).tocsr()

    def coupling(values: np.ndarray) -> np.ndarray:
        fixed_vals = values * mask[..., None]
        out = np.zeros_like(values)
        for weight, (dy, dx) in zip(fw, _FORWARD, strict=True):
            out += weight[..., None] * _shift(fixed_vals, dy, dx)  # s = r + o
            out += _shift(weight, -dy, -dx)[..., None] * _shift(fixed_vals, -dy, -dx)  # s = r - o
        return out * free[..., None]

    return A, coupling


#: A soft hint of confidence c (0 < c < 1) pulls its pixel towards the hint with
#: ``SOFT_HINT_STRENGTH * c / (1 - c)``, against the pull of its neighbours (at most 8 in a flat
#: region): c = 0.5 makes the pixel about half hint, half neighbourhood.
SOFT_HINT_STRENGTH = 8.0


def _soft_pull(mask: np.ndarray, hint_weight) -> tuple[np.ndarray, np.ndarray]:
    """(hard mask, per-pixel pull of the soft hints) from a hint mask and confidences in [0, 1]."""
    if hint_weight is None:
        return mask, np.zeros(mask.shape)
    c = np.clip(np.asarray(hint_weight, np.float64), 0.0, 1.0)
    if c.shape != mask.shape:
        raise ColorizerError(f"levin: hint_weight must have shape {mask.shape}, got {c.shape}")
    hard = mask & (c >= 1.0)
    soft = mask & ~hard & (c > 0)
    pull = np.zeros(mask.shape)
    pull[soft] = SOFT_HINT_STRENGTH * c[soft] / (1.0 - c[soft])
    return hard, pull


def _check(L, hint_ab, mask, dtype=np.float64):
    L = np.asarray(L, dtype)
    hint_ab = np.asarray(hint_ab, dtype)
    mask = np.asarray(mask, bool)
    if L.ndim != 2 or hint_ab.shape != (*L.shape, 2) or mask.shape != L.shape:
        raise ColorizerError(f"levin: need L (H, W), hint_ab (H, W, 2) and mask (H, W); got "
                             f"{L.shape}, {hint_ab.shape} and {mask.shape}")
    return L, hint_ab, mask


def solve(L: np.ndarray, hint_ab: np.ndarray, mask: np.ndarray, *, prior_ab=None,
          prior_weight: float = 0.0, method: str = "amg", tol: float = 2e-5,
          hint_weight=None, edge_sharpness: float = 1.0, flat_sigma: float = 0.0,
          contrast_sigma: float = np.inf, maxiter: int = 300) -> np.ndarray:
    """Solve the Levin system at the given size (no down/upsampling). See :func:`colorize`.

    ``method`` is ``"amg"`` (multigrid-preconditioned CG, the default) or ``"direct"``
    (SuperLU via ``scipy.sparse.linalg.spsolve``, the reference). ``tol`` is the CG residual
    tolerance relative to the right-hand side; 2e-5 gives about 2e-4 relative error against the
    direct solve on real 512x512 photos. ``hint_weight``, ``edge_sharpness``, ``flat_sigma`` and
    ``contrast_sigma`` as in :func:`fill_hints`. ``maxiter``: CG iterations per try of
    :func:`_amg_solve`.
    """
    L, hint_ab, mask = _check(L, hint_ab, mask)
    if not mask.any() and prior_ab is None:
        raise ColorizerError("levin: no scribbles to spread; mark some pixels with colour")
    prior = None if prior_ab is None else np.asarray(prior_ab, np.float64)
    if prior is not None and prior.shape != hint_ab.shape:
        raise ColorizerError(f"levin: prior_ab must have shape {hint_ab.shape}, got {prior.shape}")
    if prior is None and prior_weight > 0:
        raise ColorizerError("levin: prior_weight needs prior_ab")
    hard, pull = _soft_pull(mask, hint_weight)
    if prior is None and not hard.any() and not pull.any():
        raise ColorizerError("levin: every hint has confidence 0; nothing to spread")
    target = hint_ab if prior is None else hint_ab - prior  # the prior mode solves for a correction
    out = target.copy() if prior is None else np.zeros_like(target)
    out[hard] = target[hard]
    if hard.all() or not (hard.any() or pull.any()):
        return out + (0 if prior is None else prior)
    A, coupling = _system(L / 100.0, hard, prior_weight + pull, edge_sharpness, flat_sigma / 100.0,
                          contrast_sigma / 100.0)
    rhs = (coupling(np.where(hard[..., None], target, 0.0)) + out * hard[..., None]
           + pull[..., None] * np.where(mask[..., None], target, 0.0)).reshape(-1, 2)
    if method == "direct":
        x = _direct_solve(A, rhs)
    elif method == "amg":
        # the solution is a weighted mean of the fixed values and the prior pull's 0 (an M-matrix
        # with a dominant diagonal), so it can never leave their range
        bound = float(np.abs(target[mask]).max(initial=0.0))
        x = _amg_solve(A, rhs, tol, bound, maxiter)
    else:
        raise ValueError(f"method must be 'amg' or 'direct', got {method!r}")
    out = np.asarray(x).reshape(out.shape)
    return out + (0 if prior is None else prior)


def _direct_solve(A, rhs: np.ndarray) -> np.ndarray:
    """SuperLU via ``scipy.sparse.linalg.spsolve``: the reference, and the last resort."""
    from scipy.sparse.linalg import spsolve

    return np.asarray(spsolve(A.tocsc(), rhs), np.float64).reshape(rhs.shape)


def _amg_solve(A, rhs: np.ndarray, tol: float, bound: float, maxiter: int = 300) -> np.ndarray:
    """Solve ``A x = rhs`` (n, 2) by multigrid-preconditioned CG, in float32, then float64, then
    by sparse LU, each only if the one before did not converge.

    Classical Ruge-Stueben AMG suits this M-matrix best among pyamg's set-ups; float32 halves the
    memory traffic; forward-then-backward Gauss-Seidel keeps the V-cycle symmetric, as CG needs
    (choices measured with benchmarks/bench_levin.py on 512x512 photos). One hierarchy serves both
    chroma channels. The coarsest level is solved by sparse LU: pyamg's default (a dense
    pseudo-inverse) calls a threaded SVD that took seconds on a busy machine.

    float32 is not always enough: with :func:`fill_hints`' sharp edges and weak prior, pixels cut
    off from every neighbour leave the system so ill-conditioned that float32 CG diverged on 7 of
    1,171 photos with 1-60 dots (values up to 1e11 where the answer is within 41 Lab units). A
    try is accepted when its relative residual is within 10x ``tol`` and every value within
    ``bound`` (the largest fixed value, which the true solution cannot exceed) plus 1%.
    """
    import pyamg

    def converged(A_try, b, x) -> bool:
        if not np.isfinite(x).all() or float(np.abs(x).max(initial=0.0)) > bound * 1.01 + 1e-6:
            return False
        norm_b = float(np.linalg.norm(b))
        return norm_b == 0 or float(np.linalg.norm(b - A_try @ x)) <= 10 * tol * norm_b

    for dtype in (np.float32, np.float64):
        ml = pyamg.ruge_stuben_solver(
            A.astype(dtype), max_coarse=500, coarse_solver="splu",
            presmoother=("gauss_seidel", {"sweep": "forward"}),
            postsmoother=("gauss_seidel", {"sweep": "backward"}))
        cols = []
        for c in range(rhs.shape[1]):
            b = rhs[:, c].astype(dtype)
            x = ml.solve(b, tol=tol, accel="cg", maxiter=maxiter)
            if not converged(ml.levels[0].A, b, x):
                break
            cols.append(x)
        else:
            return np.stack(cols, 1).astype(np.float64)
    return _direct_solve(A, rhs)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Guided filter of He et al. (2010) with a grey guide; ``src`` is (H, W) or (H, W, C)."""
    import cv2

    def box(x):
        return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)

    guide = guide.astype(np.float32)
    src = src.astype(np.float32)
    g = guide[..., None] if src.ndim == 3 else guide
    mean_i = box(guide)
    var_i = box(guide * guide) - mean_i * mean_i
    mean_i, var_i = (mean_i[..., None], var_i[..., None]) if src.ndim == 3 else (mean_i, var_i)
    mean_p = box(src)
    cov = box(g * src) - mean_i * mean_p
    a = cov / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * g + box(b)


def guided_upsample(guide_small: np.ndarray, src_small: np.ndarray, guide: np.ndarray, radius: int,
                    eps: float) -> np.ndarray:
    """Fast guided filter (He & Sun 2015): upsample ``src_small`` (h, w, C) to ``guide``'s (H, W).

    The filter's local linear model ``q = a * guide + b`` is fitted at the small size, between
    ``guide_small`` (h, w), the guide downsampled, and ``src_small``, with a box of ``radius``
    small pixels; ``a`` and ``b`` are upsampled bilinearly and applied to the full-size guide.
    Returns (H, W, C) float32.
    """
    import cv2

    g = guide_small.astype(np.float32)
    src = src_small.astype(np.float32)
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)

    mean_i = box(g)
    var_i = box(g * g) - mean_i * mean_i
    mean_p = box(src)
    a = (box(g[..., None] * src) - mean_i[..., None] * mean_p) / (var_i[..., None] + eps)
    b = mean_p - a * mean_i[..., None]
    h, w = guide.shape
    up_a = cv2.resize(box(a), (w, h), interpolation=cv2.INTER_LINEAR)
    up_b = cv2.resize(box(b), (w, h), interpolation=cv2.INTER_LINEAR)
    up_a *= guide.astype(np.float32, copy=False)[..., None]
    up_a += up_b
    return up_a


def colorize(L: np.ndarray, hint_ab: np.ndarray, mask: np.ndarray, *, prior_ab=None,
             prior_weight: float = 0.0, max_solve_pixels: int = MAX_SOLVE_PIXELS,
             hint_weight=None, edge_sharpness: float = 1.0,
             flat_sigma: float = 0.0, contrast_sigma: float = np.inf) -> np.ndarray:
    """Spread scribbled colours over a greyscale image (Levin et al. 2004).

    Parameters
    ----------
    L : ndarray, (H, W) float
        Lightness in Lab units (0-100).
    hint_ab : ndarray, (H, W, 2) float
        Scribble colours (Lab ab), used where ``mask`` is set.
    mask : ndarray, (H, W) bool
        Scribbled pixels; they are kept exactly (unless ``hint_weight`` makes them soft).
    prior_ab : ndarray, (H, W, 2), optional
        A model's prediction. The scribbles then correct it locally and the rest keeps it.
    prior_weight : float
        How strongly free pixels are pulled to ``prior_ab`` (0 = pure Levin). With a prior, 0.01-0.1
        keeps corrections local; larger keeps them smaller. :func:`fill_hints` uses a much weaker
        pull, so that a hint fills its whole region.
    max_solve_pixels : int
        Larger images are solved at reduced size and upsampled with a guided filter.
    hint_weight : ndarray, (H, W) float, optional
        Confidence of each hint in [0, 1], as in :func:`fill_hints` (default: every hint is hard).
    edge_sharpness : float
        1 is Levin's affinity; larger stops colour more firmly at edges (:func:`forward_weights`).
    flat_sigma : float
        Floor on the affinities' sigma in L units (0: Levin's; :func:`forward_weights`).
    contrast_sigma : float
        Lightness step (L units) that scales an extra edge term (inf: Levin's; :func:`forward_weights`).

    Returns
    -------
    ndarray, (H, W, 2) float32
        ab in Lab units.

    Examples
    --------
    >>> L = np.full((20, 20), 50.0); L[:, 10:] = 80
    >>> hint = np.zeros((20, 20, 2)); mask = np.zeros((20, 20), bool)
    >>> hint[5, 2] = (40, 20); mask[5, 2] = True; hint[5, 15] = (-30, 10); mask[5, 15] = True
    >>> ab = colorize(L, hint, mask)
    >>> np.round(ab[15, 5]).tolist(), np.round(ab[15, 18]).tolist()
    ([40.0, 20.0], [-30.0, 10.0])
    """
    L, hint_ab, mask = _check(L, hint_ab, mask, np.float32)
    h, w = L.shape
    if hint_weight is not None:
        hint_weight = np.asarray(hint_weight, np.float32)
        if hint_weight.shape != mask.shape:
            raise ColorizerError(f"levin: hint_weight must have shape {mask.shape}, "
                                 f"got {hint_weight.shape}")
        hint_weight = np.clip(hint_weight, 0.0, 1.0)
    if h * w <= max_solve_pixels:
        return solve(L, hint_ab, mask, prior_ab=prior_ab, prior_weight=prior_weight,
                     hint_weight=hint_weight, edge_sharpness=edge_sharpness,
                     flat_sigma=flat_sigma, contrast_sigma=contrast_sigma).astype(np.float32)
    import cv2

    scale = np.sqrt(max_solve_pixels / (h * w))
    sh, sw = max(2, int(h * scale)), max(2, int(w * scale))
    L_small = cv2.resize(L, (sw, sh), interpolation=cv2.INTER_AREA)
    # scribbles: average colour of the scribbled full-res pixels under each small pixel
    weight = cv2.resize(mask.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    summed = cv2.resize(hint_ab * mask[..., None], (sw, sh), interpolation=cv2.INTER_AREA)
    mask_small = weight > 0.25
    hint_small = summed / np.maximum(weight, 1e-6)[..., None]
    if not mask_small.any():  # thin scribbles: keep every small pixel that has some
        mask_small = weight > 0
    weight_small = None
    if hint_weight is not None:  # mean confidence of the hinted pixels under each small pixel
        conf = cv2.resize(hint_weight * mask, (sw, sh), interpolation=cv2.INTER_AREA)
        weight_small = np.where(mask_small, conf / np.maximum(weight, 1e-6), 0.0)
        # a small pixel wholly under hard hints stays hard
        weight_small[weight_small > 1 - 1e-4] = 1.0
    prior_small = None
    if prior_ab is not None:
        prior_ab = np.asarray(prior_ab, np.float32)
        prior_small = cv2.resize(prior_ab, (sw, sh), interpolation=cv2.INTER_AREA)
    # a looser tolerance than solve's: the guided upsampling smooths far more than the 1e-4
    # relative error this leaves (the AuC is unchanged to 0.01)
    field = solve(L_small, hint_small, mask_small, prior_ab=prior_small, prior_weight=prior_weight,
                  tol=1e-4, hint_weight=weight_small, edge_sharpness=edge_sharpness,
                  flat_sigma=flat_sigma, contrast_sigma=contrast_sigma)
    if prior_small is not None:  # upsample only the correction; the model keeps its own detail
        field = field - prior_small
    ab = guided_upsample(L_small / 100.0, field, L / 100.0, radius=2, eps=1e-4)
    if prior_ab is not None:
        ab += prior_ab
    hard = mask if hint_weight is None else mask & (hint_weight >= 1.0)
    ab[hard] = hint_ab[hard]
    return ab


#: Pull of unhinted pixels towards the model's colours in :func:`fill_hints`: weak, so that a
#: hint's correction fills the region of similar lightness around it, yet far regions keep the
#: model's colours. Chosen on training photos with benchmarks/bench_hints.py --tune.
FILL_PRIOR_WEIGHT = 1e-5
#: Power of Levin's affinities in :func:`fill_hints` (chosen with the prior weight).
FILL_EDGE_SHARPNESS = 2.0
#: Floor on the affinities' sigma in :func:`fill_hints`, in L units (chosen with the prior weight).
FILL_FLAT_SIGMA = 1.0
#: Lightness step of the extra edge term in :func:`fill_hints`, in L units (chosen likewise).
FILL_CONTRAST_SIGMA = 5.0


def fill_hints(L: np.ndarray, ab_model: np.ndarray, hint_ab: np.ndarray, hint_mask: np.ndarray, *,
               hint_weight: np.ndarray | None = None, prior_weight: float = FILL_PRIOR_WEIGHT,
               edge_sharpness: float = FILL_EDGE_SHARPNESS,
               flat_sigma: float = FILL_FLAT_SIGMA,
               contrast_sigma: float = FILL_CONTRAST_SIGMA,
               max_solve_pixels: int = MAX_SOLVE_PIXELS) -> np.ndarray:
    """Correct a model's colours with colour hints that fill the object they touch.

    The correction ``hint_ab - ab_model`` at the hinted pixels spreads by Levin's affinities
    (it flows between neighbours of similar lightness and stops at edges of ``L``), and a weak
    pull towards 0 elsewhere keeps regions that no hint reaches at the model's colours. A dot on
    a saucer turns the saucer that colour up to its edges; the table around it keeps the model's.

    Parameters
    ----------
    L : ndarray, (H, W) float
        Lightness in Lab units (0-100), at full resolution.
    ab_model : ndarray, (H, W, 2) float
        The model's ab prediction (Lab units) at the same size.
    hint_ab : ndarray, (H, W, 2) float
        Hint colours (Lab ab), read where ``hint_mask`` is set.
    hint_mask : ndarray, (H, W) bool
        Hinted pixels. No hint returns ``ab_model`` unchanged.
    hint_weight : ndarray, (H, W) float, optional
        Confidence of each hint in [0, 1]: 1 (the default everywhere) is a hard constraint,
        kept exactly; below 1 the pixel is pulled towards its hint with strength
        ``SOFT_HINT_STRENGTH * c / (1 - c)`` against its neighbours, so an unsure hint
        (a reference-photo match, say) gives way where the photo's structure disagrees;
        0 ignores the hint.
    prior_weight : float
        Pull of the unhinted pixels towards the model's colours (default
        :data:`FILL_PRIOR_WEIGHT`), for a system solved at 256x256 pixels; it is scaled with the
        number of pixels solved, so that a hint reaches as far relative to the photo's size at
        any size. Larger keeps each correction closer to its hint.
    edge_sharpness : float
        Levin's affinities raised to this power (default :data:`FILL_EDGE_SHARPNESS`): Levin's
        own (1) let about exp(-7.5) through any step edge, whatever its contrast, which lets a
        correction leak into the next region; larger stops it there.
    flat_sigma : float
        Floor on the affinities' sigma, in L units (default :data:`FILL_FLAT_SIGMA`): faint
        noise and grain on a flat area no longer hold the correction back.
    contrast_sigma : float
        Lightness step, in L units (default :data:`FILL_CONTRAST_SIGMA`), of an extra term
        ``exp(-dL^2 / (2 contrast_sigma^2))`` on each affinity, so that a strong edge stops the
        correction even where Levin's relative weights let some through.
    max_solve_pixels : int
        Larger images are solved at reduced size and upsampled with a guided filter (an
        854x480 photo takes about a second).

    Returns
    -------
    ndarray, (H, W, 2) float32
        The corrected ab in Lab units.

    Examples
    --------
    Two flat regions split by an edge; one dot on the left turns the whole left side its colour,
    and the right keeps the model's.

    >>> L = np.full((40, 40), 40.0); L[:, 20:] = 80
    >>> model = np.zeros((40, 40, 2)); model[...] = (5, 5)
    >>> hint = np.zeros((40, 40, 2)); mask = np.zeros((40, 40), bool)
    >>> hint[2:7, 2:7] = (40, 30); mask[2:7, 2:7] = True  # a 5 px dot
    >>> ab = fill_hints(L, model, hint, mask)
    >>> bool(np.abs(ab[36, 17] - (40, 30)).max() < 5), bool(np.abs(ab[36, 25] - (5, 5)).max() < 5)
    (True, True)
    """
    L = np.asarray(L, np.float32)
    ab_model = np.asarray(ab_model, np.float32)
    if ab_model.shape != (*L.shape, 2):
        raise ColorizerError(f"fill_hints: ab_model must have shape {(*L.shape, 2)}, "
                             f"got {ab_model.shape}")
    mask = np.asarray(hint_mask, bool)
    if mask.shape == L.shape and not mask.any():
        return ab_model.copy()
    # the same reach relative to the photo's size whatever size the system is solved at
    solved = min(L.size, max_solve_pixels)
    return colorize(L, hint_ab, mask, prior_ab=ab_model,
                    prior_weight=prior_weight * MAX_SOLVE_PIXELS / solved,
                    max_solve_pixels=max_solve_pixels, hint_weight=hint_weight,
                    edge_sharpness=edge_sharpness, flat_sigma=flat_sigma,
                    contrast_sigma=contrast_sigma)
