"""Train the damage detector of ``colorize restore`` (:class:`colorizer.models.damage_net.DamageNet`)
and choose its decision thresholds on validation photos.

Clean training photos get scratches, cracks, hairs, dust, blotches and tears drawn on them
(:func:`colorizer.damage.draw_defects`), some after a random enlargement (scans are sharper
than the small training photos), light noise (grain is not damage) or printed words (text is
not damage either). Photos are split by a
seeded shuffle: the validation photos are never trained on, and the thresholds are chosen on
them (the largest median PSNR gain of the whole detect-and-fill path on damaged photos, among
the settings that leave undamaged photos at 40 dB or more on average), never on
``../shared/data/photos/eval``.

    python scripts/train_restore.py --photos ../shared/data/photos/train --minutes 20 \\
        --out src/colorizer/assets/restore.safetensors

The card beside the weights records data, steps, time, hardware and the validation figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from colorizer.damage import DefectConfig, add_gaussian_noise, draw_defects


def list_photos(roots) -> list[Path]:
    """The image files under each folder, in the order :func:`colorizer.batch.find_images` gives
    (sorted), so that the seeded split is the same on every machine."""
    from colorizer.batch import find_images

    return [p for root in roots for p in find_images(Path(root))]


def read_grey(path: Path) -> np.ndarray | None:
    import cv2

    g = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return g if g is not None and min(g.shape) >= 64 else None


def split(files: list[Path], n_val: int, seed: int) -> tuple[list[Path], list[Path]]:
    order = np.random.default_rng(seed).permutation(len(files))
    return [files[i] for i in order[n_val:]], [files[i] for i in order[:n_val]]


def with_text(grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy with a few words printed on it (OpenCV's Hershey fonts, light or dark, 1-4 px
    strokes): thin, high-contrast and not damage, like the text of signs, captions and covers."""
    import cv2

    out = grey.copy()
    h, w = out.shape
    fonts = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
             cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_ITALIC | cv2.FONT_HERSHEY_SIMPLEX)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,-"
    for _ in range(int(rng.integers(1, 4))):
        text = "".join(rng.choice(list(letters), int(rng.integers(3, 14))))
        scale = rng.uniform(0.3, 2.0)
        tone = int(rng.uniform(200, 255) if rng.random() < 0.5 else rng.uniform(0, 60))
        org = (int(rng.integers(-w // 4, w)), int(rng.integers(10, h + 10)))
        cv2.putText(out, text, org, fonts[rng.integers(len(fonts))], scale, tone,
                    int(rng.integers(1, 5)), cv2.LINE_AA)
    return out


def example(grey: np.ndarray, rng: np.random.Generator, crop: int, cfg: DefectConfig):
    """One training example: network input (3, crop, crop), target and weight (1, crop, crop)."""
    import cv2

    from colorizer.repair import network_input

    if rng.random() < 0.5:
        scale = rng.uniform(1.0, 2.0)
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    h, w = grey.shape
    if min(h, w) < crop:
        grey = cv2.resize(grey, None, fx=crop / min(h, w) + 1e-3, fy=crop / min(h, w) + 1e-3,
                          interpolation=cv2.INTER_CUBIC)
        h, w = grey.shape
    y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
    clean = grey[y:y + crop, x:x + crop]
    if rng.random() < 0.3:
        clean = with_text(clean, rng)
    if rng.random() < 0.3:
        clean = add_gaussian_noise(clean, rng.uniform(0, 8), rng)
    if rng.random() < 0.85:
        damaged, mask = draw_defects(clean, rng, cfg)
    else:
        damaged, mask = clean, np.zeros(clean.shape, bool)
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    weight = np.where(mask, 3.0, np.where(ring, 0.0, 1.0)).astype(np.float32)
    return network_input(damaged), mask[None].astype(np.float32), weight[None]


def train(files, out: Path, minutes: float, crop: int, batch: int, seed: int, threads: int,
          init: str | None):
    import torch

    from colorizer.models.damage_net import DamageNet

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed + 1)
    cfg = DefectConfig()
    net = DamageNet()
    if init:
        from safetensors.torch import load_file

        net.load_state_dict(load_file(init))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    greys = [g for g in (read_grey(p) for p in files) if g is not None]
    start, step, losses = time.time(), 0, []
    while time.time() - start < minutes * 60:
        items = [example(greys[rng.integers(len(greys))], rng, crop, cfg) for _ in range(batch)]
        x, t, w = (torch.from_numpy(np.stack(a)) for a in zip(*items, strict=True))
        frac = min((time.time() - start) / (minutes * 60), 1.0)
        for group in opt.param_groups:
            group["lr"] = 2e-3 * 0.5 * (1 + np.cos(np.pi * frac))
        loss = net.training_step((x, t, w))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % 100 == 0:
            print(f"step {step} ({(time.time() - start) / 60:.1f} min): loss {np.mean(losses[-100:]):.4f}",
                  flush=True)
    from safetensors.torch import save_file

    save_file(net.state_dict(), str(out))
    return step, (time.time() - start) / 60, float(np.mean(losses[-200:]))


def validate(files, weights: str, thresholds, seed: int, cfg: DefectConfig):
    """Detect-and-fill figures on damaged copies of ``files`` for each (threshold, grow, widen)."""
    from colorizer.metrics import mask_precision_recall, psnr_where
    from colorizer.repair import RestoreConfig, Restorer, fill

    rng = np.random.default_rng(seed)
    restorer = Restorer(weights)
    cases = []
    for path in files:
        g = read_grey(path)
        if g is not None:
            damaged, mask = draw_defects(g, rng, cfg)
            cases.append((g, damaged, mask, restorer.probability(damaged), restorer.probability(g)))
    rows = []
    for threshold, grow, widen in thresholds:
        config = RestoreConfig(threshold=threshold, grow=grow, widen=widen)
        p, r, gain, clean = [], [], [], []
        for g, damaged, mask, prob, prob_clean in cases:
            found = restorer.decide(prob, config)
            prec, rec = mask_precision_recall(found, mask)
            every = np.ones(g.shape, bool)
            p.append(prec)
            r.append(rec)
            gain.append(min(psnr_where(fill(damaged, found), g, every), 99.0)
                        - min(psnr_where(damaged, g, every), 99.0))
            # a photo left exactly as it was counts as 60 dB, so that a few untouched photos
            # cannot hide others that were harmed
            clean.append(min(psnr_where(fill(g, restorer.decide(prob_clean, config)), g, every), 60.0))
        rows.append({"threshold": threshold, "grow": grow, "widen": widen,
                     "precision": round(float(np.mean(p)), 4), "recall": round(float(np.mean(r)), 4),
                     "psnr_gain_median": round(float(np.median(gain)), 2),
                     "clean_psnr_mean": round(float(np.mean(clean)), 2),
                     "clean_psnr_worst": round(float(np.min(clean)), 2)})
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", nargs="+", required=True, help="Folders of clean colour or grey photos.")
    parser.add_argument("--out", required=True,
                        help="Where to write the detector (.safetensors; card beside it).")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--val-photos", type=int, default=200)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", help="Continue from these weights.")
    parser.add_argument("--validate-only", action="store_true", help="Only choose thresholds for --out.")
    args = parser.parse_args(argv)

    files = list_photos(args.photos)
    train_files, val_files = split(files, args.val_photos, args.seed)
    out = Path(args.out)
    card_file = out.with_suffix(".json")
    card = json.loads(card_file.read_text()) if args.validate_only and card_file.exists() else {}
    if not args.validate_only:
        steps, minutes, loss = train(train_files, out, args.minutes, args.crop, args.batch, args.seed,
                                     args.threads, args.init)
        card = {"model": "restore", "what": "damage detector (DamageNet) for colorize restore",
                "data": {"photos": [str(p) for p in args.photos], "train_photos": len(train_files),
                         "val_photos": len(val_files), "split_seed": args.seed},
                "steps": steps, "batch": args.batch, "crop": args.crop, "minutes": round(minutes, 1),
                "final_loss": round(loss, 4), "init": args.init,
                "hardware": f"{platform.machine()} CPU, {args.threads} threads",
                "defects": DefectConfig().__dict__}
    grid = [(t, g, w) for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9) for g in (0.1, 0.2, 0.3) for w in (0, 1)
            if g < t]
    rows = validate(val_files, str(out), grid, args.seed + 2, DefectConfig())
    # what a user sees: the largest typical PSNR gain on damaged photos, among the settings that
    # leave undamaged photos at 40 dB or more on average
    ok = [r for r in rows if r["clean_psnr_mean"] >= 40] or rows
    best = max(ok, key=lambda r: (r["psnr_gain_median"],
                                  2 * r["precision"] * r["recall"] / max(r["precision"] + r["recall"], 1e-9)))
    card.update({"validation": rows, "chosen": best})
    card_file.write_text(json.dumps(card, indent=2) + "\n")
    print("chosen", best)


if __name__ == "__main__":
    main()
