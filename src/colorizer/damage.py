"""What old scans do to a photo's lightness, simulated on 8-bit grey images.

Noise is added where a scan gets it: to the stored 8-bit grey (sRGB) values, then clipped to
[0, 255], as a saved file would be; models then read the damaged photo through the normal path
to CIELAB L (:func:`colorizer.color.srgb_to_l`). Used to train the denoiser
(``colorizer.models.denoise``), to train colorizers on damaged input (``colorize train --damage
old``), and to score models on noisy input (``colorize evaluate --noise``).

Kinds of damage (:func:`damage_grey`), each drawn at random per photo:

* Gaussian noise, sigma uniform in [0, ``sigma_max``] (8-bit units);
* film grain: noise blurred to a grain size of 0.5-1.5 px, strongest in the mid-tones
  (``4 g (1 - g)`` for grey g in [0, 1]), as silver grain is;
* JPEG compression, quality 20-90;
* a slight blur (Gaussian, sigma 0.3-1.0 px) before the noise, as from a scanner's optics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class DamageConfig:
    """Probabilities and ranges of :func:`damage_grey`."""

    sigma_max: float = 50.0
    p_gaussian: float = 0.9
    p_grain: float = 0.3
    grain_max: float = 30.0
    p_jpeg: float = 0.25
    jpeg_quality: tuple = (20, 90)
    p_blur: float = 0.2
    blur_sigma: tuple = (0.3, 1.0)


def add_gaussian_noise(grey: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """8-bit grey plus Gaussian noise of ``sigma`` (8-bit units), clipped and rounded to uint8:
    the convention of grey denoising benchmarks.

    Parameters
    ----------
    grey : ndarray, (H, W) or (H, W, C), uint8
    sigma : float
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, same shape, uint8

    Examples
    --------
    >>> out = add_gaussian_noise(np.full((64, 64), 128, np.uint8), 25, np.random.default_rng(0))
    >>> out.dtype, 23 < out.std() < 27
    (dtype('uint8'), True)
    """
    noisy = np.asarray(grey, np.float32) + rng.normal(0.0, sigma, np.shape(grey)).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def film_grain(grey: np.ndarray, strength: float, grain: float, rng: np.random.Generator) -> np.ndarray:
    """Spatially correlated, brightness-dependent noise on float grey (H, W) in [0, 255]:
    white noise blurred to ``grain`` px and rescaled to std ``strength`` (8-bit units) in the
    mid-tones, fading towards black and white."""
    import cv2

    noise = rng.normal(0.0, 1.0, grey.shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), grain)
    noise *= strength / max(float(noise.std()), 1e-6)
    g = np.clip(grey / 255.0, 0.0, 1.0)
    return grey + noise * (4.0 * g * (1.0 - g) + 0.15)


def jpeg(grey: np.ndarray, quality: int) -> np.ndarray:
    """uint8 grey (H, W) through JPEG at ``quality`` and back."""
    import cv2

    ok, enc = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)


def damage_grey(grey: np.ndarray, rng: np.random.Generator, cfg: DamageConfig | None = None) -> np.ndarray:
    """A randomly damaged copy of an 8-bit grey photo (see the module docstring).

    Parameters
    ----------
    grey : ndarray, (H, W), uint8 or float in [0, 255]
    rng : numpy.random.Generator
    cfg : DamageConfig, optional

    Returns
    -------
    ndarray, (H, W), uint8
    """
    import cv2

    cfg = cfg or DamageConfig()
    x = np.asarray(grey, np.float32)
    if rng.random() < cfg.p_blur:
        x = cv2.GaussianBlur(x, (0, 0), float(rng.uniform(*cfg.blur_sigma)))
    if rng.random() < cfg.p_gaussian:
        x = x + rng.normal(0.0, rng.uniform(0.0, cfg.sigma_max), x.shape).astype(np.float32)
    if rng.random() < cfg.p_grain:
        x = film_grain(x, float(rng.uniform(3.0, cfg.grain_max)), float(rng.uniform(0.5, 1.5)), rng)
    out = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if rng.random() < cfg.p_jpeg:
        out = jpeg(out, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
    return out


def grey_u8(L: np.ndarray) -> np.ndarray:
    """The 8-bit grey image (H, W) uint8 that stores lightness ``L`` (H, W) (Lab units)."""
    from colorizer.color import grey_from_l

    return np.clip(np.rint(grey_from_l(L) * 255.0), 0, 255).astype(np.uint8)


def grey_to_l(grey: np.ndarray) -> np.ndarray:
    """CIELAB L (H, W) float32 of an 8-bit grey image (H, W), through the normal read path."""
    from colorizer.color import srgb_to_l

    return srgb_to_l(np.repeat(np.asarray(grey)[..., None], 3, axis=2))
