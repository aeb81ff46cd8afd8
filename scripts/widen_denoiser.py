"""Widen a trained denoiser without changing what it computes, as a starting point for training.

    python scripts/widen_denoiser.py --weights RUN/denoise.safetensors --widths 56,80,160 \
        --out WIDE/denoise.safetensors
    colorize train --model denoise --init WIDE/denoise.safetensors --set 'widths=[56,80,160]' ...

Each level may get more channels than the trained net has (never fewer; depth stays). The old
channels keep their weights. The new channels get the model's own fresh initialisation for
everything they read, and zero for every weight by which an old channel would read them, so the
widened net's output equals the old net's exactly (checked here on a random input before
writing) and training starts from the trained quality instead of from scratch. The gradients
reach those zero weights, since the new channels' activations are not zero, so the new
channels join in from the first step (Net2Net's function-preserving idea, done by zero fan-out
instead of by splitting units).

This works for ``DenoiseUNet`` because every old output channel is a prefix of the widened one:
convolutions and batch norms by index, and the 1x1 upsampling convs too, as pixel shuffle takes
channels ``4c .. 4c+3`` for channel ``c``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import torch

from colorizer.models.denoise import DenoiseAutoencoder
from colorizer.weights import load_into, load_weights, save_weights


def widen_state(old: dict[str, torch.Tensor], fresh: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``fresh`` (a newly initialised wider net's state) with ``old`` copied into its leading
    slices, and the weights from new input channels into old output channels set to zero."""
    out = {}
    for key, new in fresh.items():
        new = new.clone()
        was = old[key]
        if was.dim() != new.dim() or any(o > n for o, n in zip(was.shape, new.shape, strict=True)):
            raise ValueError(f"{key}: cannot widen {tuple(was.shape)} to {tuple(new.shape)}")
        new[tuple(slice(0, s) for s in was.shape)] = was
        if new.dim() == 4:  # conv weight (out, in, kh, kw): old outputs must not read new inputs
            new[: was.shape[0], was.shape[1]:] = 0
        out[key] = new
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True, help="trained denoiser (.safetensors, card beside it)")
    ap.add_argument("--widths", required=True, help="new widths per level, comma-separated")
    ap.add_argument("--out", required=True, help="where to write the widened weights (+ card)")
    ap.add_argument("--seed", type=int, default=0, help="seed for the new channels' initialisation")
    args = ap.parse_args(argv)

    state, card = load_weights(args.weights)
    base = DenoiseAutoencoder.config_from_dict(card["config"])
    widths = tuple(int(w) for w in args.widths.split(","))
    old_model = DenoiseAutoencoder(base)
    load_into(old_model, state, args.weights)
    torch.manual_seed(args.seed)
    wide_cfg = replace(base, widths=widths)
    wide = DenoiseAutoencoder(wide_cfg)
    load_into(wide, widen_state(state, wide.state_dict()), args.out)

    old_model.eval()
    wide.eval()
    x = torch.rand(2, 1, 64, 64) * 100
    with torch.no_grad():
        gap = float((old_model(x) - wide(x)).abs().max())
    if gap > 1e-3:
        print(f"widened net differs from the trained one by {gap:.3g} L; nothing written", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(wide, out, {"architecture": "DenoiseAutoencoder", "name": "denoise",
                             "config": asdict(wide_cfg),
                             "widened_from": {"weights": str(args.weights), "widths": list(base.widths),
                                              "max_output_gap_L": gap, "seed": args.seed}})
    print(f"{out}: widths {list(base.widths)} -> {list(widths)}, "
          f"{sum(p.numel() for p in old_model.parameters()):,} -> "
          f"{sum(p.numel() for p in wide.parameters()):,} parameters, output gap {gap:.2g} L")
    print(json.dumps({"widths": list(widths)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
