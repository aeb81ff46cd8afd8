"""What a request may send, and how an upload is checked before anything is done with it.

A photo is checked from its header first (bytes, format, pixel count), then read as the CLI
reads it; hints are checked against the photo's size, then read as ``colorize scribble`` reads
them. Every refusal is a :class:`WebError`, answered as JSON ``{"error": message}``.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from fastapi.responses import JSONResponse

from colorizer.errors import ColorizerError

#: Image formats the page accepts (Pillow's names): those the CLI writes, plus phone JPEGs and GIF.
ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG", "TIFF", "BMP", "WEBP", "GIF")

#: Room in a POST body for the form fields and multipart framing around the photo itself.
FORM_OVERHEAD_BYTES = 2 * 2**20

#: Most points and the widest stroke accepted in ``hints``.
MAX_HINT_POINTS = 200_000
MAX_HINT_WIDTH = 1000

HINTS_HELP = ('JSON strokes as `colorize scribble` reads them, in the photo\'s pixels: {"strokes": '
              '[{"points": [[x, y], ...], "color": "#c0392b", "width": 6}], "width": W, "height": H}; '
              "width and height, if given, must be the photo's")


class WebError(Exception):
    """An HTTP error answered as JSON ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _safe_name(filename: str | None) -> str:
    """The upload's base name with only safe characters, for messages and the download name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename or "").name).strip("._")[:100]
    return name or "upload"


def _json_int(text: str) -> int | float:
    """A JSON whole number; a huge one as a float (inf beyond 1e308), which the range checks on
    points, widths and colours refuse, where an int would overflow them (or not even parse)."""
    return int(text) if len(text) <= 18 else float(text)


def with_upload(upload, fn: Callable, max_upload_bytes: int, max_pixels: int):
    """Copy the upload into a fresh temporary folder, read it (:func:`read_upload`), call
    ``fn(pic, folder, name)``; the folder is deleted when ``fn`` returns or fails."""
    name = _safe_name(upload.filename)
    with tempfile.TemporaryDirectory(prefix="colorize-serve-") as tmp:
        path = Path(tmp) / ("upload" + Path(name).suffix.lower()[:8])
        upload.file.seek(0)
        with open(path, "wb") as fh:
            shutil.copyfileobj(upload.file, fh, 2**20)
        pic = read_upload(path, name, max_upload_bytes, max_pixels)
        return fn(pic, Path(tmp), name)


def read_upload(path: Path, name: str, max_upload_bytes: int, max_pixels: int):
    """Check size, format and pixel count from the header, then read like the CLI does."""
    from PIL import Image, UnidentifiedImageError

    from colorizer.io import read_image

    nbytes = path.stat().st_size
    if nbytes == 0:
        raise WebError(422, f"{name}: empty file (0 bytes)")
    if nbytes > max_upload_bytes:
        raise WebError(413, f"{name}: {nbytes / 2**20:.1f} MB is over the upload limit of "
                            f"{max_upload_bytes / 2**20:.0f} MB")
    try:
        with Image.open(path) as im:
            fmt, (w, h) = im.format, im.size
    except UnidentifiedImageError:
        raise WebError(415, f"{name}: not an image, or a format that cannot be read; send "
                            "JPEG, PNG, TIFF, BMP or WebP") from None
    except Image.DecompressionBombError:
        raise WebError(413, f"{name}: too many pixels (limit {max_pixels / 1e6:.0f} MP)") \
            from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise WebError(422, f"{name}: truncated or corrupt image ({exc})") from None
    if fmt not in ACCEPTED_FORMATS:
        raise WebError(415, f"{name}: {fmt} images are not supported; send JPEG, PNG, TIFF, "
                            "BMP or WebP")
    if w * h > max_pixels:
        raise WebError(413, f"{name}: {w}x{h} is {w * h / 1e6:.1f} MP, over the limit of "
                            f"{max_pixels / 1e6:.0f} MP; scale it down first")
    try:
        return read_image(path, max_pixels=max_pixels)
    except ColorizerError as exc:
        raise WebError(422, str(exc).replace(str(path), name)) from None


def read_hints(text: str, pic, folder: Path):
    """Validate JSON strokes against the photo's size, then read them as ``colorize scribble``
    does. Returns (hint_ab, mask), or None for no strokes."""
    from colorizer.scribbles import read_scribbles

    width, height = pic.size
    try:
        data = json.loads(text, parse_int=_json_int)
    except RecursionError:
        raise WebError(422, "hints: not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError is one
        raise WebError(422, f"hints: not valid JSON ({exc})") from None
    strokes = data.get("strokes") if isinstance(data, dict) else data
    if not isinstance(strokes, list):
        raise WebError(422, 'hints: expected {"strokes": [...]} or a list of strokes')
    if isinstance(data, dict) and ("width" in data or "height" in data) \
            and (data.get("width"), data.get("height")) != (width, height):
        raise WebError(422, f"hints: drawn on a {data.get('width')}x{data.get('height')} image but "
                            f"the photo is {width}x{height}; draw them on this photo")
    if not strokes:
        return None
    points = 0
    for i, stroke in enumerate(strokes):
        pts = stroke.get("points") if isinstance(stroke, dict) else None
        try:
            arr = np.asarray(pts, np.float64).reshape(-1, 2)
        except (ValueError, TypeError):
            raise WebError(422, f"hints: stroke {i}: points must be a list of [x, y] pairs") from None
        points += len(arr)
        outside = ~np.isfinite(arr).all(1) | (arr[:, 0] < 0) | (arr[:, 0] > width - 1) \
            | (arr[:, 1] < 0) | (arr[:, 1] > height - 1)
        if outside.any():
            x, y = arr[np.argmax(outside)]
            raise WebError(422, f"hints: stroke {i} has the point ({x:g}, {y:g}), outside the "
                                f"{width}x{height} photo; use the photo's pixel coordinates")
        if isinstance(stroke.get("width"), (int, float)) and stroke["width"] > MAX_HINT_WIDTH:
            raise WebError(422, f"hints: stroke {i} is wider than {MAX_HINT_WIDTH} pixels")
    if points > MAX_HINT_POINTS:
        raise WebError(422, f"hints: {points} points; at most {MAX_HINT_POINTS}")
    path = folder / "hints.json"
    path.write_text(json.dumps({"strokes": strokes}))
    try:
        return read_scribbles(path, pic)
    except ColorizerError as exc:
        raise WebError(422, str(exc).replace(str(path), "hints")) from None
