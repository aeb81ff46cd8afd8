"""Ship the trained denoiser inside the package (float16 storage), with its model card.

    python scripts/ship_denoiser.py --run runs/denoise3 --previous runs/denoise --previous runs/denoise2 \
        --bench bench_denoise.json [--eval-clean REPORT --eval-noisy REPORT --eval-denoised REPORT] \
        [--notes TEXT]

Writes src/colorizer/assets/denoise.safetensors (float tensors stored as float16: half the size,
loaded back into float32; the PSNR lost is below 0.01 dB, checked by the benchmark run on the
shipped file), src/colorizer/assets/denoise.json and docs/models/denoise.md, from the training
card that `colorize train` wrote, the prepared datasets' dataset.json, the JSON of
benchmarks/bench_denoise.py, and optionally the three `colorize evaluate` reports (clean input,
--noise 25, --noise 25 --denoise) of the default colorizer. The ONNX export
(src/colorizer/assets/denoise.onnx) is written again from the shipped weights.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from safetensors.torch import load_file, save

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from ship_model import check_plain, data_section, keep_speed, stored_size  # noqa: E402

from colorizer.resize import DEFAULT_PASSES  # noqa: E402
from colorizer.weights import card_path  # noqa: E402


def evaluation(reports: dict) -> dict:
    out = {}
    for label, folder in reports.items():
        if folder is None:
            continue
        s = json.loads((Path(folder) / "summary.json").read_text())
        out[label] = {"config": {k: s["config"][k] for k in ("models", "size", "seed", "noise", "denoise")
                                 if k in s["config"]},
                      "auc": {m: v["auc"]["mean"] for m, v in s["models"].items()},
                      **({"denoise": s["denoise"]} if "denoise" in s else {})}
    return out


def _stored_sizes(datasets: list[str]) -> list[int]:
    """The square size each prepared dataset was stored at (`colorize prepare --size`)."""
    infos = [Path(d) / "dataset.json" for d in datasets]
    return [stored_size(json.loads(f.read_text()) if f.exists() else {}) for f in infos]


def _set_flag(key: str, value) -> str:
    """The `colorize train --set` flag that gives ``key`` this ``value``, quoted for a shell."""
    return f"--set '{key}={json.dumps(value, separators=(',', ':'))}'"


def _earlier_stages(card: dict) -> list[str]:
    stages = card.get("earlier_stages") or ([card["first_stage"]] if card.get("first_stage") else [])
    final = card["training"]
    lines = []
    for i, p in enumerate(stages):
        t = p["training"]
        start = (f"from the weights of run {i}" if i else "from random weights")
        crop = t.get("crop", "resized")
        differs = []
        if crop != final.get("crop", "resized"):
            differs.append(f"--crop {crop}")
        ours, last = t.get("overrides", {}), final.get("overrides", {})
        for k in sorted((set(ours) | set(last)) - {"widths"}):  # widths: the widening lines say
            if ours.get(k) != last.get(k):
                differs.append(_set_flag(k, ours[k]) if k in ours else f"without --set {k}")
        sizes = _stored_sizes(t["data"])
        if sizes != _stored_sizes(final["data"]):
            differs.append("the same photos prepared at --size "
                           + " and ".join(str(s) for s in dict.fromkeys(sizes)))
        lines.append(f"- **Training run {i + 1} of {len(stages) + 1}:** {p['run']}: {p['steps']} steps "
                     f"({p['epochs_completed']} epochs, {p['training_seconds'] / 60:.0f} minutes) with "
                     f"--size {t['size']} --lr {t['lr']} --lr-schedule {t['lr_schedule']} --epochs "
                     f"{t['epochs']} --max-minutes {t['max_minutes']}"
                     + "".join(f", {d}" for d in differs) + f", otherwise the same command, {start}.")
    return lines


def _widened_from(training: dict) -> dict | None:
    """scripts/widen_denoiser.py's record on the weights a stage started from (its --init), if
    they were widened."""
    init = training.get("init")
    if init and card_path(init).exists():
        return json.loads(card_path(init).read_text()).get("widened_from")
    return None


def _widening(card: dict) -> list[str]:
    """A line for each stage that started from widened weights: the command, and its record."""
    stages = [*(card.get("earlier_stages") or []), {"training": card["training"]}]
    lines = []
    for i, stage in enumerate(stages):
        w = stage["training"].get("widened_from")
        if not w:
            continue
        # the widths it grew to: those the next widening started from, or the shipped ones
        later = [st["training"]["widened_from"]["widths"] for st in stages[i + 1:]
                 if st["training"].get("widened_from")]
        widths = later[0] if later else card["config"]["widths"]
        which = "the last run" if i == len(stages) - 1 else f"run {i + 1}"
        lines.append(
            f"- **Widened before {which}:** `python scripts/widen_denoiser.py --weights "
            f"RUN{i}/denoise.safetensors --widths {','.join(str(x) for x in widths)} --seed {w['seed']}` "
            f"(it read {w['weights']}, the weights of run {i}) grew the levels from {w['widths']} "
            f"channels to {widths}; the new channels start with zero weight into the old ones, so the "
            f"widened net computed the same output (largest difference {w['max_output_gap_L']:.1g} L) "
            f"before {which} trained all of it.")
    return lines


def _stages_of(shipped: dict) -> list[dict]:
    """Every stage of a shipped card, its own last one included, as entries of
    ``earlier_stages`` (a card's training_seconds counts all its stages)."""
    earlier = list(shipped.get("earlier_stages") or [])
    last = {"run": shipped["training"]["out"], "steps": shipped["steps"],
            "epochs_completed": shipped["epochs_completed"],
            "training_seconds": round(shipped["training_seconds"]
                                      - sum(st["training_seconds"] for st in earlier), 1),
            "training": shipped["training"]}
    return [*earlier, last]


def markdown(card: dict) -> str:
    t, data, bench = card["training"], card["data"], card.get("benchmark")
    sets = " ".join(_set_flag(k, v) for k, v in t.get("overrides", {}).items())
    lines = ["# Model card: `denoise`", "",
             "A blind denoising autoencoder for the lightness of old photos: "
             "`colorize denoise`, `colorize image --denoise`.", "",
             f"- **Architecture:** {card['architecture']} {json.dumps(card['config'])}",
             f"- **Parameters:** {card['parameters']:,}; stored as float16 "
             f"({card['file_bytes'] / 1e6:.1f} MB)",
             f"- **Data:** {data['prepared_with']}; {data['train']} training and {data['val']} validation "
             f"photos. {data['sources']}. {data['note']}",
             "- **Damage** (made per batch by the model, `colorizer.damage`): Gaussian sigma uniform in "
             f"[0, {card['config']['sigma_max']:g}] (p {card['config']['p_gaussian']}), film grain "
             f"(p {card['config']['p_grain']}), JPEG quality 20-90 (p {card['config']['p_jpeg']}), "
             f"blur (p {card['config']['p_blur']}), on the 8-bit grey.",
             f"- **Training:** `colorize train --model denoise "
             f"{' '.join(f'--data DATASET{i + 1}' for i in range(len(t['data'])))}"
             + (f" --data-weights {','.join(f'{w:g}' for w in t['data_weights'])}"
                if t.get("data_weights") else "")
             + f" --size {t['size']} --batch-size {t['batch_size']} --lr {t['lr']} --epochs {t['epochs']} "
             f"--lr-schedule {t['lr_schedule']} --max-minutes {t['max_minutes']} --threads {t['threads']} "
             f"--val-images {t['val_images']}"
             + (f" --crop {t['crop']}" if t.get("crop", "resized") != "resized" else "")
             + (f" --init {t['init']}" if t.get("init") else "")
             + (f" {sets}" if sets else "") + f"`; {card['steps']} steps "
             f"({card['epochs_completed']} epochs), Adam, `--seed {t['seed']}`.",
             *_earlier_stages(card),
             *_widening(card),
             f"- **Hardware:** {card['hardware']}; {card.get('training_seconds', 0) / 60:.0f} minutes "
             "of training" + (" in all runs." if card.get("earlier_stages") else "."), ""]
    if bench:
        lines += [
             f"## Denoising on {bench['images']} ({bench['photos']} photos, grey L, native size)", "",
             "Rerun: `python benchmarks/bench_denoise.py --images ../shared/data/photos/eval "
             "--val-data DATASET1 --out bench.json`. Seeded Gaussian noise on the 8-bit grey, clipped; "
             "PSNR (dB) and SSIM against the clean grey; NLM's h tuned per sigma on validation photos ("
             + ", ".join(f"sigma {s}: h {v['h']:g}" for s, v in bench["nlm_h"].items())
             + "); BM3D is given the true sigma; ours is blind, with "
             f"{bench.get('passes', 1)} shifted pass{'' if bench.get('passes', 1) == 1 else 'es'} "
             "(`colorize denoise --passes`; "
             f"{'the default' if bench.get('passes', 1) == DEFAULT_PASSES else 'not the default'}). "
             f"ms per 512x512 photo with {bench['threads']} threads, on a shared machine.", "",
             bench["table"], ""]
    sub = card.get("benchmark_subset")
    if sub:
        lines += [f"BM3D (given the true sigma) on {sub['photos']} of these photos "
                  f"({', '.join(sub['names'])}), "
                  "(`--photos 8 --sigmas 25 --methods nlm,ours,ours_onnx --repeat 10 "
                  "--include BM3D_RUN.json`: "
                  "BM3D's row comes from an earlier `--methods nlm,bm3d` run on the identical noisy "
                  "inputs, checked photo by photo; its time was measured at low priority on the busy "
                  "machine):", "", sub["table"], ""]
    ev = card.get("evaluation")
    if ev:
        lines += ["## Colorizing noisy photos (default colorizer, AuC %)", "",
                  "`colorize evaluate --models gan --images ../shared/data/photos/eval --size 256 --seed 0` "
                  "with nothing, `--noise 25`, and `--noise 25 --denoise`:", "",
                  "| input | gan AuC | gray AuC |", "|---|---|---|"]
        for label, e in ev.items():
            lines.append(f"| {label} | {e['auc'].get('gan', float('nan')):.2f} | {e['auc']['gray']:.2f} |")
        if "noisy_denoised" in ev and "denoise" in ev["noisy_denoised"]:
            d = ev["noisy_denoised"]["denoise"]
            lines += ["", f"PSNR of the input grey (256x256): noisy {d['psnr_input']:.2f} dB, denoised "
                      f"{d['psnr_denoised']:.2f} dB."]
    if card.get("weaknesses"):
        lines += ["", "## Where it is weak", "", card["weaknesses"]]
    if card.get("history"):
        lines += ["", "## How it came about", "", card["history"]]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--bench", type=Path, help="JSON of benchmarks/bench_denoise.py --out (run it on the "
                    "shipped file, then ship again with it)")
    ap.add_argument("--bench-subset", type=Path,
                    help="JSON of a bench_denoise.py run on --photos N with BM3D (too slow for all photos "
                         "on a shared 2-core machine)")
    ap.add_argument("--eval-clean", type=Path)
    ap.add_argument("--eval-noisy", type=Path)
    ap.add_argument("--eval-denoised", type=Path)
    ap.add_argument("--notes", default="", help="Markdown, plain words: where it is weak (`colorize "
                    "models denoise` and the web page show it).")
    ap.add_argument("--history", default="",
                    help="Markdown, plain words: how it came about (docs/models/denoise.md only).")
    ap.add_argument("--previous", type=Path, action="append", default=[],
                    help="A run that --run descends from through --init, recorded as an earlier "
                         "stage; repeat it for each, the first stage first.")
    ap.add_argument("--continues", type=Path,
                    help="The card (.json) of shipped weights that --run started from (its --init): its "
                         "stages become the earlier stages, when their run folders are gone. Give it "
                         "before any --previous.")
    args = ap.parse_args()
    card = json.loads((args.run / "denoise.json").read_text())
    card["earlier_stages"] = _stages_of(json.loads(args.continues.read_text())) if args.continues else []
    card["training_seconds"] = round(card["training_seconds"]
                                     + sum(st["training_seconds"] for st in card["earlier_stages"]), 1)
    for run in args.previous:
        prev = json.loads((run / "denoise.json").read_text())
        training = prev["training"]
        if (run / "config.json").exists():  # its --set, so the card can say where they differ
            training = training | {"overrides": json.loads((run / "config.json").read_text())
                                   .get("model_config", {})}
        if widened := _widened_from(training):
            training = training | {"widened_from": widened}
        card["earlier_stages"].append({"run": str(run), "steps": prev["steps"],
                                       "epochs_completed": prev["epochs_completed"],
                                       "training_seconds": prev["training_seconds"],
                                       "training": training})
        card["training_seconds"] = round(card["training_seconds"] + prev["training_seconds"], 1)
    card.pop("chroma_gain", None)
    card.pop("calibration", None)
    card["data"] = data_section(card["training"]["data"], card["training"].get("data_weights") or [])
    if widened := _widened_from(card["training"]):  # scripts/widen_denoiser.py's record
        card["training"]["widened_from"] = widened
    run_cfg = args.run / "config.json"
    if run_cfg.exists():
        card["training"]["overrides"] = json.loads(run_cfg.read_text()).get("model_config", {})
    if args.bench:
        bench = json.loads(args.bench.read_text())
        keys = ("images", "photos", "nlm_h", "ms_per_512", "threads", "table")
        card["benchmark"] = {k: bench[k] for k in keys} | {"passes": bench.get("passes", 1)}
        card["benchmark"]["psnr_ssim"] = {
            s: {m: {"psnr": v["psnr"], "ssim": v["ssim"]} for m, v in row.items()}
            for s, row in bench["sigmas"].items()}
    if args.bench_subset:
        sub = json.loads(args.bench_subset.read_text())
        card["benchmark_subset"] = {k: sub[k] for k in ("photos", "names", "nlm_h", "ms_per_512", "table")}
    ev = evaluation({"clean": args.eval_clean, "noisy": args.eval_noisy,
                     "noisy_denoised": args.eval_denoised})
    if ev:
        card["evaluation"] = ev
    if args.notes:
        card["weaknesses"] = args.notes
    if args.history:
        card["history"] = args.history
    assets = ROOT / "src" / "colorizer" / "assets"
    keep_speed(card, assets / "denoise.json")
    state = load_file(str(args.run / "denoise.safetensors"))
    blob = save({k: v.half() if v.is_floating_point() else v for k, v in state.items()})
    card["storage"] = "float16"
    card["file_bytes"] = len(blob)
    check_plain(card, markdown(card))  # before anything is written
    (assets / "denoise.safetensors").write_bytes(blob)
    (assets / "denoise.json").write_text(json.dumps(card, indent=2, sort_keys=True))
    (ROOT / "docs" / "models" / "denoise.md").write_text(markdown(card))
    print(f"shipped denoise: {assets / 'denoise.safetensors'} ({card['file_bytes'] / 1e6:.2f} MB)")
    from colorizer.export import export_packaged  # keep assets/denoise.onnx in step with it

    report = export_packaged("denoise")
    print(f"re-exported {report['out']} (largest difference from torch {report['max_abs_diff']:.1e} L units)")


if __name__ == "__main__":
    main()
