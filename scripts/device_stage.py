"""One training run of the default colorizer on a borrowed GPU machine, continuing the shipped weights.

A GPU machine lent for a few minutes sees a copy of this repository and little else: not
``../shared``, not the prepared datasets (far over what can travel). So the run is in two halves:

1. here, ``pack`` writes a compact set of training photos into a folder of the repository that git
   ignores (``stage/`` by default: JPEGs at short side 176, a seeded random draw that fits
   ``--mib``), with ``stage/pack.json`` saying where they came from;
2. there, ``run`` prepares them and trains the gan from ``src/colorizer/assets/gan.safetensors``
   for ``--minutes``, and copies the new weights, the training card and the log to ``--out``.

Back here, validate as for any run (``scripts/colour_tradeoff.py --weights RUN/gan.safetensors``)
and ship only if it is better on the validation split (``scripts/ship_model.py --continues``).

    python scripts/device_stage.py pack --photos ~/photos-full --seed 3
    # on the GPU machine, with stage/ carried along:
    python3 scripts/device_stage.py run --minutes 8 --out "$OUT"

Pack from photos that are not in ../shared/data/photos/train (``scripts/build_training_set.py``
leaves those out), so the validation splits prepared from that folder stay unseen.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

import cv2
from build_training_set import reduce  # this folder is first on the module path

ROOT = Path(__file__).resolve().parents[1]
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
SHIPPED = ROOT / "src" / "colorizer" / "assets" / "gan.safetensors"
#: What comes back from the machine (its $OUT takes a few files, each under 16 MiB).
BRING_BACK = ("gan.safetensors", "gan.json", "log.csv", "config.json")


def pack(photos: list[Path], out: Path, mib: float, seed: int, short_side: int = 176,
         quality: int = 88) -> dict:
    """Re-encode a seeded random draw of ``photos`` (folders) into ``out/photos`` until ``mib``."""
    files = sorted(f for folder in photos for f in folder.rglob("*") if f.suffix.lower() in PHOTO_SUFFIXES)
    if not files:
        raise SystemExit(f"error: no photos under {', '.join(map(str, photos))}")
    if (out / "photos").exists():
        raise SystemExit(f"error: {out / 'photos'} exists; remove it or pack into another --out")
    random.Random(seed).shuffle(files)
    budget, used, kept = mib * 2**20, 0, []
    (out / "photos").mkdir(parents=True)
    for f in files:
        image = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if image is None:
            print(f"error: {f}: unreadable; left out", file=sys.stderr)
            continue
        image = reduce(image, short_side)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            continue
        if used + len(data) > budget:
            break
        dst = out / "photos" / f"{len(kept):06d}_{f.stem[:40]}.jpg"
        dst.write_bytes(data.tobytes())
        used += len(data)
        kept.append(str(f))
    info = {"photos": len(kept), "of": len(files), "mib": round(used / 2**20, 1), "seed": seed,
            "short_side": short_side, "from": [str(p) for p in photos], "files": kept}
    (out / "pack.json").write_text(json.dumps(info, indent=1))
    print(f"packed {len(kept)} of {len(files)} photos, {info['mib']} MiB, into {out / 'photos'}")
    return info


def run(stage: Path, out: Path, minutes: float, epochs: int, batch_size: int, size: int, lr: float,
        device: str, init: Path, work: Path, extra: list[str]) -> Path:
    """Train the gan on ``stage/photos`` from ``init`` and copy what matters to ``out``."""
    sys.path.insert(0, str(ROOT / "src"))
    from colorizer.train.__main__ import main as train_main

    run_dir = work / "run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    started = time.time()
    args = ["--model", "gan", "--data", str(stage / "photos"), "--init", str(init), "--out", str(run_dir),
            "--size", str(size), "--batch-size", str(batch_size), "--lr", str(lr), "--lr-schedule", "cosine",
            "--epochs", str(epochs), "--max-minutes", str(minutes), "--device", device,
            "--set", "encoder_lr_scale=0.2", "--set", "freeze_encoder_steps=0",
            "--set", "warmup_steps=1000000", *extra]
    try:
        train_main(args)
    except SystemExit as exc:  # click's standalone mode ends with SystemExit(0) on success
        if exc.code not in (0, None):
            raise
    out.mkdir(parents=True, exist_ok=True)
    for name in BRING_BACK:
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, out / name)
    pack_info = stage / "pack.json"
    if pack_info.exists():
        info = json.loads(pack_info.read_text())
        info.pop("files", None)
        (out / "pack.json").write_text(json.dumps(info, indent=1))
    print(f"trained for {(time.time() - started) / 60:.1f} min; weights in {out / 'gan.safetensors'}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="here: write a compact set of training photos into --out")
    p.add_argument("--photos", type=Path, action="append", required=True, help="photo folder (repeatable)")
    p.add_argument("--out", type=Path, default=ROOT / "stage")
    p.add_argument("--mib", type=float, default=56.0, help="size budget (what travels is at most 64 MiB)")
    p.add_argument("--seed", type=int, default=0, help="which random draw of the photos")
    r = sub.add_parser("run", help="on the GPU machine: prepare, train from the shipped weights, copy back")
    r.add_argument("--stage", type=Path, default=ROOT / "stage")
    r.add_argument("--out", type=Path, required=True, help="where the weights, card and log go")
    r.add_argument("--minutes", type=float, default=8.0, help="training time (the machine is lent briefly)")
    r.add_argument("--epochs", type=int, default=20, help="the cosine schedule ends after these")
    r.add_argument("--batch-size", type=int, default=32)
    r.add_argument("--size", type=int, default=176)
    r.add_argument("--lr", type=float, default=2e-4)
    r.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    r.add_argument("--init", type=Path, default=SHIPPED, help="weights to continue from")
    r.add_argument("--work", type=Path, default=Path("/tmp/colorizer-stage"), help="scratch folder")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model config override")
    args = ap.parse_args(argv)
    if args.command == "pack":
        pack(args.photos, args.out, args.mib, args.seed)
    else:
        extra = [x for kv in args.set for x in ("--set", kv)]
        run(args.stage, args.out, args.minutes, args.epochs, args.batch_size, args.size, args.lr, args.device,
            args.init, args.work, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
