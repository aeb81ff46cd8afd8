"""The README's scribble example on top of a model, before and after hints filled their object.

    python scripts/hints_example.py OUT.png [--model default]

Writes one PNG of four panels, left to right: the grey sample with its scribbles
(``assets/sample_scribbles.json``); the earlier behaviour (the correction pulled back to the model
within a few pixels: Levin's affinities with a prior weight of 0.01); what ``colorize scribble
--model`` does now (:func:`colorizer.levin.fill_hints`); and pure Levin et al. 2004 (``--model
none``), for comparison.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from colorizer import levin
from colorizer.api import model_ab
from colorizer.color import l_ab_to_srgb
from colorizer.io import read_image
from colorizer.registry import get_colorizer
from colorizer.scribbles import read_scribbles


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--model", default="default")
    args = ap.parse_args()
    assets = Path(str(resources.files("colorizer") / "assets"))
    pic = read_image(assets / "sample_grey.jpg")
    hint_ab, mask = read_scribbles(assets / "sample_scribbles.json", pic)
    L = pic.lightness()
    prior = model_ab(L, get_colorizer(args.model, device="cpu"))
    grey = l_ab_to_srgb(L, np.zeros_like(prior), np.uint8)
    marked = np.where(mask[..., None], l_ab_to_srgb(L, hint_ab, np.uint8), grey)
    panels = {
        "scribbles": marked,
        "before: stays on the strokes": l_ab_to_srgb(
            L, levin.colorize(L, hint_ab, mask, prior_ab=prior, prior_weight=0.01), np.uint8),
        "now: fills the object": l_ab_to_srgb(L, levin.fill_hints(L, prior, hint_ab, mask), np.uint8),
        "pure Levin (no model)": l_ab_to_srgb(L, levin.colorize(L, hint_ab, mask), np.uint8),
    }
    h, w = grey.shape[:2]
    sheet = Image.new("RGB", (len(panels) * (w + 8) - 8, h + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (title, rgb) in enumerate(panels.items()):
        sheet.paste(Image.fromarray(rgb), (i * (w + 8), 24))
        draw.text((i * (w + 8) + 4, 6), title, fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
