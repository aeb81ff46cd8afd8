"""The torch denoiser on the CPU: channels-last weights (as `get_denoiser` loads it) against the
plain contiguous layout, same process, interleaved runs.

    python benchmarks/bench_denoise_layout.py [--size 512] [--repeat 10] [--threads 2]

Prints ms per photo (two shifted passes, the default) for each layout, the ratio contiguous /
channels-last (higher is better), and how many pixels of the two results differ (by how much).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from colorizer.api import denoise_picture
from colorizer.io import Picture
from colorizer.registry import get_denoiser


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="side of the square test photo")
    ap.add_argument("--repeat", type=int, default=10, help="timed runs per layout (best is kept)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    fast = get_denoiser(device="cpu")
    plain = get_denoiser(device="cpu").to(memory_format=torch.contiguous_format)
    grey = np.random.default_rng(0).integers(0, 256, (args.size, args.size), dtype=np.uint8)
    pic = Picture.from_array(grey)
    a, b = (denoise_picture(pic, m).to_array(np.uint8) for m in (plain, fast))
    times = {"contiguous": [], "channels-last": []}
    for _ in range(args.repeat):
        for name, model in (("contiguous", plain), ("channels-last", fast)):
            t = time.perf_counter()
            denoise_picture(pic, model)
            times[name].append(time.perf_counter() - t)
    best = {k: 1000 * min(v) for k, v in times.items()}
    for k, v in best.items():
        print(f"{k}: {v:.0f} ms per {args.size}x{args.size} photo (best of {args.repeat}, "
              f"{args.threads} threads)")
    print(f"ratio contiguous / channels-last: {best['contiguous'] / best['channels-last']:.2f}")
    print(f"pixels that differ: {int((a != b).any(axis=-1).sum())} of {args.size * args.size}, "
          f"by at most {int(np.abs(a.astype(int) - b).max())} 8-bit code(s)")


if __name__ == "__main__":
    main()
