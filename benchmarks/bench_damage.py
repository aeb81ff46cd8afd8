"""Denoisers on old-scan damage, not only Gaussian noise: film grain, JPEG, blur under noise.

    python benchmarks/bench_damage.py --val-data DATASET [--val-data DATASET2] \
        --weights A.safetensors --weights B.safetensors [--photos 48] [--out damage.json]

``bench_denoise.py`` scores pure Gaussian noise, as denoising benchmarks do. A scan's damage is
more than that, and a denoiser tuned towards Gaussian noise can lose on the rest; this script
shows that trade. Measurement set: up to --photos validation photos of prepared datasets (never
the eval photos), as 8-bit grey. Each kind of damage is drawn by :func:`colorizer.damage.
damage_grey`, seeded by the kind and the photo's index, so every model sees the same inputs:

* ``mix``: the training mix of the denoiser up to stage 7 (``DamageConfig()``: Gaussian noise
  sigma 0-50 with p 0.9, film grain 0.3, JPEG 20-90 0.25, blur 0.2);
* ``grain``: film grain alone; ``jpeg``: JPEG alone; ``blur_noise``: slight blur, then Gaussian
  noise (sigma 0-50).

Each model runs as ``colorize denoise --backend torch`` does (two passes by default). Printed:
mean PSNR (data range 255) of the damaged input and of each model's output, per kind.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from bench_denoise import ours_fn, psnr, val_greys

from colorizer.damage import DamageConfig, damage_grey
from colorizer.resize import DEFAULT_PASSES

KINDS = {
    "mix": DamageConfig(),
    "grain": DamageConfig(p_gaussian=0.0, p_grain=1.0, p_jpeg=0.0, p_blur=0.0),
    "jpeg": DamageConfig(p_gaussian=0.0, p_grain=0.0, p_jpeg=1.0, p_blur=0.0),
    "blur_noise": DamageConfig(p_gaussian=1.0, p_grain=0.0, p_jpeg=0.0, p_blur=1.0),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--val-data", action="append", required=True, help="A prepared dataset (its val split).")
    ap.add_argument("--weights", action="append", required=True,
                    help="A denoiser's .safetensors (with its .json beside); give several to compare.")
    ap.add_argument("--photos", type=int, default=48)
    ap.add_argument("--passes", type=int, default=DEFAULT_PASSES)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="Also write the results as JSON here.")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    greys = val_greys(args.val_data, args.photos)
    damaged = {kind: [damage_grey(g, np.random.default_rng([k, i]), cfg) for i, g in enumerate(greys)]
               for k, (kind, cfg) in enumerate(KINDS.items())}
    rows = {"damaged": {kind: float(np.mean([psnr(d, g) for d, g in zip(ds, greys, strict=True)]))
                        for kind, ds in damaged.items()}}
    for weights in args.weights:
        run = ours_fn(weights, args.passes)
        rows[weights] = {kind: float(np.mean([psnr(run(d, None), g) for d, g in zip(ds, greys, strict=True)]))
                         for kind, ds in damaged.items()}

    print(f"{len(greys)} validation photos, {args.passes} passes; mean PSNR (dB)")
    print("| input | " + " | ".join(KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    for name, scores in rows.items():
        print(f"| {name} | " + " | ".join(f"{scores[k]:.2f}" for k in KINDS) + " |")
    if args.out:
        result = {"photos": len(greys), "passes": args.passes, "psnr": rows}
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
