"""Colour from a reference photo: match the grey photo against colour photos of the same scene.

The grey photo and each reference are described on a grid of cells (one per 8x8 pixels of the
model's working size) by the pretrained MobileNetV2 encoder's features at strides 8 and 16 (the
encoder of the shipped ``gan`` model, which sees only lightness), plus each cell's mean lightness
and local texture (the spread of lightness in the cell and of its gradients). A photo cell and a
reference cell are matched when each is the other's nearest neighbour in that description
(mutual nearest neighbours), so a sky takes the sky's colour and a face a face's wherever they are
in the frame; the references' cells are pooled, so several photos of one place can be given.

Matched cells become colour hints with a confidence weight (how far their descriptions are, and
how clearly the best match beats the second best). The hints are spread along the photo's edges by
Levin et al.'s affinities with the model's colours as a weak prior (:func:`fill`), so where nothing
matches, the model's colours stay. A reference of another scene finds few and poor matches: when
the share of confident matches is below :attr:`ReferenceConfig.min_share`, the reference is
ignored and the model's colours are returned unchanged.

The front ends call :func:`colorizer.api.colorize` (``reference=``); this module works on
working-size arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colorizer.errors import ColorizerError

#: Below this mean chroma (Lab units) a reference has no colour to give.
GREY_CHROMA = 2.0


@dataclass
class ReferenceConfig:
    """Settings of reference matching (chosen on DAVIS frames 0 -> 20 and 0 -> 40 and train
    photos; ``benchmarks/bench_reference.py``)."""

    size: int = 256  #: working size of a reference (about size x size pixels)
    weight_f8: float = 1.0  #: weight of the stride-8 features (unit length) in the description
    weight_f16: float = 1.0  #: weight of the stride-16 features (unit length)
    weight_l: float = 1.0  #: weight of the cell's mean lightness (L / 100)
    weight_texture: float = 1.0  #: weight of the cell's lightness spread (std / 25)
    max_distance: float = 1.6  #: matches further apart than this (squared distance) are dropped
    neighbours: int = 4  #: nearest reference cells whose colours must agree
    colour_spread: float = 20.0  #: their colour spread (Lab units) at which confidence is 0
    mutual_tolerance: float = 0.1  #: slack of the both-ways test (squared distance)
    min_share: float = 0.05  #: below this share of confidently matched cells, ignore the reference
    hint_weight: float = 1.0  #: pull of a fully confident hint (Levin data term)
    prior_weight: float = 0.003  #: pull of the model's colours everywhere
    solve_pixels: int = 12_000  #: the hints are spread at most this size (:func:`fill`)


@dataclass
class ReferenceCells:
    """One or more reference photos described cell by cell (:func:`describe_reference`).

    Attributes
    ----------
    features : ndarray, (M, D) float32
        The cells' descriptions.
    ab : ndarray, (M, 2) float32
        The cells' mean colour (Lab ab).
    """

    features: np.ndarray
    ab: np.ndarray

    @classmethod
    def pooled(cls, parts: list[ReferenceCells]) -> ReferenceCells:
        """Several references as one pool of cells."""
        return cls(np.concatenate([p.features for p in parts]), np.concatenate([p.ab for p in parts]))


def feature_encoder(model=None):
    """The encoder whose features describe cells: ``model``'s own pretrained MobileNetV2 when it
    has one (the ``gan`` model), else the shipped ``gan`` model's."""
    enc = getattr(getattr(model, "gen", None), "encoder", None)
    if enc is not None and getattr(model, "pretrained", False):
        return enc
    from colorizer.registry import get_colorizer

    device = getattr(model, "device", None)
    return get_colorizer("gan", device=str(device) if device is not None else "cpu").gen.encoder


def _grid(shape: tuple[int, int]) -> tuple[int, int]:
    return max(1, shape[0] // 8), max(1, shape[1] // 8)


def cell_features(L_small: np.ndarray, encoder, cfg: ReferenceConfig, features=None) -> np.ndarray:
    """Describe each 8x8 cell of a working-size lightness (h, w), multiples of 8.

    Returns (h // 8, w // 8, D) float32: the encoder's stride-8 and stride-16 features (each cut
    to unit length, the stride-16 ones upsampled bilinearly), the cell's mean L / 100 and the
    spread of L and of its gradient in the cell, each times its weight in ``cfg``.
    ``features``: the encoder's outputs for ``L_small`` when already computed (the model's own
    forward pass), else the encoder runs.
    """
    import cv2
    import torch
    import torch.nn.functional as F

    gh, gw = _grid(L_small.shape)
    param = next(encoder.parameters())
    with torch.inference_mode():
        L_t = torch.from_numpy(np.ascontiguousarray(L_small, np.float32))[None, None].to(param.device)
        feats = encoder(L_t) if features is None else features
        f8 = F.interpolate(feats[2], size=(gh, gw), mode="bilinear", align_corners=False)
        f16 = F.interpolate(feats[3], size=(gh, gw), mode="bilinear", align_corners=False)
        f8 = F.normalize(f8, dim=1) * np.sqrt(cfg.weight_f8)
        f16 = F.normalize(f16, dim=1) * np.sqrt(cfg.weight_f16)
        deep = torch.cat([f8, f16], 1)[0].permute(1, 2, 0).float().cpu().numpy()
    L = np.asarray(L_small, np.float32)
    size = (gw, gh)
    mean = cv2.resize(L, size, interpolation=cv2.INTER_AREA)
    std = np.sqrt(np.maximum(cv2.resize(L * L, size, interpolation=cv2.INTER_AREA) - mean ** 2, 0))
    gy, gx = np.gradient(L)
    grad = cv2.resize(np.hypot(gx, gy), size, interpolation=cv2.INTER_AREA)
    low = np.stack([mean / 100 * np.sqrt(cfg.weight_l),
                    std / 25 * np.sqrt(cfg.weight_texture / 2),
                    grad / 10 * np.sqrt(cfg.weight_texture / 2)], -1)
    return np.concatenate([deep, low], -1).astype(np.float32)


def _small_lab(pic, size: int) -> np.ndarray:
    """A picture area-averaged down to about ``size`` x ``size`` pixels (multiples of 32), in Lab."""
    import cv2

    from colorizer.color import srgb_to_lab
    from colorizer.resize import working_shape

    h, w = pic.pixels.shape[:2]
    shape = working_shape(h, w, size, 32)
    small = cv2.resize(pic.rgb, shape[::-1], interpolation=cv2.INTER_AREA)
    return srgb_to_lab(np.clip(small, 0, 1).astype(np.float32))


def _check_colour(lab: np.ndarray, name: str) -> None:
    if float(np.hypot(lab[..., 1], lab[..., 2]).mean()) < GREY_CHROMA:
        raise ColorizerError(f"{name}: the reference photo is grey (no colour to take); "
                             "give a colour photo of the same scene")


def check_reference(pic, name: str | None = None) -> None:
    """Raise a one-line error for a reference with no colour to give (a grey photo)."""
    _check_colour(_small_lab(pic, 128), name or pic.name)


def describe_reference(pic, encoder, cfg: ReferenceConfig | None = None) -> ReferenceCells:
    """A colour reference :class:`~colorizer.io.Picture` (any size or aspect) as cells.

    Raises :class:`~colorizer.errors.ColorizerError` for a grey reference.
    """
    import cv2

    cfg = cfg or ReferenceConfig()
    lab = _small_lab(pic, cfg.size)
    _check_colour(lab, pic.name)
    feats = cell_features(np.ascontiguousarray(lab[..., 0]), encoder, cfg)
    gh, gw = feats.shape[:2]
    ab = cv2.resize(np.ascontiguousarray(lab[..., 1:], np.float32), (gw, gh), interpolation=cv2.INTER_AREA)
    return ReferenceCells(feats.reshape(gh * gw, -1), ab.reshape(gh * gw, 2).astype(np.float32))


def match_cells(photo: np.ndarray, ref: np.ndarray, k: int = 4,
                tolerance: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest reference cells of each photo cell, and whether the match holds both ways.

    Parameters
    ----------
    photo : ndarray, (N, D)
    ref : ndarray, (M, D)
    k : int
        How many nearest reference cells to return (at most M).
    tolerance : float
        A photo cell counts as its nearest reference cell's best when it is within this much
        (squared distance) of that cell's nearest photo cell (0: strictly the best both ways;
        a little more lets the many alike cells of a plain sky or wall match).

    Returns
    -------
    nearest : ndarray, (N, k) int
        The k nearest reference cells, nearest first.
    distance : ndarray, (N, k) float32
        Their squared distances.
    mutual : ndarray, (N,) bool
        Whether each photo cell is (within ``tolerance``) its nearest reference cell's nearest.
    """
    d = (photo * photo).sum(1)[:, None] + (ref * ref).sum(1)[None] - 2.0 * photo @ ref.T
    np.maximum(d, 0, out=d)
    k = min(k, d.shape[1])
    part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.tile(np.arange(k), (len(d), 1))
    rows = np.arange(len(photo))[:, None]
    order = np.argsort(d[rows, part], axis=1)
    nearest = part[rows, order]
    dist = d[rows, nearest]
    back = d.min(axis=0)
    mutual = dist[:, 0] <= back[nearest[:, 0]] + tolerance
    return nearest, dist.astype(np.float32), mutual


def reference_hints(L_small: np.ndarray, cells: ReferenceCells, encoder,
                    cfg: ReferenceConfig | None = None, features=None) -> tuple[np.ndarray, np.ndarray]:
    """Colour hints for a working-size grey photo from reference cells.

    A mutual match's confidence falls with its distance (0 at ``cfg.max_distance``) and with
    the spread of colour among the ``cfg.neighbours`` nearest reference cells (0 at
    ``cfg.colour_spread``): alike cells of one colour (a plain sky) agree, a match between
    differently coloured look-alikes does not. Returns ab (h, w, 2) (the mean colour of those
    nearest cells) and weight (h, w) in [0, 1] (0: no hint), all zero when the share of cells
    with confidence above 0.25 is below ``cfg.min_share`` (another scene).
    """
    import cv2

    cfg = cfg or ReferenceConfig()
    h, w = L_small.shape
    feats = cell_features(L_small, encoder, cfg, features)
    gh, gw = feats.shape[:2]
    nearest, dist, mutual = match_cells(feats.reshape(gh * gw, -1), cells.features, cfg.neighbours,
                                        cfg.mutual_tolerance)
    near_ab = cells.ab[nearest]  # (N, k, 2)
    ab = near_ab.mean(1)
    spread = np.sqrt(((near_ab - ab[:, None]) ** 2).sum(2).mean(1))
    conf = np.clip(1 - dist[:, 0] / cfg.max_distance, 0, 1) * np.clip(1 - spread / cfg.colour_spread, 0, 1)
    conf = np.where(mutual, conf, 0).astype(np.float32)
    if (conf > 0.25).mean() < cfg.min_share:
        return np.zeros((h, w, 2), np.float32), np.zeros((h, w), np.float32)
    up_ab = cv2.resize(ab.reshape(gh, gw, 2).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
    up_w = cv2.resize(conf.reshape(gh, gw), (w, h), interpolation=cv2.INTER_NEAREST)
    return up_ab, up_w


#: :func:`fill` solves at most this many pixels and brings the result up with a guided filter.
FILL_PIXELS = 24_000


def fill(L: np.ndarray, prior_ab: np.ndarray, hint_ab: np.ndarray, weight: np.ndarray,
         prior_weight: float = 0.01, hint_weight: float = 1.0,
         max_solve_pixels: int = FILL_PIXELS) -> tuple[np.ndarray, np.ndarray]:
    """Spread weighted colour hints along a photo's edges on top of a model's colours.

    Minimises ``sum w_rs (x_r - x_s)^2 + sum prior_weight (x - prior)^2 + sum hint_weight * weight
    * (x - hint)^2`` over ab, with Levin et al.'s lightness affinities ``w_rs``
    (:func:`colorizer.levin.forward_weights`). It is solved for the correction to the prior, by
    sparse LU, at most ``max_solve_pixels`` in size; a larger photo's correction is solved at a
    reduced size and brought back by a fast guided filter on its lightness
    (:func:`colorizer.levin.guided_upsample`), so colour edges follow the photo's edges.

    Parameters
    ----------
    L : ndarray, (h, w) float
        Lightness (0-100).
    prior_ab, hint_ab : ndarray, (h, w, 2) float
        The model's colours and the hints' colours (Lab ab).
    weight : ndarray, (h, w) float
        Each hint's confidence in [0, 1] (0: no hint).

    Returns
    -------
    ab : ndarray, (h, w, 2) float32
    reach : ndarray, (h, w) float32
        How much each pixel's colour comes from the hints, in [0, 1] (the same system solved
        for a hint value of 1 over a prior of 0): 0 where the model's colours stay.
    """
    import cv2

    from colorizer import levin

    L = np.asarray(L, np.float32)
    prior = np.asarray(prior_ab, np.float32)
    data = (hint_weight * np.asarray(weight, np.float32)).astype(np.float32)
    if not (data > 0).any():
        return prior.copy(), np.zeros(L.shape, np.float32)
    h, w = L.shape
    # the right-hand side per pixel: weight x (hint - prior), and weight alone for the reach
    drive = np.concatenate([data[..., None] * (np.asarray(hint_ab, np.float32) - prior), data[..., None]], -1)
    scale = min(1.0, float(np.sqrt(max_solve_pixels / (h * w))))
    if scale < 1:
        size = (max(2, round(w * scale)), max(2, round(h * scale)))
        L_s = cv2.resize(L, size, interpolation=cv2.INTER_AREA)
        data_s = cv2.resize(data, size, interpolation=cv2.INTER_AREA)
        drive_s = cv2.resize(drive, size, interpolation=cv2.INTER_AREA)
    else:
        L_s, data_s, drive_s = L, data, drive
    x = _solve_correction(L_s, data_s, drive_s, prior_weight)
    if scale < 1:
        x = levin.guided_upsample(L_s / 100.0, x, L / 100.0, radius=2, eps=1e-4)
    return (prior + x[..., :2]).astype(np.float32), np.clip(x[..., 2], 0, 1).astype(np.float32)


def _solve_correction(L: np.ndarray, data: np.ndarray, drive: np.ndarray,
                      prior_weight: float) -> np.ndarray:
    """(Laplacian + prior_weight + data) x = drive, per channel of ``drive`` (h, w, C).

    The matrix is symmetric positive definite and, with the pixels numbered along the photo's
    shorter side, banded (half-bandwidth: the shorter side + 1), so LAPACK's banded Cholesky
    (``scipy.linalg.solveh_banded``) solves it, a few times faster than a general sparse LU at
    these sizes.
    """
    import scipy.sparse as sp
    from scipy.linalg import solveh_banded

    from colorizer import levin

    h, w = L.shape
    n = h * w
    W = levin.affinity_matrix(np.asarray(L, np.float64) / 100.0)
    degree = np.asarray(W.sum(1)).ravel()
    diag = degree + prior_weight + data.ravel().astype(np.float64)
    rhs = drive.reshape(n, -1).astype(np.float64)
    # number the pixels column by column when the photo is wider than tall
    order = np.arange(n).reshape(h, w).T.ravel() if w > h else np.arange(n)
    upper = sp.triu(W[order][:, order], k=1, format="coo")
    band = int((upper.col - upper.row).max(initial=0))
    bands = np.zeros((band + 1, n))
    bands[band] = diag[order]
    bands[band - (upper.col - upper.row), upper.col] = -upper.data
    x = solveh_banded(bands, rhs[order], overwrite_ab=True, check_finite=False)
    out = np.empty_like(x)
    out[order] = x
    return out.reshape(h, w, -1).astype(np.float32)


def apply_reference(L_small: np.ndarray, prior_ab: np.ndarray, cells: ReferenceCells, encoder,
                    cfg: ReferenceConfig | None = None, features=None) -> tuple[np.ndarray, np.ndarray]:
    """Working-size ab (h, w, 2) from reference cells on top of the model's ``prior_ab``, and
    where the reference was used (h, w) in [0, 1]. ``features``: as for :func:`cell_features`."""
    cfg = cfg or ReferenceConfig()
    hint_ab, weight = reference_hints(L_small, cells, encoder, cfg, features)
    return fill(L_small, prior_ab, hint_ab, weight, cfg.prior_weight, cfg.hint_weight, cfg.solve_pixels)
