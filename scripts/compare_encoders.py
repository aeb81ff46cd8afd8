"""Compare trained colorizers on the validation split at equal colourfulness: the comparison
behind the pretrained encoder (model cards quote it).

    python scripts/compare_encoders.py --data DS_MAIN --data DS_PEOPLE \
        --model pretrained=runs/gan_snap20 --model scratch=runs/scratch/gan.safetensors \
        --ratio 0.6 --out comparison.json

A model is a weights file or a checkpoint folder. Each model's ab is scaled until its
predictions are RATIO times as colourful as the validation photos
(colorizer.train.score_at_colourfulness); AuC, PSNR and CIEDE2000 are then compared, with the
grey baseline. The training minutes and steps of each model are read from its card.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def weights_of(path: Path, scratch: Path) -> str:
    """A run's checkpoint folder (RUN/checkpoint, or a copy of one) as weights + card files;
    a .safetensors path as it is."""
    if not path.is_dir():
        return str(path)
    import shutil

    state = json.loads((path / "state.json").read_text())
    card = {**state["card"], "steps": state["progress"]["step"],
            "training_seconds": state["progress"].get("seconds", 0)}
    out = scratch / f"{path.name}.safetensors"
    shutil.copyfile(path / "model.safetensors", out)
    out.with_suffix(".json").write_text(json.dumps(card))
    return str(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, help="prepared dataset (repeatable)")
    ap.add_argument("--model", action="append", required=True, metavar="LABEL=WEIGHTS")
    ap.add_argument("--ratio", type=float, default=0.6, help="colourfulness / the photos' (default 0.6)")
    ap.add_argument("--size", type=int, help="validation photos resized to this (needed when the "
                    "datasets were stored at different sizes; default: as stored)")
    ap.add_argument("--out", type=Path, required=True, help="JSON written here")
    args = ap.parse_args(argv)
    import torch

    from colorizer.data import LabDataset
    from colorizer.registry import get_colorizer
    from colorizer.train import score_at_colourfulness
    from colorizer.weights import load_weights

    val = LabDataset([Path(d) for d in args.data], "val", args.size)
    results = {"ratio": args.ratio, "data": args.data, "size": args.size, "models": {}}
    for item in args.model:
        label, _, path = item.partition("=")
        path = weights_of(Path(path), Path(args.out).parent)
        card = load_weights(path)[1]
        model = get_colorizer(card["name"], weights=path, device="cpu")
        model.chroma_gain = 1.0
        scores = score_at_colourfulness(model, val, torch.device("cpu"), args.ratio)
        scores.update(weights=path, encoder=card["config"].get("encoder", "none"),
                      steps=card.get("steps"),
                      training_minutes=round(card.get("training_seconds", 0) / 60, 1))
        results["models"][label] = scores
        print(f"{label}: {json.dumps(scores)}")
    gray = get_colorizer("gray")
    results["gray"] = score_at_colourfulness(gray, val, torch.device("cpu"), 0.0)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"gray: AuC {results['gray']['auc']:.2f}, PSNR {results['gray']['psnr']:.2f}, "
          f"CIEDE2000 {results['gray']['ciede2000']:.2f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
