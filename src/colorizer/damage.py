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


# -- scratches, cracks, dust and tears ---------------------------------------------------------


@dataclass
class DefectConfig:
    """Counts and ranges of :func:`draw_defects`. Counts of lines and cracks are per 512 pixels
    of the photo's diagonal, dust, hairs and blotches per 256 x 256 pixels; each is drawn
    uniformly from its range per photo."""

    scratches: tuple = (0.0, 3.0)
    film_scratches: float = 0.15      # probability of one or two long, nearly vertical scratches
    cracks: tuple = (0.0, 1.5)
    hairs: tuple = (0.0, 3.0)
    dust: tuple = (0.0, 25.0)
    blotches: tuple = (0.0, 1.0)
    p_tear: float = 0.15
    width: tuple = (0.6, 3.5)         # line width, pixels
    dust_radius: tuple = (0.5, 3.0)
    p_bright: float = 0.65            # white damage (scratched emulsion) against dark (dirt)
    p_relative: float = 0.5           # marks a shade lighter or darker than the picture under them
    relative: tuple = (35.0, 140.0)   # ... by this much (8-bit), instead of a fixed tone
    opacity: tuple = (0.4, 1.0)
    soft: tuple = (0.0, 1.2)          # edge blur, pixels
    visible: float = 10.0             # a pixel counts as damaged where it moved this much (8-bit)


def _curve(p0, p1, bend: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth cubic curve from p0 to p1, its control points pushed sideways by ``bend`` times
    its length."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    normal = np.array([-d[1], d[0]])
    c1 = p0 + d / 3 + normal * rng.uniform(-bend, bend)
    c2 = p0 + 2 * d / 3 + normal * rng.uniform(-bend, bend)
    t = np.linspace(0.0, 1.0, n)[:, None]
    return ((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t ** 2 * c2 + t ** 3 * p1)


def _walk(start, length: float, step: float, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """A jagged random walk (a crack or a fold line): ``length`` pixels in steps of ``step``."""
    angle = rng.uniform(0, 2 * np.pi)
    pts = [np.asarray(start, float)]
    for _ in range(max(2, int(length / step))):
        angle += rng.normal(0.0, jitter)
        pts.append(pts[-1] + step * np.array([np.cos(angle), np.sin(angle)]))
    return np.array(pts)


def draw_defects(image: np.ndarray, rng: np.random.Generator,
                 cfg: DefectConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A copy of an 8-bit photo with scratches, cracks, hairs, dust, blotches and small tears
    drawn on it, as old prints and film show them, and the mask of what was drawn.

    Lines are smooth curves across the photo (and, sometimes, long nearly vertical film
    scratches), cracks jagged random walks, hairs short thin curves, dust small ellipses,
    blotches small irregular polygons, tears irregular pieces missing at the border. Each is
    white (lost emulsion) or dark (dirt), at a random opacity, with edges softened by a random
    blur; everything is drawn at twice the resolution and reduced, so widths are not whole
    pixels. In half of the photos (``p_relative``) the marks are not of a fixed tone but a shade
    lighter or darker than the picture under them, as faint scratches and dirt are. Colour
    photos get the same neutral damage on every channel.

    Parameters
    ----------
    image : ndarray, (H, W) or (H, W, 3), uint8
    rng : numpy.random.Generator
    cfg : DefectConfig, optional

    Returns
    -------
    damaged : ndarray, same shape as ``image``, uint8
    mask : ndarray, (H, W), bool
        Where the damage moved the grey by at least ``cfg.visible`` levels and covers at least
        30% of the pixel.

    Examples
    --------
    >>> photo = np.full((128, 128), 120, np.uint8)
    >>> damaged, mask = draw_defects(photo, np.random.default_rng(3))
    >>> damaged.shape, mask.dtype, bool((damaged[mask] != 120).all())
    ((128, 128), dtype('bool'), True)
    """
    import cv2

    cfg = cfg or DefectConfig()
    img = np.asarray(image)
    h, w = img.shape[:2]
    s = 2  # drawing scale
    alpha = np.zeros((h * s, w * s), np.float32)
    tone = np.zeros((h * s, w * s), np.float32)   # alpha-weighted target grey
    diag = float(np.hypot(h, w))
    area = h * w / 65536.0

    def count(rng_range, per):
        return int(rng.poisson(rng.uniform(*rng_range) * per))

    relative = rng.random() < cfg.p_relative  # tones are then signed offsets from the picture

    def pick_tone():
        bright = rng.random() < cfg.p_bright
        if relative:
            return float(rng.uniform(*cfg.relative) * (1 if bright else -1))
        return float(rng.uniform(190, 255) if bright else rng.uniform(0, 70))

    def stroke(pts, width, op, value):
        layer = np.zeros_like(alpha)
        pts = np.round(np.asarray(pts) * s * 8).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(layer, [pts], False, op, max(1, int(round(width * s))), cv2.LINE_AA, shift=3)
        _merge(layer, value)

    def blob(poly, op, value):
        layer = np.zeros_like(alpha)
        pts = np.round(np.asarray(poly) * s * 8).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(layer, [pts], op, cv2.LINE_AA, shift=3)
        _merge(layer, value)

    def _merge(layer, value):
        np.maximum(alpha, layer, out=alpha)
        tone[layer > 0] = value

    def rand_point(margin=0.0):
        return rng.uniform(-margin, 1 + margin) * np.array([w, h])

    for _ in range(count(cfg.scratches, diag / 512)):
        p0, p1 = rand_point(0.1), rand_point(0.1)
        if np.hypot(*(p1 - p0)) < 0.2 * diag:
            p1 = p0 + (p1 - p0) * 0.2 * diag / max(np.hypot(*(p1 - p0)), 1.0)
        stroke(_curve(p0, p1, rng.uniform(0, 0.3), 200, rng), rng.uniform(*cfg.width),
               rng.uniform(*cfg.opacity), pick_tone())
    if rng.random() < cfg.film_scratches:
        for _ in range(int(rng.integers(1, 3))):
            x = rng.uniform(0.05, 0.95) * w
            p0, p1 = (x, -5.0), (x + rng.normal(0, 0.01 * w), h + 5.0)
            stroke(_curve(p0, p1, 0.01, 200, rng), rng.uniform(0.6, 2.5),
                   rng.uniform(*cfg.opacity), pick_tone())
    for _ in range(count(cfg.cracks, diag / 512)):
        pts = _walk(rand_point(), rng.uniform(0.1, 0.5) * diag, rng.uniform(2, 5), 0.35, rng)
        stroke(pts, rng.uniform(0.6, 2.0), rng.uniform(*cfg.opacity), pick_tone())
    for _ in range(count(cfg.hairs, area)):
        p0 = rand_point()
        p1 = p0 + rng.uniform(8, 60) * np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)])
        stroke(_curve(p0, p1, rng.uniform(0.1, 0.5), 40, rng), rng.uniform(0.5, 1.2),
               rng.uniform(*cfg.opacity), pick_tone())
    for _ in range(count(cfg.dust, area)):
        c = rand_point()
        r = rng.uniform(*cfg.dust_radius)
        ang = np.linspace(0, 2 * np.pi, 9)[:-1]
        radii = r * rng.uniform(0.6, 1.3, len(ang)) * np.array([1.0, rng.uniform(0.5, 1.0)] * 4)
        blob(c + np.stack([np.cos(ang) * radii, np.sin(ang) * radii], 1),
             rng.uniform(*cfg.opacity), pick_tone())
    for _ in range(count(cfg.blotches, area)):
        c = rand_point()
        r = rng.uniform(3, 9)
        ang = np.sort(rng.uniform(0, 2 * np.pi, 9))
        radii = r * rng.uniform(0.5, 1.2, len(ang))
        blob(c + np.stack([np.cos(ang) * radii, np.sin(ang) * radii], 1),
             rng.uniform(*cfg.opacity), pick_tone())
    if rng.random() < cfg.p_tear:
        corner = np.array([w * rng.integers(0, 2), h * rng.integers(0, 2)], float)
        r = rng.uniform(0.03, 0.08) * min(h, w) + 3
        ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        radii = r * rng.uniform(0.4, 1.2, len(ang))
        blob(corner + np.stack([np.cos(ang) * radii, np.sin(ang) * radii], 1), 1.0,
             float(rng.uniform(225, 255)) if not relative else 255.0)

    soft = rng.uniform(*cfg.soft)
    if soft > 0.05:
        weighted = cv2.GaussianBlur(tone * alpha, (0, 0), soft * s)
        alpha = cv2.GaussianBlur(alpha, (0, 0), soft * s)
        tone = weighted / np.maximum(alpha, 1e-6)
    else:
        tone = tone.copy()
    small_a = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)
    small_t = cv2.resize(tone * alpha, (w, h), interpolation=cv2.INTER_AREA) / np.maximum(small_a, 1e-6)
    a = np.clip(small_a, 0, 1)
    x = img.astype(np.float32)
    a3, t3 = (a, small_t) if x.ndim == 2 else (a[..., None], small_t[..., None])
    marked = x + t3 * a3 if relative else x * (1 - a3) + t3 * a3
    out = np.clip(np.rint(marked), 0, 255).astype(np.uint8)
    moved = np.abs(out.astype(np.int16) - img.astype(np.int16))
    moved = moved if moved.ndim == 2 else moved.max(axis=2)
    return out, (a >= 0.3) & (moved >= cfg.visible)
