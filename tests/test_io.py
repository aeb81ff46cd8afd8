import io
import os
import struct
import warnings
import zlib

import numpy as np
import pytest
from helpers import smooth_photo
from PIL import Image, UnidentifiedImageError

from colorizer.errors import ColorizerError
from colorizer.io import ColorizerWarning, Picture, read_image, write_image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.fixture
def photo():
    return smooth_photo(48, 64)


def test_reads_common_formats(tmp_path, photo):
    for ext in ("png", "bmp", "tiff", "webp"):
        Image.fromarray(photo).save(tmp_path / f"a.{ext}", **({"lossless": True} if ext == "webp" else {}))
        pic = read_image(tmp_path / f"a.{ext}")
        assert pic.to_array().tolist() == photo.tolist(), ext
    Image.fromarray(photo).save(tmp_path / "a.jpg", quality=95)
    assert np.abs(read_image(tmp_path / "a.jpg").to_array().astype(int) - photo).mean() < 8


def test_16bit_colour_png_keeps_precision(tmp_path):
    import cv2

    arr = (np.random.default_rng(0).random((20, 30, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "a.png"), arr[:, :, ::-1])
    pic = read_image(tmp_path / "a.png")
    assert pic.bit_depth == 16
    assert np.array_equal(pic.to_array(np.uint16), arr)
    write_image(pic, tmp_path / "b.png")
    assert np.array_equal(cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_UNCHANGED)[:, :, ::-1], arr)


def test_16bit_grey_png(tmp_path):
    arr = (np.arange(600).reshape(20, 30) * 100).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "g.png")
    pic = read_image(tmp_path / "g.png")
    assert pic.bit_depth == 16
    assert np.allclose(pic.rgb[..., 0], arr / 65535, atol=1e-6)
    assert np.array_equal(pic.rgb[..., 0], pic.rgb[..., 2])


def test_grey_alpha_rgba_palette_cmyk(tmp_path, photo):
    grey = photo[..., 0]
    Image.fromarray(np.dstack([grey, np.full_like(grey, 100)]), "LA").save(tmp_path / "la.png")
    pic = read_image(tmp_path / "la.png")
    assert pic.alpha is not None and (pic.alpha == 100).all()
    assert np.allclose(pic.rgb[..., 1] * 255, grey, atol=1e-3)

    rgba = np.dstack([photo, np.arange(48 * 64).reshape(48, 64) % 256]).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert np.array_equal(read_image(tmp_path / "rgba.png").to_array(), rgba)

    pal = Image.fromarray(photo).quantize(16)
    pal.save(tmp_path / "p.png")
    assert np.array_equal(read_image(tmp_path / "p.png").to_array(), np.asarray(pal.convert("RGB")))

    pal_t = pal.copy()
    pal_t.info["transparency"] = 0
    pal_t.save(tmp_path / "pt.png", transparency=0)
    assert read_image(tmp_path / "pt.png").alpha is not None

    Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    px = read_image(tmp_path / "c.jpg").to_array()[3, 4]
    assert px[0] > 240 and px[1] < 15 and px[2] < 15  # cyan-free, magenta+yellow = red


def test_exif_orientation(tmp_path, photo):
    im = Image.fromarray(photo)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    im.save(tmp_path / "r.jpg", exif=exif, quality=95)
    pic = read_image(tmp_path / "r.jpg")
    assert pic.rgb.shape[:2] == (64, 48)
    got = pic.to_array().astype(int)
    assert np.abs(got - np.rot90(photo, -1)).mean() < 8  # JPEG noise only
    assert np.abs(got - np.rot90(photo, 1)).mean() > 30  # not the other way round


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("hello, I am not a picture\n"), "not an image"),
    ],
)
def test_bad_files_give_one_line(tmp_path, make, message):
    path = tmp_path / "x.jpg"
    make(path)
    with pytest.raises(ColorizerError, match=message) as info:
        read_image(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_truncated_jpeg(tmp_path, photo):
    buf = io.BytesIO()
    Image.fromarray(smooth_photo(200, 300)).save(buf, "JPEG", quality=95)
    (tmp_path / "t.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ColorizerError, match="truncated or corrupt"):
        read_image(tmp_path / "t.jpg")


def test_decompression_bomb_header(tmp_path):
    # a PNG header claiming 50000 x 50000 pixels (2.5 GP) with a tiny body
    ihdr = struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + _png_chunk(b"IEND", b""))
    (tmp_path / "bomb.png").write_bytes(data)
    with pytest.raises(ColorizerError, match="over the limit of 100 MP"):
        read_image(tmp_path / "bomb.png")
    with pytest.raises(ColorizerError, match="over the limit of 1 MP"):
        read_image(tmp_path / "bomb.png", max_pixels=1_000_000)


def _float_tiff(path, h=32, w=48, claim=None):
    """A float32 RGB TIFF (Pillow cannot open it; OpenCV reads it), written by OpenCV; with
    ``claim``, its header then says it is claim x claim pixels (a 256 MP bomb in a few KB)."""
    import cv2

    rgb = np.linspace(0, 1, h * w * 3, dtype=np.float32).reshape(h, w, 3)
    assert cv2.imwrite(str(path), rgb)
    if claim:
        data = bytearray(path.read_bytes())
        assert data[:4] == b"II*\0"
        ifd = struct.unpack("<I", data[4:8])[0]
        for i in range(struct.unpack("<H", data[ifd:ifd + 2])[0]):
            at = ifd + 2 + 12 * i
            tag, kind = struct.unpack("<HH", data[at:at + 4])
            if tag in (256, 257):
                data[at + 8:at + 12] = struct.pack("<I", claim) if kind == 4 else struct.pack("<HH", claim, 0)
        path.write_bytes(bytes(data))
    return path


def test_float_tiff_is_read_and_held_to_the_pixel_limit(tmp_path):
    """Float TIFFs go to OpenCV, which has no header-only read: the pixel limit is checked from
    the TIFF header first, and a header claiming 256 MP is refused in one line instead of OpenCV
    trying to allocate 3 GB."""
    path = _float_tiff(tmp_path / "f.tif")
    with pytest.raises(UnidentifiedImageError):
        Image.open(path)
    assert read_image(path).to_array(np.uint8).shape[:2] == (32, 48)
    with pytest.raises(ColorizerError, match=r"48x32 is 0.00154 MP, over the limit of 0.001 MP"):
        read_image(path, max_pixels=1000)
    bomb = _float_tiff(tmp_path / "bomb.tif", claim=16000)
    assert bomb.stat().st_size < 20_000
    with pytest.raises(ColorizerError, match="16000x16000 is 256 MP, over the limit of 100 MP"):
        read_image(bomb)


def test_zero_size_array():
    with pytest.raises(ColorizerError, match="zero size"):
        Picture.from_array(np.zeros((0, 5), np.uint8))


def test_animated_gif_reads_first_frame_with_warning(tmp_path):
    frames = [Image.new("RGB", (10, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(ColorizerWarning, match="animated"):
        pic = read_image(tmp_path / "a.gif")
    assert pic.to_array()[0, 0, 0] > 200


def test_bad_arrays():
    with pytest.raises(ColorizerError, match="shape"):
        Picture.from_array(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ColorizerError, match=r"\[0, 1\]"):
        Picture.from_array(np.full((4, 4), 2.0))
    with pytest.raises(ColorizerError, match="dtype"):
        Picture.from_array(np.zeros((4, 4), np.int64))


def test_write_is_atomic_and_never_overwrites(tmp_path, photo):
    pic = Picture.from_array(photo)
    out = write_image(pic, tmp_path / "o.png")
    before = out.read_bytes()
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_image(Picture.from_array(photo[::-1]), out)
    assert out.read_bytes() == before
    write_image(Picture.from_array(photo[::-1].copy()), out, overwrite=True)
    assert out.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]  # no temporary files left


def test_write_without_hard_links_as_on_fat(tmp_path, photo, monkeypatch):
    """FAT and exFAT (SD cards, USB sticks) have no hard links: os.link fails with EPERM. Every
    output failed there, blamed on permissions; now it is written, and still never overwritten."""
    import errno

    def no_link(src, dst):
        raise PermissionError(errno.EPERM, "Operation not permitted", str(src))

    monkeypatch.setattr(os, "link", no_link)
    out = write_image(Picture.from_array(photo), tmp_path / "o.png")
    before = out.read_bytes()
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_image(Picture.from_array(photo[::-1].copy()), out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]  # no temporary files left
    np.testing.assert_array_equal(read_image(out).to_array(np.uint8), photo)

    def refused(src, dst):  # an SMB share whose scanner holds the new file
        raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(PermissionError):
        write_image(Picture.from_array(photo), tmp_path / "p.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]  # no empty placeholder left


def test_a_picture_too_wide_for_webp_is_one_line_before_the_work(tmp_path):
    """WebP stores at most 16383 px a side: Pillow's ValueError came as a traceback after a whole
    colorization; now the batch refuses that file in one line when it is read, and goes on."""
    from colorizer import batch

    Image.fromarray(np.full((2, 17000), 120, np.uint8)).save(tmp_path / "wide.png")
    Image.fromarray(np.full((8, 8), 120, np.uint8)).save(tmp_path / "small.png")
    worked, lines = [], []
    jobs = batch.plan_jobs([tmp_path / "wide.png", tmp_path / "small.png"], out_dir=tmp_path / "o")
    jobs = [batch.Job(j.src, j.dst.with_suffix(".webp")) for j in jobs]
    summary = batch.run_jobs(jobs, lambda pic, job: worked.append(job.src) or pic, report=lines.append,
                             progress=False)
    assert worked == [tmp_path / "small.png"] and summary.done == [tmp_path / "o" / "small.webp"]
    assert lines == [f"error: {tmp_path / 'o' / 'wide.webp'}: WEBP stores at most 16383 pixels a side, "
                     "and this picture is 17000x2; write .png or .tif instead"]
    with pytest.raises(ColorizerError, match="WEBP stores at most 16383"):
        write_image(Picture.from_array(np.zeros((2, 17000), np.uint8)), tmp_path / "w.webp")


def test_write_refuses_input_and_unknown_extension(tmp_path, photo):
    src = tmp_path / "in.png"
    Image.fromarray(photo).save(src)
    before = src.read_bytes()
    with pytest.raises(ColorizerError, match="over the input"):
        write_image(Picture.from_array(photo), src, overwrite=True, inputs=(src,))
    assert src.read_bytes() == before
    with pytest.raises(ColorizerError, match="unsupported output extension"):
        write_image(Picture.from_array(photo), tmp_path / "o.xyz")


def test_alpha_survives_write_and_jpeg_warns(tmp_path, photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 77, np.uint8)])
    write_image(Picture.from_array(rgba), tmp_path / "a.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), rgba)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_image(Picture.from_array(rgba), tmp_path / "a.jpg")
    assert any("alpha dropped" in str(w.message) for w in caught)


@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 5, 4), (300, 201, 3), (513, 1000, 4)])
def test_parallel_png_encoder_is_lossless(shape):
    from colorizer.io import encode_png8

    arr = np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(encode_png8(arr))))
    assert np.array_equal(decoded, arr)
    import cv2  # a second, independent decoder (libpng)

    back = cv2.imdecode(np.frombuffer(encode_png8(arr, workers=3), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(back[..., [2, 1, 0, 3][: shape[2]]], arr)


def test_outputs_get_normal_permissions(tmp_path):
    import os
    import stat

    from colorizer.io import atomic_write, file_mode

    old = os.umask(0o027)  # not the usual 0o022, so that the mode must come from this umask
    file_mode.cache_clear()
    try:
        out = write_image(Picture(np.zeros((4, 4, 3), np.uint8)), tmp_path / "x.png")
        atomic_write(tmp_path / "y.json", lambda p: p.write_text("{}"))
    finally:
        os.umask(old)
        file_mode.cache_clear()
    for f in (out, tmp_path / "y.json"):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o640  # as open() would make it, not mkstemp's 0o600


def test_concurrent_reads_leave_pillows_pixel_limit_as_it_was(tmp_path):
    """read_image swaps Pillow's process-wide pixel limit for its own check; reads on many threads
    at once (the web server's workers, a read-ahead thread) must not leave it switched off."""
    import threading

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"p{i}.png")
        Image.fromarray(smooth_photo(48, 64, seed=i)).save(paths[-1])
    before = Image.MAX_IMAGE_PIXELS
    start = threading.Barrier(8)

    def reader(k):
        start.wait()
        for j in range(150):
            read_image(paths[(k + j) % len(paths)])

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Image.MAX_IMAGE_PIXELS == before
