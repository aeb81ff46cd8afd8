"""What colour costs: a colorizer's validation accuracy as its chroma gain makes it more colourful.

    python scripts/colour_tradeoff.py --data DS_MAIN --data DS_PEOPLE --model gan \
        --ratios 0.5,0.6,0.7,0.8,0.9,1.0 --out tradeoff.json

For each ratio the model's ab is scaled until its predictions are RATIO times as colourful as
the validation photos (as `colorize calibrate` and scripts/compare_encoders.py do), and AuC,
PSNR, CIEDE2000 and the seed's max-colour-channel agreement are printed beside the grey
baseline's. It also prints how well the model tells colourful photos from drab ones (the
correlation across photos of log colourfulness, predicted against true): a global gain scales
every photo alike, so a set of photos more colourful than the validation ones stays under-
coloured unless this correlation is high. Only validation photos are read; never the eval set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, help="prepared dataset (repeatable)")
    ap.add_argument("--model", default="gan", help="registered colorizer (default: gan)")
    ap.add_argument("--weights", help="weights file instead of the shipped one")
    ap.add_argument("--ratios", default="0.5,0.6,0.7,0.8,0.9,1.0",
                    help="colourfulness / the photos', comma-separated")
    ap.add_argument("--size", type=int, default=256, help="validation photos resized to this (default 256)")
    ap.add_argument("--photos", type=int, default=256, help="validation photos scored (default 256)")
    ap.add_argument("--out", type=Path, help="JSON written here")
    args = ap.parse_args(argv)
    ratios = [float(r) for r in args.ratios.split(",")]
    import torch

    from colorizer.data import LabDataset
    from colorizer.registry import get_colorizer
    from colorizer.train import scores_at_colourfulness

    val = LabDataset([Path(d) for d in args.data], "val", args.size)
    model = get_colorizer(args.model, weights=args.weights, device="cpu")
    model.chroma_gain = 1.0
    cpu = torch.device("cpu")
    rows = scores_at_colourfulness(model, val, cpu, ratios, args.photos, max_channel=True)
    gray = scores_at_colourfulness(get_colorizer("gray"), val, cpu, [0.0], args.photos, max_channel=True)[0]
    print(f"{args.model} on {rows[0]['val_images']} validation photos; colourfulness correlation "
          f"(log, predicted against true, across photos): {rows[0]['colourfulness_correlation']:.3f}")
    print("ratio  gain   AuC    PSNR   CIEDE2000  max-channel")
    for r in [gray, *rows]:
        label = "gray " if r is gray else f"{r['colourfulness_ratio']:.2f} "
        print(f"{label}  {r['gain']:5.3f}  {r['auc']:.2f}  {r['psnr']:.2f}  {r['ciede2000']:.2f}"
              f"      {r['max_channel']:.2f}")
    if args.out:
        args.out.write_text(json.dumps({"model": args.model, "weights": args.weights, "data": args.data,
                                        "size": args.size, "gray": gray, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
