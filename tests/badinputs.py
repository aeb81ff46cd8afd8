"""A corpus of bad and unusual inputs, made at test time (nothing binary is committed).

Each :class:`Kind` is one way a user's file can be odd: a truncated PNG, an animated GIF, a
scribble file with a NaN colour, a pickle renamed ``.safetensors``, a truncated ``l.npy``, a video
without a video stream... It knows the file(s) it made and what ``colorize`` must do with it:
``expect="error"`` (one ``error:`` line naming the file, containing ``match``) or
``expect="ok"`` (colorized; ``warn`` is a substring of the one expected ``warning:`` line, if
any). ``tests/test_bad_inputs.py`` runs every kind through the real CLI.

The makers take a folder and return the kinds they wrote into it, grouped as the CLI meets them:
:func:`image_kinds` (one folder for one ``colorize image`` run), :func:`scribble_kinds`,
:func:`weight_kinds`, :func:`dataset_kinds` and :func:`video_kinds`.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from helpers import mux_frames, smooth_photo
from PIL import Image

W, H = 48, 32  # small: the whole corpus colorizes in a second


@dataclass
class Kind:
    name: str
    group: str
    path: Path  # the file or folder the CLI is given (or that a folder run meets)
    expect: str  # "error" or "ok"
    match: str = ""  # substring of the error line (expect="error")
    warn: str = ""  # substring of a warning line (expect="ok"), "" for none
    extra: dict = field(default_factory=dict)  # per-kind data for extra checks


# --- byte-level helpers ---------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(arr: np.ndarray, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", **save)
    return buf.getvalue()


def jpeg_bytes(arr: np.ndarray, exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90, **({"exif": exif} if exif else {}))
    return buf.getvalue()


def raw_png(width: int, height: int, body: bytes = b"\x00" * 64, colour_type: int = 2) -> bytes:
    """A PNG with any IHDR size (zero, huge) and the given (compressed) body."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(body))
            + png_chunk(b"IEND", b""))


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def adobe_rgb_icc() -> bytes:
    """A minimal ICC v2 matrix/TRC display profile with the Adobe RGB (1998) primaries (D50-adapted
    colorants, gamma 563/256), written here since no profile file may be shipped or fetched."""
    colorants = {b"rXYZ": (0.60974, 0.31111, 0.01947), b"gXYZ": (0.20528, 0.62567, 0.06087),
                 b"bXYZ": (0.14919, 0.06322, 0.74457)}
    text = b"Adobe RGB (1998) compatible, test"
    desc = (b"desc" + b"\0" * 4 + struct.pack(">I", len(text) + 1) + text + b"\0"
            + b"\0" * 8 + b"\0" * 3 + b"\0" * 67)
    tags = {b"desc": desc, b"cprt": b"text" + b"\0" * 4 + b"public domain\0",
            b"wtpt": b"XYZ " + b"\0" * 4 + _s15(0.9642) + _s15(1.0) + _s15(0.8249)}
    for sig, xyz in colorants.items():
        tags[sig] = b"XYZ " + b"\0" * 4 + b"".join(_s15(v) for v in xyz)
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, 563) + b"\0\0"
    for sig in (b"rTRC", b"gTRC", b"bTRC"):
        tags[sig] = curve
    table, body = b"", b""
    offset = 128 + 4 + 12 * len(tags)
    for sig, data in tags.items():
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"\0" * 4 + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 24
              + struct.pack(">I", 0) + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def adobe_to_srgb8(rgb: np.ndarray) -> np.ndarray:
    """Reference: Adobe RGB (the profile above) to 8-bit sRGB through XYZ D50 (lcms's sRGB has the
    Bradford-adapted sRGB colorants)."""
    lin = (rgb.astype(np.float64) / 255) ** (563 / 256)
    adobe = np.array([[0.60974, 0.20528, 0.14919], [0.31111, 0.62567, 0.06322],
                      [0.01947, 0.06087, 0.74457]])
    srgb = np.array([[0.4360747, 0.3850649, 0.1430804], [0.2225045, 0.7168786, 0.0606169],
                     [0.0139322, 0.0971045, 0.7141733]])
    out = np.clip(lin @ (np.linalg.inv(srgb) @ adobe).T, 0, 1)
    enc = np.where(out <= 0.0031308, 12.92 * out, 1.055 * out ** (1 / 2.4) - 0.055)
    return np.round(enc * 255).astype(np.uint8)


def exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def oriented(arr: np.ndarray, value: int) -> np.ndarray:
    """What a viewer shows for pixels ``arr`` stored with EXIF orientation ``value`` (EXIF 2.3:
    2 mirrored, 3 rotated 180, 4 mirrored vertically, 5 transposed, 6 rotated 90 cw, 7 transposed
    across the other diagonal, 8 rotated 90 ccw)."""
    return {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1],
            4: lambda a: a[::-1], 5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
            7: lambda a: np.rot90(a, 1)[:, ::-1], 8: lambda a: np.rot90(a, 1)}[value](arr)


# --- images ------------------------------------------------------------------------------------------


def image_kinds(folder: Path) -> list[Kind]:
    """Odd image files, all in ``folder`` (one ``colorize image FOLDER`` run meets them all)."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = smooth_photo(H, W, 3)
    png, jpg = png_bytes(photo), jpeg_bytes(photo)
    kinds = []

    def add(name, filename, data, expect, match="", warn="", **extra):
        path = folder / filename
        path.write_bytes(data)
        kinds.append(Kind(name, "image", path, expect, match, warn, extra))

    def saved(fmt, arr=photo, **options):
        buf = io.BytesIO()
        (arr if isinstance(arr, Image.Image) else Image.fromarray(arr)).save(buf, fmt, **options)
        return buf.getvalue()

    add("gif_single", "single.gif", saved("GIF"), "ok")
    frames = [Image.fromarray(smooth_photo(H, W, s)) for s in (1, 2, 3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    add("gif_animated", "animated.gif", buf.getvalue(), "ok", warn="animated")
    for cut in (8, 40, len(png) // 2):
        add(f"png_truncated_at_{cut}", f"cut{cut}.png", png[:cut], "error", "corrupt")
    for cut in (2, 200, len(jpg) // 2, len(jpg) - 40):
        add(f"jpeg_truncated_at_{cut}", f"cut{cut}.jpg", jpg[:cut], "error", "corrupt")
    idat = png.index(b"IDAT")
    bad_crc = bytearray(png)
    bad_crc[idat + 4] ^= 0xFF  # first byte of the IDAT data: its CRC no longer matches
    add("png_bad_crc", "badcrc.png", bytes(bad_crc), "error", "corrupt")
    add("png_named_jpg", "really_png.jpg", png, "ok")
    add("jpeg_named_png", "really_jpeg.png", jpg, "ok")
    add("text_named_png", "notes.png", b"these are my notes, not a picture\n", "error", "not an image")
    add("empty_file", "empty.png", b"", "error", "empty file")
    grey_f = (photo.mean(2) / 255).astype(np.float32)
    add("tiff_float32_grey", "float.tif", saved("TIFF", Image.fromarray(grey_f, "F")), "ok")
    import cv2

    ok, rgb_f = cv2.imencode(".tiff", (photo[..., ::-1] / 255).astype(np.float32))
    assert ok
    add("tiff_float32_rgb", "float_rgb.tif", rgb_f.tobytes(), "ok")
    ok, png16 = cv2.imencode(".png", photo[..., ::-1].astype(np.uint16) * 257)
    add("png_16bit_rgb", "deep.png", png16.tobytes(), "ok", bit_depth=16)
    add("avif", "photo.avif", saved("AVIF", quality=90), "ok")
    heic = struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + b"\0" * 200
    add("heic", "phone.heic", heic, "error", "HEIC")
    svg = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="48" '
           b'height="32"><rect width="48" height="32" fill="#888"/></svg>\n')
    add("svg", "drawing.svg", svg, "error", "SVG")
    pdf = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages "
           b"/Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    add("pdf", "scan.pdf", pdf, "error", "PDF")
    add("huge_declared_size", "bomb.png", raw_png(200_000, 200_000), "error", "over the limit")
    add("zero_width", "zero.png", raw_png(0, 10), "error", "")
    for value in range(1, 9):
        add(f"exif_orientation_{value}", f"orient{value}.jpg",
            jpeg_bytes(photo, exif_orientation(value)), "ok", orientation=value)
    swatch = np.zeros((H, W, 3), np.uint8)
    swatch[:, : W // 2] = (180, 120, 90)
    swatch[:, W // 2:] = (60, 140, 200)
    add("icc_adobe_rgb", "adobe.png", png_bytes(swatch, icc_profile=adobe_rgb_icc()), "ok",
        source=swatch)
    add("icc_garbage", "badprofile.png", png_bytes(photo, icc_profile=b"not an ICC profile" * 8),
        "ok", warn="colour profile")
    add("webp_truncated", "cut.webp", saved("WEBP")[:60], "error", "corrupt")
    add("bmp_truncated", "cut.bmp", saved("BMP")[:300], "error", "corrupt")
    tiff_pages = io.BytesIO()
    frames[0].save(tiff_pages, "TIFF", save_all=True, append_images=frames[1:])
    add("tiff_multipage", "pages.tif", tiff_pages.getvalue(), "ok", warn="frames")
    add("non_ascii_name", "grand-mère ☃.png", png, "ok")
    add("newline_in_name", "two\nlines.png", png[:100], "error", "corrupt")
    add("terminal_escape_in_name", "\x1b[2Jcleared.png", b"not a png", "error", "not an image")
    import os

    os.mkfifo(folder / "pipe.png")  # a FIFO with an image name: reading must not wait for a writer
    kinds.append(Kind("fifo_named_png", "image", folder / "pipe.png", "error", "not a regular file"))
    return kinds


# --- scribbles ----------------------------------------------------------------------------------------


def scribble_kinds(folder: Path) -> tuple[Path, list[Kind]]:
    """A grey photo and bad scribble files for it: one ``colorize scribble PHOTO -s FILE`` each."""
    folder.mkdir(parents=True, exist_ok=True)
    grey = smooth_photo(H, W, 4).mean(2).astype(np.uint8)
    photo = folder / "photo.png"
    Image.fromarray(grey).save(photo)
    kinds = []

    def stroke(**over):
        return {"points": [[5, 5], [30, 20]], "color": "#c0392b", "width": 4, **over}

    def add(name, filename, content, match):
        path = folder / filename
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
        kinds.append(Kind(name, "scribble", path, "error", match))

    add("json_malformed", "cut.json", '{"strokes": [{"points": [[1, 2]', "not valid JSON")
    add("json_not_strokes", "number.json", {"strokes": 7}, "list of strokes")
    add("json_points_off_image", "off.json", {"strokes": [stroke(points=[[500, 500], [900, 700]])]},
        "outside")
    add("json_points_nan", "nan.json", '{"strokes": [{"points": [[NaN, 3], [4, 5]], "color": '
        '"#ff0000"}]}', "points")
    add("json_points_huge", "huge.json", {"strokes": [stroke(points=[[1e30, 2], [3, 4]])]}, "points")
    add("colour_name", "red.json", {"strokes": [stroke(color="red")]}, "color")
    add("colour_short_hex", "short.json", {"strokes": [stroke(color="#12345")]}, "color")
    add("colour_bad_hex", "badhex.json", {"strokes": [stroke(color="#zzzzzz")]}, "color")
    add("colour_nan", "nancolour.json", '[{"points": [[5, 5]], "color": [NaN, 0, 0]}]', "color")
    add("colour_two_values", "two.json", {"strokes": [stroke(color=[10, 20])]}, "color")
    add("width_nan", "widthnan.json", '[{"points": [[5, 5], [9, 9]], "color": "#00ff00", '
        '"width": NaN}]', "width")
    add("width_huge", "widthhuge.json", {"strokes": [stroke(width=1e9)]}, "width")
    wrong = np.zeros((H + 5, W, 3), np.uint8)
    wrong[4:9, 4:9] = (255, 0, 0)
    add("mask_wrong_size", "wrong_size.png", png_bytes(wrong), "scribbles are")
    same = np.repeat(grey[..., None], 3, axis=2)
    add("mask_no_scribbles", "blank.png", png_bytes(same), "no scribbles")
    add("mask_truncated", "cut.png", png_bytes(wrong)[:50], "corrupt")
    return photo, kinds


# --- weights --------------------------------------------------------------------------------------------


class _Payload:
    """Pickled, this would create a file when unpickled (it must never be)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pickle code ran"))


def weight_kinds(folder: Path) -> list[Kind]:
    """Bad weight files for ``colorize image PHOTO --model gan --weights FILE`` (one run each)."""
    import torch
    from safetensors.torch import save_file

    from colorizer.models.gan import GANColorizer

    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "PICKLE_CODE_RAN"
    tiny = GANColorizer(GANColorizer.Config(encoder="none", channels=(4, 8, 8, 8), disc_channels=4))
    state = {k: v.contiguous() for k, v in tiny.state_dict().items()}
    card = {"architecture": "GANColorizer", "config": {"encoder": "none", "channels": [4, 8, 8, 8],
                                                       "disc_channels": 4}}
    kinds = []

    def add(name, data, match, card_text=None, suffix=".safetensors"):
        path = folder / f"{name}{suffix}"
        if isinstance(data, dict):
            save_file(data, str(path))
        else:
            path.write_bytes(data)
        path.with_suffix(".json").write_text(card_text if card_text is not None else json.dumps(card))
        kinds.append(Kind(name, "weights", path, "error", match, extra={"marker": marker}))

    good = folder / "good.safetensors"
    save_file(state, str(good))
    data = good.read_bytes()
    good.unlink()
    add("safetensors_truncated", data[: len(data) // 2], "safetensors")
    add("safetensors_header_cut", data[:20], "safetensors")
    wrong = dict(state)
    key = next(k for k, v in wrong.items() if v.ndim == 4)
    wrong[key] = torch.zeros(*wrong[key].shape[:-1], wrong[key].shape[-1] + 1)
    add("wrong_shapes", wrong, "wrong shape")
    add("missing_keys", {k: v for k, v in list(state.items())[3:]}, "missing keys")
    add("pickle_renamed", pickle.dumps({"weights": _Payload(marker)}), "pickle")
    add("header_claims_gigabytes", struct.pack("<Q", 40 * 2**30) + b'{"a": 1}', "safetensors")
    header = json.dumps({"w": {"dtype": "F32", "shape": [2**20, 2**12], "data_offsets": [0, 2**34]}})
    add("tensor_claims_gigabytes", struct.pack("<Q", len(header)) + header.encode() + b"\0" * 64,
        "safetensors")
    add("card_not_json", state, "not valid JSON", card_text="{architecture: gan")
    add("card_other_model", state, "not GANColorizer",
        card_text=json.dumps({**card, "architecture": "VAEColorizer"}))
    add("pth_with_code", pickle.dumps(_Payload(marker)), "not a plain PyTorch", suffix=".pth")
    kinds[-1].extra["model"] = "zhang"
    return kinds


# --- datasets ------------------------------------------------------------------------------------------


def dataset_kinds(folder: Path) -> list[Kind]:
    """Bad prepared datasets for ``colorize train --data DIR`` (one run each)."""
    rng = np.random.default_rng(0)
    n, s = 12, 16
    l8 = rng.integers(0, 256, (n, s, s), dtype=np.uint8)
    ab8 = rng.integers(100, 156, (n, s, s, 2), dtype=np.uint8)
    kinds = []

    def add(name, match, l=l8, ab=ab8, split=None, raw: dict | None = None):
        root = folder / name
        root.mkdir(parents=True)
        for fname, arr in (("l.npy", l), ("ab.npy", ab), ("split.npy", split)):
            if arr is not None:
                np.save(root / fname, arr)
        for fname, data in (raw or {}).items():
            (root / fname).write_bytes(data)
        kinds.append(Kind(name, "dataset", root, "error", match))

    add("l_float32", "uint8", l=l8.astype(np.float32))
    add("ab_int16", "uint8", ab=ab8.astype(np.int16))
    add("l_wrong_ndim", "shape", l=l8.reshape(n, s * s))
    add("ab_three_channels", "shape", ab=np.concatenate([ab8, ab8[..., :1]], 3))
    add("l_ab_sizes_differ", "shape", ab=ab8[:, :8, :8])
    add("l_ab_counts_differ", "images", ab=ab8[:-2])
    add("not_square", "square", l=l8[:, :, :8], ab=ab8[:, :, :8])
    buf = io.BytesIO()
    np.save(buf, l8)
    add("l_truncated", "truncated", l=None, raw={"l.npy": buf.getvalue()[: len(buf.getvalue()) // 2]})
    add("l_object_pickle", "pickle", l=np.array([{"x": 1}] * n, dtype=object))
    add("l_not_npy", "npy", l=None, raw={"l.npy": b"PK\x03\x04 a zip, not an array"})
    add("split_wrong_length", "split", split=np.zeros(n + 3, np.uint8))
    add("zero_images", "no training images", l=l8[:0], ab=ab8[:0])
    return kinds


# --- videos --------------------------------------------------------------------------------------------


def video_kinds(folder: Path) -> list[Kind]:
    """Bad clips, all in ``folder`` (one ``colorize video`` run with every clip meets them all)."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    frames = [smooth_photo(H, W, s) for s in range(6)]
    kinds = []

    def encode(path: Path, with_frames=True, with_video=True, audio=False):
        out = av.open(str(path), "w")
        if not with_frames:
            vs = out.add_stream("libx264", rate=10)
            vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
            out.start_encoding()  # headers, and not a single frame
            out.close()
            return path
        if with_video:
            vs = out.add_stream("libx264", rate=10)
            vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        if audio:
            a = out.add_stream("aac", rate=8000)
            a.layout = "mono"
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.float32), format="flt", layout="mono")
            fr.sample_rate = 8000
            for p in a.encode(fr):
                out.mux(p)
            for p in a.encode(None):
                out.mux(p)
        if with_video and with_frames:
            mux_frames(out, vs, frames)
        out.close()
        return path

    def add(name, path, match):
        kinds.append(Kind(name, "video", path, "error", match))

    good = encode(folder / "good_source.mp4").read_bytes()
    (folder / "good_source.mp4").unlink()
    for label, cut in (("header", 40), ("half", len(good) // 2)):
        p = folder / f"cut_{label}.mp4"
        p.write_bytes(good[:cut])
        add(f"video_truncated_{label}", p, "video")
    add("video_audio_only", encode(folder / "sound.mp4", with_video=False, audio=True), "no video stream")
    add("video_zero_frames_mp4", encode(folder / "nothing.mp4", with_frames=False), "")
    add("video_zero_frames_mkv", encode(folder / "nothing.mkv", with_frames=False), "")
    p = folder / "notes.mp4"
    p.write_text("not a video\n" * 20)
    add("video_text", p, "video")
    p = folder / "empty.mkv"
    p.write_bytes(b"")
    add("video_empty", p, "empty file")
    return kinds


def frame_folder_kinds(folder: Path) -> list[Kind]:
    """Frame folders with a bad frame, and with frames of different sizes."""
    kinds = []
    bad = folder / "frames_bad"
    bad.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(smooth_photo(H, W, i)).save(bad / f"f{i}.png")
    (bad / "f3.png").write_bytes(png_bytes(smooth_photo(H, W, 9))[:60])
    kinds.append(Kind("frames_one_truncated", "video", bad, "error", "f3.png"))
    mixed = folder / "frames_mixed"
    mixed.mkdir()
    Image.fromarray(smooth_photo(H, W, 0)).save(mixed / "f0.png")
    Image.fromarray(smooth_photo(H + 2, W, 1)).save(mixed / "f1.png")
    kinds.append(Kind("frames_sizes_differ", "video", mixed, "error", "share one size"))
    return kinds
