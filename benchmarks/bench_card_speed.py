"""The speed figure of each shipped model's card, as `colorize image` (and `colorize denoise`) run it.

    python benchmarks/bench_card_speed.py [--repeat 5] [--threads 1] [--write]

For every model with shipped weights: seconds for one 1024x768 photo on the path the CLI takes
by default (onnxruntime where an export ships, else torch; the model at its preferred working
size, then upsampling and the join at full size; reading and writing the file are left out), best
of ``--repeat`` runs with ``--threads`` CPU threads. ``--write`` stores the figure as ``speed`` in
src/colorizer/assets/NAME.json, where `colorize models` reads it; scripts/ship_model.py and
scripts/ship_denoiser.py keep it while the network's config is unchanged. Timings on a shared
machine move by a fifth from run to run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from timing import best_seconds

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1024, 768


def runner(name: str, threads: int, denoiser: bool):
    """(function of a Picture, backend name) for ``name`` as the CLI runs it by default."""
    from colorizer import onnx_backend

    fast = onnx_backend.load_for_job("auto", name, device="cpu", threads=threads,
                                     kind="denoiser" if denoiser else "colorizer")
    if fast is not None:
        if denoiser:
            return (lambda pic: onnx_backend.denoise_picture(pic, fast)), "onnxruntime"
        return (lambda pic: onnx_backend.colorize_picture(pic, fast)), "onnxruntime"
    import torch

    from colorizer import api
    from colorizer.registry import get_colorizer, get_denoiser

    torch.set_num_threads(threads)
    if denoiser:
        model = get_denoiser(name, device="cpu")
        return (lambda pic: api.denoise_picture(pic, model)), "torch"
    model = get_colorizer(name, device="cpu")
    return (lambda pic: api.colorize_picture(pic, model)), "torch"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--write", action="store_true", help="Store the figures in the shipped cards.")
    args = ap.parse_args()
    from colorizer.io import Picture
    from colorizer.registry import list_colorizers, list_denoisers
    from colorizer.weights import card_path, packaged_weights

    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(0, 256, (HEIGHT, WIDTH, 1), dtype=np.uint8), 3, axis=2)
    photo = Picture.from_array(grey)
    for name in list_colorizers() + list_denoisers():
        weights = packaged_weights(name)
        if not weights.exists():
            continue
        fn, backend = runner(name, args.threads, name in list_denoisers())
        seconds = best_seconds(lambda fn=fn: fn(photo), args.repeat, warmup=True)
        print(f"{name:10s} {seconds:7.3f} s per {WIDTH}x{HEIGHT} photo ({backend}, {args.threads} "
              f"thread{'s' if args.threads != 1 else ''})")
        if args.write:
            card_file = card_path(weights)
            card = json.loads(card_file.read_text())
            card["speed"] = {"seconds": round(seconds, 3), "photo": f"{WIDTH}x{HEIGHT}",
                             "backend": backend, "threads": args.threads,
                             "command": "python benchmarks/bench_card_speed.py --write"}
            card_file.write_text(json.dumps(card, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
