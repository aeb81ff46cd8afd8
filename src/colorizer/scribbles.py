"""User colour scribbles: read them from an image or a JSON file into (hint_ab, mask).

Two ways to give scribbles, both in the photo's pixel coordinates:

* An image of the same size. Following Levin et al., a pixel is a scribble where it differs from
  the grey photo (draw in colour on a copy of the grey photo), or, when the image has
  transparency, where it is opaque (draw on an empty transparent layer).
* A JSON file: ``{"strokes": [{"points": [[x, y], ...], "color": "#c0392b", "width": 6}, ...]}``
  (or just the list). ``color`` is ``#rrggbb`` or ``[r, g, b]`` in 0-255; one point makes a dot;
  ``width`` is in pixels (default 5).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from colorizer.color import rgb2lab, srgb_to_l
from colorizer.errors import ColorizerError
from colorizer.io import Picture, read_image

#: A scribble pixel must differ from the grey photo by more than this (sum over R, G, B; 0-255).
DIFFERENCE_THRESHOLD = 12
#: Widest stroke accepted, in pixels.
MAX_STROKE_WIDTH = 1000
#: Largest coordinate accepted (pixels), inside or outside the photo.
MAX_COORDINATE = 1_000_000


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


def _parse_colour(value, where: str) -> tuple[int, int, int]:
    if isinstance(value, str) and value.startswith("#") and len(value) == 7:
        try:
            return tuple(int(value[i:i + 2], 16) for i in (1, 3, 5))
        except ValueError:
            pass
    if isinstance(value, list) and len(value) == 3 and all(_is_number(v) for v in value):
        return tuple(int(np.clip(v, 0, 255)) for v in value)
    raise ColorizerError(f"{where}: color must be '#rrggbb' or [r, g, b], got {value!r}")


def strokes_to_scribbles(strokes: list, height: int, width: int,
                         source: str = "scribbles") -> tuple[np.ndarray, np.ndarray]:
    """Rasterise stroke dicts into an RGB canvas and a mask (see the module docstring)."""
    import cv2

    canvas = np.zeros((height, width, 3), np.uint8)
    mask = np.zeros((height, width), np.uint8)
    for i, stroke in enumerate(strokes):
        where = f"{source}: stroke {i}"
        if not isinstance(stroke, dict) or "points" not in stroke or "color" not in stroke:
            raise ColorizerError(f"{where}: needs 'points' and 'color'")
        colour = _parse_colour(stroke["color"], where)
        width_px = stroke.get("width", 5)
        if not _is_number(width_px) or not 0 < width_px <= MAX_STROKE_WIDTH:
            raise ColorizerError(f"{where}: width must be a number of pixels in (0, {MAX_STROKE_WIDTH}], "
                                 f"got {width_px!r}")
        try:
            xy = np.asarray(stroke["points"], np.float64).reshape(-1, 2)
        except (ValueError, TypeError):
            raise ColorizerError(f"{where}: points must be a list of [x, y] pairs") from None
        if len(xy) == 0:
            raise ColorizerError(f"{where}: has no points")
        if not np.isfinite(xy).all() or np.abs(xy).max() > MAX_COORDINATE:
            raise ColorizerError(f"{where}: points must be finite pixel coordinates (within "
                                 f"+-{MAX_COORDINATE})")
        reach = width_px / 2 + 1
        if xy[:, 0].max() < -reach or xy[:, 0].min() > width - 1 + reach \
                or xy[:, 1].max() < -reach or xy[:, 1].min() > height - 1 + reach:
            raise ColorizerError(f"{where}: lies outside the {width}x{height} photo (points are pixels, "
                                 f"x from 0 to {width - 1}, y from 0 to {height - 1})")
        pts = xy.round().astype(np.int32)
        thickness = max(1, int(round(width_px)))
        for target, value in ((canvas, colour), (mask, 255)):
            if len(pts) == 1:
                cv2.circle(target, tuple(int(v) for v in pts[0]), max(thickness // 2, 0), value, -1)
            else:
                cv2.polylines(target, [pts], False, value, thickness, lineType=cv2.LINE_8)
    return canvas, mask > 0


def read_scribbles(path: str | os.PathLike, photo: Picture) -> tuple[np.ndarray, np.ndarray]:
    """Read scribbles for ``photo`` from an image or JSON file.

    Returns
    -------
    hint_ab : ndarray (H, W, 2) float32
        Scribble colours in Lab units (zero where there is no scribble).
    mask : ndarray (H, W) bool
        Scribbled pixels.
    """
    path = Path(path)
    height, width = photo.pixels.shape[:2]
    if path.suffix.lower() == ".json":
        strokes = _json_strokes(path)
        if not isinstance(strokes, list):
            raise ColorizerError(f"{path}: expected a list of strokes or {{\"strokes\": [...]}}")
        canvas, mask = strokes_to_scribbles(strokes, height, width, str(path))
    else:
        scribble = read_image(path)
        if scribble.pixels.shape[:2] != (height, width):
            raise ColorizerError(
                f"{path}: scribbles are {scribble.size[0]}x{scribble.size[1]} but the photo is "
                f"{width}x{height}; draw them on a copy of the photo")
        canvas = scribble.to_array(np.uint8)[..., :3]
        if scribble.alpha is not None and (scribble.to_array(np.uint8)[..., 3] < 128).any():
            mask = scribble.to_array(np.uint8)[..., 3] >= 128
        else:
            grey = np.repeat(_grey_rgb8(photo)[..., None], 3, axis=2)
            mask = np.abs(canvas.astype(np.int16) - grey).sum(2) > DIFFERENCE_THRESHOLD
    if not mask.any():
        raise ColorizerError(f"{path}: no scribbles found (pixels must differ in colour from the "
                             "grey photo, or be opaque on a transparent layer)")
    hint_ab = np.zeros((height, width, 2), np.float32)
    hint_ab[mask] = rgb2lab(canvas[mask])[:, 1:]
    return hint_ab, mask


def _json_strokes(path: Path):
    """The ``strokes`` of a JSON scribble file (a bare list is the strokes themselves); the
    caller checks their shape."""
    if not path.is_file():
        raise ColorizerError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ColorizerError(f"{path}: not valid JSON ({exc})") from None
    return data.get("strokes") if isinstance(data, dict) else data


def _grey_rgb8(photo: Picture) -> np.ndarray:
    """The photo as the 8-bit grey that a user would draw on (sRGB grey of the same L)."""
    from colorizer.color import l_ab_to_srgb

    L = srgb_to_l(photo.pixels)
    return l_ab_to_srgb(L, np.zeros((*L.shape, 2), np.float32))[..., 0].astype(np.int16)


def read_frame_strokes(path: str | os.PathLike) -> dict[int, list]:
    """Read JSON strokes for a video, grouped by the frame they are drawn on.

    The stroke format of :func:`strokes_to_scribbles`, plus ``"frame": N`` (0-based; default 0):
    ``{"strokes": [{"frame": 12, "points": [[x, y], ...], "color": "#c0392b", "width": 6}]}``.
    Returns ``{frame: [stroke, ...]}``; the strokes themselves are checked when rasterised.
    """
    path = Path(path)
    if path.suffix.lower() != ".json":
        raise ColorizerError(f"{path}: video hints must be a JSON file of strokes with \"frame\" numbers")
    strokes = _json_strokes(path)
    if not isinstance(strokes, list) or not strokes:
        raise ColorizerError(f"{path}: expected a non-empty list of strokes or {{\"strokes\": [...]}}")
    by_frame: dict[int, list] = {}
    for i, stroke in enumerate(strokes):
        frame = stroke.get("frame", 0) if isinstance(stroke, dict) else 0
        if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
            raise ColorizerError(f"{path}: stroke {i}: frame must be a whole number >= 0, got {frame!r}")
        by_frame.setdefault(frame, []).append(stroke)
    return by_frame
