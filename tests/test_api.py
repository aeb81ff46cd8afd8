import numpy as np
import pytest
import torch
from helpers import smooth_photo
from PIL import Image

from colorizer import color
from colorizer.api import colorize, colorize_picture, working_shape
from colorizer.errors import ColorizerError
from colorizer.io import Picture
from colorizer.registry import Colorizer, Hints


class ConstantColorizer(Colorizer):
    """Predicts one fixed ab everywhere: lets the tests see colour go through the full path."""

    multiple = 16

    def predict_ab(self, L, hints=None):
        self.check_input(L)
        assert L.shape[-2] % 16 == 0 and L.shape[-1] % 16 == 0
        ab = torch.tensor([20.0, -30.0]).view(1, 2, 1, 1)
        return ab.expand(L.shape[0], 2, *L.shape[-2:]).clone()


def test_returns_same_kind():
    arr = smooth_photo(30, 40)
    out = colorize(arr, model="gray")
    assert isinstance(out, np.ndarray) and out.shape == (30, 40, 3) and out.dtype == np.uint8
    out16 = colorize((arr.astype(np.uint16) * 257), model="gray")
    assert out16.dtype == np.uint16
    outf = colorize(arr / 255.0, model="gray")
    assert outf.dtype == np.float64 and outf.max() <= 1
    pil = colorize(Image.fromarray(arr), model="gray")
    assert isinstance(pil, Image.Image) and pil.size == (40, 30)


def test_path_returns_pil(tmp_path):
    Image.fromarray(smooth_photo(30, 40)).save(tmp_path / "a.png")
    out = colorize(str(tmp_path / "a.png"), model="gray")
    assert isinstance(out, Image.Image) and out.size == (40, 30)


def test_grey_2d_input_gives_rgb():
    out = colorize(np.full((10, 12), 128, np.uint8), model="gray")
    assert out.shape == (10, 12, 3)


def test_full_resolution_path_keeps_size_and_L():
    h, w = 2000, 3000
    arr = smooth_photo(h, w)
    out = colorize(arr, model=ConstantColorizer(), size=256)
    assert out.shape == (h, w, 3)
    L_in = color.rgb2lab(arr)[..., 0]
    lab_out = color.rgb2lab(out)
    # L kept within 8-bit rounding, except where the added colour leaves the sRGB gamut
    target = np.stack([L_in, np.full_like(L_in, 20), np.full_like(L_in, -30)], -1)
    unclipped = color.lab_to_rgb(torch.from_numpy(target).permute(2, 0, 1), clip=False)
    in_gamut = ((unclipped > 0.002) & (unclipped < 0.998)).all(0).numpy()
    assert in_gamut.mean() > 0.5
    assert np.abs(lab_out[..., 0] - L_in)[in_gamut].max() < 0.6
    assert np.abs(lab_out[..., 2] - (-30))[in_gamut].mean() < 1.5


def test_gray_model_keeps_L_exactly_to_rounding():
    arr = smooth_photo(301, 199)
    out = colorize(arr, model="gray")
    assert np.abs(color.rgb2lab(out)[..., 0] - color.rgb2lab(arr)[..., 0]).max() < 0.5
    assert np.abs(color.rgb2lab(out)[..., 1:]).max() < 1.0


def test_alpha_is_kept():
    rgba = np.dstack([smooth_photo(20, 20), np.full((20, 20), 9, np.uint8)])
    out = colorize(rgba, model="gray")
    assert out.shape == (20, 20, 4) and (out[..., 3] == 9).all()


def test_working_shape():
    assert working_shape(256, 256, 256, 16) == (256, 256)
    h, w = working_shape(3000, 4000, 256, 16)
    assert h % 16 == 0 and w % 16 == 0 and abs(w / h - 4 / 3) < 0.1
    assert working_shape(10, 5000, 256, 16)[0] == 16
    with pytest.raises(ColorizerError):
        working_shape(10, 10, 2)


def test_hints_reach_the_model_at_working_size():
    seen = {}

    class Spy(ConstantColorizer):
        uses_hints = True

        def predict_ab(self, L, hints=None):
            seen["hints"] = hints
            return super().predict_ab(L)

    mask = np.zeros((64, 64), bool)
    mask[:8, :8] = True
    ab = np.zeros((64, 64, 2), np.float32)
    ab[mask] = (40, 10)
    colorize(smooth_photo(64, 64), model=Spy(), size=32, hints=(ab, mask))
    hints = seen["hints"]
    assert isinstance(hints, Hints) and hints.ab.shape == (1, 2, 32, 32)
    assert hints.mask[0, 0, :4, :4].all() and not hints.mask[0, 0, 4:, 4:].any()
    assert torch.allclose(hints.ab[0, :, 0, 0], torch.tensor([40.0, 10.0]))
    with pytest.raises(ColorizerError, match="hints must be"):
        colorize(smooth_photo(64, 64), model=Spy(), hints=(ab[:5], mask))


def test_bad_input_type():
    with pytest.raises(ColorizerError, match="expected a file path"):
        colorize(12345, model="gray")


def test_colorize_picture_keeps_metadata():
    pic = Picture.from_array(smooth_photo(16, 16).astype(np.uint16) * 257)
    out = colorize_picture(pic, ConstantColorizer())
    assert out.bit_depth == 16 and out.rgb.shape == (16, 16, 3)


def test_chroma_gain_and_saturation_scale_the_colour(tmp_path):
    from colorizer.api import predict_working_ab
    from colorizer.registry import Colorizer

    class Const(Colorizer):
        def predict_ab(self, L, hints=None):
            return torch.full((L.shape[0], 2, *L.shape[-2:]), 10.0)

    model = Const()
    L = torch.full((1, 1, 16, 16), 50.0)
    assert float(predict_working_ab(L, model, 16).mean()) == 10.0
    model.chroma_gain = 2.0
    assert float(predict_working_ab(L, model, 16).mean()) == 20.0
    assert float(predict_working_ab(L, model, 16, saturation=0.5).mean()) == 10.0
    grey = colorize(np.full((16, 16, 3), 120, np.uint8), model=model, saturation=0.0)
    assert (grey == grey[..., :1]).all()


def test_hints_on_a_model_fill_the_object_they_touch():
    """colorize(hints=...) on a model that ignores hints: a dot colours its whole flat region
    up to the edge, and the other region keeps the model's colours (grey for 'gray')."""
    from colorizer.color import rgb2lab

    grey = np.full((64, 96), 70, np.uint8)
    grey[:, 48:] = 180
    ab = np.zeros((64, 96, 2), np.float32)
    mask = np.zeros((64, 96), bool)
    mask[10:15, 8:13] = True
    ab[mask] = (35.0, 25.0)
    out = rgb2lab(colorize(grey, model="gray", hints=(ab, mask)))[..., 1:]
    assert np.abs(out[55, 40] - (35, 25)).max() < 6  # the far corner of the dot's region
    assert np.abs(out[:, 52:]).max() < 1.5  # the other region stays grey
    soft = rgb2lab(colorize(grey, model="gray", hints=(ab, mask, np.full((64, 96), 0.0))))[..., 1:]
    assert np.abs(soft).max() < 1.5  # confidence 0: the hint is ignored
