"""``colorize evaluate``: grade models on real photos and write a side-by-side report.

For every photo: resize to ``size`` x ``size`` (the seed graded at 256x256), keep only its L (the
grey input), colorize it with each model, and score the result against the photo. The ``gray``
baseline (ab = 0) is always a row, because the seed's grey back-projection accuracy rewards a grey
output: read every score next to it. Greyscale ground truths are reported, not scored.

Outputs in the report folder: ``per_image.csv``, ``summary.json`` and ``summary.md`` (mean and
95% bootstrap interval per model and metric), ``bars.png``, and ``report.html``, a self-contained
page (images inlined, no scripts, no external requests) with one row per photo: grey input, each
model, ground truth, and each tile's scores.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from colorizer import metrics
from colorizer.errors import ColorizerError

#: Metrics in the summary, with a short label and whether higher is better.
METRICS = {
    "max_channel": ("max-channel agreement %", True),
    "max_channel_red": ("  red share %", True),
    "max_channel_green": ("  green share %", True),
    "max_channel_blue": ("  blue share %", True),
    "grey_acc_mean": ("grey accuracy (mean) %", True),
    "grey_acc_seed": ("grey accuracy (.30/.59/.11) %", True),
    "psnr": ("PSNR dB", True),
    "ssim": ("SSIM", True),
    "ciede2000": ("CIEDE2000", False),
    "auc": ("AuC %", True),
    "auc_rebalanced": ("AuC rebalanced %", True),
    "colourfulness": ("colourfulness", True),
    "delta_colourfulness": ("ΔCF (pred - truth)", True),
}


@dataclass
class EvalConfig:
    models: list[str] = field(default_factory=lambda: ["gray"])
    images: list[str] = field(default_factory=list)
    out: str = "report"
    size: int = 256
    working_size: int | None = None
    seed: int = 0
    bootstrap: int = 1000
    weights: dict = field(default_factory=dict)


def _load_photos(cfg: EvalConfig, say) -> list[tuple[str, np.ndarray]]:
    import cv2

    from colorizer.batch import find_images
    from colorizer.data import greyscale_chroma
    from colorizer.io import read_image

    files = []
    for src in cfg.images:
        p = Path(src)
        if not p.exists():
            raise ColorizerError(f"{p}: not found")
        files += find_images(p) if p.is_dir() else [p]
    if not files:
        raise ColorizerError("no images found in --images")
    photos = []
    for f in files:
        try:
            rgb = read_image(f).to_array(np.uint8)[..., :3]
        except ColorizerError as exc:
            say(f"skipped: {exc}")
            continue
        rgb = cv2.resize(rgb, (cfg.size, cfg.size), interpolation=cv2.INTER_AREA)
        photos.append((str(f), rgb, greyscale_chroma(rgb) < 3.0))
    return photos


def score(pred: np.ndarray, truth: np.ndarray, labels: np.ndarray, prior: dict,
          truth_lab: np.ndarray | None = None) -> dict:
    """Every metric for one prediction (uint8 RGB) against its ground truth.

    ``labels`` are the ground truth's grading regions and ``truth_lab`` its Lab image (both are
    shared by every model, so the caller computes them once per photo).
    """
    from colorizer.color import rgb2lab

    lab_p = rgb2lab(pred).astype(np.float64)
    lab_t = rgb2lab(truth).astype(np.float64) if truth_lab is None else truth_lab
    mc = metrics.max_channel_agreement(pred, truth, labels=labels)
    return {
        "max_channel": mc["agreement"], "max_channel_red": mc["red"],
        "max_channel_green": mc["green"], "max_channel_blue": mc["blue"],
        "grey_acc_mean": metrics.grey_accuracy(pred, truth, "mean"),
        "grey_acc_seed": metrics.grey_accuracy(pred, truth, "seed"),
        "psnr": metrics.psnr(pred, truth), "ssim": metrics.ssim(pred, truth),
        "ciede2000": metrics.ciede2000(lab_p, lab_t),
        "auc": metrics.auc(lab_p[..., 1:], lab_t[..., 1:]),
        "auc_rebalanced": metrics.auc(lab_p[..., 1:], lab_t[..., 1:], prior=prior),
        "colourfulness": metrics.colourfulness(pred),
        "delta_colourfulness": metrics.delta_colourfulness(pred, truth),
    }


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator, n: int) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean (over images)."""
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float("nan"), float("nan")
    means = values[rng.integers(0, len(values), (n, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def evaluate(cfg: EvalConfig, progress: bool = True, say=print) -> dict:
    """Run the evaluation (see the module docstring); returns the summary dict."""
    import torch
    from tqdm import tqdm

    from colorizer.api import colorize_picture
    from colorizer.color import rgb2lab
    from colorizer.io import Picture
    from colorizer.registry import get_colorizer

    names = ["gray"] + [m for m in cfg.models if m != "gray"]
    models = {n: get_colorizer(n, weights=cfg.weights.get(n), device="cpu") for n in names}
    photos = _load_photos(cfg, say)
    scored = [(f, rgb) for f, rgb, is_grey in photos if not is_grey]
    grey_truths = [f for f, _, is_grey in photos if is_grey]
    for f in grey_truths:
        say(f"not scored (greyscale ground truth): {f}")
    if not scored:
        raise ColorizerError("every photo in --images is greyscale; nothing to score")
    prior = metrics.ab_prior(rgb2lab(rgb)[..., 1:] for _, rgb in scored)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, tiles = [], []
    torch.manual_seed(cfg.seed)
    for f, truth in tqdm(scored, unit="img", disable=not progress, desc="evaluate"):
        labels = metrics.grading_regions(truth)
        truth_lab = rgb2lab(truth).astype(np.float64)
        pic = Picture.from_array(truth)
        grey_input = colorize_picture(pic, models["gray"], cfg.size).to_array(np.uint8)
        images = {}
        for name, model in models.items():
            pred = grey_input if name == "gray" else \
                colorize_picture(pic, model, cfg.working_size).to_array(np.uint8)
            images[name] = pred
            rows.append({"image": os.path.basename(f), "model": name,
                         **score(pred, truth, labels, prior, truth_lab)})
        tiles.append((f, grey_input, images, truth))
    summary = _summarise(rows, names, cfg, grey_truths)
    _write_csv(out / "per_image.csv", rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "summary.md").write_text(_markdown(summary))
    _bars(out / "bars.png", summary)
    (out / "report.html").write_text(_html(tiles, rows, summary, names))
    return summary


def _summarise(rows, names, cfg, grey_truths) -> dict:
    rng = np.random.default_rng(cfg.seed)
    table = {}
    for name in names:
        sel = [r for r in rows if r["model"] == name]
        table[name] = {}
        for key in METRICS:
            vals = np.array([r[key] for r in sel], np.float64)
            lo, hi = bootstrap_ci(vals, rng, cfg.bootstrap)
            table[name][key] = {"mean": float(np.nanmean(vals)), "ci95": [lo, hi]}
    return {"config": asdict(cfg), "images_scored": len(rows) // len(names),
            "greyscale_not_scored": grey_truths, "models": table}


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})


def _markdown(summary: dict) -> str:
    names = list(summary["models"])
    lines = [f"Scored {summary['images_scored']} photos at {summary['config']['size']}x"
             f"{summary['config']['size']}; mean [95% bootstrap interval].", "",
             "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key, (label, _) in METRICS.items():
        cells = []
        for n in names:
            m = summary["models"][n][key]
            cells.append(f"{m['mean']:.2f} [{m['ci95'][0]:.2f}, {m['ci95'][1]:.2f}]")
        lines.append(f"| {label.strip()} | " + " | ".join(cells) + " |")
    if summary["greyscale_not_scored"]:
        lines += ["", "Greyscale ground truths, not scored: "
                  + ", ".join(os.path.basename(f) for f in summary["greyscale_not_scored"])]
    lines += ["", "The gray baseline keeps L, so it scores near 100% on grey accuracy by "
              "construction; compare colour metrics (AuC, colourfulness, max-channel) against it."]
    return "\n".join(lines) + "\n"


def _bars(path: Path, summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["max_channel", "grey_acc_mean", "grey_acc_seed", "auc", "auc_rebalanced", "psnr",
            "ciede2000", "colourfulness"]
    names = list(summary["models"])
    fig, axes = plt.subplots(2, 4, figsize=(14, 6))
    for ax, key in zip(axes.ravel(), keys, strict=True):
        means = [summary["models"][n][key]["mean"] for n in names]
        lo = [m - summary["models"][n][key]["ci95"][0] for n, m in zip(names, means, strict=True)]
        hi = [summary["models"][n][key]["ci95"][1] - m for n, m in zip(names, means, strict=True)]
        ax.bar(names, means, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], capsize=3,
               color=["#999999"] + ["#c0504d", "#4f81bd", "#9bbb59", "#8064a2"][: len(names) - 1])
        ax.set_title(METRICS[key][0].strip(), fontsize=9)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _png_data_uri(rgb: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _html(tiles, rows, summary, names) -> str:
    by = {(r["image"], r["model"]): r for r in rows}
    show = ["max_channel", "grey_acc_mean", "auc", "colourfulness"]
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>colorizer evaluation</title>",
             "<style>body{font:14px sans-serif;margin:16px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
             ".row{display:flex;gap:8px;margin:12px 0}.tile{width:200px;font-size:11px}"
             ".tile img{width:200px;height:200px;display:block}</style></head><body>",
             "<h1>colorizer evaluation</h1>", "<pre>" + html.escape(_markdown(summary)) + "</pre>"]
    for f, grey_input, images, truth in tiles:
        name = os.path.basename(f)
        parts.append(f"<h3>{html.escape(name)}</h3><div class='row'>")
        parts.append(f"<div class='tile'><img alt='grey input' src='{_png_data_uri(grey_input)}'>"
                     "grey input</div>")
        for model in names:
            r = by[(name, model)]
            scores = "<br>".join(f"{METRICS[k][0].strip()}: {r[k]:.1f}" for k in show)
            parts.append(f"<div class='tile'><img alt='{html.escape(model)}' "
                         f"src='{_png_data_uri(images[model])}'><b>{html.escape(model)}</b><br>"
                         f"{scores}</div>")
        parts.append(f"<div class='tile'><img alt='ground truth' src='{_png_data_uri(truth)}'>"
                     "ground truth</div></div>")
    parts.append("</body></html>")
    return "\n".join(parts)
