"""Do the VAE's samples differ, and are they still good colorizations?

    python benchmarks/bench_vae_diversity.py --images ../shared/data/photos/eval --samples 4
    python benchmarks/bench_vae_diversity.py --data DS_MAIN --data DS_PEOPLE --photos 64 \
        --settings random:1,directions:5.5 --code      # choose on validation photos

Photos are resized to long side ``--size`` (default 256; ``--data``: the validation split at
that size). For each of ``--settings`` (``directions:SPREAD``: the VAE's default sampling, each
sample SPREAD Lab units from the most likely colours, ``directions:SPREAD:MAX`` with codes no
longer than MAX; ``random:SCALE``: codes drawn from
N(0, SCALE^2 I), the sampling before; default: the card's) the VAE gives ``--samples``
colorizations per photo, exactly as ``colorize image --model vae --samples K`` makes them
(working size ``--size``, the card's chroma gain). Printed:

* diversity: for each pair of samples, the mean over pixels of their Euclidean ab distance (Lab
  units), averaged over the pairs and the photos;
* each sample's AuC (mean over photos) beside the default model's and the VAE's own most likely
  colorization's; the aim is every sample within 1.5 AuC of the default's.

``--code`` also diagnoses the code: the KL divergence of q(z | L, ab) from N(0, I) per dimension
(mean over the photos; near 0 = a dimension that carries nothing: posterior collapse), the spread
of its means across photos, and how far the decoder's ab moves (Lab units, mean over pixels) when
one code dimension is set to +-2 with the rest at 0.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np


def load_photos(args) -> list[tuple[str, np.ndarray]]:
    """(name, Lab float64 (h, w, 3)) at long side ``args.size``."""
    import cv2

    from colorizer.color import rgb2lab

    photos = []
    if args.data:
        from colorizer.data import LabDataset

        val = LabDataset([Path(d) for d in args.data], "val", args.size)
        for i in range(min(args.photos, len(val))):
            L, ab = val[i]
            photos.append((f"val{i}", np.concatenate([L.permute(1, 2, 0).numpy(),
                                                      ab.permute(1, 2, 0).numpy()], 2).astype(np.float64)))
        return photos
    from colorizer.batch import find_images
    from colorizer.data import greyscale_chroma
    from colorizer.io import read_image

    files = []
    for src in args.images:
        p = Path(src)
        files += find_images(p) if p.is_dir() else [p]
    for f in sorted(files)[:args.photos]:
        rgb = read_image(f).to_array(np.uint8)[..., :3]
        if greyscale_chroma(rgb) < 3.0:  # a greyscale photo has no colours to compare
            continue
        h, w = rgb.shape[:2]
        k = args.size / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
        photos.append((f.name, rgb2lab(rgb).astype(np.float64)))
    return photos


def colorization(model, L, size, sample=None) -> np.ndarray:
    """ab (h, w, 2) as the CLI makes it at working size ``size``."""
    from colorizer.api import predict_working_ab, upsample_ab

    ab = predict_working_ab(L, model, size=size, sample=sample)
    return upsample_ab(ab, *L.shape[-2:])


def samples(vae, L, size, count) -> list[np.ndarray]:
    """The first ``count`` samples (h, w, 2), as ``--samples`` makes them (one ordering)."""
    import torch

    from colorizer.api import upsample_ab, working_l

    with torch.inference_mode():
        abs_ = vae.samples_ab(working_l(L, vae, size), count)
    return [upsample_ab(a.float() * vae.chroma_gain, *L.shape[-2:]) for a in abs_]


def code_report(vae, photos) -> dict:
    import torch

    from colorizer.color import normalize_ab, normalize_l

    mus, logvars, moves = [], [], []
    with torch.inference_mode():
        for _, lab in photos:
            t = torch.from_numpy(lab.astype(np.float32)).permute(2, 0, 1)[None]
            mu, logvar = vae.encoder(normalize_l(t[:, :1]), normalize_ab(t[:, 1:]))
            mus.append(mu[0].numpy())
            logvars.append(logvar[0].numpy())
            if len(moves) < 8:  # decoder sensitivity on the first photos, at 128
                L = torch.nn.functional.interpolate(t[:, :1], scale_factor=0.5, mode="area")
                z = torch.zeros(2 * vae.config.latent + 1, vae.config.latent)
                for d in range(vae.config.latent):
                    z[1 + 2 * d, d], z[2 + 2 * d, d] = 2.0, -2.0
                ab = vae.decode(L.expand(len(z), -1, -1, -1), z)
                moves.append((ab[1:] - ab[:1]).norm(dim=1).mean((1, 2)).reshape(-1, 2).mean(1).numpy())
    mu, logvar = np.array(mus), np.array(logvars)
    kl = -0.5 * (1 + logvar - mu ** 2 - np.exp(logvar))
    return {"kl_per_dim": kl.mean(0).tolist(), "kl_total": float(kl.sum(1).mean()),
            "mu_std_across_photos": mu.std(0).tolist(), "sigma_mean": np.exp(0.5 * logvar).mean(0).tolist(),
            "ab_move_at_z_pm2": np.mean(moves, 0).tolist()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", action="append", help="photo folder or file (repeatable)")
    src.add_argument("--data", action="append", help="prepared dataset: its validation photos (repeatable)")
    ap.add_argument("--photos", type=int, default=10_000, help="at most this many photos")
    ap.add_argument("--size", type=int, default=256, help="long side (default 256)")
    ap.add_argument("--samples", type=int, default=4, help="samples per photo (default 4)")
    ap.add_argument("--settings", default="", help="comma-separated directions:SPREAD or random:SCALE "
                    "(default: the card's)")
    ap.add_argument("--weights", help="VAE weights instead of the shipped ones")
    ap.add_argument("--default", default="default", help="model the samples are compared with")
    ap.add_argument("--code", action="store_true", help="also diagnose the code (see above)")
    ap.add_argument("--pictures", type=Path,
                    help="save grey | samples | photo strips of the first photos here")
    ap.add_argument("--out", type=Path, help="JSON written here")
    args = ap.parse_args(argv)
    import torch

    from colorizer import metrics
    from colorizer.registry import get_colorizer

    torch.set_num_threads(1)
    photos = load_photos(args)
    vae = get_colorizer("vae", weights=args.weights, device="cpu").eval()
    default = get_colorizer(args.default, device="cpu").eval()
    cfg = vae.config
    cfg_max_code = cfg.max_code
    card = (f"directions:{cfg.sample_spread:g}" if cfg.sampling == "directions"
            else f"random:{cfg.sample_scale:g}")
    scales = [s for s in args.settings.split(",") if s] or [card]
    result = {"photos": len(photos), "size": args.size, "samples": args.samples,
              "weights": args.weights, "default_model": args.default, "settings": {}}
    if args.code:
        result["code"] = code_report(vae, photos)
        c = result["code"]
        print(f"KL of the code: {c['kl_total']:.2f} nats in all; per dimension "
              + " ".join(f"{v:.2f}" for v in c["kl_per_dim"]))
        print("ab move at z_d = +-2 (Lab units): " + " ".join(f"{v:.2f}" for v in c["ab_move_at_z_pm2"]))
        print("spread of the code means across photos: "
              + " ".join(f"{v:.2f}" for v in c["mu_std_across_photos"]))
        print("posterior sigma (mean): " + " ".join(f"{v:.2f}" for v in c["sigma_mean"]), flush=True)
    base_auc, vae0_auc = [], []
    per_scale = {s: {"dist": [], "auc": []} for s in scales}
    strips = []
    for i, (_name, lab) in enumerate(photos):
        L = torch.from_numpy(lab[..., 0].astype(np.float32))[None, None]
        truth = lab[..., 1:]
        base_auc.append(metrics.auc(colorization(default, L, args.size), truth))
        vae0_auc.append(metrics.auc(colorization(vae, L, args.size), truth))
        for s in scales:
            kind, value, *cap = s.split(":")
            vae.config.sampling = kind
            if kind == "random":
                vae.config.sample_scale = float(value)
            else:
                vae.config.sample_spread = float(value)
                vae.config.max_code = float(cap[0]) if cap else cfg_max_code
            abs_ = samples(vae, L, args.size, args.samples)
            pairs = [float(np.linalg.norm(a - b, axis=2).mean()) for a, b in itertools.combinations(abs_, 2)]
            per_scale[s]["dist"].append(float(np.mean(pairs)))
            per_scale[s]["auc"].append([metrics.auc(a, truth) for a in abs_])
            if args.pictures and i < 8 and s == scales[-1]:
                strips.append((lab, abs_))
    print(f"{len(photos)} photos at long side {args.size}; {args.default} AuC {np.mean(base_auc):.2f}, "
          f"VAE most likely AuC {np.mean(vae0_auc):.2f}")
    print("setting          pairwise ab distance  AuC of each sample            worst - default")
    for s in scales:
        dist = float(np.mean(per_scale[s]["dist"]))
        aucs = np.mean(per_scale[s]["auc"], 0)
        gap = float(aucs.min() - np.mean(base_auc))
        print(f"{s:15s}  {dist:20.2f}  " + " ".join(f"{a:6.2f}" for a in aucs) + f"   {gap:+.2f}")
        result["settings"][s] = {"pairwise_ab_distance": dist, "sample_auc": aucs.tolist(),
                                    "worst_minus_default": gap}
    result["default_auc"] = float(np.mean(base_auc))
    result["vae_most_likely_auc"] = float(np.mean(vae0_auc))
    if args.pictures:
        save_strips(args.pictures, strips, scales[-1])
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


def save_strips(folder: Path, strips, scale: str) -> None:
    import cv2

    from colorizer.color import lab2rgb_u8

    folder.mkdir(parents=True, exist_ok=True)
    for i, (lab, abs_) in enumerate(strips):
        L = lab[..., :1]
        tiles = [lab2rgb_u8(np.concatenate([L, 0 * lab[..., 1:]], 2))]
        tiles += [lab2rgb_u8(np.concatenate([L, a], 2)) for a in abs_] + [lab2rgb_u8(lab)]
        out = folder / f"samples_{scale.replace(':', '')}_{i}.png"
        cv2.imwrite(str(out), np.concatenate(tiles, 1)[..., ::-1])


if __name__ == "__main__":
    raise SystemExit(main())
