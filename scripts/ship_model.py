"""Ship a trained model inside the package, with its model card built from recorded facts.

    python scripts/ship_model.py --run runs/gan --name gan --report REPORT_DIR

Copies RUN/NAME.safetensors to src/colorizer/assets/, and writes the card
(src/colorizer/assets/NAME.json, and docs/models/NAME.md) from: the training card that
`colorize train` wrote, the prepared dataset's dataset.json, and the summary.json of
`colorize evaluate` (REPORT_DIR), whose command line is recorded so that anyone can rerun it.
A model that ships an ONNX export (assets/NAME.onnx, the default one) is exported again.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOW = ["max_channel", "grey_acc_mean", "grey_acc_seed", "psnr", "ssim", "ciede2000", "auc",
        "auc_rebalanced", "colourfulness", "delta_colourfulness"]


ENCODER_NOTICE = (
    "The encoder started from the ImageNet MobileNetV2 1.0 weights of TensorFlow/Keras "
    "(Copyright Google; Apache License 2.0, text in the package as assets/LICENSE-mobilenet_v2.txt), "
    "taken from ../shared/weights/mobilenet_v2_1.0_224_ptq.tflite. Changed here: dequantised from "
    "int8 to float32 by scripts/convert_mobilenet_v2.py and fine-tuned for colorization.")

SOURCES = {
    "people": "../shared/data/photos/train/people: LFW faces and UTKFace crops (research use; UTKFace "
              "non-commercial)",
    "main": "../shared/data/photos/train/{imagenet,bsds500,sun80,animals,clothing}: ImageNet samples, "
            "BSDS500, Sun-Hays 80, cats/dogs/pandas (research-use licences), clothing (CC0)",
    "wide": "../shared/data/photos/train/{scenes,flowers102,caltech101,people/street,interiors,insects,"
            "objects}: Intel and SUN scenes, Oxford 102 Flowers, Caltech-101 (CC BY 4.0), Clothing "
            "Co-Parsing street photos, Houses dataset, hymenoptera sample, DreamBooth objects (CC BY 4.0) "
            "(research use; see ../shared/data/README.md)",
}
WIDE = {"scenes", "flowers102", "caltech101", "street", "interiors", "insects", "objects"}


def stored_size(info: dict) -> int:
    """The square size a prepared dataset was stored at (`colorize prepare --size`), from its
    dataset.json (224, the default, where it says nothing)."""
    return info.get("config", {}).get("size", 224)


def _train_folder(source: str) -> str:
    """A prepared source folder as a path under ../shared/data/photos/train (people/lfw stays
    people/lfw)."""
    parts = Path(source).parts
    return "/".join(parts[parts.index("train") + 1:]) if "train" in parts else Path(source).name


def data_section(datasets: list[str], weights: list[float]) -> dict:
    """What the model was trained on, from each prepared dataset's dataset.json."""
    prepared, sources, totals = [], [], {"kept": 0, "train": 0, "val": 0, "skipped": 0}
    for i, d in enumerate(datasets):
        info_file = Path(d) / "dataset.json"
        info = json.loads(info_file.read_text()) if info_file.exists() else {}
        for k in totals:
            totals[k] += info.get(k) or 0
        size = stored_size(info)
        built = [Path(s) for s in info.get("config", {}).get("sources", [])
                 if (Path(s) / "sources.json").exists()]
        if built:  # a set built from public snapshots by scripts/build_training_set.py
            table = json.loads((built[0] / "sources.json").read_text())
            prepared.append(f"python scripts/build_training_set.py --snapshots SNAPSHOTS --out PHOTOS "
                            f"--short-side {table['short_side']} && colorize prepare PHOTOS"
                            + (f" --size {size}" if size != 224 else "") + f" --out DATASET{i + 1}")
            sets = ", ".join(f"{t['name']} ({t['kept']}; {t['repo']} at {t['commit'][:7]}; {t['licence']})"
                             for t in table["sets"] if t.get("kept"))
            sources.append(f"photos from public repository snapshots (../shared/data/SOURCES.md): {sets}")
            continue
        folders = [f"../shared/data/photos/train/{_train_folder(s)}"
                   for s in info.get("config", {}).get("sources", [])] or [d]
        prepared.append(f"colorize prepare {' '.join(folders)}"
                        + (f" --size {size}" if size != 224 else "") + f" --out DATASET{i + 1}")
        names = {Path(f).name for f in folders}
        sources.append(SOURCES["wide" if names & WIDE else "people" if any("people" in f for f in folders)
                               else "main"])
    return {
        "prepared_with": "; ".join(prepared), "sources": "; ".join(sources),
        "weights_per_epoch": weights or [1] * len(datasets),
        "kept": totals["kept"], "train": totals["train"], "val": totals["val"],
        "skipped_greyscale_or_unreadable": totals["skipped"],
        "note": "Research artefact: trained on research-licensed photos; not for commercial use.",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--report", type=Path, required=True)
    ap.add_argument("--notes", default="", help="Markdown: where the model is weak, observed by eye, in "
                    "plain words (`colorize models NAME` and the web page show it).")
    ap.add_argument("--history", default="",
                    help="Markdown, plain words: how this model came about (docs/models/NAME.md only).")
    ap.add_argument("--comparison", type=Path,
                    help="JSON from scripts/compare_encoders.py: pretrained vs from-scratch on the "
                         "validation split at equal colourfulness.")
    ap.add_argument("--comparison-note", default="", help="How the compared runs were made (Markdown).")
    ap.add_argument("--continues", type=Path,
                    help="The card of the model this run started from (--init): its training runs are "
                         "kept in the new card's list of training runs.")
    ap.add_argument("--validation", type=Path, nargs=2, action="append", metavar=("BEFORE", "AFTER"),
                    help="JSON of scripts/colour_tradeoff.py for the starting and the new weights on one "
                         "validation set (repeatable): the figures that decided to keep this run.")
    ap.add_argument("--training-minutes", type=float,
                    help="Total training time when the run's card lacks it (older checkpoints); "
                         "take it from the run's progress log.")
    args = ap.parse_args()
    card = json.loads((args.run / f"{args.name}.json").read_text())
    card["data"] = data_section(card["training"]["data"], card["training"].get("data_weights") or [])
    summary = json.loads((args.report / "summary.json").read_text())
    eval_cfg = summary["config"]
    command = (f"colorize evaluate --models {','.join(m for m in eval_cfg['models'] if m != 'gray')} "
               f"--images {' '.join('../shared/data/photos/eval' for _ in eval_cfg['images'][:1])} "
               f"--size {eval_cfg['size']} --seed {eval_cfg['seed']} --out REPORT")
    if card["config"].get("encoder", "none") != "none":
        card["licence_notice"] = ENCODER_NOTICE
    if args.comparison:
        card["comparison"] = {**json.loads(args.comparison.read_text()), "note": args.comparison_note}
    card["evaluation"] = {
        "command": command, "images": "../shared/data/photos/eval (Set14 + Val20; greyscale ones "
        "reported, not scored)", "images_scored": summary["images_scored"],
        "scores": summary["models"][args.name], "gray_baseline": summary["models"]["gray"],
    }
    run_cfg = args.run / "config.json"
    if run_cfg.exists():  # the --set overrides and --init of the run, for the card's command line
        run_cfg = json.loads(run_cfg.read_text())
        card["training"]["overrides"] = run_cfg.get("model_config", {})
    if args.training_minutes is not None:
        card["training_seconds"] = round(60 * args.training_minutes, 1)
    if args.continues:
        card["training_runs"] = training_runs(json.loads(args.continues.read_text()), card,
                                              args.validation or [])
    if args.notes:
        card["weaknesses"] = args.notes
    if args.history:
        card["history"] = args.history
    assets = ROOT / "src" / "colorizer" / "assets"
    keep_speed(card, assets / f"{args.name}.json")
    check_plain(card, markdown(args.name, card))
    shutil.copyfile(args.run / f"{args.name}.safetensors", assets / f"{args.name}.safetensors")
    (assets / f"{args.name}.json").write_text(json.dumps(card, indent=2, sort_keys=True))
    (ROOT / "docs" / "models" / f"{args.name}.md").write_text(markdown(args.name, card))
    print(f"shipped {args.name}: {assets / (args.name + '.safetensors')}")
    if (assets / f"{args.name}.onnx").exists():  # keep the shipped ONNX export in step with it
        from colorizer.export import export_packaged

        report = export_packaged(args.name)
        print(f"re-exported {report['out']} (largest |ab - torch| {report['max_abs_diff']:.1e})")
        if (assets / f"{args.name}.int8.onnx").exists():  # and its int8 twin, for the new weights
            from colorizer.quantize import QuantizeConfig, quantize_packaged

            train = ROOT.parent / "shared" / "data" / "photos" / "train"
            q = quantize_packaged(args.name, QuantizeConfig(sources=[str(train)]))
            print(f"re-quantized {q['out']} (mean |ab - float| {q['mean_abs_diff']:.2f} on "
                  f"{q['photos']} training photos; scripts/quantize_model.py)")


def _run_record(card: dict) -> dict:
    """One training run of a card: its command's settings, data, steps, time and hardware."""
    t = card["training"]
    return {"data": card["data"]["prepared_with"], "train_photos": card["data"]["train"],
            "weights_per_epoch": card["data"].get("weights_per_epoch"),
            "settings": {k: t.get(k) for k in ("size", "batch_size", "lr", "lr_schedule", "epochs",
                                                "threads")} | {"set": t.get("overrides", {})},
            "starts_from": "the shipped weights" if t.get("init") else "ImageNet encoder, new decoder",
            "steps": card["steps"], "minutes": round(card.get("training_seconds", 0) / 60, 1),
            "hardware": card["hardware"]}


def _val_row(path: Path, names: dict) -> dict:
    """The figures of one colour_tradeoff.py JSON at its first colourfulness ratio; its datasets
    named as in the card's training command (DATASET1, ...)."""
    r = json.loads(path.read_text())
    row = r["rows"][0]
    return {"data": [names.get(str(Path(d).resolve()), Path(d).name) for d in r["data"]],
            "photos": row["val_images"],
            "colourfulness_ratio": row["colourfulness_ratio"],
            **{k: round(row[k], 3) for k in ("auc", "psnr", "ciede2000", "max_channel")},
            "gray": {k: round(r["gray"][k], 3) for k in ("auc", "psnr", "ciede2000", "max_channel")}}


def training_runs(previous: dict, card: dict, validation: list) -> list[dict]:
    """The list of training runs behind the new card: those of the card it continues (or that card's
    own run), then this one, with the validation figures before and after it."""
    runs = previous.get("training_runs") or [_run_record(previous)]
    this = _run_record(card)
    names = {str(Path(d).resolve()): f"DATASET{i + 1}" for i, d in enumerate(card["training"]["data"])}
    this["validation"] = [{"before": _val_row(b, names), "after": _val_row(a, names)} for b, a in validation]
    return [*runs, this]


def _training_runs(card: dict) -> list[str]:
    runs = card.get("training_runs")
    if not runs:
        return []
    lines = ["", "## Training runs", "",
             "Each run after the first starts from the weights of the one before (`--init`) and was kept "
             "because the validation photos scored better with it, each model's colours scaled to the "
             "same colourfulness (`python scripts/colour_tradeoff.py --data DATASET ... --weights W`).", "",
             "| run | starts from | data | steps | minutes | hardware |", "|---|---|---|---|---|---|"]
    for i, r in enumerate(runs, 1):
        lines.append(f"| {i} | {r['starts_from']} | {r['data']} ({r['train_photos']} training photos) | "
                     f"{r['steps']} | {r['minutes']:.0f} | {r['hardware']} |")
    for i, r in enumerate(runs, 1):
        for v in r.get("validation", []):
            b, a = v["before"], v["after"]
            if v is r["validation"][0]:  # one table per run that has validation figures
                lines += ["", f"Validation of run {i} ({b['colourfulness_ratio']:.2f} of the photos' "
                          "colourfulness):", "",
                          "| validation set | photos | | AuC | PSNR dB | CIEDE2000 | max-channel % |",
                          "|---|---|---|---|---|---|---|"]
            for label, row in (("gray", b["gray"]), ("before", b), ("after", a)):
                lines.append(f"| {'+'.join(b['data'])} | {b['photos']} | {label} | {row['auc']:.2f} | "
                             f"{row['psnr']:.2f} | {row['ciede2000']:.2f} | {row['max_channel']:.2f} |")
    return lines


def keep_speed(card: dict, shipped: Path) -> None:
    """Carry the speed figure (benchmarks/bench_card_speed.py --write) over from the card being
    replaced when the network is the same (architecture and config); a changed network ships
    without one until the benchmark is run again."""
    old = json.loads(shipped.read_text()) if shipped.exists() else {}
    same = all(old.get(k) == card.get(k) for k in ("architecture", "config"))
    if same and "speed" in old and "speed" not in card:
        card["speed"] = old["speed"]
    elif not same:
        print("note: the network changed; run python benchmarks/bench_card_speed.py --write for the "
              "speed figure of `colorize models`")


def check_plain(card: dict, markdown_text: str) -> None:
    """Stop before writing anything when what users read holds words from the project's history
    ("the seed's GAN", "below the bar", "the eighth stage"): say it in plain words."""
    from colorizer.cards import USER_FIELDS, history_words

    texts = {f"--{'notes' if k == 'weaknesses' else k}": str(card.get(k, "")) for k in USER_FIELDS}
    texts["the comparison note"] = str(card.get("comparison", {}).get("note", ""))
    texts["the Markdown card"] = markdown_text
    for where, text in texts.items():
        if found := history_words(text):
            words = ", ".join(dict.fromkeys(found))
            raise SystemExit(f"error: {where} uses project-history words ({words}); say it in plain "
                             "words, as `colorize models` shows it to users")


def _calibration(card: dict) -> list[str]:
    c = card.get("calibration")
    if not c:
        return []
    cf, auc = c["val_colourfulness"], c["val_auc"]
    rule = c.get("rule", "colours as strong as the photos'")
    return [f"- **Chroma gain:** {card['chroma_gain']:.3f}, set by `colorize calibrate` on the "
            f"{c['val_images']} validation photos ({rule}): colourfulness {cf['gain_1']:.1f} at gain 1 "
            f"-> {cf['calibrated']:.1f} (photos {cf['photos']:.1f}); validation AuC {auc['gain_1']:.2f} "
            f"-> {auc['calibrated']:.2f} (gray {auc['gray']:.2f})."
            + (f" Annealing temperature {c['temperature']}." if "temperature" in c else "")]


def _comparison(card: dict) -> list[str]:
    c = card.get("comparison")
    if not c:
        return []
    lines = ["", "## Pretrained encoder against from scratch (validation split)", "",
             f"Each model's ab scaled so that it is {c['ratio']:.0%} as colourful as the validation photos "
             f"(`python scripts/compare_encoders.py ... --ratio {c['ratio']}`).", "",
             "| model | encoder | training minutes | steps | AuC | PSNR dB | CIEDE2000 |",
             "|---|---|---|---|---|---|---|"]
    for label, m in c["models"].items():
        lines.append(f"| {label} | {m['encoder']} | {m['training_minutes']:.0f} | {m['steps']} | "
                     f"{m['auc']:.2f} | {m['psnr']:.2f} | {m['ciede2000']:.2f} |")
    g = c["gray"]
    lines.append(f"| gray baseline | | | | {g['auc']:.2f} | {g['psnr']:.2f} | {g['ciede2000']:.2f} |")
    if c.get("note"):
        lines += ["", c["note"]]
    return lines


def markdown(name: str, card: dict) -> str:
    t, ev, data = card["training"], card["evaluation"], card["data"]
    extra = "".join(f" --set {k}={json.dumps(v)}" for k, v in t.get("overrides", {}).items())
    if t.get("data_weights"):
        extra = f" --data-weights {','.join(f'{w:g}' for w in t['data_weights'])}" + extra
    if t.get("init"):
        extra += f" --init {t['init']}"
    if t.get("lr_schedule", "constant") != "constant":  # the schedule's length is --epochs
        extra += f" --epochs {t['epochs']} --lr-schedule {t['lr_schedule']}"
    lines = [f"# Model card: `{name}`", "",
             f"- **Architecture:** {card['architecture']} {json.dumps(card['config'])}",
             f"- **Parameters:** {card['parameters']:,}",
             f"- **Data:** {data['prepared_with']}; {data['train']} training and {data['val']} "
             f"validation photos (skipped {data['skipped_greyscale_or_unreadable']} greyscale or "
             f"unreadable). {data['sources']}. {data['note']}",
             f"- **Training:** `colorize train --model {name} "
             f"{' '.join(f'--data DATASET{i + 1}' for i in range(len(t['data'])))} --size {t['size']} "
             f"--batch-size {t['batch_size']} --lr {t['lr']} --max-minutes {t['max_minutes']}{extra}`; "
             f"{card['steps']} steps ({card['epochs_completed']} epochs), Adam, `--seed {t['seed']}`"
             + (f"; {t['stopped']}." if t.get("stopped") else "."),
             f"- **Hardware:** {card['hardware']}; {card.get('training_seconds', 0) / 60:.0f} "
             "minutes of training.", *_calibration(card),
             *([f"- **Licence of the starting weights:** {card['licence_notice']}"]
               if card.get("licence_notice") else []), "",
             f"## Scores on {ev['images']}", "",
             f"Rerun: `{ev['command']}` ({ev['images_scored']} photos, 256x256, mean and 95% bootstrap "
             "interval).", "", f"| metric | {name} | gray baseline |", "|---|---|---|"]
    for key in SHOW:
        m, g = ev["scores"][key], ev["gray_baseline"][key]
        lines.append(f"| {key} | {m['mean']:.2f} [{m['ci95'][0]:.2f}, {m['ci95'][1]:.2f}] | "
                     f"{g['mean']:.2f} [{g['ci95'][0]:.2f}, {g['ci95'][1]:.2f}] |")
    lines += ["", "The gray baseline keeps L, so grey accuracy is near 100% for it by construction."]
    lines += _comparison(card)
    lines += _training_runs(card)
    if card.get("weaknesses"):
        lines += ["", "## Where it is weak", "", card["weaknesses"]]
    if card.get("history"):
        lines += ["", "## How it came about", "", card["history"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
