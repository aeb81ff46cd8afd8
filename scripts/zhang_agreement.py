"""zhang with and without making the bin distributions of one surface agree, on validation photos.

    python scripts/zhang_agreement.py --data DS_MAIN --data DS_PEOPLE \
        --variants off,6:0.01:log,6:0.01:prob --photos 256 --out agreement.json

Each variant is ``off`` or ``RADIUS:EPS:log|prob``: the guided filter of
:func:`colorizer.models.zhang.agree_distributions` on the bin distributions before the annealed
mean (radius in logits pixels, eps in (L/100)^2, filtering log-probabilities or probabilities).
For each, on the validation split at ``--size`` (default 256), with the model's calibrated chroma
gain (as users get it; ``--gain`` to override) it prints the raw AuC, the class-rebalanced AuC
(prior from these photos), PSNR, CIEDE2000, colourfulness as a share of the photos', and
:func:`colorizer.metrics.blotchiness` (the ab spread inside regions of even lightness; the
photos' own value is printed as the reference), beside the grey baseline. Only validation photos
are read; never the eval set. ``--pictures DIR`` also saves side-by-sides (grey | off | first
other variant | photo) of the photos listed by index with ``--show``; ``--images FILE ...``
with ``--pictures`` saves the same side-by-sides for those photos (long side ``--size``) and
scores nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def parse_variant(text: str) -> dict:
    if text == "off":
        return {"agree_radius": 0}
    radius, eps, kind = text.split(":")
    if kind not in ("log", "prob"):
        raise SystemExit(f"variant {text!r}: the third part must be log or prob")
    return {"agree_radius": int(radius), "agree_eps": float(eps), "agree_log": kind == "log"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, help="prepared dataset (repeatable)")
    ap.add_argument("--weights", help="zhang weights file instead of the shipped one")
    ap.add_argument("--variants", default="off,6:0.01:log", help="comma-separated (see above)")
    ap.add_argument("--size", type=int, default=256, help="validation photos resized to this (default 256)")
    ap.add_argument("--photos", type=int, default=256, help="validation photos scored (default 256)")
    ap.add_argument("--temperature", type=float, help="annealing temperature (default: the card's)")
    ap.add_argument("--gain", type=float, help="chroma gain (default: the card's)")
    ap.add_argument("--pictures", type=Path, help="save side-by-sides here")
    ap.add_argument("--show", default="", help="comma-separated validation indices to save")
    ap.add_argument("--images", nargs="+", type=Path, help="photos for side-by-sides only (see above)")
    ap.add_argument("--time", type=int, default=0, metavar="N",
                    help="only time predict_ab at --size, each variant N times, interleaved (1 thread)")
    ap.add_argument("--out", type=Path, help="JSON written here")
    args = ap.parse_args(argv)
    if args.time:
        return timing(args)
    if args.images:
        if not args.pictures:
            raise SystemExit("--images needs --pictures")
        return side_by_sides(args)
    import torch
    import torch.nn.functional as F

    from colorizer import metrics
    from colorizer.color import lab2rgb_u8
    from colorizer.data import LabDataset
    from colorizer.models.zhang import agree_distributions, annealed_mean
    from colorizer.registry import get_colorizer

    torch.set_num_threads(1)
    variants = {v: parse_variant(v) for v in args.variants.split(",")}
    val = LabDataset([Path(d) for d in args.data], "val", args.size)
    model = get_colorizer("zhang", weights=args.weights, device="cpu").eval()
    gain = model.chroma_gain if args.gain is None else args.gain
    T = model.config.temperature if args.temperature is None else args.temperature
    n = min(args.photos, len(val))
    show = {int(i) for i in args.show.split(",") if i}
    if args.pictures:
        args.pictures.mkdir(parents=True, exist_ok=True)
    truths = [val[i] for i in range(n)]
    prior = metrics.ab_prior([ab.permute(1, 2, 0).numpy() for _, ab in truths])
    rows = {v: [] for v in ["gray", *variants]}
    truth_rows, seconds = [], {v: 0.0 for v in variants}
    for i, (L, ab) in enumerate(truths):
        Lb = L[None]
        with torch.inference_mode():
            probs = model.probabilities(Lb)
            preds = {}
            for v, spec in variants.items():
                t0 = time.perf_counter()
                p = agree_distributions(probs, Lb, spec["agree_radius"], spec.get("agree_eps", 0.01),
                                        spec.get("agree_log", True))
                a = annealed_mean(p, model.ab_bins, T)
                a = F.interpolate(a, size=Lb.shape[-2:], mode="bilinear", align_corners=False)
                seconds[v] += time.perf_counter() - t0
                preds[v] = gain * a[0].permute(1, 2, 0).numpy()
        Ln = L[0].numpy()[..., None]
        t = ab.permute(1, 2, 0).numpy()
        truth_rgb = lab2rgb_u8(np.concatenate([Ln, t], 2))
        photo_c = metrics.colourfulness(truth_rgb)
        truth_rows.append([photo_c, metrics.blotchiness(Ln, t)])
        for v, a in [("gray", np.zeros_like(t)), *preds.items()]:
            lab = np.concatenate([Ln, a], 2)
            rgb = lab2rgb_u8(lab)
            rows[v].append([metrics.auc(a, t), metrics.auc(a, t, prior), metrics.psnr(rgb, truth_rgb),
                            metrics.ciede2000(lab, np.concatenate([Ln, t], 2)), metrics.colourfulness(rgb),
                            metrics.blotchiness(Ln, a)])
        if args.pictures and i in show:
            import cv2

            grey = np.repeat(lab2rgb_u8(np.concatenate([Ln, 0 * t], 2)), 1, 0)
            shown = [grey, *(lab2rgb_u8(np.concatenate([Ln, a], 2)) for a in list(preds.values())[:2]),
                     truth_rgb]
            cv2.imwrite(str(args.pictures / f"val{i:03d}.png"), np.concatenate(shown, 1)[..., ::-1])
        if (i + 1) % 32 == 0:
            print(f"{i + 1}/{n} photos", flush=True)
    photos_c = float(np.mean([r[0] for r in truth_rows]))
    photos_b = float(np.nanmean([r[1] for r in truth_rows]))
    names = ["auc", "auc_rebalanced", "psnr", "ciede2000", "colourfulness", "blotchiness"]
    summary = {}
    for v, r in rows.items():
        m = np.nanmean(np.array(r, np.float64), 0)
        summary[v] = dict(zip(names, map(float, m), strict=True))
        summary[v]["colourfulness_ratio"] = summary[v]["colourfulness"] / photos_c
        if v in seconds:
            summary[v]["ms_per_photo_filter_and_decode"] = 1000 * seconds[v] / n
    print(f"zhang on {n} validation photos at {args.size}, gain {gain:.3f}, T {T}; photos' "
          f"colourfulness {photos_c:.2f}, photos' blotchiness {photos_b:.2f}")
    print(f"{'variant':16s}   AuC  AuC-reb   PSNR  CIEDE  colour/photos  blotch  ms")
    for v, s in summary.items():
        ms = s.get("ms_per_photo_filter_and_decode", 0.0)
        print(f"{v:16s} {s['auc']:6.2f}  {s['auc_rebalanced']:6.2f}  {s['psnr']:6.2f}  "
              f"{s['ciede2000']:5.2f}  {s['colourfulness_ratio']:6.3f}        "
              f"{s['blotchiness']:6.2f}  {ms:5.1f}")
    if args.out:
        args.out.write_text(json.dumps({"data": args.data, "weights": args.weights, "size": args.size,
                                        "photos": n, "gain": gain, "temperature": T,
                                        "photos_colourfulness": photos_c, "photos_blotchiness": photos_b,
                                        "variants": summary}, indent=2))
    return 0


def timing(args) -> int:
    """Median seconds of ``predict_ab`` on one validation photo per variant, as ratios to the first."""
    import torch

    from colorizer.data import LabDataset
    from colorizer.registry import get_colorizer

    torch.set_num_threads(1)
    model = get_colorizer("zhang", weights=args.weights, device="cpu").eval()
    L = LabDataset([Path(d) for d in args.data], "val", args.size)[0][0][None]
    variants = args.variants.split(",")
    times = {v: [] for v in variants}
    with torch.inference_mode():
        for _ in range(args.time):
            for v in variants:
                for key, value in parse_variant(v).items():
                    setattr(model.config, key, value)
                t0 = time.perf_counter()
                model.predict_ab(L)
                times[v].append(time.perf_counter() - t0)
    base = float(np.median(times[variants[0]]))
    for v in variants:
        med = float(np.median(times[v]))
        print(f"{v:16s} {1000 * med:7.1f} ms  x{med / base:.2f}")
    return 0


def side_by_sides(args) -> int:
    """grey | each variant | photo, for each of ``args.images``, as users get them."""
    import cv2
    import torch

    from colorizer.api import predict_working_ab, upsample_ab
    from colorizer.color import lab2rgb_u8, rgb2lab
    from colorizer.io import read_image
    from colorizer.registry import get_colorizer

    torch.set_num_threads(1)
    model = get_colorizer("zhang", weights=args.weights, device="cpu").eval()
    args.pictures.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        rgb = read_image(path).to_array(np.uint8)[..., :3]
        h, w = rgb.shape[:2]
        k = args.size / max(h, w)
        rgb = cv2.resize(rgb, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
        lab = rgb2lab(rgb)
        L = torch.from_numpy(lab[..., 0].astype(np.float32))[None, None]
        tiles = [lab2rgb_u8(np.concatenate([lab[..., :1], 0 * lab[..., 1:]], 2))]
        for v in args.variants.split(","):
            for key, value in parse_variant(v).items():
                setattr(model.config, key, value)
            ab = upsample_ab(predict_working_ab(L, model, size=args.size), *L.shape[-2:])
            tiles.append(lab2rgb_u8(np.concatenate([lab[..., :1], ab], 2)))
        tiles.append(rgb)
        out = args.pictures / f"{path.stem}_zhang.png"
        cv2.imwrite(str(out), np.concatenate(tiles, 1)[..., ::-1])
        print(f"wrote {out} (grey | {' | '.join(args.variants.split(','))} | photo)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
