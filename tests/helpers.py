"""Synthetic test images with known content; no external data."""

import numpy as np


def smooth_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A synthetic colour 'photo' (uint8 RGB) with gradients and blobs; no external data."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 17 + yy / 23)], -1)
    img += r.normal(0, 0.02, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)
