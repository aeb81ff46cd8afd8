"""Image I/O at the edges: robust reading, atomic writing, and every PIL/numpy/tensor conversion.

:class:`Picture` is the one place where images change representation. Reading never crashes on
user files: every problem becomes a one-line :class:`~colorizer.errors.ColorizerError` naming the
file. Writing is atomic (temporary file, then rename), never touches the input, and never replaces
an existing file unless asked.
"""

from __future__ import annotations

import functools
import os
import struct
import tempfile
import threading
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from colorizer.errors import ColorizerError, unexpected

if TYPE_CHECKING:
    import torch

#: Default pixel limit for decoding (decompression-bomb guard), 100 megapixels.
DEFAULT_MAX_PIXELS = 100_000_000

#: File extensions read when walking folders and accepted for output, with the PIL format name.
FORMATS = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF",
    ".bmp": "BMP", ".webp": "WEBP",
}
#: Files also read from folders (not written): Pillow decodes them; the result is saved as .png.
INPUT_FORMATS = {**FORMATS, ".gif": "GIF", ".avif": "AVIF"}
#: Image files met in folders that cannot be read: they are reported, never passed over in silence.
UNSUPPORTED_FORMATS = {
    ".heic": "HEIC", ".heif": "HEIF", ".svg": "SVG", ".svgz": "SVG", ".pdf": "PDF", ".jxl": "JPEG XL",
    ".dng": "camera raw (DNG)", ".cr2": "camera raw (CR2)", ".cr3": "camera raw (CR3)",
    ".nef": "camera raw (NEF)", ".arw": "camera raw (ARW)", ".raf": "camera raw (RAF)",
    ".orf": "camera raw (ORF)", ".rw2": "camera raw (RW2)",
}
_NO_ALPHA = {"JPEG"}
_SIXTEEN_BIT = {"PNG", "TIFF"}


class ColorizerWarning(UserWarning):
    """A recoverable oddity in user input (animated file, dropped alpha, ...)."""


@dataclass
class Picture:
    """An image in the one internal form used between I/O and models.

    Pixels are kept in their source precision so that large photos are not blown up to floats
    before they need to be.

    Attributes
    ----------
    pixels : ndarray, (H, W, 3)
        uint8 (8-bit sources), uint16 (16-bit sources) or float32 in [0, 1].
    alpha : ndarray or None, (H, W)
        Transparency in the same dtype as ``pixels``.
    name : str
        The file name or a description, for messages.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    name: str = "image"
    _lightness: np.ndarray | None = field(default=None, repr=False, compare=False)

    def lightness(self) -> np.ndarray:
        """CIELAB L (H, W) float32 of the pixels, computed once (:func:`colorizer.color.srgb_to_l`)."""
        if self._lightness is None:
            from colorizer.color import srgb_to_l

            self._lightness = srgb_to_l(self.pixels)
        return self._lightness

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def bit_depth(self) -> int:
        """8 for uint8 pixels, 16 otherwise: the precision used when writing."""
        return 8 if self.pixels.dtype == np.uint8 else 16

    @property
    def rgb(self) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1]."""
        return _to_float(self.pixels)

    # -- from ----------------------------------------------------------------------------------

    @classmethod
    def from_array(cls, arr: np.ndarray, name: str = "array") -> Picture:
        """From (H, W), (H, W, 1|2|3|4) arrays: uint8, uint16, bool, or float in [0, 1]."""
        arr = np.asarray(arr)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
            raise ColorizerError(
                f"{name}: expected an array of shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ColorizerError(f"{name}: image has zero size {arr.shape[:2]}")
        if arr.dtype == np.bool_:
            arr = arr.astype(np.uint8) * 255
        elif np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float32)
            if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
                raise ColorizerError(
                    f"{name}: float images must be finite and in [0, 1]; scale it first")
        elif arr.dtype not in (np.uint8, np.uint16):
            raise ColorizerError(f"{name}: unsupported array dtype {arr.dtype}; "
                                 "use uint8, uint16 or float in [0, 1]")
        channels = arr.shape[2]
        colour = arr[:, :, :3] if channels >= 3 else np.repeat(arr[:, :, :1], 3, axis=2)
        alpha = np.ascontiguousarray(arr[:, :, -1]) if channels in (2, 4) else None
        return cls(np.ascontiguousarray(colour), alpha, name)

    @classmethod
    def from_pil(cls, im: Image.Image, name: str = "image") -> Picture:
        """From a PIL image of any mode (1, L, LA, P, RGB, RGBA, CMYK, I;16, I, F, ...)."""
        if im.width == 0 or im.height == 0:
            raise ColorizerError(f"{name}: image has zero size {im.width}x{im.height}")
        mode = im.mode
        if mode.startswith("I;16"):
            return cls.from_array(np.asarray(im).astype(np.uint16), name)
        if mode == "I":
            return cls.from_array(np.clip(np.asarray(im), 0, 65535).astype(np.uint16), name)
        if mode == "F":
            return cls.from_array(_unit_float(np.asarray(im, dtype=np.float32)), name)
        has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info
        return cls.from_array(np.asarray(im.convert("RGBA" if has_alpha else "RGB")), name)

    # -- to ------------------------------------------------------------------------------------

    def to_tensor(self, device: str | torch.device = "cpu") -> torch.Tensor:
        """(1, 3, H, W) float32 tensor in [0, 1]."""
        import torch  # not at module level: reading images must not wait for torch's import

        return torch.from_numpy(self.rgb).permute(2, 0, 1).unsqueeze(0).to(device)

    def with_pixels(self, pixels: np.ndarray | torch.Tensor) -> Picture:
        """A copy with new colour pixels, same alpha and precision.

        ``pixels`` is an (H, W, 3) array (any supported dtype) or a (1, 3, H, W) float tensor.
        """
        if not isinstance(pixels, np.ndarray):  # a torch tensor
            pixels = pixels.detach().squeeze(0).permute(1, 2, 0).float().cpu().numpy()
        return Picture(_convert(np.ascontiguousarray(pixels), self.pixels.dtype), self.alpha,
                       self.name)

    def with_lightness(self, L: np.ndarray) -> Picture:
        """A copy whose CIELAB lightness is ``L`` (H, W) and whose colour is kept: a grey picture
        stays exactly grey (R = G = B), a colour one keeps its a and b (a denoised L goes back in)."""
        from colorizer.color import grey_from_l, l_ab_to_srgb, srgb_to_lab

        p = self.pixels
        if np.array_equal(p[..., 0], p[..., 1]) and np.array_equal(p[..., 0], p[..., 2]):
            return self.with_pixels(np.repeat(grey_from_l(L)[..., None], 3, axis=2))
        return self.with_pixels(l_ab_to_srgb(L, srgb_to_lab(p)[..., 1:], p.dtype))

    def to_array(self, dtype=np.uint8) -> np.ndarray:
        """(H, W, 3) or (H, W, 4) array of the given dtype (uint8, uint16 or float)."""
        dtype = np.dtype(dtype)
        colour = _convert(self.pixels, dtype)
        if self.alpha is None:
            return colour
        return np.concatenate([colour, _convert(self.alpha, dtype)[..., None]], 2)

    def to_pil(self) -> Image.Image:
        """An 8-bit RGB or RGBA PIL image."""
        return Image.fromarray(self.to_array(np.uint8), "RGB" if self.alpha is None else "RGBA")


_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def _to_float(arr: np.ndarray) -> np.ndarray:
    if arr.dtype in _SCALE:
        return arr.astype(np.float32) * np.float32(1.0 / _SCALE[arr.dtype])
    return arr.astype(np.float32, copy=False)


def _convert(arr: np.ndarray, dtype) -> np.ndarray:
    """Convert between uint8, uint16 and float [0, 1] pixel arrays, rounding and clipping."""
    dtype = np.dtype(dtype)
    if arr.dtype == dtype:
        return arr
    if arr.dtype == np.uint8 and dtype == np.uint16:
        return arr.astype(np.uint16) * np.uint16(257)
    f = _to_float(arr)
    if dtype in _SCALE:
        return np.clip(np.rint(f * _SCALE[dtype]), 0, _SCALE[dtype]).astype(dtype)
    return f.astype(dtype)


# --- reading -----------------------------------------------------------------------------------


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation tag to an array (for the 16-bit path that bypasses PIL)."""
    ops = {
        2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1), 8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(ops[orientation](arr)) if orientation in ops else arr


def _is_16bit_colour(path: Path, im: Image.Image) -> bool:
    # Pillow reduces 16-bit RGB(A) PNG/TIFF to 8 bits, so those are decoded with OpenCV instead.
    if im.mode not in ("RGB", "RGBA"):
        return False
    if im.format == "PNG":
        with open(path, "rb") as fh:
            header = fh.read(26)
        return len(header) >= 25 and header[24] == 16
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))
        return max(bits if isinstance(bits, tuple) else (bits,)) == 16
    return False


def _read_16bit_colour(path: Path, orientation: int, name: str) -> Picture:
    arr = _cv2_read(path, name)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        raise ColorizerError(f"{name}: could not decode 16-bit colour image")
    arr = arr[:, :, [2, 1, 0, 3][: arr.shape[2]]]  # BGR(A) -> RGB(A)
    return Picture.from_array(_orient(arr, orientation), name)


_MAGIC = ((b"\x89PNG", "PNG"), (b"\xff\xd8", "JPEG"), (b"GIF8", "GIF"), (b"II*\0", "TIFF"),
          (b"MM\0*", "TIFF"), (b"BM", "BMP"))
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1",
                b"msf1"}


def _unreadable_reason(path: Path) -> str:
    """Why Pillow could not identify ``path``, from its first bytes: a clear word for formats
    people try (HEIC from phones, SVG, PDF) and for damaged files of the formats we read."""
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if head[4:8] == b"ftyp":
        brands = {head[i:i + 4] for i in range(8, min(len(head), 64), 4)}
        if brands & {b"avif", b"avis"}:
            return ("an AVIF image, which this Pillow cannot decode (or it is damaged); upgrade "
                    "Pillow (>= 11.3) or convert it to PNG or JPEG")
        if brands & _HEIF_BRANDS:
            return ("a HEIC/HEIF image (as iPhones save), which cannot be read; convert it to JPEG or "
                    "PNG first (on the phone, or with a converter such as heif-convert)")
    if head.startswith(b"%PDF"):
        return "a PDF document, not an image; export its pages as PNG or TIFF first"
    if b"<svg" in head.lower():
        return "an SVG drawing (vector graphics), not a photo; export it as PNG first"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "truncated or corrupt WEBP image"
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return f"truncated or corrupt {fmt} image"
    ext = path.suffix.lower()
    if ext in UNSUPPORTED_FORMATS:
        return f"{UNSUPPORTED_FORMATS[ext]} files cannot be read; convert it to PNG, JPEG or TIFF first"
    return "not an image, or a format that cannot be read"


def _unit_float(arr: np.ndarray) -> np.ndarray:
    """Float pixels of unknown scale to [0, 1]: taken as 0-1, 0-255 or 0-65535 by their maximum."""
    arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    top = 1.0 if arr.max() <= 1.0 else (255.0 if arr.max() <= 255.0 else 65535.0)
    return np.clip(arr / top, 0, 1)


def _tiff_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of a classic TIFF's first image, from its header alone, or None if the
    header does not say. Pillow gives this for the TIFFs it opens; OpenCV, which reads the rest,
    has no header-only call, and would otherwise allocate whatever the header claims."""
    import struct

    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8 or head[:2] not in (b"II", b"MM"):
            return None
        end = "<" if head[:2] == b"II" else ">"
        fh.seek(struct.unpack(end + "I", head[4:8])[0])
        count = fh.read(2)
        if len(count) < 2:
            return None
        found = {}
        for _ in range(struct.unpack(end + "H", count)[0]):
            entry = fh.read(12)
            if len(entry) < 12:
                break
            tag, kind = struct.unpack(end + "HH", entry[:4])
            if tag in (256, 257) and kind in (3, 4):  # ImageWidth, ImageLength: SHORT or LONG
                fmt, size = ("H", 2) if kind == 3 else ("I", 4)  # the value is left-justified
                found[tag] = struct.unpack(end + fmt, entry[8:8 + size])[0]
    return (found[256], found[257]) if len(found) == 2 else None


def _cv2_read(path: Path, name: str) -> np.ndarray | None:
    """``cv2.imread(path, IMREAD_UNCHANGED)``, its own errors (a failed allocation) as one line."""
    import cv2

    try:
        return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ColorizerError(f"{name}: could not be decoded ({unexpected(exc)})") from None


def _read_tiff_with_opencv(path: Path, name: str, max_pixels: int) -> Picture:
    """TIFFs that Pillow cannot open (float or 32-bit colour, as scientific and HDR tools save)."""
    size = _tiff_size(path)
    if size is None:
        raise ColorizerError(f"{name}: truncated or corrupt TIFF image (no image size in its header)")
    _check_pixels(name, *size, max_pixels)
    arr = _cv2_read(path, name)
    if arr is None or arr.size == 0 or arr.ndim not in (2, 3):
        raise ColorizerError(f"{name}: truncated or corrupt TIFF image, or a TIFF kind that cannot "
                             "be read")
    if arr.ndim == 3:
        arr = arr[:, :, [2, 1, 0, 3][: arr.shape[2]]] if arr.shape[2] in (3, 4) else arr[:, :, :1]
    if np.issubdtype(arr.dtype, np.floating):
        arr = _unit_float(arr)
    elif arr.dtype not in (np.uint8, np.uint16):
        arr = np.clip(arr, 0, 65535).astype(np.uint16)
    return Picture.from_array(arr, name)


def _to_srgb(im: Image.Image, name: str) -> Image.Image:
    """Convert pixels with an embedded ICC profile (Adobe RGB, Display P3, a CMYK press profile,
    a grey dot-gain profile) to sRGB, which is what the colour module assumes; an sRGB profile
    needs nothing. A profile that cannot be applied is named in a warning, and the pixels are
    taken as sRGB."""
    icc = im.info.get("icc_profile")
    if not icc:
        return im
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(BytesIO(icc))
        description = ImageCms.getProfileDescription(profile).strip()
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError) as exc:
        warnings.warn(f"{name}: its embedded colour profile is unreadable ({exc}); the pixels are "
                      "taken as sRGB", ColorizerWarning, stacklevel=3)
        return im
    if "srgb" in description.lower():
        return im
    out_mode = {"RGB": "RGB", "RGBA": "RGBA", "L": "RGB", "CMYK": "RGB"}.get(im.mode)
    try:
        if out_mode is None:
            raise ImageCms.PyCMSError(f"{im.mode} images are not converted")
        return ImageCms.profileToProfile(im, profile, ImageCms.createProfile("sRGB"),
                                         outputMode=out_mode)
    except (OSError, ImageCms.PyCMSError, ValueError) as exc:
        warnings.warn(f"{name}: its colour profile '{description}' could not be applied ({exc}); the "
                      "pixels are taken as sRGB", ColorizerWarning, stacklevel=3)
        return im


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Read any supported image file into a :class:`Picture`, honouring EXIF orientation.

    Reads JPEG, PNG, TIFF, BMP, WebP (and whatever else Pillow opens), in 8 or 16 bits, grey,
    grey+alpha, RGB(A), palette or CMYK, and float TIFF. An animated or multi-page file gives
    its first frame with a warning. Pixels with an embedded colour profile are converted to sRGB.

    Raises
    ------
    ColorizerError
        One line naming the file for: missing file, folder, empty file, non-image, truncated or
        corrupt data, zero-size image, or more than ``max_pixels`` pixels.
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise ColorizerError(f"{name}: file not found")
    if path.is_dir():
        raise ColorizerError(f"{name}: is a folder, not an image file")
    if not path.is_file():  # a FIFO or a device: opening it could wait forever
        raise ColorizerError(f"{name}: not a regular file")
    if path.stat().st_size == 0:
        raise ColorizerError(f"{name}: empty file (0 bytes)")
    with _PIL_LIMIT_LOCK:  # Pillow's limit is process-wide: one swap (and restore) at a time
        return _read_image_unlimited(path, name, max_pixels)


# held while read_image has Pillow's process-wide pixel limit switched off, so that reads on
# several threads cannot restore each other's "off" and leave it off for good
_PIL_LIMIT_LOCK = threading.Lock()


def _check_pixels(name: str, w: int, h: int, max_pixels: int) -> None:
    """Refuse an image over ``max_pixels`` (before it is decoded) or of zero size."""
    if w * h > max_pixels:
        raise ColorizerError(
            f"{name}: {w}x{h} is {w * h / 1e6:.3g} MP, over the limit of "
            f"{max_pixels / 1e6:.3g} MP (a decompression bomb?); raise it with --max-pixels")
    if w == 0 or h == 0:
        raise ColorizerError(f"{name}: image has zero size {w}x{h}")


def _read_image_unlimited(path: Path, name: str, max_pixels: int) -> Picture:
    saved_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own limit below replaces Pillow's global one
    try:
        with Image.open(path) as im:
            _check_pixels(name, *im.size, max_pixels)
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                warnings.warn(f"{name}: has {frames} frames (animated or multi-page); using the "
                              "first", ColorizerWarning, stacklevel=2)
                im.seek(0)
            orientation = im.getexif().get(0x0112, 1)
            if _is_16bit_colour(path, im):
                if im.info.get("icc_profile"):
                    warnings.warn(f"{name}: the colour profile of a 16-bit image is not applied; "
                                  "the pixels are taken as sRGB", ColorizerWarning, stacklevel=2)
                return _read_16bit_colour(path, orientation, name)
            im.load()
            im = _to_srgb(ImageOps.exif_transpose(im), name)
            return Picture.from_pil(im, name)
    except ColorizerError:
        raise
    except PermissionError as exc:
        raise ColorizerError(f"{name}: cannot be read ({exc.strerror})") from None
    except UnidentifiedImageError:
        reason = _unreadable_reason(path)
        if reason == "truncated or corrupt TIFF image":
            return _read_tiff_with_opencv(path, name, max_pixels)
        raise ColorizerError(f"{name}: {reason}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ColorizerError(f"{name}: truncated or corrupt image ({exc})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved_limit


def load_input(image) -> tuple[Picture, str]:
    """Turn a path, PIL image or ndarray into a Picture; also return which kind it was."""
    if isinstance(image, (str, os.PathLike)):
        return read_image(image), "path"
    if isinstance(image, Image.Image):
        return Picture.from_pil(image), "pil"
    if isinstance(image, np.ndarray):
        return Picture.from_array(image), "array"
    raise ColorizerError(
        f"expected a file path, PIL image or numpy array, got {type(image).__name__}")


# --- writing -----------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind))))


def encode_png8(arr: np.ndarray, workers: int | None = None) -> bytes:
    """Encode an (H, W, 3|4) uint8 array as PNG, compressing on all cores.

    Hand-written because Pillow and OpenCV deflate on one core: a 12 MP photo takes them about
    0.6-1.0 s, which is most of a CLI run. Here every row gets PNG's "Sub" filter (vectorised),
    and the filtered bytes are deflated in slices by threads (zlib releases the GIL); slices end
    with a sync flush so their raw deflate streams concatenate into one valid zlib stream, as in
    pigz. About 2.5x faster at a few percent larger files (benchmarks/bench_fullres.py).
    """
    h, w, c = arr.shape
    flat = np.ascontiguousarray(arr).reshape(h, w * c)
    rows = np.empty((h, 1 + w * c), np.uint8)
    rows[:, 0] = 1  # filter type 1: Sub
    rows[:, 1:1 + c] = flat[:, :c]
    np.subtract(flat[:, c:], flat[:, :-c], out=rows[:, 1 + c:])  # wraps mod 256, as PNG wants
    raw = rows.reshape(-1)
    workers = workers or os.cpu_count() or 1
    n = max(1, min(4 * workers, raw.size // (1 << 16)))
    bounds = np.linspace(0, raw.size, n + 1).astype(np.int64)

    def deflate(i: int) -> bytes:
        co = zlib.compressobj(1, zlib.DEFLATED, -15)
        out = co.compress(memoryview(raw[bounds[i]:bounds[i + 1]]))
        return out + co.flush(zlib.Z_SYNC_FLUSH if i < n - 1 else zlib.Z_FINISH)

    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(deflate, range(n)))
    stream = b"\x78\x01" + b"".join(parts) + struct.pack(">I", zlib.adler32(memoryview(raw)))
    header = struct.pack(">IIBBBBB", w, h, 8, 6 if c == 4 else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", stream)
            + _png_chunk(b"IEND", b""))



def output_format(path: str | os.PathLike) -> str:
    """PIL format name for an output path, or a ColorizerError naming the supported extensions."""
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise ColorizerError(
            f"{path}: unsupported output extension {ext!r}; use one of {', '.join(sorted(FORMATS))}")
    return FORMATS[ext]


_MAX_SIDE = {"WEBP": 16383, "JPEG": 65500}  # what the formats can store (libwebp, libjpeg)


def check_encodable(path: str | os.PathLike, size: tuple[int, int]) -> None:
    """Refuse, in one line, a picture of ``size`` (width, height) that the format of ``path``
    cannot store: checked as soon as the input is read, before the work, not after it."""
    fmt = output_format(path)
    side = _MAX_SIDE.get(fmt)
    if side is not None and max(size) > side:
        raise ColorizerError(f"{path}: {fmt} stores at most {side} pixels a side, and this picture is "
                             f"{size[0]}x{size[1]}; write .png or .tif instead")


@functools.cache
def file_mode() -> int:
    """Permissions for a new file as ``open()`` would give it (0o666 less the umask); a
    temporary file from ``mkstemp`` is 0o600, which would leave outputs private to the user.

    The umask is read from /proc where Linux offers it, because the portable way (set it and set
    it back) briefly changes process state that other threads may be creating files under; the
    answer is cached, so that happens at most once per process elsewhere.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@functools.cache
def _host_tag() -> str:
    import socket
    from hashlib import sha1

    return sha1(socket.gethostname().encode()).hexdigest()[:6]


def _temp_prefix(path: Path) -> str:
    """``.NAME.PID~HOST-``: whose temporary file this is, so that a later run can tell the
    leftovers of a killed process (:func:`remove_stale_temps`) from another run's work."""
    return f".{path.name}.{os.getpid()}~{_host_tag()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


_CLEANED: set[Path] = set()


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files and folders (:func:`atomic_write`, ``colorize video``'s frame
    folders) that a process killed mid-write (kill -9, power loss) left in ``folder``: those named
    by this host's processes that no longer run. Done once per folder and process; returns what
    was removed."""
    import re
    import shutil

    folder = Path(folder)
    key = folder.resolve()
    if key in _CLEANED:
        return []
    _CLEANED.add(key)
    removed = []
    pattern = re.compile(rf"^\..+\.(\d+)~{_host_tag()}-[^/]*\.tmp$")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        m = pattern.match(entry.name)
        if not m or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def make_temp_dir(path: str | os.PathLike) -> Path:
    """A new temporary folder beside ``path`` (to be renamed to it when complete), named so that
    :func:`remove_stale_temps` clears it if this process is killed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    return Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent))


def os_error_message(exc: OSError, path: str | os.PathLike | None = None) -> str:
    """One line for a failed read or write: which file, what happened and what to do."""
    import errno

    where = path if path is not None else exc.filename
    where = f"{where}: " if where else ""
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        what = ("no space left on the disk, or over a size limit (ulimit -f)" if code == errno.EFBIG
                else "no space left on the disk")
        return f"{where}not written: {what}; free some space and run again (finished files are kept)"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"{where}not written: the folder is read-only or not yours ({exc.strerror}); "
                "choose another output folder")
    return f"{where}{exc.strerror or exc}"


def _move_no_clobber(tmp: str, path: Path) -> None:
    """Move ``tmp`` to ``path``, raising ``FileExistsError`` if ``path`` exists. A hard link does
    it atomically; FAT and exFAT (SD cards, USB sticks) and some network shares have none, so
    there ``path`` is claimed by an exclusive create, then replaced."""
    import errno

    try:
        os.link(tmp, path)
    except OSError as exc:
        no_links = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK)
        windows = getattr(exc, "winerror", None) in (1, 50)  # ERROR_INVALID_FUNCTION, _NOT_SUPPORTED
        if isinstance(exc, FileExistsError) or not (exc.errno in no_links or windows):
            raise
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, file_mode()))
        try:
            os.replace(tmp, path)
        except BaseException:  # the empty placeholder must not pass for a finished output
            os.unlink(path)
            raise
    else:
        os.unlink(tmp)


def atomic_write(path: str | os.PathLike, write, *, overwrite: bool = True) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then move it into place, so a
    crash never leaves a half-written file (images, weights, cards, dataset arrays). Without
    ``overwrite`` the move raises ``FileExistsError`` if ``path`` exists, even one created while
    ``write`` ran (:func:`_move_no_clobber`). The file gets :func:`file_mode`.
    Temporary files that a killed run left in the folder are removed first
    (:func:`remove_stale_temps`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, file_mode())
        write(Path(tmp))
        if overwrite:
            os.replace(tmp, path)
        else:
            _move_no_clobber(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_output(path: str | os.PathLike, *, overwrite: bool = False,
                 inputs: tuple = ()) -> Path:
    """Validate an output path before any work: format known, not an input, not existing."""
    path = Path(path)
    output_format(path)
    for src in inputs:
        if src is not None and Path(src).exists() and path.exists() and path.samefile(src):
            raise ColorizerError(f"{path}: refusing to write over the input file")
        if src is not None and Path(src).resolve() == path.resolve():
            raise ColorizerError(f"{path}: refusing to write over the input file")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists, not overwritten (use --overwrite)")
    return path


def write_image(pic: Picture, path: str | os.PathLike, *, overwrite: bool = False,
                inputs: tuple = (), quality: int = 95) -> Path:
    """Write a Picture atomically.

    The file is written to a temporary name in the same folder and then moved into place, so a
    crash never leaves a half-written output. Without ``overwrite``, an existing file is never
    replaced, even one created while we worked (``FileExistsError``). The input files listed
    in ``inputs`` are never written over.
    """
    path = check_output(path, overwrite=overwrite, inputs=inputs)
    check_encodable(path, pic.size)
    fmt = output_format(path)
    if pic.alpha is not None and fmt in _NO_ALPHA:
        warnings.warn(f"{path}: {fmt} cannot store transparency; alpha dropped "
                      "(write .png to keep it)", ColorizerWarning, stacklevel=2)
        pic = Picture(pic.pixels, None, pic.name)

    def encode(tmp: Path) -> None:
        if pic.bit_depth == 16 and fmt in _SIXTEEN_BIT:
            import cv2

            arr = pic.to_array(np.uint16)
            arr = arr[:, :, [2, 1, 0, 3][: arr.shape[2]]]
            ok, buf = cv2.imencode(path.suffix.lower(), arr)
            if not ok:
                raise ColorizerError(f"{path}: could not encode 16-bit image")
            tmp.write_bytes(buf.tobytes())
        elif fmt == "PNG":
            tmp.write_bytes(encode_png8(pic.to_array(np.uint8)))
        else:
            options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
            pic.to_pil().save(tmp, format=fmt, **options)

    try:
        atomic_write(path, encode, overwrite=overwrite)
    except FileExistsError:
        raise FileExistsError(f"{path}: exists, not overwritten (use --overwrite)") from None
    return path


def write_model_file(out, write, overwrite: bool) -> None:
    """Write a model file through ``write(path)`` under a temporary name, then rename it to
    ``out``; an existing ``out`` is kept unless ``overwrite`` (one line saying so)."""
    try:
        atomic_write(out, write, overwrite=overwrite)
    except FileExistsError:
        raise FileExistsError(f"{out}: exists, not overwritten (use --overwrite)") from None
