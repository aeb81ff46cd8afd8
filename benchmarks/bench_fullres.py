"""Full-resolution path on a 12 MP photo: our fast pieces against the plain ones, same process.

    python benchmarks/bench_fullres.py [--megapixels 12] [--repeat 3]

Prints seconds for each variant and the ratio baseline / ours (higher is better).
"""

from __future__ import annotations

import argparse
import io

import numpy as np
import torch
from PIL import Image
from timing import best_seconds

from colorizer import color
from colorizer.api import colorize_picture
from colorizer.io import Picture, encode_png8
from colorizer.registry import get_colorizer


def photo(megapixels: float) -> np.ndarray:
    w = int(np.sqrt(megapixels * 1e6 * 4 / 3))
    h = int(w * 3 / 4)
    small = np.random.default_rng(0).integers(0, 256, (h // 100, w // 100, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=12.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rgb = np.array(photo(args.megapixels))  # writable, for torch.from_numpy
    h, w, _ = rgb.shape
    lab = color.rgb2lab(rgb)
    print(f"image {w}x{h} ({w * h / 1e6:.1f} MP), torch threads {torch.get_num_threads()}")

    def exact_l():
        return color.rgb_to_l(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)

    def exact_join():
        return color.to_uint8(color.lab2rgb(lab))

    def pil_png():
        Image.fromarray(rgb).save(io.BytesIO(), "PNG", compress_level=1)

    rows = [
        ("L from sRGB", exact_l, lambda: color.srgb_to_l(rgb)),
        ("join L+ab to sRGB8", exact_join, lambda: color.l_ab_to_srgb(lab[..., 0], lab[..., 1:])),
        ("PNG encode", pil_png, lambda: encode_png8(rgb)),
    ]
    print(f"{'step':22s} {'baseline s':>11s} {'ours s':>8s} {'ratio':>7s}")
    for name, base, ours in rows:
        tb, to = best_seconds(base, args.repeat), best_seconds(ours, args.repeat)
        print(f"{name:22s} {tb:11.3f} {to:8.3f} {tb / to:7.2f}x")
    gray = get_colorizer("gray")
    pic = Picture.from_array(rgb)
    t = best_seconds(lambda: colorize_picture(pic, gray), args.repeat)
    print(f"colorize_picture (gray model, no file I/O): {t:.3f} s")


if __name__ == "__main__":
    main()
