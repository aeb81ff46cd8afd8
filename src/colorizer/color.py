"""Colour science for the whole project: sRGB <-> CIELAB (D65), 8-bit Lab, grey formulas, constants.

Every other module imports its colour maths from here; nothing else defines a colour constant.

Conventions
-----------
* sRGB float images are in [0, 1]; 8-bit images are uint8 in [0, 255].
* CIELAB uses the D65 white point and the 2-degree observer, with L in [0, 100] and a, b roughly
  in [-128, 127] ("Lab units"). The constants match :mod:`skimage.color` so results agree with it.
* numpy arrays are channels-last (..., 3); torch tensors are channels-first (N, 3, H, W) or (3, H, W).
* The 8-bit OpenCV convention (used by the Kaggle colorization arrays) stores
  ``L * 255 / 100``, ``a + 128`` and ``b + 128`` as uint8.

The maths is written once, in torch (batched, differentiable, any device). The numpy functions
run the same code on CPU tensors that share memory with the arrays, which is also faster than a
numpy version because torch spreads the element-wise work over all cores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that use it, not here: the numpy fast paths
# (srgb_to_l, ...) then run in a reading thread while the main thread is still importing torch
# (about 1.2 s), which is what keeps a 12 MP photo under 3 s end to end.

# --- constants ---------------------------------------------------------------------------------

#: D65 reference white (X, Y, Z), as in scikit-image.
D65_WHITE = (0.95047, 1.0, 1.08883)

#: Linear sRGB -> XYZ matrix, as in scikit-image.
XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
RGB_FROM_XYZ = tuple(map(tuple, np.linalg.inv(np.array(XYZ_FROM_RGB)).tolist()))

#: Normalisation used by every network: L_net = (L - L_CENTER) / L_SCALE, ab_net = ab / AB_SCALE.
L_CENTER = 50.0
L_SCALE = 100.0
AB_SCALE = 110.0

#: Grey formulas, as RGB weights.
GREY_MEAN = (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0)  # the seed's "mean" formula
GREY_SEED = (0.30, 0.59, 0.11)  # the seed's weighted formula
GREY_REC601 = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma

_LAB_EPS = 0.008856  # (6/29)^3, as rounded in scikit-image
_LAB_KAPPA = 7.787
_LAB_INV_EPS = 0.2068966  # 6/29


# --- torch: the one implementation ------------------------------------------------------------


def _channels_first(x: torch.Tensor, name: str) -> torch.Tensor:
    import torch

    if x.ndim not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(f"{name} must have shape (3, H, W) or (N, 3, H, W), got {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    return x


def _mix(matrix, x: torch.Tensor) -> torch.Tensor:
    import torch

    m = torch.tensor(matrix, dtype=x.dtype, device=x.device)
    return torch.einsum("ij,...jhw->...ihw", m, x)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve. ``rgb`` is float in [0, 1], any shape."""
    import torch

    return torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055).clamp_min(0) ** 2.4, rgb / 12.92)


def linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB transfer curve. ``lin`` is linear float, any shape; the result is not clipped."""
    import torch

    return torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(0.0031308) ** (1 / 2.4) - 0.055,
                       lin * 12.92)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB -> CIELAB (D65).

    Parameters
    ----------
    rgb : torch.Tensor
        Float tensor of shape (N, 3, H, W) or (3, H, W), values in [0, 1].

    Returns
    -------
    torch.Tensor
        Lab of the same shape and dtype: L in [0, 100], a and b in Lab units.

    Examples
    --------
    >>> lab = rgb_to_lab(torch.ones(1, 3, 2, 2))
    >>> round(float(lab[0, 0, 0, 0]), 3)
    100.0
    """
    import torch

    rgb = _channels_first(rgb, "rgb")
    xyz = _mix(XYZ_FROM_RGB, srgb_to_linear(rgb))
    white = torch.tensor(D65_WHITE, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    t = xyz / white
    f = torch.where(t > _LAB_EPS, t.clamp_min(_LAB_EPS) ** (1 / 3), _LAB_KAPPA * t + 16 / 116)
    fx, fy, fz = f.unbind(-3)
    return torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), dim=-3)


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """CIELAB (D65) -> sRGB, the inverse of :func:`rgb_to_lab`.

    Parameters
    ----------
    lab : torch.Tensor
        Float tensor of shape (N, 3, H, W) or (3, H, W) in Lab units.
    clip : bool
        Clip the result to [0, 1] (out-of-gamut colours). Set False to keep gradients everywhere.

    Returns
    -------
    torch.Tensor
        sRGB of the same shape, float in [0, 1] when ``clip``.
    """
    import torch

    lab = _channels_first(lab, "lab")
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    f = torch.stack((fy + a / 500, fy, fy - b / 200), dim=-3)
    # as scikit-image: only a negative f(Z) (very large b) is clipped to 0
    f = torch.cat((f[..., :2, :, :], f[..., 2:, :, :].clamp_min(0)), dim=-3)
    t = torch.where(f > _LAB_INV_EPS, f**3, (f - 16 / 116) / _LAB_KAPPA)
    white = torch.tensor(D65_WHITE, dtype=lab.dtype, device=lab.device).view(3, 1, 1)
    xyz = t * white
    rgb = linear_to_srgb(_mix(RGB_FROM_XYZ, xyz))
    return rgb.clamp(0, 1) if clip else rgb


def rgb_to_l(rgb: torch.Tensor) -> torch.Tensor:
    """Lightness only: (N, 3, H, W) sRGB in [0, 1] -> (N, 1, H, W) L in [0, 100]."""
    import torch

    rgb = _channels_first(rgb, "rgb")
    lin = srgb_to_linear(rgb)
    y = (torch.tensor(XYZ_FROM_RGB[1], dtype=rgb.dtype, device=rgb.device).view(3, 1, 1) * lin).sum(
        -3, keepdim=True)
    f = torch.where(y > _LAB_EPS, y.clamp_min(_LAB_EPS) ** (1 / 3), _LAB_KAPPA * y + 16 / 116)
    return 116 * f - 16


def l_to_grey_srgb(L: torch.Tensor) -> torch.Tensor:
    """The grey sRGB value (R = G = B, in [0, 1]) of lightness L (any shape, Lab units): what a
    greyscale photo of that lightness stores. Pretrained RGB networks see L through this."""
    import torch

    fy = (L + 16) / 116
    y = torch.where(fy > _LAB_INV_EPS, fy**3, (fy - 16 / 116) / _LAB_KAPPA)
    return linear_to_srgb(y).clamp(0, 1)


def normalize_l(L: torch.Tensor) -> torch.Tensor:
    """Lab L -> network input (roughly [-0.5, 0.5])."""
    return (L - L_CENTER) / L_SCALE


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    """Lab ab -> network target (roughly [-1, 1])."""
    return ab / AB_SCALE


def denormalize_ab(ab_net: torch.Tensor) -> torch.Tensor:
    """Network output -> Lab ab."""
    return ab_net * AB_SCALE


def _modules() -> dict:
    """The nn.Module wrappers, built on first use (see the note on the torch import above)."""
    import torch

    class RGBToLab(torch.nn.Module):
        """Module wrapper of :func:`rgb_to_lab`."""

        def forward(self, rgb: torch.Tensor) -> torch.Tensor:
            return rgb_to_lab(rgb)

    class LabToRGB(torch.nn.Module):
        """Module wrapper of :func:`lab_to_rgb`."""

        def __init__(self, clip: bool = True):
            super().__init__()
            self.clip = clip

        def forward(self, lab: torch.Tensor) -> torch.Tensor:
            return lab_to_rgb(lab, clip=self.clip)

    globals().update(RGBToLab=RGBToLab, LabToRGB=LabToRGB)
    return {"RGBToLab": RGBToLab, "LabToRGB": LabToRGB}


def __getattr__(name):
    if name in ("RGBToLab", "LabToRGB"):
        return _modules()[name]
    raise AttributeError(f"module 'colorizer.color' has no attribute {name!r}")


# --- numpy wrappers ----------------------------------------------------------------------------


def _as_float_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb must have shape (..., 3), got {rgb.shape}")
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    if rgb.dtype == np.uint16:
        return rgb.astype(np.float32) / 65535.0
    if not np.issubdtype(rgb.dtype, np.floating):
        raise TypeError(f"rgb must be uint8, uint16 or float in [0, 1], got {rgb.dtype}")
    return rgb


def _np_apply(fn, arr: np.ndarray, *args) -> np.ndarray:
    import torch

    t = torch.from_numpy(np.ascontiguousarray(arr))
    flat = t.reshape(-1, arr.shape[-1]).T.reshape(arr.shape[-1], -1, 1)  # (3, P, 1)
    out = fn(flat, *args)
    return out.reshape(out.shape[0], -1).T.reshape(*arr.shape[:-1], out.shape[0]).numpy()


def rgb2lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB -> CIELAB (D65) on numpy arrays.

    Parameters
    ----------
    rgb : ndarray, shape (..., 3)
        uint8, uint16, or float in [0, 1] (float32 or float64; the dtype is kept).

    Returns
    -------
    ndarray, shape (..., 3)
        Lab, float32 for integer input, otherwise the input's float dtype.

    Examples
    --------
    >>> rgb2lab(np.array([[255, 0, 0]], np.uint8)).round(1)
    array([[53.2, 80.1, 67.2]], dtype=float32)
    """
    return _np_apply(rgb_to_lab, _as_float_rgb(rgb))


def lab2rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (D65) -> sRGB float in [0, 1] on numpy arrays of shape (..., 3)."""
    lab = np.asarray(lab)
    if lab.ndim < 1 or lab.shape[-1] != 3:
        raise ValueError(f"lab must have shape (..., 3), got {lab.shape}")
    if not np.issubdtype(lab.dtype, np.floating):
        lab = lab.astype(np.float32)
    return _np_apply(lab_to_rgb, lab)


def lab2rgb_u8(lab: np.ndarray) -> np.ndarray:
    """CIELAB -> sRGB uint8 (rounded)."""
    return to_uint8(lab2rgb(lab))


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8 with rounding and clipping."""
    return np.clip(np.rint(np.asarray(rgb) * 255.0), 0, 255).astype(np.uint8)


# --- 8-bit OpenCV Lab (Kaggle arrays) ------------------------------------------------------------


def lab_to_lab8(lab: np.ndarray) -> np.ndarray:
    """Lab units (..., 3) -> 8-bit OpenCV Lab: (L*255/100, a+128, b+128), rounded and clipped, uint8."""
    lab = np.asarray(lab, dtype=np.float32)
    if lab.shape[-1:] != (3,):
        raise ValueError(f"lab must have shape (..., 3), got {lab.shape}")
    out = np.empty(lab.shape, np.float32)
    out[..., 0] = lab[..., 0] * (255.0 / 100.0)
    out[..., 1:] = lab[..., 1:] + 128.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def l_to_l8(L: np.ndarray) -> np.ndarray:
    """L in [0, 100] -> 8-bit L (L*255/100, rounded and clipped, uint8): ``lab_to_lab8``'s first
    channel, by the same float32 steps, without converting a and b."""
    return np.clip(np.rint(np.asarray(L, dtype=np.float32) * (255.0 / 100.0)), 0, 255).astype(np.uint8)


def ab_to_ab8(ab: np.ndarray) -> np.ndarray:
    """ab in Lab units (..., 2) -> 8-bit ab (ab+128, rounded and clipped, uint8):
    ``lab_to_lab8``'s last two channels, by the same float32 steps, without converting L."""
    return np.clip(np.rint(np.asarray(ab, dtype=np.float32) + 128.0), 0, 255).astype(np.uint8)


def lab8_to_lab(lab8: np.ndarray) -> np.ndarray:
    """8-bit OpenCV Lab (uint8) -> Lab units, float32."""
    lab8 = np.asarray(lab8)
    if lab8.dtype != np.uint8:
        raise TypeError(f"8-bit Lab must be uint8, got {lab8.dtype}")
    out = lab8.astype(np.float32)
    out[..., 0] *= 100.0 / 255.0
    out[..., 1:] -= 128.0
    return out


def l8_to_l(l8: np.ndarray) -> np.ndarray:
    """8-bit L (uint8, L*255/100) -> L in [0, 100], float32."""
    return np.asarray(l8, dtype=np.float32) * (100.0 / 255.0)


def ab8_to_ab(ab8: np.ndarray) -> np.ndarray:
    """8-bit ab (uint8, ab+128) -> ab in Lab units, float32."""
    return np.asarray(ab8, dtype=np.float32) - 128.0


# --- grey formulas -------------------------------------------------------------------------------


def grey(rgb: np.ndarray, formula: str = "mean") -> np.ndarray:
    """Grey value of an RGB image by one of the named formulas.

    Parameters
    ----------
    rgb : ndarray, shape (..., 3)
        Any numeric dtype; the result is in the same scale (0-255 for uint8), as float32.
    formula : {"mean", "seed", "rec601"}
        ``mean``: (R+G+B)/3. ``seed``: 0.30R+0.59G+0.11B. ``rec601``: 0.299R+0.587G+0.114B.

    Examples
    --------
    >>> round(float(grey(np.array([30, 60, 90], np.uint8), "seed")), 2)
    54.3
    """
    weights = {"mean": GREY_MEAN, "seed": GREY_SEED, "rec601": GREY_REC601}
    if formula not in weights:
        raise ValueError(f"unknown grey formula {formula!r}; use one of {sorted(weights)}")
    rgb = np.asarray(rgb)
    if rgb.shape[-1:] != (3,):
        raise ValueError(f"rgb must have shape (..., 3), got {rgb.shape}")
    return (rgb.astype(np.float32) @ np.asarray(weights[formula], np.float32)).astype(np.float32)


# --- fast full-resolution paths (numpy, tiled) ----------------------------------------------------
#
# A 12-megapixel photo makes every whole-image temporary 144 MB, and on our machines the page
# faults of fresh allocations cost more than the maths. These paths work in row tiles that stay in
# cache, and use lookup tables for integer input. Measured in benchmarks/bench_fullres.py.

_TILE_ROWS = 256


def _luminance_tables(levels: int) -> np.ndarray:
    v = np.arange(levels, dtype=np.float64) / (levels - 1)
    lin = np.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92)
    return (np.asarray(XYZ_FROM_RGB[1])[:, None] * lin[None, :]).astype(np.float32)  # (3, levels)


_LUMA_TABLES: dict[int, np.ndarray] = {}


def _y_to_l(y: np.ndarray) -> np.ndarray:
    f = np.where(y > _LAB_EPS, np.cbrt(y), _LAB_KAPPA * y + np.float32(16 / 116))
    return (116 * f - 16).astype(np.float32, copy=False)


def srgb_to_l(pixels: np.ndarray) -> np.ndarray:
    """Exact CIELAB L of an sRGB image, fast for full-resolution photos.

    Parameters
    ----------
    pixels : ndarray, shape (H, W, 3)
        uint8, uint16, or float in [0, 1].

    Returns
    -------
    ndarray, shape (H, W), float32
        L in [0, 100]; equal to ``rgb2lab(pixels)[..., 0]`` up to float32 rounding.

    Examples
    --------
    >>> round(float(srgb_to_l(np.full((1, 1, 3), 255, np.uint8))[0, 0]), 3)
    100.0
    """
    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"pixels must have shape (H, W, 3), got {pixels.shape}")
    out = np.empty(pixels.shape[:2], np.float32)
    if pixels.dtype == np.uint8:
        return _srgb8_to_l(pixels, out)
    if pixels.dtype == np.uint16:
        levels = 256 if pixels.dtype == np.uint8 else 65536
        if levels not in _LUMA_TABLES:
            _LUMA_TABLES[levels] = _luminance_tables(levels)
        table = _LUMA_TABLES[levels]
        for r in range(0, pixels.shape[0], _TILE_ROWS):
            tile = pixels[r:r + _TILE_ROWS]
            y = table[0][tile[..., 0]] + table[1][tile[..., 1]] + table[2][tile[..., 2]]
            out[r:r + _TILE_ROWS] = _y_to_l(y)
        return out
    import torch

    rgb = _as_float_rgb(pixels)
    for r in range(0, pixels.shape[0], _TILE_ROWS):
        tile = torch.from_numpy(np.ascontiguousarray(rgb[r:r + _TILE_ROWS])).permute(2, 0, 1)
        out[r:r + _TILE_ROWS] = rgb_to_l(tile[None].float())[0, 0].numpy()
    return out


def _srgb8_to_l(pixels: np.ndarray, out: np.ndarray) -> np.ndarray:
    """:func:`srgb_to_l` for uint8 pixels in OpenCV: a table lookup (each channel's share of
    the luminance), a sum across channels and a cube root, all SIMD, in row tiles. About 2x
    faster than numpy's three fancy-indexing gathers, and equal to them within 1e-4 L: one core,
    ``benchmarks/bench_fullres.py --megapixels 2.07`` 15-20 -> 8-9 ms, and the lightness step of
    ``benchmarks/bench_video.py --size 1920x1080`` 19.0 -> 13.2 ms a frame."""
    import cv2

    if 256 not in _LUMA_TABLES:
        _LUMA_TABLES[256] = _luminance_tables(256)
    lut = np.ascontiguousarray(_LUMA_TABLES[256].T[None])  # (1, 256, 3): a per-channel table
    ones = np.ones((1, 3), np.float32)
    pixels = np.ascontiguousarray(pixels)
    for r in range(0, pixels.shape[0], _TILE_ROWS):
        y = cv2.transform(cv2.LUT(pixels[r:r + _TILE_ROWS], lut), ones)
        tile = out[r:r + _TILE_ROWS]
        cv2.addWeighted(cv2.pow(y, 1 / 3), 116.0, y, 0.0, -16.0, dst=tile)
        dark = y <= _LAB_EPS  # the linear part of the curve, near black
        if dark.any():
            tile[dark] = (116 * _LAB_KAPPA) * y[dark]
    return out


_LINEAR_TABLES: dict[int, np.ndarray] = {}


def srgb_to_lab(pixels: np.ndarray) -> np.ndarray:
    """Exact CIELAB of an sRGB image in numpy, fast for 8- and 16-bit pixels (no torch).

    Parameters
    ----------
    pixels : ndarray, shape (..., 3)
        uint8, uint16, or float in [0, 1] (floats take :func:`rgb2lab`).

    Returns
    -------
    ndarray, shape (..., 3), float32
        Lab; equal to :func:`rgb2lab` up to float32 rounding. The sRGB curve is a lookup table
        and the rest runs in row tiles (as :func:`srgb_to_l`), so preparing a training photo
        never waits for torch's import.

    Examples
    --------
    >>> srgb_to_lab(np.array([[255, 0, 0]], np.uint8)).round(1)
    array([[53.2, 80.1, 67.2]], dtype=float32)
    """
    pixels = np.asarray(pixels)
    if pixels.ndim < 1 or pixels.shape[-1] != 3:
        raise ValueError(f"pixels must have shape (..., 3), got {pixels.shape}")
    if pixels.dtype not in (np.uint8, np.uint16):
        return rgb2lab(pixels).astype(np.float32, copy=False)
    levels = 256 if pixels.dtype == np.uint8 else 65536
    if levels not in _LINEAR_TABLES:
        v = np.arange(levels, dtype=np.float64) / (levels - 1)
        _LINEAR_TABLES[levels] = np.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4,
                                          v / 12.92).astype(np.float32)
    table = _LINEAR_TABLES[levels]
    # XYZ relative to the white point, in one matrix product
    to_t = (np.asarray(XYZ_FROM_RGB) / np.asarray(D65_WHITE)[:, None]).T.astype(np.float32)
    flat = pixels.reshape(-1, 3)
    out = np.empty(flat.shape, np.float32)
    step = _TILE_ROWS * 1024
    for r in range(0, flat.shape[0], step):
        t = table[flat[r:r + step]] @ to_t
        f = np.where(t > _LAB_EPS, np.cbrt(t), _LAB_KAPPA * t + np.float32(16 / 116))
        tile = out[r:r + step]
        tile[:, 0] = 116 * f[:, 1] - 16
        tile[:, 1] = 500 * (f[:, 0] - f[:, 1])
        tile[:, 2] = 200 * (f[:, 1] - f[:, 2])
    return out.reshape(pixels.shape)


def grey_from_l(L: np.ndarray) -> np.ndarray:
    """The grey sRGB value (float32 in [0, 1]) that stores lightness ``L`` (any shape, Lab units):
    :func:`l_to_grey_srgb` in numpy, for the paths that never import torch (a denoised grey photo
    written by the onnxruntime backend)."""
    L = np.asarray(L, np.float32)
    fy = (L + np.float32(16)) / np.float32(116)
    y = np.where(fy > _LAB_INV_EPS, fy**3, (fy - np.float32(16 / 116)) / np.float32(_LAB_KAPPA))
    srgb = np.where(y > 0.0031308, 1.055 * np.maximum(y, 0.0031308) ** (1 / 2.4) - 0.055, y * 12.92)
    return np.clip(srgb, 0, 1).astype(np.float32, copy=False)


def l_ab_to_srgb(L: np.ndarray, ab: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """Join full-resolution L (H, W) and ab (H, W, 2) into an sRGB image of ``dtype``.

    For uint8 output this uses OpenCV's float Lab->RGB (SIMD), which stays within 0.1/255 of the
    exact :func:`lab_to_rgb` in gamut, so the 8-bit result differs from it by at most one code
    value. For uint16 and float output it runs the exact conversion. Out-of-gamut colours are
    clipped.
    """
    import cv2

    L = np.asarray(L, np.float32)
    ab = np.asarray(ab, np.float32)
    if L.ndim != 2 or ab.shape != (*L.shape, 2):
        raise ValueError(f"L must be (H, W) and ab (H, W, 2); got {L.shape} and {ab.shape}")
    dtype = np.dtype(dtype)
    out = np.empty((*L.shape, 3), dtype)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(dtype)
    for r in range(0, L.shape[0], _TILE_ROWS):
        rows = slice(r, r + _TILE_ROWS)
        lab = cv2.merge([np.ascontiguousarray(L[rows]), np.ascontiguousarray(ab[rows])])
        if dtype == np.uint8:
            # OpenCV's float Lab->RGB clips to [0, 1], so its rounding, saturating |x| * 255 is
            # the 8-bit value; with the two-array merge, the join step of
            # benchmarks/bench_video.py --size 1920x1080 went from 29.2 to 16.8 ms a frame on one
            # core (a merge of three slices and cv2.multiply before)
            cv2.cvtColor(lab, cv2.COLOR_Lab2RGB, dst=lab)
            cv2.convertScaleAbs(lab, dst=out[rows], alpha=255.0)
            continue
        else:
            import torch

            rgb = lab_to_rgb(torch.from_numpy(lab).permute(2, 0, 1)).permute(1, 2, 0).numpy()
        if scale is None:
            out[r:r + _TILE_ROWS] = np.clip(rgb, 0, 1)
        else:
            out[r:r + _TILE_ROWS] = np.clip(np.rint(rgb * scale), 0, scale)
    return out
