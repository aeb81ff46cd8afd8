"""``colorize evaluate``: grade models on real photos and write a side-by-side report.

For every photo: resize to ``size`` x ``size`` (the seed graded at 256x256), keep only its L (the
grey input), colorize it with each model, and score the result against the photo. The ``gray``
baseline (ab = 0) is always a row, because the seed's grey back-projection accuracy rewards a grey
output: read every score next to it. Greyscale ground truths are reported, not scored.

Outputs in the report folder: ``per_image.csv``, ``summary.json`` and ``summary.md`` (mean and
95% bootstrap interval per model and metric), ``bars.png``, and ``report.html``, a self-contained
page (images inlined, no scripts, no external requests) with one row per photo: grey input, each
model, ground truth, and each tile's scores.

Noisy input (``noise``): the photo's 8-bit grey gets seeded Gaussian noise of that sigma
(clipped, rounded, as a saved scan), and every model colours that; with ``denoise`` the denoiser
cleans its L first, and the summary adds the PSNR (8-bit grey, data range 255) of the noisy and
the denoised input against the clean grey.
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
    noise: float = 0.0  # sigma of Gaussian noise on the 8-bit grey input (0: clean)
    denoise: bool = False  # denoise the input's L first (the "denoise" model, or weights["denoise"])


def _input_picture(truth: np.ndarray, cfg: EvalConfig, index: int, denoiser) -> tuple:
    """The picture the models colour (the photo's grey, noisy and/or denoised as ``cfg`` asks)
    and, when denoising, the PSNR (dB) of the noisy and of the denoised grey against the clean."""
    from colorizer.api import denoise_l
    from colorizer.damage import add_gaussian_noise, grey_u8
    from colorizer.io import Picture
    from colorizer.models.denoise import psnr_u8

    pic = Picture.from_array(truth)
    if not cfg.noise and denoiser is None:
        return pic, None
    clean = grey_u8(pic.lightness())
    grey = add_gaussian_noise(clean, cfg.noise, np.random.default_rng([cfg.seed, index])) \
        if cfg.noise else clean
    pic = Picture.from_array(grey)
    if denoiser is None:
        return pic, None
    L = denoise_l(pic.lightness(), denoiser)
    psnrs = (psnr_u8(grey, clean), psnr_u8(grey_u8(L), clean))
    return pic.with_lightness(L), psnrs  # as `colorize image --denoise` puts it back


def _load_photos(cfg: EvalConfig, say) -> list[tuple[str, np.ndarray, bool, tuple[int, int]]]:
    """(file, RGB at ``size`` x ``size``, whether it is greyscale, its own (height, width))."""
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
        shape = rgb.shape[:2]
        rgb = cv2.resize(rgb, (cfg.size, cfg.size), interpolation=cv2.INTER_AREA)
        photos.append((str(f), rgb, greyscale_chroma(rgb) < 3.0, shape))
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
    from colorizer.registry import get_colorizer

    names = ["gray"] + [m for m in cfg.models if m != "gray"]
    models = {n: get_colorizer(n, weights=cfg.weights.get(n), device="cpu") for n in names}
    denoiser = None
    if cfg.denoise:
        from colorizer.registry import get_denoiser

        denoiser = get_denoiser(weights=cfg.weights.get("denoise"), device="cpu")
    photos = _load_photos(cfg, say)
    scored = [(f, rgb) for f, rgb, is_grey, _ in photos if not is_grey]
    shapes = {f: shape for f, _, _, shape in photos}
    grey_truths = [f for f, _, is_grey, _ in photos if is_grey]
    for f in grey_truths:
        say(f"not scored (greyscale ground truth): {f}")
    if not scored:
        raise ColorizerError("every photo in --images is greyscale; nothing to score")
    prior = metrics.ab_prior(rgb2lab(rgb)[..., 1:] for _, rgb in scored)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, tiles, denoised = [], [], []
    torch.manual_seed(cfg.seed)
    for i, (f, truth) in enumerate(tqdm(scored, unit="img", disable=not progress, desc="evaluate")):
        labels = metrics.grading_regions(truth)
        truth_lab = rgb2lab(truth).astype(np.float64)
        pic, psnrs = _input_picture(truth, cfg, i, denoiser)
        if psnrs is not None:
            denoised.append(psnrs)
        grey_input = colorize_picture(pic, models["gray"], cfg.size).to_array(np.uint8)
        images = {}
        for name, model in models.items():
            pred = grey_input if name == "gray" else \
                colorize_picture(pic, model, cfg.working_size).to_array(np.uint8)
            images[name] = pred
            rows.append({"image": os.path.basename(f), "model": name,
                         **score(pred, truth, labels, prior, truth_lab)})
        tiles.append((f, *(_unsquashed(x, shapes[f]) for x in (grey_input, images, truth))))
    summary = _summarise(rows, names, cfg, grey_truths)
    if denoised:
        noisy, clean = np.array(denoised).T
        summary["denoise"] = {"sigma": cfg.noise, "psnr_input": float(noisy.mean()),
                              "psnr_denoised": float(clean.mean()), "images": len(denoised)}
    _write_csv(out / "per_image.csv", rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "summary.md").write_text(_markdown(summary))
    _bars(out / "bars.png", summary)
    (out / "report.html").write_text(_html(tiles, rows, summary, names, (out / "bars.png").read_bytes()))
    return summary


def _unsquashed(images, shape: tuple[int, int]):
    """A scored image (or a dict of them), graded as a ``size`` x ``size`` square, shown at the
    photo's own aspect ratio (its longer side ``size``): a 3:2 photo is not seen squashed."""
    if isinstance(images, dict):
        return {k: _unsquashed(v, shape) for k, v in images.items()}
    import cv2

    side = images.shape[0]
    h, w = shape
    size = (side, max(1, round(side * h / w))) if w >= h else (max(1, round(side * w / h)), side)
    return cv2.resize(images, size, interpolation=cv2.INTER_AREA if size[0] < side or size[1] < side
                      else cv2.INTER_LINEAR)


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
    cfg = summary["config"]
    if cfg.get("noise") or cfg.get("denoise"):
        lines += ["", f"Input: the photos' 8-bit grey with Gaussian noise sigma {cfg['noise']:g} "
                  f"(seed {cfg['seed']})" + (", denoised by the denoise model." if cfg["denoise"] else ".")]
    if "denoise" in summary:
        d = summary["denoise"]
        lines += [f"Denoising PSNR (8-bit grey, vs the clean grey): input {d['psnr_input']:.2f} dB -> "
                  f"denoised {d['psnr_denoised']:.2f} dB on {d['images']} photos."]
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


def _summary_table(summary: dict) -> str:
    """The summary as an HTML table: a row per metric, a column per model, mean and 95% interval;
    the best mean of each headline metric in bold."""
    names = list(summary["models"])
    size = summary["config"]["size"]
    head = "".join(f"<th scope='col'>{html.escape(n)}</th>" for n in names)
    out = ["<table class='scores'>",
           f"<caption>Scored {summary['images_scored']} photos at {size}x{size}; mean and "
           "[95% bootstrap interval].</caption>",
           f"<thead><tr><th scope='col'>metric</th>{head}</tr></thead><tbody>"]
    for key, (label, higher) in METRICS.items():
        means = [summary["models"][n][key]["mean"] for n in names]
        finite = [m for m in means if np.isfinite(m)]
        best = (max(finite) if higher else min(finite)) if finite and not label.startswith(" ") else None
        cells = []
        for n, m in zip(names, means, strict=True):
            lo, hi = summary["models"][n][key]["ci95"]
            cls = " class='best'" if best is not None and m == best and len(names) > 1 else ""
            cells.append(f"<td{cls}>{m:.2f} <span class='ci'>[{lo:.2f}, {hi:.2f}]</span></td>")
        indent = "&emsp;" if label.startswith(" ") else ""
        out.append(f"<tr><th scope='row'>{indent}{html.escape(label.strip())}</th>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    if summary["greyscale_not_scored"]:
        out.append("<p class='muted'>Greyscale ground truths, not scored: " + html.escape(
            ", ".join(os.path.basename(f) for f in summary["greyscale_not_scored"])) + "</p>")
    out.append("<p class='muted'>The gray baseline keeps L, so it scores near 100% on grey accuracy "
               "by construction; compare colour metrics (AuC, colourfulness, max-channel) against it.</p>")
    return "\n".join(out)


def _report_css() -> str:
    """The look shared with the web page (colorizer/web/static/base.css), inlined."""
    from importlib import resources

    try:
        return (resources.files("colorizer.web") / "static" / "base.css").read_text()
    except (FileNotFoundError, ModuleNotFoundError):
        return "body{font:14px sans-serif;margin:16px}"


#: The report's own layout (base.css gives the shared look): the summary table beside the plot,
#: and the photos in as many columns as the window holds, each tile as wide as it can be.
REPORT_CSS = (
    "main{padding:16px 20px}"
    ".summary{display:flex;flex-wrap:wrap;gap:16px 24px;align-items:flex-start}"
    ".summary>div{flex:0 1 auto;min-width:0;overflow-x:auto}.summary p{max-width:38rem}"
    ".summary figure{flex:1 1 480px;margin:0;min-width:0}"
    ".summary figure img{width:100%;height:auto;display:block;background:var(--paper);"
    "border:1px solid var(--line);border-radius:6px}"
    ".summary figcaption{color:var(--muted);font-size:0.85rem;margin-top:4px}"
    ".photos{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,var(--card)),1fr));"
    "gap:8px 20px}"
    ".photo h3{margin:0.8rem 0 0.3rem;overflow-wrap:anywhere}"
    ".row{display:grid;grid-template-columns:repeat(var(--tiles),minmax(0,1fr));gap:6px}"
    ".tile{font-size:12px;background:var(--paper);border:1px solid var(--line);border-radius:6px;"
    "padding:4px;min-width:0;overflow-wrap:anywhere}"
    ".tile img{width:100%;height:auto;display:block;border-radius:4px;margin-bottom:3px}")


def _html(tiles, rows, summary, names, plot: bytes | None = None) -> str:
    """report.html: the summary table and the plot (bars.png, inlined so that the file stands
    alone), then each photo as the models coloured it, at the photo's own aspect ratio."""
    by = {(r["image"], r["model"]): r for r in rows}
    show = ["max_channel", "grey_acc_mean", "auc", "colourfulness"]
    n_tiles = len(names) + 2  # the grey input, each model, the ground truth
    size = summary["config"]["size"]
    figure = ("<figure><img alt='every metric per model, with 95% intervals' src='data:image/png;"
              f"base64,{base64.b64encode(plot).decode()}'><figcaption>The same means as bars, with "
              "their 95% bootstrap intervals (bars.png).</figcaption></figure>") if plot else ""
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             "<meta name='viewport' content='width=device-width, initial-scale=1'>"
             "<title>colorizer evaluation</title>",
             "<style>" + _report_css() + REPORT_CSS + "</style></head><body>",
             "<header class='site-header'><h1>colorizer evaluation<span class='dot'>.</span></h1>"
             "<p>Each model against the photos' own colours.</p></header><main>",
             "<h2>Summary</h2><div class='summary'><div>", _summary_table(summary), "</div>", figure,
             "</div><h2>Photos</h2>",
             f"<p class='muted'>Scored at {size}x{size}; shown here in each photo's own shape.</p>",
             f"<div class='photos' style='--tiles:{n_tiles};--card:{150 * n_tiles}px'>"]
    for f, grey_input, images, truth in tiles:
        name = os.path.basename(f)
        parts.append(f"<section class='photo'><h3>{html.escape(name)}</h3><div class='row'>")
        parts.append(f"<div class='tile'><img alt='grey input' src='{_png_data_uri(grey_input)}'>"
                     "grey input</div>")
        for model in names:
            r = by[(name, model)]
            scores = "<br>".join(f"{METRICS[k][0].strip()}: {r[k]:.1f}" for k in show)
            parts.append(f"<div class='tile'><img alt='{html.escape(model)}' "
                         f"src='{_png_data_uri(images[model])}'><b>{html.escape(model)}</b><br>"
                         f"{scores}</div>")
        parts.append(f"<div class='tile'><img alt='ground truth' src='{_png_data_uri(truth)}'>"
                     "ground truth</div></div></section>")
    parts.append("</div></main></body></html>")
    return "\n".join(parts)


# --- video clips (``colorize evaluate --videos DIR``) ----------------------------------------------


@dataclass
class VideoEvalConfig:
    """``colorize evaluate --videos``: each model in ``models`` with each ``temporal`` method."""

    videos: str = ""
    models: list[str] = field(default_factory=lambda: ["default"])
    temporal: list[str] = field(default_factory=lambda: ["none", "flow"])
    out: str = "report"
    working_size: int | None = None
    max_frames: int | None = None
    weights: dict = field(default_factory=dict)


def find_clips(folder: str | os.PathLike) -> list[Path]:
    """Clips in ``folder``: its video files and its sub-folders of frames (or ``folder`` itself
    when it holds frames), sorted by name."""
    from colorizer.video import _frame_files, is_video_input

    folder = Path(folder)
    if not folder.is_dir():
        raise ColorizerError(f"{folder}: not a folder of clips")
    if _frame_files(folder):
        return [folder]
    clips = sorted(p for p in folder.iterdir() if not p.name.startswith(".")
                   and ((p.is_file() and is_video_input(p)) or (p.is_dir() and _frame_files(p))))
    if not clips:
        raise ColorizerError(f"{folder}: no video files or frame folders found")
    return clips


#: Frames of each clip shown in the report's strip.
STRIP_FRAMES = 6


def _strip_indices(count: int | None, max_frames: int | None) -> set[int]:
    n = min(c for c in (count, max_frames) if c) if (count or max_frames) else STRIP_FRAMES * 10
    return {int(round(i)) for i in np.linspace(0, n - 1, STRIP_FRAMES)}


def _thumb(rgb: np.ndarray, width: int = 240) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def score_clip(clip: Path, runs: dict, max_frames: int | None = None) -> tuple[list, dict, dict]:
    """Colorize one clip with every entry of ``runs`` (name -> (model, TemporalConfig, size)) in
    step, and score each frame: AuC and PSNR against the frame, warp error along the ground-truth
    flow, and the Jensen-Shannon divergence of its RGB histograms from the previous frame's.

    A run calls the model only on the frames its temporal method asks for; runs that share a
    model and size share those predictions. Returns per-frame rows; per run, the clip's means, CDC
    and colorization fps (each run charged the full time of what it used, decoding and metrics
    excluded); and thumbnails of :data:`STRIP_FRAMES` frames per run (frame index -> RGB). The
    run ``truth`` is the ground truth itself (its warp error and CDC are what real colour gives).
    """
    import time

    from colorizer.color import rgb2lab
    from colorizer.video import (
        FrameReader,
        TemporalSmoother,
        frame_lightness,
        ground_truth_flow,
        join_frame,
        predict_ab,
    )

    smoothers = {name: TemporalSmoother(temporal) for name, (_, temporal, _) in runs.items()}
    names = ["truth", *runs]
    hists = {n: [] for n in names}
    seconds = dict.fromkeys(runs, 0.0)
    prev_truth, prev_ab = None, {}
    rows = []
    strips: dict = {n: {} for n in names}
    with FrameReader(clip) as reader:
        show = _strip_indices(reader.count, max_frames)
        for frame in reader:
            if max_frames is not None and frame.index >= max_frames:
                break
            truth = frame.rgb
            preds = {"truth": truth}
            lights, abs_ = {}, {}  # per (model, size): (L, small L, seconds), (ab, seconds)
            for name, (model, _, size) in runs.items():
                key = (id(model), size)
                if key not in lights:
                    start = time.perf_counter()
                    lights[key] = (*frame_lightness(truth, model, size), time.perf_counter() - start)
                L, small_L, spent = lights[key]
                start = time.perf_counter()
                need = smoothers[name].needs_prediction(small_L)
                spent += time.perf_counter() - start
                if need and key not in abs_:
                    start = time.perf_counter()
                    abs_[key] = (predict_ab(L, model, size), time.perf_counter() - start)
                ab, model_seconds = abs_[key] if need else (None, 0.0)
                start = time.perf_counter()
                preds[name] = join_frame(L, smoothers[name].step(small_L, ab))
                seconds[name] += spent + model_seconds + time.perf_counter() - start
            flow = ground_truth_flow(prev_truth, truth) if prev_truth is not None else None
            for name in names:
                pred = preds[name]
                ab = rgb2lab(pred)[..., 1:].astype(np.float64)
                if name == "truth":
                    truth_ab = ab
                hists[name].append(metrics.rgb_histograms(pred))
                werr = metrics.warp_error(prev_ab[name], ab, flow[0], flow[1]) if flow is not None \
                    else float("nan")
                js = float(np.mean([metrics.js_divergence(hists[name][-2][c], hists[name][-1][c])
                                    for c in range(3)])) if len(hists[name]) > 1 else float("nan")
                rows.append({"clip": clip.name, "run": name, "frame": frame.index,
                             "auc": metrics.auc(ab, truth_ab), "psnr": metrics.psnr(pred, truth),
                             "warp_error": werr, "js_prev": js})
                prev_ab[name] = ab
                if frame.index in show:
                    strips[name][frame.index] = _thumb(pred)
            prev_truth = truth
    clip_summary = {}
    for name in names:
        sel = [r for r in rows if r["run"] == name]
        clip_summary[name] = {
            "frames": len(sel),
            "auc": float(np.mean([r["auc"] for r in sel])),
            "psnr": float(np.mean([r["psnr"] for r in sel if np.isfinite(r["psnr"])] or [np.inf])),
            "warp_error": float(np.nanmean([r["warp_error"] for r in sel])) if len(sel) > 1 else float("nan"),
            "cdc": metrics.cdc(hists[name]),
            "fps": len(sel) / seconds[name] if seconds.get(name) else float("nan"),
        }
        if name in smoothers:
            clip_summary[name]["model_frames"] = smoothers[name].predictions
            clip_summary[name]["shots"] = smoothers[name].shots
    return rows, clip_summary, strips


def _strip_png(path: Path, clip: str, strips: dict) -> None:
    """One row of thumbnails per run (ground truth first), one column per chosen frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in strips if strips[n]]
    frames = sorted(strips[names[0]])
    h, w = strips[names[0]][frames[0]].shape[:2]
    fig, axes = plt.subplots(len(names), len(frames), squeeze=False,
                             figsize=(len(frames) * w / 100 + 0.4, len(names) * (h / 100 + 0.25)))
    for r, name in enumerate(names):
        for c, f in enumerate(frames):
            ax = axes[r, c]
            ax.imshow(strips[name][f])
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {f}", fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle(clip, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate_videos(cfg: VideoEvalConfig, say=print) -> dict:
    """Score clips (see :func:`score_clip`); writes into ``cfg.out``: ``videos.md`` (tables per
    clip and mean, and each temporal run against its model's ``none`` run), ``videos.json``,
    ``per_frame_video.csv``, ``flicker.png`` (per clip, per frame: warp error and the histogram
    change from the previous frame) and ``strip_CLIP.png`` (a few frames of each run)."""
    from colorizer.registry import get_colorizer
    from colorizer.video import TemporalConfig

    clips = find_clips(cfg.videos)
    runs = {}
    for m in cfg.models:
        model = get_colorizer(m, weights=cfg.weights.get(m), device="cpu")
        for t in cfg.temporal:
            runs[f"{m}/{t}"] = (model, TemporalConfig(method=t), cfg.working_size)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    all_rows, per_clip, strip_files = [], {}, {}
    for clip in clips:
        try:
            rows, per_clip[clip.name], strips = score_clip(clip, runs, cfg.max_frames)
        except ColorizerError as exc:
            say(f"skipped: {exc}")
            continue
        all_rows += rows
        strip_files[clip.name] = f"strip_{_safe_name(clip.name)}.png"
        _strip_png(out / strip_files[clip.name], clip.name, strips)
        say(f"{clip.name}: " + ", ".join(f"{n} warp {s['warp_error']:.2f} cdc {s['cdc']:.5f} "
                                          f"auc {s['auc']:.2f}" for n, s in per_clip[clip.name].items()))
    if not per_clip:
        raise ColorizerError(f"{cfg.videos}: no clip could be scored")
    names = list(next(iter(per_clip.values())))

    def nanmean(values):
        values = np.array(values, np.float64)
        return float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() else float("nan")

    mean = {n: {k: nanmean([c[n][k] for c in per_clip.values()])
                for k in ("auc", "psnr", "warp_error", "cdc", "fps")} for n in names}
    summary = {"config": asdict(cfg), "clips": per_clip, "mean": mean,
               "against_none": _against_none(per_clip, cfg.models), "strips": strip_files}
    _write_csv(out / "per_frame_video.csv", all_rows)
    (out / "videos.json").write_text(json.dumps(summary, indent=1))
    (out / "videos.md").write_text(_video_markdown(summary))
    _flicker_plot(out / "flicker.png", all_rows, names)
    return summary


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _against_none(per_clip: dict, models: list[str]) -> dict:
    """Per temporal run (not ``none``) and clip, and over the clips: warp error and CDC
    reductions (%) against the same model's ``none`` run, the change in mean AuC, and the CDC
    reduction the ground truth itself has against ``none`` (real colour moves with the scene, so
    no steadier colouring can take CDC far below the truth's) and, when the ``gray`` model was
    run, that of the bare input L (``gray/none``): with the frames' own L kept, how far CDC can
    fall with no colour changing at all."""
    runs = list(next(iter(per_clip.values())))
    out = {}
    for model in models:
        base = f"{model}/none"
        for run in runs:
            if not run.startswith(f"{model}/") or run == base or base not in runs:
                continue
            rows = {}
            for clip, s in per_clip.items():
                new, old = s[run], s[base]
                rows[clip] = {"warp_error_reduction": 100 * (1 - new["warp_error"] / old["warp_error"]),
                              "cdc_reduction": 100 * (1 - new["cdc"] / old["cdc"]),
                              "auc_change": new["auc"] - old["auc"],
                              "truth_cdc_reduction": 100 * (1 - s["truth"]["cdc"] / old["cdc"])}
                if "gray/none" in s:
                    rows[clip]["gray_cdc_reduction"] = 100 * (1 - s["gray/none"]["cdc"] / old["cdc"])
            keys = list(next(iter(rows.values())))
            per = list(rows.values())
            rows["mean"] = {k: float(np.mean([r[k] for r in per])) for k in keys}
            rows["worst"] = {k: float(min(r[k] for r in per)) for k in keys}
            out[f"{run} vs {base}"] = rows
    return out


def _video_markdown(summary: dict) -> str:
    lines = ["Per clip: mean per-frame AuC % and PSNR dB against the ground truth, warp error (ab, "
             "along the ground-truth flow, non-occluded pixels; lower is steadier), CDC (lower is "
             "steadier), colorization fps (decoding, encoding and scoring excluded) and the frames "
             "the model coloured. `truth` is the ground truth itself.", "",
             "| clip | run | frames | AuC | PSNR | warp error | CDC | fps | model frames |",
             "|---|---|---|---|---|---|---|---|---|"]
    for clip, runs in [*summary["clips"].items(), ("**mean**", summary["mean"])]:
        for name, s in runs.items():
            lines.append(f"| {clip} | {name} | {s.get('frames', '')} | {s['auc']:.2f} | {s['psnr']:.2f} | "
                         f"{s['warp_error']:.3f} | {s['cdc']:.5f} | {s['fps']:.1f} | "
                         f"{s.get('model_frames', '')} |")
    for title, rows in summary.get("against_none", {}).items():
        gray = "gray_cdc_reduction" in next(iter(rows.values()))
        lines += ["", f"**{title}**: reduction of warp error and CDC (%, higher is steadier) and change "
                  "of mean per-frame AuC (points); `truth's CDC` is the ground truth's own CDC against "
                  "the same baseline" + (", `gray's CDC` that of the bare input L (no colour)" if gray
                                         else "") + ". `mean` averages the clips' figures, `worst` is "
                  "the lowest of each.", "",
                  "| clip | warp error | CDC | AuC | truth's CDC |" + (" gray's CDC |" if gray else ""),
                  "|---|---|---|---|---|" + ("---|" if gray else "")]
        for clip, r in rows.items():
            lines.append(f"| {clip} | {r['warp_error_reduction']:.1f}% | {r['cdc_reduction']:.1f}% | "
                         f"{r['auc_change']:+.2f} | {r['truth_cdc_reduction']:.1f}% |"
                         + (f" {r['gray_cdc_reduction']:.1f}% |" if gray else ""))
    if summary.get("strips"):
        lines += ["", "Frames of each clip (rows: ground truth, then each run):", ""]
        lines += [f"![{clip}]({f})" for clip, f in summary["strips"].items()]
    return "\n".join(lines) + "\n"


def _flicker_plot(path: Path, rows: list[dict], names: list[str]) -> None:
    """Per clip (a row) and frame: warp error, and the RGB-histogram change (Jensen-Shannon
    divergence, as in CDC) from the previous frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = list(dict.fromkeys(r["clip"] for r in rows))
    fig, axes = plt.subplots(len(clips), 2, figsize=(13, 2.2 * len(clips)), squeeze=False)
    for (ax_w, ax_j), clip in zip(axes, clips, strict=True):
        for name in names:
            sel = [r for r in rows if r["clip"] == clip and r["run"] == name]
            frames = [r["frame"] for r in sel]
            ax_w.plot(frames, [r["warp_error"] for r in sel], label=name, lw=1)
            ax_j.plot(frames, [r["js_prev"] for r in sel], label=name, lw=1)
        ax_w.set_title(f"{clip}: warp error", fontsize=9)
        ax_j.set_title(f"{clip}: histogram change from the previous frame (JS)", fontsize=9)
        for ax in (ax_w, ax_j):
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("frame", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
