import warnings

import numpy as np
import pytest
import torch
from skimage import color as skcolor

from colorizer import color


def all_u8_colours(step=5):
    v = np.arange(0, 256, step, dtype=np.uint8)
    return np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, 3)


def test_rgb2lab_matches_skimage():
    rgb = all_u8_colours(3)
    ours = color.rgb2lab(rgb.astype(np.float64) / 255)
    ref = skcolor.rgb2lab(rgb[None].astype(np.float64) / 255)[0]
    assert np.abs(ours - ref).max() < 1e-3


def test_rgb2lab_float32_and_uint8_match_skimage():
    rgb = all_u8_colours(7)
    ref = skcolor.rgb2lab(rgb[None])[0]
    assert np.abs(color.rgb2lab(rgb) - ref).max() < 1e-3


def test_lab2rgb_matches_skimage_including_out_of_gamut():
    r = np.random.default_rng(1)
    lab = np.stack([r.uniform(0, 100, 5000), r.uniform(-110, 110, 5000),
                    r.uniform(-110, 110, 5000)], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about clipped negative Z
        ref = skcolor.lab2rgb(lab[None])[0]
    assert np.abs(color.lab2rgb(lab) - ref).max() < 1e-5


def test_round_trip_is_exact_to_8bit():
    rgb = all_u8_colours(1)  # all 16.7 M colours
    back = color.lab2rgb_u8(color.rgb2lab(rgb))
    assert np.array_equal(back, rgb)


def test_torch_matches_numpy_and_is_batched():
    rgb = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    lab = color.rgb_to_lab(rgb)
    ref = color.rgb2lab(rgb.permute(0, 2, 3, 1).numpy())
    assert np.allclose(lab.permute(0, 2, 3, 1).numpy(), ref, atol=1e-9)
    assert torch.allclose(color.lab_to_rgb(lab), rgb, atol=1e-9)
    assert color.rgb_to_lab(rgb[0]).shape == (3, 5, 7)


def test_rgb_to_l_equals_lab_l():
    rgb = torch.rand(2, 3, 9, 4, dtype=torch.float64)
    assert torch.allclose(color.rgb_to_l(rgb)[:, 0], color.rgb_to_lab(rgb)[:, 0], atol=1e-9)


def test_gradcheck():
    rgb = (torch.rand(1, 3, 3, 3, dtype=torch.float64) * 0.9 + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(color.rgb_to_lab, (rgb,))
    lab = color.rgb_to_lab(rgb.detach()).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: color.lab_to_rgb(x, clip=False), (lab,))


def test_module_wrappers():
    rgb = torch.rand(1, 3, 4, 4)
    assert torch.allclose(color.LabToRGB()(color.RGBToLab()(rgb)), rgb, atol=1e-4)


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        color.rgb_to_lab(torch.rand(1, 4, 2, 2))
    with pytest.raises(ValueError):
        color.rgb2lab(np.zeros((2, 2, 4)))
    with pytest.raises(TypeError):
        color.rgb_to_lab(torch.zeros(1, 3, 2, 2, dtype=torch.int64))


def test_lab8_convention_matches_opencv():
    import cv2

    rgb = all_u8_colours(5).reshape(-1, 1, 3)
    cv = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    ours = color.lab_to_lab8(color.rgb2lab(rgb))
    # OpenCV's 8-bit path uses fixed-point tables: agree within one code value almost everywhere
    diff = np.abs(ours.astype(int) - cv.astype(int))
    assert diff.max() <= 2 and (diff <= 1).mean() > 0.999
    back = color.lab8_to_lab(ours)
    assert np.abs(back - color.rgb2lab(rgb)).max() <= 0.5 * 100 / 255 + 0.51


def test_lab8_known_values():
    lab = np.array([[100.0, 0.0, 0.0], [0.0, -128.0, 127.0]])
    assert color.lab_to_lab8(lab).tolist() == [[255, 128, 128], [0, 0, 255]]
    assert np.allclose(color.l8_to_l(np.uint8(255)), 100)
    assert np.allclose(color.ab8_to_ab(np.array([128, 0], np.uint8)), [0, -128])


def test_grey_formulas():
    px = np.array([[30, 60, 90]], np.uint8)
    assert np.allclose(color.grey(px, "mean"), 60)
    assert np.allclose(color.grey(px, "seed"), 0.30 * 30 + 0.59 * 60 + 0.11 * 90)
    assert np.allclose(color.grey(px, "rec601"), 0.299 * 30 + 0.587 * 60 + 0.114 * 90)
    with pytest.raises(ValueError, match="unknown grey formula"):
        color.grey(px, "luma")


def test_normalisation_round_trip():
    ab = torch.randn(2, 2, 3, 3) * 50
    assert torch.allclose(color.denormalize_ab(color.normalize_ab(ab)), ab)
    assert torch.allclose(color.normalize_l(torch.tensor([0.0, 50.0, 100.0])),
                          torch.tensor([-0.5, 0.0, 0.5]))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_fast_l_equals_exact(dtype):
    rgb = np.random.default_rng(3).random((300, 70, 3))
    pixels = (rgb * {np.uint8: 255, np.uint16: 65535}.get(dtype, 1)).astype(dtype)
    exact = skcolor.rgb2lab(color._as_float_rgb(pixels).astype(np.float64))[..., 0]
    assert np.abs(color.srgb_to_l(pixels) - exact).max() < 1e-3


def test_fast_join_within_one_code_of_exact():
    rgb = np.random.default_rng(4).integers(0, 256, (600, 90, 3), dtype=np.uint8)
    lab = color.rgb2lab(rgb)
    fast = color.l_ab_to_srgb(lab[..., 0], lab[..., 1:], np.uint8)
    assert np.abs(fast.astype(int) - rgb).max() <= 1
    assert (fast == rgb).mean() > 0.99
    lab_out = np.concatenate([lab[..., :1], np.full((600, 90, 2), 90, np.float32)], 2)  # out of gamut
    fast = color.l_ab_to_srgb(lab_out[..., 0], lab_out[..., 1:], np.uint8)
    exact = color.lab2rgb_u8(lab_out)
    assert (np.abs(fast.astype(int) - exact) <= 2).mean() > 0.99  # clipping differs slightly
    exact16 = color.l_ab_to_srgb(lab[..., 0], lab[..., 1:], np.uint16)
    assert np.abs(exact16.astype(int) - rgb.astype(int) * 257).max() <= 20


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_fast_lab_equals_exact(dtype):
    rgb = np.random.default_rng(5).random((300, 70, 3))
    pixels = (rgb * {np.uint8: 255, np.uint16: 65535}.get(dtype, 1)).astype(dtype)
    exact = skcolor.rgb2lab(color._as_float_rgb(pixels).astype(np.float64))
    fast = color.srgb_to_lab(pixels)
    assert fast.dtype == np.float32 and fast.shape == pixels.shape
    assert np.abs(fast - exact).max() < 1e-3


def test_l_to_l8_and_ab_to_ab8_are_the_channels_of_lab_to_lab8():
    rng = np.random.default_rng(3)
    lab = (rng.random((40, 30, 3)) * [130, 300, 300] - [15, 150, 150]).astype(np.float32)
    lab[0, :3] = [[50.0 / 2.55 * 1.0, 0.5, -0.5], [100.2, 127.5, -128.5], [-0.1, 200, -200]]
    lab[1, :4, 0] = np.array([0.5, 1.5, 2.5, 3.5], np.float32) / np.float32(2.55)  # halves: rint ties
    lab8 = color.lab_to_lab8(lab)
    assert np.array_equal(color.l_to_l8(lab[..., 0]), lab8[..., 0])
    assert np.array_equal(color.ab_to_ab8(lab[..., 1:]), lab8[..., 1:])
    assert np.array_equal(color.l_to_l8(lab[..., 0].astype(np.float64)), lab8[..., 0])
