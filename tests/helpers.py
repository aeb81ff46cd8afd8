"""Synthetic test images and datasets with known content; no external data."""

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def smooth_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A synthetic colour 'photo' (uint8 RGB) with gradients and blobs; no external data."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 17 + yy / 23)], -1)
    img += r.normal(0, 0.02, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


SKY, GRASS = (120, 170, 235), (60, 130, 40)  # L about 68 and 49


def sky_over_grass(h: int, w: int, split: int, seed: int = 0, flip: bool = False) -> np.ndarray:
    """A blue sky down to row ``split`` over textured green grass (uint8 RGB), mild noise;
    ``flip``: mirrored left to right."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.float32)
    img[:split] = SKY
    img[split:] = GRASS
    y, x = np.mgrid[0:h, 0:w]
    blades = 18 * np.sin(x * 1.3 + 0.7 * np.sin(y * 0.9)) * (y >= split)
    img += blades[..., None] + rng.normal(0, 2, (h, w, 1))
    img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img[:, ::-1]) if flip else img


def grey_of(rgb: np.ndarray) -> np.ndarray:
    """The grey (H, W) uint8 picture with ``rgb``'s CIELAB lightness."""
    from colorizer.color import grey_from_l, srgb_to_l

    return np.round(grey_from_l(srgb_to_l(rgb)) * 255).astype(np.uint8)


def mux_frames(container, stream, frames) -> None:
    """Encode ``frames`` (uint8 RGB arrays, or ready ``av.VideoFrame`` objects) into ``stream`` of
    the open PyAV ``container``, then flush the encoder."""
    import av

    for frame in frames:
        if not isinstance(frame, av.VideoFrame):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def tiny_lab_dataset(root: Path, n: int = 40, size: int = 32) -> Path:
    """A small prepared dataset (Kaggle layout: l.npy, ab.npy, split.npy; every 10th photo for
    validation) of flat-ish random photos, enough for a few training steps; returns ``root``."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    base = rng.integers(60, 200, (n, 1, 1, 1))
    L = np.clip(base[..., 0] + rng.integers(0, 30, (n, size, size)), 0, 255)
    np.save(root / "l.npy", L.astype(np.uint8))
    np.save(root / "ab.npy", rng.integers(100, 160, (n, size, size, 2), dtype=np.uint8))
    np.save(root / "split.npy", (np.arange(n) % 10 == 0).astype(np.uint8))
    return root


def load_script(relpath: str):
    """A file of the repo that is not in the package (``benchmarks/``, ``scripts/``), imported
    as a module by its path, e.g. ``load_script("scripts/widen_denoiser.py")``."""
    import importlib.util
    import sys

    path = ROOT / relpath
    if str(path.parent) not in sys.path:  # as when it runs: its own folder first on the path
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
