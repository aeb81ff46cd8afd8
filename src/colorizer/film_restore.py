"""Dust and scratches in film, found and filled frame by frame with the help of the neighbours.

A still photo's damage can only be told from its content by its look (:mod:`colorizer.repair`).
In film there is better evidence: dust, hairs and short scratches lie on one frame only. A pixel
of frame t that is brighter (or darker) than *both* neighbouring frames t-1 and t+1, each warped
onto t along the optical flow and matched to its brightness (old film flickers), while those two
agree with each other, is damage, and the two warped neighbours show what was under it: it is
filled with their mean (:func:`one_frame_damage`, :func:`fill_from_neighbours`). Motion is no
damage because the warped neighbours follow it. Where they cannot, nothing is decided: where
the flow's forward and backward estimates disagree (occlusions), at the rims of things that move
otherwise than their surroundings (:func:`motion_edges`), and where the neighbours disagree with
each other (water, leaves: the bar rises with their disagreement around). A pixel of flow error
is forgiven (the neighbours' 3 x 3 windows), and pieces thicker than ``max_thickness`` are
things the flow missed, not dust. At a shot's first and last frames both neighbours come from one
side, with higher thresholds.

Scratches along the film (a scratched emulsion drags the same thin line through many frames)
are not one-frame damage where the picture stands still. They are found by their shape
(:func:`line_profiles`, :func:`line_tracks`, :func:`line_mask`): a horizontal top-hat (bright
lines) and black-hat (dark lines) keeps what is narrower than ``line_width``; averaged over bands
of rows and over recent frames, a scratch is a narrow peak that runs down most bands in about the
same column, while the picture's own thin things move away. Its pixels are filled from the warped
neighbours where the picture moves under the line by more than its width (and a pixel there that
the neighbours show too is the picture's, left alone: :func:`split_lines`), and from their
surroundings (:func:`colorizer.repair.fill`) where it stands still.

Everything works on 8-bit grey frames (H, W); flows are computed at a working size (h, w), the
size at which the video path (:class:`colorizer.video.TemporalSmoother`) computes its own, and
handed to it, so the flow is paid for once. :class:`FilmRestorer` takes frames one at a time and
gives each back once the next is in (two at the start of a shot), so streams keep flowing.
:func:`restore_frames` repairs a list. :func:`film_defects` draws film damage for tests and
benchmarks.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> import cv2
    >>> scene = cv2.GaussianBlur((rng.random((96, 200)) * 255).astype(np.uint8), (0, 0), 3)
    >>> frames = [np.ascontiguousarray(scene[:, 2 * i:2 * i + 128]) for i in range(5)]
    >>> frames[2] = frames[2].copy(); frames[2][40:43, 60:63] = 255      # a speck on frame 2
    >>> out = list(restore_frames(frames))
    >>> bool(out[2][1][40:43, 60:63].all()), int(np.abs(out[2][0].astype(int) - scene[:, 4:132]).max()) < 20
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

#: The DIS flow's settings: (finest pyramid level, patch stride, gradient descent iterations,
#: variational refinement iterations). The video path's fast preset (2, 4, 16, 5) stops at level
#: 2, a quarter of the working size; its flow, scaled up to the full frame, warps a neighbour
#: about 1.5 dB less faithfully (PSNR over 4 DAVIS pairs): too coarse to tell a speck from a
#: misplaced texture, and the undamaged frames of ``bench_film_restore.py`` lost 4 dB with it.
#: Level 1 with sparser patches and one refinement costs about 1.7 ms of one core a flow at the
#: 336 x 192 working size of 854 x 480 frames, against 1.25.
FLOW_SETTINGS = (1, 6, 12, 1)

#: The median filter (pixels) the working-size frames go through before their flow.
SPECKLESS = 5

#: Flow resolution of :func:`restore_frames`: working frames of about this many pixels squared,
#: as the video path's default model works (``preferred_size`` 256).
WORKING_SIZE = 256


@dataclass
class FilmRestoreConfig:
    """How :class:`FilmRestorer` decides and fills (grey levels are 8-bit; lengths are pixels of
    the full frame). Chosen on DAVIS frames with synthetic damage
    (``python benchmarks/bench_film_restore.py``).

    threshold : a pixel is surely one-frame damage when it is brighter (or darker) than both
        warped neighbours (a pixel of slack) by more than this...
    activity : ... plus this many times the neighbours' mean disagreement around it...
    agree : ... and the warped neighbours differ from each other by at most this there.
    grow : near sure damage, a pixel beyond both neighbours by more than this is damage too.
    max_thickness : a connected piece of one-frame damage whose area over its length (its mean
        thickness) is above this is a moving thing the flow missed, not dust, and is kept.
    line_width : the top-hat's width; vertical lines narrower than about half of it are found.
    line_threshold : mean top-hat (grey levels) along a band of rows, above the column's
        surroundings, from which a column holds a line...
    line_contrast : ... and above this many times the spread of such means over the frame.
    line_length : share of the bands of ``BAND`` rows (of the frame's height) a line shows in.
    line_memory : weight of the earlier frames in the running mean of the column profiles (0:
        each frame alone); a scratch stays in its column, the picture's thin things move away.
    fb_tolerance : forward-backward flow disagreement (working-size pixels^2) still trusted.
    min_overlap : share of trusted pixels below which two frames are of two shots (a frame at
        a shot's start or end takes its two neighbours from one side).
    widen : pixels added around one-frame damage (soft edges) before the fill.
    radius : neighbourhood (pixels) of the spatial fill.
    """

    threshold: float = 20.0
    activity: float = 2.0
    agree: float = 16.0
    grow: float = 12.0
    max_thickness: float = 10.0
    line_width: int = 9
    line_threshold: float = 10.0
    line_contrast: float = 3.0
    line_length: float = 0.7
    line_memory: float = 0.5
    fb_tolerance: float = 1.0
    min_overlap: float = 0.5
    widen: int = 1
    radius: int = 3


#: At a shot's first and last frames both neighbours lie on one side (t+1 and t+2, or t-1 and
#: t-2), and a thing that moves is where neither shows it: the thresholds of one-frame damage
#: are this many times higher there.
ONE_SIDED = 2.0

#: Flow change (pixels per pixel, summed over both components and directions) from which
#: :func:`motion_edges` marks the rim of a moving thing, where one-frame damage is not looked for.
MOTION_EDGE = 0.3

#: Working frames smaller than this (pixels, their longer side) get no flow (DIS wants 12 or
#: more): only their lines are looked for.
MIN_FLOW_SIZE = 16

#: Rows per band of the column profiles of :func:`line_profiles`.
BAND = 16
#: Bands a frame needs for :func:`line_tracks` to look for lines (64 rows).
MIN_BANDS = 4


# --- flow at the working size ---------------------------------------------------------------------


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return tuple(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))


def working_grey(grey: np.ndarray, size: int = WORKING_SIZE, multiple: int = 16) -> np.ndarray:
    """``grey`` (H, W) uint8 area-averaged to the working size (h, w) of a model of ``size``
    (:func:`colorizer.resize.working_shape`); a frame smaller than that is kept as it is."""
    import cv2

    from colorizer.resize import working_shape

    h, w = working_shape(*grey.shape, size, multiple)
    if h * w >= grey.size:
        return grey
    return cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA)


def dis_flow(scale: float = 1.0, settings: tuple = FLOW_SETTINGS
             ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A flow function ``(a, b) -> flow (h, w, 2)`` from ``a`` to ``b`` (uint8 (h, w)): DIS with
    :data:`FLOW_SETTINGS`, at ``scale`` of their size (as the video path's ``flow_scale``)."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    finest, stride, descent, refine = settings
    dis.setFinestScale(finest)
    dis.setPatchStride(stride)
    dis.setGradientDescentIterations(descent)
    dis.setVariationalRefinementIterations(refine)

    def flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if scale >= 1:
            return dis.calc(a, b, None)
        h, w = a.shape
        small = (max(16, round(w * scale)), max(16, round(h * scale)))
        f = dis.calc(cv2.resize(a, small, interpolation=cv2.INTER_AREA),
                     cv2.resize(b, small, interpolation=cv2.INTER_AREA), None)
        f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
        f[..., 0] *= w / small[0]
        f[..., 1] *= h / small[1]
        return f

    return flow


def match_brightness(grey: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``grey`` (uint8) mapped linearly so that its mean and spread match ``ref``'s (old film
    flickers); as :func:`colorizer.video._match_brightness`."""
    import cv2

    return cv2.LUT(grey, brightness_lut(grey, ref))


def brightness_lut(grey: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The table (256,) uint8 that maps ``grey``'s mean and spread onto ``ref``'s (both uint8, any
    shape; their working-size copies will do for the full frames)."""
    g, r = grey.astype(np.float32), ref.astype(np.float32)
    gain = float(np.clip(r.std() / max(float(g.std()), 1.0), 0.5, 2.0))
    levels = (np.arange(256, dtype=np.float32) - g.mean()) * gain + r.mean() + 0.5
    return np.clip(levels, 0, 255).astype(np.uint8)


def warp(image: np.ndarray, flow: np.ndarray, nearest: bool = False) -> np.ndarray:
    """``image`` (h, w[, c]) sampled at each pixel plus ``flow`` (h, w, 2): the frame the flow
    points into, seen from the frame it starts on."""
    import cv2

    gx, gy = _grid(*flow.shape[:2])
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1],
                     cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def trusted(flow: np.ndarray, back: np.ndarray, tolerance: float = 1.0) -> np.ndarray:
    """Where ``flow`` (h, w, 2, a -> b) can be trusted (h, w) bool: it lands inside b, and b's
    flow back (``back``, b -> a) returns to the start (the smoother's forward-backward check)."""
    import cv2

    h, w = flow.shape[:2]
    gx, gy = _grid(h, w)
    x, y = gx + flow[..., 0], gy + flow[..., 1]
    back_at = cv2.remap(back, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # two products, not numpy's slow sum over a last axis of 2 (as the smoother's check)
    fx, fy, bx, by = flow[..., 0], flow[..., 1], back_at[..., 0], back_at[..., 1]
    ex, ey = fx + bx, fy + by
    ok = ex * ex + ey * ey <= 0.01 * ((fx * fx + fy * fy) + (bx * bx + by * by)) + tolerance
    return ok & (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


def compose(first: np.ndarray, then: np.ndarray) -> np.ndarray:
    """The flow (h, w, 2) a -> c from ``first`` (a -> b) and ``then`` (b -> c)."""
    return first + warp(then, first)


@dataclass
class Link:
    """The flows between two consecutive frames a and b at the working size (h, w)."""

    fwd: np.ndarray       # (h, w, 2) a -> b, at a's pixels
    back: np.ndarray      # (h, w, 2) b -> a, at b's pixels
    ok_fwd: np.ndarray    # (h, w) bool, where fwd is trusted
    ok_back: np.ndarray   # (h, w) bool, where back is trusted
    overlap: float        # share of a's pixels that fwd trusts


def link(a: np.ndarray, b: np.ndarray, flow: Callable, tolerance: float = 1.0) -> Link:
    """The :class:`Link` between working-size frames ``a`` and ``b`` (uint8 (h, w)); ``b`` is
    matched to ``a``'s brightness first, and both lose their specks (a median of
    :data:`SPECKLESS` pixels), which would otherwise drag the flow and fail its check exactly
    where the neighbours are needed."""
    import cv2

    a, b = cv2.medianBlur(a, SPECKLESS), cv2.medianBlur(match_brightness(b, a), SPECKLESS)
    fwd, back = flow(a, b), flow(b, a)
    ok_fwd, ok_back = trusted(fwd, back, tolerance), trusted(back, fwd, tolerance)
    return Link(fwd, back, ok_fwd, ok_back, float(ok_fwd.mean()))


def motion_edges(flow: np.ndarray, slope: float = MOTION_EDGE) -> np.ndarray:
    """Where the flow (h, w, 2) changes by more than ``slope`` pixels a pixel, and a pixel
    around (h, w) bool: the edges of things moving otherwise than their surroundings, where a
    warped frame is least sure and a moving thing's rim looks like damage."""
    import cv2

    change = cv2.add(cv2.absdiff(cv2.Sobel(flow, cv2.CV_32F, 1, 0, ksize=3), 0),
                     cv2.absdiff(cv2.Sobel(flow, cv2.CV_32F, 0, 1, ksize=3), 0))
    edge = (change[..., 0] + change[..., 1]) > 8 * slope
    return cv2.dilate(edge.view(np.uint8), np.ones((3, 3), np.uint8)) > 0


def full_map(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A working-size flow (h, w, 2) as the absolute sampling map (H, W, 2) float32 of
    ``cv2.remap`` at the full size ``shape`` (H, W): one resize of the map, not of the flow plus
    a full-size grid."""
    import cv2

    h, w = flow.shape[:2]
    H, W = shape
    gx, gy = _grid(h, w)
    sx, sy = W / w, H / h
    m = np.empty_like(flow)
    m[..., 0] = (gx + flow[..., 0] + 0.5) * sx - 0.5
    m[..., 1] = (gy + flow[..., 1] + 0.5) * sy - 0.5
    return cv2.resize(m, (W, H), interpolation=cv2.INTER_LINEAR)


def full_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A working-size mask (h, w) bool at the full size ``shape`` (H, W) (nearest)."""
    import cv2

    return cv2.resize(mask.view(np.uint8), shape[::-1], interpolation=cv2.INTER_NEAREST) > 0


def remap_full(grey: np.ndarray, sample_map: np.ndarray) -> np.ndarray:
    """``grey`` (H, W) uint8 sampled at ``sample_map`` (H, W, 2) (:func:`full_map`)."""
    import cv2

    return cv2.remap(grey, sample_map, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# --- one-frame damage --------------------------------------------------------------------------------


def one_frame_damage(grey: np.ndarray, prev_w: np.ndarray, next_w: np.ndarray, valid: np.ndarray,
                     config: FilmRestoreConfig | None = None) -> np.ndarray:
    """Where frame t holds damage that its neighbours do not.

    Parameters
    ----------
    grey : ndarray, (H, W), uint8
        Frame t.
    prev_w, next_w : ndarray, (H, W), uint8
        Its two neighbours (t-1 and t+1, or two on one side at a shot's ends) warped onto it and
        matched to its brightness.
    valid : ndarray, (H, W), bool
        Where both warps are trusted.
    config : FilmRestoreConfig, optional

    Returns
    -------
    ndarray, (H, W), bool
        Sure pixels: brighter (or darker) than every pixel of both warped neighbours' 3 x 3
        windows (a pixel of flow error forgiven) by more than ``threshold`` plus ``activity``
        times the neighbours' mean disagreement around (15 x 15: water, leaves and fast motion,
        which no flow follows, raise the bar), where the neighbours agree within ``agree``; and,
        within 2 pixels of them, the pixels brighter (darker) than both by more than ``grow``
        (soft edges). Pieces thicker than ``max_thickness`` are dropped.
    """
    import cv2

    cfg = config or FilmRestoreConfig()
    k = np.ones((3, 3), np.uint8)
    hi = cv2.max(cv2.dilate(prev_w, k), cv2.dilate(next_w, k))
    lo = cv2.min(cv2.erode(prev_w, k), cv2.erode(next_w, k))
    spike3 = cv2.max(cv2.subtract(grey, hi), cv2.subtract(lo, grey))
    apart = cv2.absdiff(prev_w, next_w)
    bar = cv2.addWeighted(cv2.blur(apart, (15, 15)), cfg.activity, apart, 0.0, cfg.threshold)
    seed = (spike3 > bar) & (apart <= cfg.agree) & valid
    if not seed.any():
        return seed
    spike = cv2.max(cv2.min(cv2.subtract(grey, prev_w), cv2.subtract(grey, next_w)),
                    cv2.min(cv2.subtract(prev_w, grey), cv2.subtract(next_w, grey)))
    mask = seed | ((spike > cfg.grow) & valid & widen(seed, 2))
    return drop_thick(mask, cfg.max_thickness)


def drop_thick(mask: np.ndarray, max_thickness: float) -> np.ndarray:
    """``mask`` (H, W) bool without its connected pieces (8-connected) whose area over their
    length (the longer side of their box) is above ``max_thickness``: blobs, not specks or
    lines."""
    import cv2

    core = int(max_thickness) // 2 * 2 + 1  # a thick piece holds a square of about its thickness
    if not mask.any() or not cv2.erode(mask.view(np.uint8), np.ones((core, core), np.uint8)).any():
        return mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float32)
    length = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]).astype(np.float32)
    thick = area / np.maximum(length, 1) > max_thickness
    thick[0] = True  # the background
    if not thick[1:].any():
        return mask
    return ~thick[labels]


def fill_from_neighbours(grey: np.ndarray, prev_w: np.ndarray, next_w: np.ndarray,
                         mask: np.ndarray) -> np.ndarray:
    """``grey`` (H, W) uint8 with the pixels of ``mask`` (H, W) bool replaced by the mean of the
    warped neighbours ``prev_w`` and ``next_w`` (H, W) uint8."""
    out = grey.copy()
    if mask.any():
        out[mask] = (prev_w[mask].astype(np.uint16) + next_w[mask] + 1) >> 1
    return out


def widen(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` (H, W) bool grown by ``pixels`` (a disc)."""
    import cv2

    if pixels <= 0 or not mask.any():
        return mask
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.view(np.uint8), se) > 0


# --- persistent vertical lines -----------------------------------------------------------------------


def line_profiles(grey: np.ndarray, config: FilmRestoreConfig | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """How much of a thin vertical line each column holds, band of rows by band.

    Parameters
    ----------
    grey : ndarray, (H, W), uint8
    config : FilmRestoreConfig, optional

    Returns
    -------
    hats : ndarray, (2, H, W), uint8
        The horizontal top-hat (bright things narrower than ``line_width``) and black-hat (dark).
    profiles : ndarray, (2, H // BAND, W), float32
        Their means over bands of :data:`BAND` rows, less the larger of the same means
        ``line_width // 2`` columns either side: a thin line down a band is a narrow peak, a
        texture (whose hat is high everywhere) is not.
    """
    import cv2

    cfg = config or FilmRestoreConfig()
    h, w = grey.shape
    se = cv2.getStructuringElement(cv2.MORPH_RECT, (cfg.line_width, 1))
    hats = np.stack([cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, se),
                     cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, se)])
    bands = max(1, h // BAND)
    profiles = []
    for hat in hats:
        p = cv2.resize(hat[:bands * BAND].astype(np.float32), (w, bands), interpolation=cv2.INTER_AREA)
        side = cfg.line_width // 2  # beside a line narrower than half the hat: no line
        padded = cv2.copyMakeBorder(p, 0, 0, side, side, cv2.BORDER_REFLECT)
        p = p - np.maximum(padded[:, :w], padded[:, 2 * side:])
        p[:, :side] = p[:, w - side:] = 0  # the hat is not to be trusted at the frame's edges
        profiles.append(p)
    return hats, np.stack(profiles)


def line_tracks(profiles: np.ndarray, current: np.ndarray,
                config: FilmRestoreConfig | None = None) -> list[tuple[int, np.ndarray, np.ndarray, float]]:
    """The long vertical lines in the column profiles.

    Parameters
    ----------
    profiles : ndarray, (2, B, W), float32
        Column profiles (:func:`line_profiles`) averaged over recent frames.
    current : ndarray, (2, B, W), float32
        This frame's.
    config : FilmRestoreConfig, optional

    Returns
    -------
    list of (polarity, centres, shows, bar)
        Polarity 0 for bright lines, 1 for dark; ``centres`` (B,) int, the line's column in each
        band (the strongest profile, this frame's plus the average, within 3 columns of where it
        was found); ``shows``
        (B,) bool, the bands it shows in on this frame; ``bar``, the profile it had to pass. A
        column holds a line when, in at least ``line_length`` of the bands, the averaged profile
        within 2 columns of it (a line wobbles) is above ``line_threshold`` and ``line_contrast``
        times the profiles' spread (1.4826 times their median absolute deviation: a textured
        picture raises the bar), and no column within ``line_width`` of it does so in more
        bands; it shows in a band where this frame's profile there is above half of that bar.
    """
    import cv2

    cfg = config or FilmRestoreConfig()
    near = np.ones((1, 5), np.uint8)
    w = profiles.shape[2]
    if profiles.shape[1] < MIN_BANDS:  # too short a frame to tell a line from a speck
        return []
    candidates, bars = [], []
    for i in range(2):
        every = profiles[i][:, ::3]  # enough columns for the spread
        spread = 1.4826 * float(np.median(np.abs(every - np.median(every))))
        bars.append(max(cfg.line_threshold, cfg.line_contrast * spread))
        share = (cv2.dilate(profiles[i], near) > bars[i]).mean(axis=0, dtype=np.float32)
        best = cv2.dilate(share[None], np.ones((1, 2 * cfg.line_width + 1), np.uint8))[0]
        strength = profiles[i].mean(axis=0)
        candidates += [(float(share[x]), float(strength[x]), i, int(x))
                       for x in np.flatnonzero((share >= cfg.line_length) & (share >= best))]
    tracks, taken = [], []
    for _, _, i, x in sorted(candidates, reverse=True):
        # one line per line_width, of either polarity: beside a dark line, the picture's own
        # brighter strip looks like a bright line
        if any(abs(x - t) <= cfg.line_width for t in taken):
            continue
        taken.append(x)
        x0, x1 = max(0, x - 3), min(w, x + 4)
        window = current[i][:, x0:x1]
        centres = x0 + (window + profiles[i][:, x0:x1]).argmax(axis=1)  # steadier than this frame's
        tracks.append((i, centres, window.max(axis=1) > bars[i] / 2, bars[i]))
    return tracks


def line_mask(hats: np.ndarray, tracks: list, config: FilmRestoreConfig | None = None) -> np.ndarray:
    """The pixels (H, W) bool of the lines :func:`line_tracks` found: in each row of a band a line
    shows in, within 2 columns of its centre there, those whose hat (``hats`` (2, H, W), of the
    line's polarity) is above half the strongest one there and above half the line's bar;
    widened by a pixel across."""
    import cv2

    _, h, w = hats.shape
    mask = np.zeros((h, w), bool)
    rows = np.arange(h)
    for i, centres, shows, bar in tracks:
        band = np.minimum(rows // BAND, len(centres) - 1)
        cols = np.clip(centres[band][:, None] + np.arange(-2, 3)[None, :], 0, w - 1)
        hat = hats[i][rows[:, None], cols].astype(np.int16)
        top = hat.max(axis=1, keepdims=True)
        on = (2 * hat >= top) & (2 * hat > bar) & shows[band][:, None]
        mask[np.broadcast_to(rows[:, None], cols.shape)[on], cols[on]] = True
    if mask.any():
        mask = cv2.dilate(mask.view(np.uint8), np.ones((1, 3), np.uint8)) > 0
    return mask


def fill_spatially(grey: np.ndarray, mask: np.ndarray, radius: int = 3) -> np.ndarray:
    """``grey`` (H, W) with ``mask`` (H, W) bool filled from its surroundings
    (:func:`colorizer.repair.fill`), on the box around the mask only."""
    from colorizer.repair import fill

    if not mask.any():
        return grey
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    m = 2 * radius + 2
    y0, y1 = max(0, ys[0] - m), min(grey.shape[0], ys[-1] + m + 1)
    x0, x1 = max(0, xs[0] - m), min(grey.shape[1], xs[-1] + m + 1)
    out = grey.copy()
    out[y0:y1, x0:x1] = fill(grey[y0:y1, x0:x1], mask[y0:y1, x0:x1], radius)
    return out


# --- frame by frame ----------------------------------------------------------------------------------


@dataclass
class Repaired:
    """One frame out of :class:`FilmRestorer`: the repaired grey (H, W) uint8, what changed
    (H, W) bool (``found``: one-frame damage, ``lines``: persistent lines), what was pushed with
    it, and the flows between the previous frame and it (``back`` (h, w, 2) t -> t-1, ``fwd``
    t-1 -> t, working size; None at the first frame) for :class:`colorizer.video.TemporalSmoother`."""

    grey: np.ndarray
    mask: np.ndarray
    payload: object = None
    flows: tuple[np.ndarray, np.ndarray] | None = None
    found: np.ndarray | None = None
    lines: np.ndarray | None = None


@dataclass
class _Item:
    grey: np.ndarray
    small: np.ndarray
    payload: object


class FilmRestorer:
    """Repairs a clip's frames in order: :meth:`push` each frame, take what it gives back, and
    :meth:`finish` at the end for the last ones.

    A frame comes back once the frame after it is in (two after it at the start of a shot, whose
    frame before is missing), repaired against its neighbours t-1 and t+1 (t+1 and t+2 at a
    shot's start, t-1 and t-2 at its end or the clip's; none in a one-frame shot) and for
    persistent lines. ``flow(a, b)`` gives the working-size flow (default :func:`dis_flow`).
    """

    def __init__(self, config: FilmRestoreConfig | None = None, flow: Callable | None = None):
        self.cfg = config or FilmRestoreConfig()
        self._flow = flow or dis_flow()
        self._items: dict[int, _Item] = {}
        self._links: dict[int, Link] = {}  # k: between frames k and k+1
        self._pushed = self._given = 0
        self._profiles = None

    def push(self, grey: np.ndarray, small: np.ndarray, payload: object = None) -> list[Repaired]:
        """Take the next frame: its grey (H, W) uint8 and its working-size grey (h, w) uint8;
        give back the frames now ready, in order."""
        k = self._pushed
        self._items[k] = _Item(grey, small, payload)
        before = self._items.get(k - 1)
        if (before is not None and before.small.shape == small.shape and before.grey.shape == grey.shape
                and max(small.shape) >= MIN_FLOW_SIZE):
            self._links[k - 1] = link(before.small, small, self._flow, self.cfg.fb_tolerance)
        self._pushed += 1
        return self._ready(False)

    def finish(self) -> list[Repaired]:
        """The frames still held, repaired with what there is."""
        return self._ready(True)

    def _joined(self, k: int) -> bool:
        """Whether frames k and k+1 are of one shot (their link trusts enough)."""
        lk = self._links.get(k)
        return lk is not None and lk.overlap >= self.cfg.min_overlap

    def _ready(self, final: bool) -> list[Repaired]:
        out = []
        while self._given < self._pushed:
            t = self._given
            after = self._pushed - 1 - t
            if not final and not (after >= 2 or (after >= 1 and self._joined(t - 1))):
                break
            out.append(self._repair(t))
            self._given += 1
            self._items.pop(t - 2, None)
            self._links.pop(t - 2, None)
        return out

    def _towards(self, t: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Flow (h, w, 2) from frame t to frame t + step (step -2, -1, 1 or 2), and where it is
        trusted (h, w) bool."""
        if step > 0:
            first = self._links[t]
            flow, ok = first.fwd, first.ok_fwd
            if step == 2:
                then = self._links[t + 1]
                flow = compose(flow, then.fwd)
                ok = ok & (warp(then.ok_fwd.view(np.uint8), first.fwd, nearest=True) > 0)
            return flow, ok
        first = self._links[t - 1]
        flow, ok = first.back, first.ok_back
        if step == -2:
            then = self._links[t - 2]
            flow = compose(flow, then.back)
            ok = ok & (warp(then.ok_back.view(np.uint8), first.back, nearest=True) > 0)
        return flow, ok

    def _repair(self, t: int) -> Repaired:
        import cv2

        cfg = self.cfg
        item = self._items[t]
        grey = item.grey
        left, right = self._joined(t - 1), self._joined(t)
        if left and right:
            steps = (-1, 1)
        elif right and self._joined(t + 1):
            steps = (1, 2)
        elif left and self._joined(t - 2):
            steps = (-1, -2)
        else:
            steps = ()
        flows = None
        if t - 1 in self._links:
            flows = (self._links[t - 1].back, self._links[t - 1].fwd)

        found = np.zeros(grey.shape, bool)
        warped = maps = None
        if steps:
            warped, maps, trust = [], [], np.ones(item.small.shape, bool)
            for step in steps:
                flow, ok = self._towards(t, step)
                other = self._items[t + step]
                m = full_map(flow, grey.shape)
                table = brightness_lut(other.small, item.small)
                warped.append(remap_full(cv2.LUT(other.grey, table), m))
                maps.append(m)
                trust &= ok & ~motion_edges(flow)
            valid = full_mask(trust, grey.shape)
            strict = cfg if steps == (-1, 1) else replace(cfg, threshold=cfg.threshold * ONE_SIDED,
                                                          grow=cfg.grow * ONE_SIDED)
            found = one_frame_damage(grey, warped[0], warped[1], valid, strict)
            found = widen(found, cfg.widen) & valid
        out = fill_from_neighbours(grey, warped[0], warped[1], found) if found.any() else grey

        hats, current = line_profiles(grey, cfg)
        if not left or self._profiles is None or self._profiles.shape != current.shape:
            self._profiles = current
        else:
            self._profiles = cfg.line_memory * self._profiles + (1 - cfg.line_memory) * current
        lines = line_mask(hats, line_tracks(self._profiles, current, cfg), cfg) & ~found
        if lines.any() and warped is not None:
            lines, moved = split_lines(grey, lines, warped, maps, valid, cfg)
            out = fill_from_neighbours(out, warped[0], warped[1], moved)
            lines |= moved
            out = fill_spatially(out, lines & ~moved, cfg.radius)
        elif lines.any():
            out = fill_spatially(out, lines, cfg.radius)
        mask = found | lines
        self._items[t] = _Item(out, item.small, None)  # the next frames compare with the repaired one
        return Repaired(out, mask, item.payload, flows, found, lines)


def split_lines(grey: np.ndarray, lines: np.ndarray, warped: list, maps: list, valid: np.ndarray,
                config: FilmRestoreConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sort the pixels of the lines found by their shape (``lines`` (H, W) bool) by what the
    neighbours say.

    Where the picture moves under a line by more than half ``line_width`` (both sampling maps
    (H, W, 2), trusted in ``valid``), the warped neighbours (H, W) uint8 show the scene there: a
    pixel beyond both by more than ``grow`` while they agree (within ``agree``) is a scratch,
    filled from them; one they show too moves with the picture (a fence post in a pan) and is
    no damage. Where the picture stands still, the shape alone decides.

    Returns
    -------
    still : ndarray, (H, W), bool
        Line pixels with no motion under them: for the spatial fill.
    moved : ndarray, (H, W), bool
        Scratch pixels the picture moves under: for the neighbours' fill.
    """
    cfg = config or FilmRestoreConfig()
    ys, xs = np.nonzero(lines)
    under = valid[ys, xs].copy()
    for m in maps:
        under &= np.abs(m[ys, xs, 0] - xs) > cfg.line_width / 2
    g = grey[ys, xs].astype(np.int16)
    a, b = warped[0][ys, xs].astype(np.int16), warped[1][ys, xs].astype(np.int16)
    spike = np.maximum(np.minimum(g - a, g - b), np.minimum(a - g, b - g))
    scratch = (spike > cfg.grow) & (np.abs(a - b) <= cfg.agree)
    still, moved = np.zeros(lines.shape, bool), np.zeros(lines.shape, bool)
    still[ys[~under], xs[~under]] = True
    take = under & scratch
    moved[ys[take], xs[take]] = True
    return still, moved


def restore_frames(frames: Iterable[np.ndarray], config: FilmRestoreConfig | None = None,
                   size: int = WORKING_SIZE) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Repair a clip of 8-bit grey frames.

    Parameters
    ----------
    frames : iterable of ndarray, (H, W), uint8
        The clip in order.
    config : FilmRestoreConfig, optional
    size : int
        The flow's working size (:func:`working_grey`), as a model of that size would have it.

    Yields
    ------
    repaired : ndarray, (H, W), uint8
    mask : ndarray, (H, W), bool
        What was filled.
    """
    restorer = FilmRestorer(config)
    for grey in frames:
        grey = np.ascontiguousarray(grey, dtype=np.uint8)
        for r in restorer.push(grey, working_grey(grey, size)):
            yield r.grey, r.mask
    for r in restorer.finish():
        yield r.grey, r.mask


# --- synthetic film damage (tests and benchmarks) -------------------------------------------------


def film_defects(frames: list[np.ndarray], rng: np.random.Generator, dust: tuple = (5.0, 25.0),
                 scratch: bool = True) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A clip with damage drawn as film gets it, and the mask of each frame's damage.

    Each frame gets its own dust, hairs and a rare small blotch (:func:`colorizer.damage.draw_defects`
    with ``dust`` specks per 256 x 256 pixels, no lines or tears): damage on one frame only. With
    ``scratch``, one thin vertical line (1-4 px, bright or dark, at a random opacity, soft-edged)
    runs down 70-100% of every frame in about the same column: it wobbles by up to a pixel and a
    half along its length and drifts by up to two pixels over the frames.

    Parameters
    ----------
    frames : list of ndarray, (H, W), uint8
    rng : numpy.random.Generator
    dust : (float, float)
        Range of the dust count per 256 x 256 pixels (drawn per frame).
    scratch : bool

    Returns
    -------
    damaged : list of ndarray, (H, W), uint8
    masks : list of ndarray, (H, W), bool
        Where the damage moved the grey by at least 10 levels and covers 30% of the pixel.
    """
    from colorizer.damage import DefectConfig, draw_defects

    cfg = DefectConfig(scratches=(0.0, 0.0), film_scratches=0.0, cracks=(0.0, 0.0), hairs=(0.0, 1.0),
                       dust=dust, blotches=(0.0, 0.3), p_tear=0.0)
    h, w = frames[0].shape
    x0 = rng.uniform(0.1, 0.9) * w
    width = rng.uniform(1.0, 4.0)
    tone = rng.uniform(190, 255) if rng.random() < 0.65 else rng.uniform(0, 70)
    opacity = rng.uniform(0.6, 1.0)
    top = int(rng.uniform(0, 0.3) * h)
    bottom = min(h, top + int(rng.uniform(0.7, 1.0) * h))
    wobble, period, phase = rng.uniform(0.3, 1.5), rng.uniform(60, 300), rng.uniform(0, 2 * np.pi)
    ys = np.arange(h, dtype=np.float32)
    xs = np.arange(w, dtype=np.float32)
    drift = 0.0
    damaged, masks = [], []
    for frame in frames:
        out, mask = draw_defects(frame, rng, cfg)
        if scratch:
            drift = float(np.clip(drift + rng.normal(0, 0.3), -2, 2))
            centre = x0 + drift + wobble * np.sin(2 * np.pi * ys / period + phase)
            # a box of ``width`` seen through one-pixel-wide pixels: soft, anti-aliased edges
            a = np.clip(width / 2 + 0.5 - np.abs(xs[None, :] - centre[:, None]), 0, 1) * opacity
            a[:top] = 0
            a[bottom:] = 0
            x = out.astype(np.float32)
            line = np.clip(np.rint(x * (1 - a) + tone * a), 0, 255).astype(np.uint8)
            moved = np.abs(line.astype(np.int16) - frame.astype(np.int16)) >= 10
            mask = mask | ((a >= 0.3) & moved)
            out = line
        damaged.append(out)
        masks.append(mask)
    return damaged, masks
