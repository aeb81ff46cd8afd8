import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorizer import color
from colorizer.cli import cli
from colorizer.errors import ColorizerError
from colorizer.io import Picture
from colorizer.scribbles import read_scribbles


def grey_photo(h=40, w=60):
    L = np.full((h, w), 35.0, np.float32)
    L[:, w // 2:] = 75.0
    return color.l_ab_to_srgb(L, np.zeros((h, w, 2), np.float32))


@pytest.fixture
def photo(tmp_path):
    Image.fromarray(grey_photo()).save(tmp_path / "p.png")
    return tmp_path / "p.png"


def test_scribble_image_convention(tmp_path):
    grey = grey_photo()
    marks = grey.copy()
    marks[20, 5:12] = (200, 40, 40)
    Image.fromarray(marks).save(tmp_path / "s.png")
    hint, mask = read_scribbles(tmp_path / "s.png", Picture.from_array(grey))
    assert mask.sum() == 7 and mask[20, 5:12].all()
    assert np.allclose(hint[20, 5], color.rgb2lab(np.array([200, 40, 40], np.uint8))[1:], atol=1e-4)


def test_transparent_layer(tmp_path):
    layer = np.zeros((40, 60, 4), np.uint8)
    layer[3:5, 3:5] = (0, 0, 255, 255)
    Image.fromarray(layer, "RGBA").save(tmp_path / "s.png")
    _, mask = read_scribbles(tmp_path / "s.png", Picture.from_array(grey_photo()))
    assert mask.sum() == 4


def test_json_strokes(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"strokes": [
        {"points": [[5, 20], [12, 20]], "color": "#c83228", "width": 3},
        {"points": [[50, 6]], "color": [20, 90, 200], "width": 4},
    ]}))
    hint, mask = read_scribbles(tmp_path / "s.json", Picture.from_array(grey_photo()))
    assert mask[20, 5:13].all() and mask[6, 50] and not mask[30, 30]
    assert hint[20, 8, 0] > 30  # reddish


def test_cli_pure_levin_and_on_top_of_a_model(tmp_path, photo):
    (tmp_path / "s.json").write_text(json.dumps([
        {"points": [[5, 20], [20, 20]], "color": "#c83228", "width": 3},
        {"points": [[40, 10], [55, 30]], "color": "#2864c8", "width": 3}]))
    r = CliRunner().invoke(cli, ["scribble", str(photo), "-s", str(tmp_path / "s.json")])
    assert r.exit_code == 0, r.output
    out = np.asarray(Image.open(tmp_path / "p_color.png"))
    assert out[35, 10, 0] > out[35, 10, 2] + 30 and out[35, 50, 2] > out[35, 50, 0] + 30
    (tmp_path / "fix.json").write_text(json.dumps([
        {"points": [[5, 20], [20, 20]], "color": "#c83228", "width": 3}]))
    r = CliRunner().invoke(cli, ["scribble", str(photo), "-s", str(tmp_path / "fix.json"),
                                 "--model", "gray", "-o", str(tmp_path / "o.png")])
    assert r.exit_code == 0, r.output
    out = np.asarray(Image.open(tmp_path / "o.png")).astype(int)
    assert out[20, 10, 0] > out[20, 10, 2] + 30  # the correction
    assert np.ptp(out[:, 31:], axis=2).max() <= 2  # across the edge: still the model's grey


def test_fully_scribbled_image_returns_the_scribbles(tmp_path):
    from helpers import smooth_photo

    colour = smooth_photo(40, 60)
    grey = color.l_ab_to_srgb(color.srgb_to_l(colour), np.zeros((40, 60, 2), np.float32))
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(colour).save(tmp_path / "s.png")  # every pixel coloured in
    r = CliRunner().invoke(cli, ["scribble", str(tmp_path / "g.png"), "-s", str(tmp_path / "s.png")])
    assert r.exit_code == 0, r.output
    out = np.asarray(Image.open(tmp_path / "g_color.png")).astype(int)
    assert np.abs(out - colour).mean() < 2


@pytest.mark.parametrize("make, message", [
    (lambda d: Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(d / "s.png"), "but the photo is"),
    (lambda d: Image.fromarray(grey_photo()).save(d / "s.png"), "no scribbles found"),
    (lambda d: (d / "s.json").write_text("{not json"), "not valid JSON"),
    (lambda d: (d / "s.json").write_text('[{"points": [[1, 2]], "color": "red"}]'), "color must be"),
])
def test_cli_errors(tmp_path, photo, make, message):
    make(tmp_path)
    name = "s.json" if (tmp_path / "s.json").exists() else "s.png"
    r = CliRunner().invoke(cli, ["scribble", str(photo), "-s", str(tmp_path / name)])
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "p_color.png").exists()


def test_read_errors_direct(photo):
    with pytest.raises(ColorizerError, match="file not found"):
        read_scribbles(photo.with_name("nope.json"), Picture.from_array(grey_photo()))
