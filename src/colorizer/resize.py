"""The image path's geometry in numpy: the working size a model sees, and the two resizes.

A model sees a working-size copy of the full-resolution lightness (about ``size`` x ``size``
pixels, aspect ratio kept, sides a multiple of the model's ``multiple``); its ab is brought back
to full size by bilinear upsampling. The denoiser runs at full size on a few shifted copies of
the lightness (:func:`denoise_passes`). These functions import no torch, so that the onnxruntime
backend (:mod:`colorizer.onnx_backend`) and the torch backend (:mod:`colorizer.api`) share them.

    >>> working_shape(3000, 4000, 256, 32)
    (224, 288)
"""

from __future__ import annotations

import math

import numpy as np

from colorizer.errors import ColorizerError

#: Working resolution for models that state no preferred size: about DEFAULT_SIZE^2 pixels.
DEFAULT_SIZE = 256


def working_shape(height: int, width: int, size: int, multiple: int = 1) -> tuple[int, int]:
    """Working (h, w) with area about ``size**2``, the input's aspect ratio, multiples of ``multiple``."""
    if size < 8:
        raise ColorizerError(f"--size must be at least 8 pixels, got {size}")
    scale = size / math.sqrt(height * width)
    m = max(multiple, 1)
    h = max(m, int(round(height * scale / m)) * m)
    w = max(m, int(round(width * scale / m)) * m)
    return h, w


def downscale_l(L: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Full-resolution L (H, W) float32 area-averaged down to ``shape`` (OpenCV's INTER_AREA).

    Where ``shape`` is larger than L in a dimension, that dimension is interpolated bilinearly
    (pixel centres, as torch's ``align_corners=False``) instead.
    """
    import cv2

    L = np.ascontiguousarray(L, np.float32)
    h, w = shape
    if L.shape[0] >= h and L.shape[1] >= w:
        return cv2.resize(L, (w, h), interpolation=cv2.INTER_AREA)
    if L.shape[0] <= h and L.shape[1] <= w:
        return cv2.resize(L, (w, h), interpolation=cv2.INTER_LINEAR)
    # one side shrinks, the other grows: one pass per axis
    flag = cv2.INTER_AREA if L.shape[1] >= w else cv2.INTER_LINEAR
    L = cv2.resize(L, (w, L.shape[0]), interpolation=flag)
    flag = cv2.INTER_AREA if L.shape[0] >= h else cv2.INTER_LINEAR
    return cv2.resize(L, (w, h), interpolation=flag)


def upsample_ab(ab: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a working-size ab (2, h, w) to a full-size (H, W, 2) float32 array."""
    import cv2

    small = np.ascontiguousarray(np.asarray(ab, np.float32).transpose(1, 2, 0))
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)  # pixel centres


def pad_mode(h: int, w: int, ph: int, pw: int) -> str:
    """How an (h, w) image is padded by (ph, pw) rows and columns to a network's multiple: mirrored
    ("reflect"), or with its edge repeated ("replicate", numpy's "edge") where it is too small to
    mirror. The torch and the onnxruntime denoiser pad alike, so their outputs agree."""
    return "reflect" if ph < h and pw < w else "replicate"


def np_pad_mode(h: int, w: int, ph: int, pw: int) -> str:
    """:func:`pad_mode` under numpy's name for it (``np.pad``'s "reflect" or "edge")."""
    return "reflect" if pad_mode(h, w, ph, pw) == "reflect" else "edge"


#: Offsets (dy, dx) of the shifted copies whose denoised results are averaged ("cycle spinning",
#: Coifman and Donoho 1995), best first. The denoiser works on 4x4 pixel blocks (pixel unshuffle),
#: so its error follows that grid; copies shifted by part of a block put it elsewhere, and the
#: mean cancels much of it. Measured on 12 native-size DAVIS frames at sigma 25 (the selection set,
#: not the eval photos; `benchmarks/bench_denoise.py --passes N`): with the shipped weights +0.21 dB
#: for 2 passes and +0.31 for 4 over one; (2, 2) gained more than a horizontal flip.
SPIN_SHIFTS = ((0, 0), (2, 2), (1, 1), (3, 3), (0, 2), (2, 0), (1, 3), (3, 1))

#: Passes by default: two keep a 512x512 photo inside the denoiser's speed budget on a CPU.
DEFAULT_PASSES = 2


def denoise_passes(L: np.ndarray, run, strength: float = 1.0, passes: int = DEFAULT_PASSES) -> np.ndarray:
    """The denoising recipe both backends follow: the mean of ``run`` (full-size L (H, W) float32
    -> denoised L, any H and W) over the first ``passes`` :data:`SPIN_SHIFTS` (each copy mirrored
    out at the top and left, denoised, and cut back), then ``strength`` of the removed noise taken
    out (0: none, 1: as trained); float32 L in [0, 100]."""
    if strength < 0:
        raise ColorizerError(f"strength must be at least 0, got {strength}")
    if not 1 <= passes <= len(SPIN_SHIFTS):
        raise ColorizerError(f"passes must be 1 to {len(SPIN_SHIFTS)}, got {passes}")
    L = np.ascontiguousarray(L, np.float32)
    h, w = L.shape
    total = np.zeros((h, w), np.float32)
    for dy, dx in SPIN_SHIFTS[:passes]:
        x = L
        if dy or dx:
            x = np.pad(L, ((dy, 0), (dx, 0)), mode=np_pad_mode(h, w, dy, dx))
        total += np.clip(run(x), 0, 100)[dy:, dx:]
    out = total / np.float32(passes)
    if strength != 1.0:
        out = L + np.float32(strength) * (out - L)
    return np.clip(out, 0, 100)
