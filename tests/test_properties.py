"""Property-based tests (Hypothesis): the colour module, working_shape, the scribble parser and the
image reader, on inputs drawn at random instead of picked by hand.

Examples are derandomised (the same ones every run, so CI is stable) and kept few, so the whole
file takes seconds; ``HYPOTHESIS_PROFILE=deep`` draws ten times as many, freshly each run.
"""

import io
import json
import os
import warnings

import numpy as np
import pytest
from helpers import smooth_photo
from PIL import Image

from colorizer import color
from colorizer.api import working_shape
from colorizer.errors import ColorizerError
from colorizer.io import Picture, _convert, read_image
from colorizer.scribbles import read_scribbles, strokes_to_scribbles

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("deep", max_examples=400, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

unit = st.floats(0, 1, allow_nan=False, width=32)


def rgb_arrays(dtype):
    elements = unit if np.issubdtype(dtype, np.floating) else None
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6).map(
        lambda s: (*s, 3)), elements=elements)


# --- colour module --------------------------------------------------------------------------------


@given(rgb_arrays(np.float64) | rgb_arrays(np.float32))
def test_lab_round_trip_keeps_colour_and_float_dtype(rgb):
    lab = color.rgb2lab(rgb)
    assert lab.dtype == rgb.dtype and lab.shape == rgb.shape
    assert np.all((lab[..., 0] >= -1e-3) & (lab[..., 0] <= 100 + 1e-3))
    back = color.lab2rgb(lab)
    assert back.dtype == rgb.dtype
    assert np.abs(back - rgb).max() < (1e-4 if rgb.dtype == np.float32 else 1e-6)


@given(rgb_arrays(np.uint8))
def test_8bit_round_trip_is_exact(rgb):
    assert np.array_equal(color.lab2rgb_u8(color.rgb2lab(rgb)), rgb)
    assert np.array_equal(color.lab8_to_lab(color.lab_to_lab8(color.rgb2lab(rgb)))[..., 0].shape,
                          rgb.shape[:2])


@given(rgb_arrays(np.uint8) | rgb_arrays(np.uint16) | rgb_arrays(np.float32))
def test_fast_lightness_equals_lab_l(rgb):
    L = color.srgb_to_l(rgb)
    assert L.dtype == np.float32 and L.shape == rgb.shape[:2]
    assert np.abs(L - color.rgb2lab(rgb)[..., 0]).max() < 2e-3


@given(st.floats(0, 1, allow_nan=False), st.sampled_from([np.uint8, np.uint16, np.float32]))
def test_grey_has_no_chroma(v, dtype):
    rgb = np.full((1, 1, 3), v, np.float64)
    if dtype is not np.float32:
        rgb = _convert(rgb.astype(np.float32), dtype)
    lab = color.rgb2lab(rgb)
    assert np.abs(lab[..., 1:]).max() < 1e-2


lab_any = st.tuples(st.floats(0, 100), st.floats(-128, 127), st.floats(-128, 127))


@given(st.lists(lab_any, min_size=1, max_size=20), st.sampled_from([np.uint8, np.uint16, np.float32]))
def test_any_lab_maps_into_the_gamut_in_the_asked_dtype(values, dtype):
    lab = np.array(values, np.float32)
    rgb = color.lab2rgb(lab)
    assert np.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1
    L, ab = lab[None, :, 0], lab[None, :, 1:]
    out = color.l_ab_to_srgb(L, ab, dtype)
    assert out.dtype == np.dtype(dtype) and out.shape == (1, len(values), 3)
    if dtype is np.float32:
        assert out.min() >= 0 and out.max() <= 1


@given(st.lists(st.floats(0, 100), min_size=1, max_size=20))
def test_joining_l_with_zero_ab_keeps_l(values):
    L = np.array([values], np.float32)
    grey = color.l_ab_to_srgb(L, np.zeros((*L.shape, 2), np.float32), np.uint16)
    assert np.abs(color.srgb_to_l(grey) - L).max() < 0.01
    # neutral: the D65 white and the sRGB matrix, both to 5-6 digits, leave a tint of a few 1/65535
    assert np.abs(grey.astype(int) - grey[..., :1]).max() <= 4


@given(rgb_arrays(np.uint8) | rgb_arrays(np.uint16) | rgb_arrays(np.float32),
       st.sampled_from([np.uint8, np.uint16, np.float32]))
def test_picture_precision_round_trips(arr, dtype):
    pic = Picture.from_array(arr)
    assert pic.pixels.dtype == arr.dtype
    there = pic.to_array(dtype)
    assert there.dtype == np.dtype(dtype)
    if np.dtype(dtype).itemsize >= arr.dtype.itemsize or dtype is np.float32:
        back = Picture.from_array(there).to_array(arr.dtype)
        tol = 1e-6 if arr.dtype == np.float32 and dtype is np.float32 else (
            1 / 65535 if arr.dtype == np.float32 else 0)
        assert np.abs(back.astype(np.float64) - arr.astype(np.float64)).max() <= tol


# --- working_shape ----------------------------------------------------------------------------------


@given(st.integers(1, 200_000), st.integers(1, 200_000), st.integers(8, 4096),
       st.sampled_from([1, 2, 8, 16, 32]))
def test_working_shape(height, width, size, multiple):
    h, w = working_shape(height, width, size, multiple)
    assert h % multiple == 0 and w % multiple == 0 and h >= multiple and w >= multiple
    scale = size / np.sqrt(height * width)
    for got, side in ((h, height), (w, width)):
        if side * scale >= multiple:  # not clamped: the nearest multiple to the scaled side
            assert abs(got - side * scale) <= multiple / 2 + 1e-6
    if height * scale >= multiple and width * scale >= multiple:
        assert abs(np.log(h / w) - np.log(height / width)) <= np.log(1 + multiple / min(h, w)) * 2 + 1e-9


@given(st.integers(-10, 7))
def test_working_shape_refuses_tiny_sizes(size):
    with pytest.raises(ColorizerError, match="--size"):
        working_shape(100, 100, size)


# --- the scribble parser --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
    | st.text(max_size=8), lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["points", "color", "width", "frame", "x"]), inner, max_size=4),
    max_leaves=12)
coordinate = st.floats(-50, 120, allow_nan=False)
colours = st.sampled_from(["#c0392b", "#00ff00", "#123abc"]) | st.lists(
    st.integers(0, 255), min_size=3, max_size=3)
strokes = st.lists(st.fixed_dictionaries(
    {"points": st.lists(st.tuples(coordinate, coordinate).map(list), min_size=1, max_size=5),
     "color": colours}, optional={"width": st.floats(0.5, 30)}), min_size=1, max_size=4)


@given(st.lists(json_values, max_size=4) | json_values)
def test_scribble_parser_never_crashes(value):
    try:
        canvas, mask = strokes_to_scribbles(value if isinstance(value, list) else [value], 40, 60)
    except ColorizerError as exc:
        assert "\n" not in str(exc)
        return
    assert canvas.shape == (40, 60, 3) and canvas.dtype == np.uint8
    assert mask.shape == (40, 60) and mask.dtype == bool


@given(strokes)
def test_valid_strokes_paint_their_colour(value):
    h, w = 40, 60
    try:
        canvas, mask = strokes_to_scribbles(value, h, w)
    except ColorizerError as exc:  # only for a stroke that lies wholly off the photo
        assert "outside" in str(exc)
        return
    assert (canvas[~mask] == 0).all()
    last = value[-1]
    x, y = np.round(last["points"][0]).astype(int)
    if 0 <= x < w and 0 <= y < h:  # the last stroke is drawn on top
        colour = last["color"]
        want = [int(colour[i:i + 2], 16) for i in (1, 3, 5)] if isinstance(colour, str) else colour
        assert mask[y, x] and list(canvas[y, x]) == want


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_scribble_file_of_any_bytes(tmp_path, data):
    path = tmp_path / "s.json"
    path.write_bytes(data)
    photo = Picture.from_array(np.full((20, 30), 128, np.uint8))
    with pytest.raises(ColorizerError):
        read_scribbles(path, photo)  # none of these draws anything on the photo


# --- the image reader on random bytes ---------------------------------------------------------------


def _valid_files() -> list[bytes]:
    photo = smooth_photo(12, 16, 5)
    out = []
    for fmt, options in (("PNG", {}), ("JPEG", {"quality": 90}), ("GIF", {}), ("TIFF", {}),
                         ("BMP", {}), ("WEBP", {"quality": 80})):
        buf = io.BytesIO()
        Image.fromarray(photo).save(buf, fmt, **options)
        out.append(buf.getvalue())
    return out


VALID = _valid_files()


@st.composite
def damaged_files(draw):
    """Random bytes, or a valid small image with bytes flipped, cut or inserted."""
    if draw(st.booleans()):
        return draw(st.binary(min_size=1, max_size=300))
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            data[where] ^= draw(st.integers(1, 255))
        elif action == "cut":
            data = data[:max(1, where)]
        else:
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@given(damaged_files(), st.sampled_from([".png", ".jpg", ".tif", ".gif", ".webp", ".bin"]))
@settings(max_examples=int(os.environ.get("HYPOTHESIS_READER_EXAMPLES", 150)))
def test_reader_on_random_bytes(tmp_path, data, suffix):
    path = tmp_path / f"x{suffix}"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pic = read_image(path, max_pixels=2_000_000)
        except ColorizerError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
            return
    assume(True)
    px = pic.pixels
    assert px.ndim == 3 and px.shape[2] == 3 and px.shape[0] > 0 and px.shape[1] > 0
    assert px.dtype in (np.uint8, np.uint16, np.float32)
    if px.dtype == np.float32:
        assert np.isfinite(px).all() and px.min() >= 0 and px.max() <= 1
    assert path.read_bytes() == data  # reading never touches the file


def test_json_scribbles_round_trip_through_a_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"strokes": [{"points": [[3, 4], [20, 10]], "color": [10, 200, 30]}]}))
    hint_ab, mask = read_scribbles(path, Picture.from_array(np.full((20, 30), 128, np.uint8)))
    assert mask[4, 3] and mask[10, 20] and np.abs(hint_ab[mask]).max() > 10
