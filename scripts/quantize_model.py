"""Make the int8 twin of a float ONNX export (by default the shipped default model's).

    python scripts/quantize_model.py [--onnx src/colorizer/assets/gan.onnx]
        [--calibration ../shared/data/photos/train] [--photos 256] [--out FILE.int8.onnx]
        [--float-blocks N] [--bias-photos M]

Writes ``NAME.int8.onnx`` beside the float export (:mod:`colorizer.quantize`): onnxruntime's
static quantization, calibrated on the L of training photos (a folder of photos, or a prepared
dataset with l.npy, whose training split is used), the first and last convolution kept in float,
each int8 convolution's bias corrected by its mean error against float on M of those photos, with
the float export's metadata (the weights' SHA-256 included). ``scripts/ship_model.py`` runs
it after re-exporting new default weights, so one command keeps both files in step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from colorizer.onnx_backend import packaged_onnx, resolve_default
from colorizer.quantize import QuantizeConfig, quantize_onnx

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "photos" / "train"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onnx", type=Path, default=None, help="float export (default: the shipped default)")
    ap.add_argument("--calibration", nargs="+", default=[str(TRAIN)],
                    help="training photo folders or prepared datasets (never the evaluation photos)")
    ap.add_argument("--photos", type=int, default=256)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--float-blocks", type=int, default=QuantizeConfig.float_blocks,
                    help="the encoder's first N blocks stay in float (default %(default)s)")
    ap.add_argument("--bias-photos", type=int, default=QuantizeConfig.bias_photos,
                    help="calibration photos for the bias correction; 0: none (default %(default)s)")
    args = ap.parse_args()
    src = args.onnx or packaged_onnx(resolve_default("default"))
    r = quantize_onnx(src, args.out, overwrite=True,
                      cfg=QuantizeConfig(sources=args.calibration, photos=args.photos, size=args.size,
                                         float_blocks=args.float_blocks, bias_photos=args.bias_photos))
    print(f"wrote {r['out']} ({r['bytes'] / 1e6:.1f} MB) from {src.name}: calibrated on {r['photos']} "
          f"photos, {r['bias_corrected']} biases corrected; ab against the float model: mean |diff| "
          f"{r['mean_abs_diff']:.2f}, largest "
          f"{r['max_abs_diff']:.1f} Lab units")


if __name__ == "__main__":
    main()
