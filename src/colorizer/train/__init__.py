"""One training loop for every trainable colorizer; runs alone or under ``torchrun`` (DDP).

    colorize train --model gan --data DATASET --epochs 20 --out runs/gan
    torchrun --nproc_per_node=2 -m colorizer.train --model gan --data DATASET --out runs/gan

The loop owns data, devices, validation, logging and checkpoints; the model owns its losses
and updates (``training_step``). Checkpoints hold weights and optimiser tensors as safetensors
and everything else (config, step, RNG states) as JSON, written atomically, so ``--resume``
continues after a kill -9 at the same step with the same data order.
"""

from __future__ import annotations

import copy
import csv
import functools
import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from colorizer.errors import ColorizerError, OutputExists


@dataclass
class TrainConfig:
    model: str = "gan"
    data: list[str] = field(default_factory=list)
    data_weights: list[float] = field(default_factory=list)  # per --data folder; default 1 each
    out: str = "runs/run"
    epochs: int = 10
    batch_size: int = 16
    lr: float = 2e-4
    lr_schedule: str = "constant"  # or "cosine": from lr down to 0 at the last step of --epochs
    size: int = 128
    val_fraction: float = 0.1
    val_images: int = 128
    max_minutes: float | None = None
    checkpoint_every: int = 200
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    init: str | None = None  # weights (.safetensors) to start from instead of random ones
    damage: str = "light"  # damage on the input L: "light", "old" (colorizer.damage) or "none"
    crop: str = "resized"  # training crops: "resized" (several scales) or "native" (stored scale)
    model_config: dict = field(default_factory=dict)


#: Learning-rate schedules: the factor on each optimizer's starting lr at a fraction of the run.
LR_SCHEDULES = {
    "constant": lambda progress: 1.0,
    "cosine": lambda progress: 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0))),
}


def set_learning_rate(optimizers: dict, schedule: str, step: int, total: int) -> float:
    """Set every param group's lr to its starting lr times the schedule's factor at ``step`` of
    ``total``; returns the factor. The starting lr is kept in the group as ``initial_lr``, so it
    travels with the checkpoint, and a run that began with another schedule switches smoothly
    from the lr it had (``--resume --lr-schedule cosine`` anneals a constant-lr run)."""
    factor = LR_SCHEDULES[schedule](step / max(total, 1))
    for opt in optimizers.values():
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor
    return factor


def epoch_order(dataset, weights: list[float], generator: torch.Generator) -> torch.Tensor:
    """A shuffled epoch of item indices in which each dataset root appears ``weight`` times its
    size (0.5: a random half of it; 2: all of it twice), so that a large folder (e.g. faces)
    counts without taking over."""
    if not weights or all(w == 1 for w in weights):
        return torch.randperm(len(dataset), generator=generator)
    parts = []
    for k, w in enumerate(weights):
        lo, hi = int(dataset.offsets[k]), int(dataset.offsets[k + 1])
        n, want = hi - lo, round(w * (hi - lo))
        while want > 0 and n > 0:
            take = min(want, n)
            parts.append(lo + torch.randperm(n, generator=generator)[:take])
            want -= take
    order = torch.cat(parts)
    return order[torch.randperm(len(order), generator=generator)]


def _rank() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# --- checkpoints without pickle ----------------------------------------------------------------


def _flatten_optimizer(name: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{name}.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _restore_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict = {}
    prefix = f"{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, sub = key[len(prefix):].split(".", 1)
            state.setdefault(int(idx), {})[sub] = value
    for key, value in meta["scalars"].items():
        idx, sub = key.split(".", 1)
        state.setdefault(int(idx), {})[sub] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _unwrapped_state(model: torch.nn.Module) -> dict:
    return {k.replace(".module.", "."): v.detach().cpu().contiguous()
            for k, v in model.state_dict().items()}


def model_card(model, cfg: TrainConfig, extra: dict | None = None) -> dict:
    return {"architecture": type(model).__name__, "name": cfg.model,
            "config": json.loads(json.dumps(asdict(model.config))),
            "parameters": sum(p.numel() for p in model.parameters()),
            "training": {k: v for k, v in asdict(cfg).items() if k != "model_config"}, **(extra or {})}


def save_checkpoint(run: Path, model, optimizers: dict, cfg: TrainConfig, progress: dict,
                    dataset_rng: np.random.Generator) -> None:
    """Write run/checkpoint/ atomically (a new folder, then rename)."""
    tmp = run / ".checkpoint.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_unwrapped_state(model), str(tmp / "model.safetensors"))
    tensors, metas = {}, {}
    for name, opt in optimizers.items():
        t, m = _flatten_optimizer(name, opt)
        tensors.update(t)
        metas[name] = m
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(tmp / "optim.safetensors"))
    state = {"progress": progress, "optimizers": metas, "config": asdict(cfg),
             "card": model_card(model, cfg),
             "rng": {"python": _json_rng(random.getstate()), "numpy": np.random.get_state()[1].tolist(),
                     "numpy_pos": int(np.random.get_state()[2]),
                     "dataset": dataset_rng.bit_generator.state}}
    (tmp / "state.json").write_text(json.dumps(state))
    final = run / "checkpoint"
    old = run / ".checkpoint.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _json_rng(state):
    version, internal, gauss = state
    return [version, list(internal), gauss]


def load_checkpoint(run: Path, model, optimizers: dict, dataset_rng: np.random.Generator) -> dict:
    ck = run / "checkpoint"
    if not (ck / "state.json").exists():
        old = run / ".checkpoint.old"  # killed between the two renames
        if (old / "state.json").exists():
            ck = old
        else:
            raise ColorizerError(f"{run}: no checkpoint to resume from")
    state = json.loads((ck / "state.json").read_text())
    from colorizer.weights import load_into

    load_into(model, load_file(str(ck / "model.safetensors")), str(ck))
    tensors = load_file(str(ck / "optim.safetensors"))
    for name, opt in optimizers.items():
        _restore_optimizer(name, opt, tensors, state["optimizers"][name])
    torch.set_rng_state(tensors["rng.torch"])
    version, internal, gauss = state["rng"]["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(("MT19937", np.array(state["rng"]["numpy"], dtype=np.uint32),
                         state["rng"]["numpy_pos"]))
    dataset_rng.bit_generator.state = state["rng"]["dataset"]
    return state["progress"]


# --- validation ---------------------------------------------------------------------------------


@torch.no_grad()
def _predictions(model, dataset, device, limit: int, batch_size: int) -> list[tuple]:
    """(L (h, w, 1), predicted ab (h, w, 2), true ab (h, w, 2)) numpy triples for up to ``limit``
    items of ``dataset``, predicted in eval mode in batches of up to ``batch_size`` photos of one
    size (datasets stored at different sizes, such as the people photos at 180, mix sizes)."""
    model.eval()
    triples = []
    try:
        for start in range(0, min(limit, len(dataset)), batch_size):
            items = [dataset[i] for i in range(start, min(limit, len(dataset), start + batch_size))]
            for shape in dict.fromkeys(tuple(L.shape) for L, _ in items):
                same = [it for it in items if tuple(it[0].shape) == shape]
                pred = model.predict_ab(torch.stack([L for L, _ in same]).to(device)).float().cpu()
                triples += [(L[0].numpy()[..., None], p.permute(1, 2, 0).numpy(), t.permute(1, 2, 0).numpy())
                            for (L, t), p in zip(same, pred, strict=True)]
    finally:
        model.train()
    return triples


def _colourfulness(L: np.ndarray, ab: np.ndarray) -> float:
    from colorizer import metrics
    from colorizer.color import lab2rgb_u8

    return metrics.colourfulness(lab2rgb_u8(np.concatenate([L, ab], 2)))


def validate(model, dataset, device, limit: int, batch_size: int) -> dict:
    """Mean val MSE (normalised ab), AuC and colourfulness ratio on up to ``limit`` images."""
    from colorizer import metrics
    from colorizer.color import normalize_ab

    triples = _predictions(model, dataset, device, limit, batch_size)
    mse = [float(np.mean((normalize_ab(p) - normalize_ab(t)) ** 2)) for _, p, t in triples]
    mse = [np.mean(mse[i:i + batch_size]) for i in range(0, len(mse), batch_size)]  # per batch, as logged
    cf_pred = [_colourfulness(L, p) for L, p, _ in triples]
    cf_true = [_colourfulness(L, t) for L, _, t in triples]
    return {"val_mse": float(np.mean(mse)),
            "val_auc": float(np.mean([metrics.auc(p, t) for _, p, t in triples])),
            "val_colourfulness_ratio": float(np.mean(cf_pred) / max(np.mean(cf_true), 1e-9))}


#: Colourfulness floor of the chroma gain: at least this share of the validation photos' own.
COLOURFULNESS_FLOOR = 0.6


def _small(triples: list[tuple], side: int = 128) -> list[tuple]:
    """The (L, pred, true) triples area-downscaled to at most ``side`` pixels: AuC and
    colourfulness are image averages, and a quarter of the pixels gives the same ranking of gains
    at a quarter of the cost."""
    import cv2

    out = []
    for arrays in triples:
        h, w = arrays[0].shape[:2]
        if max(h, w) <= side:
            out.append(arrays)
            continue
        size = (max(1, round(w * side / max(h, w))), max(1, round(h * side / max(h, w))))
        out.append(tuple(cv2.resize(a, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
                         for a in arrays))
    return out


def _bracket_gain(colourfulness, target: float, lo: float, hi: float, steps: int) -> tuple[float, float]:
    """Bisection for the gain at which ``colourfulness(gain)`` (growing with the gain) reaches
    ``target``: (lo, hi) after ``steps`` halvings, with colourfulness below target at lo and at
    least target at hi."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if colourfulness(mid) < target else (lo, mid)
    return lo, hi


def calibrate_chroma(model, dataset, device, limit: int = 256, batch_size: int = 16,
                     max_gain: float = 3.0, floor: float = COLOURFULNESS_FLOOR,
                     rebalanced: bool = False) -> dict:
    """The chroma gain that makes a model's colours most accurate without going dull.

    A model trained with MSE predicts the mean colour wherever it is unsure, which pulls ab
    towards grey (the brownish look users complain about); scaling its ab by a gain k counters
    that, but a wrong colour made stronger costs accuracy. So on the validation photos k is the
    gain in [0.5, ``max_gain``] with the best AuC among those whose predictions are at least
    ``floor`` times as colourful as the photos (a right colour at 70% strength beats a wrong one
    at full strength). The smallest gain that reaches the floor is found by bisection
    (colourfulness grows with the gain); the AuC is then searched above it on a 0.1 grid, refined
    to 0.02 around the best. If no gain reaches the floor, ``max_gain`` is taken. The validation
    AuC and colourfulness at gain 1 and at k, and the gray baseline's AuC, are returned with it.
    ``rebalanced``: the class-rebalanced AuC (prior from these photos) is the accuracy instead,
    for a model built to get rare, saturated colours right (Zhang et al.'s).
    """
    from colorizer import metrics

    triples = _small(_predictions(model, dataset, device, limit, batch_size))
    prior = metrics.ab_prior([t for _, _, t in triples]) if rebalanced else None

    @functools.cache
    def colourfulness(gain: float) -> float:
        return float(np.mean([_colourfulness(L, gain * p) for L, p, _ in triples]))

    @functools.cache
    def auc(gain: float) -> float:
        return float(np.mean([metrics.auc(gain * p, t, prior) for _, p, t in triples]))

    target = float(np.mean([_colourfulness(L, t) for L, _, t in triples]))
    gray_auc = float(np.mean([metrics.auc(np.zeros_like(t), t, prior) for _, _, t in triples]))

    lo, hi = 0.5, max_gain
    if colourfulness(lo) >= floor * target:
        lowest = lo
    elif colourfulness(hi) < floor * target:
        lowest = hi
    else:
        lowest = _bracket_gain(colourfulness, floor * target, lo, hi, steps=8)[1]
    coarse = max((round(g, 2) for g in np.arange(lowest, max_gain + 1e-9, 0.1)), key=auc)
    gain = max((round(g, 2) for g in np.arange(coarse - 0.08, coarse + 0.081, 0.02)
                if lowest - 1e-9 <= g <= max_gain + 1e-9), key=auc, default=coarse)
    return {"chroma_gain": round(gain, 3), "val_images": len(triples),
            "rule": f"best validation {'class-rebalanced ' if rebalanced else ''}AuC with colourfulness "
                    f">= {floor} x the photos'",
            "val_colourfulness": {"photos": target, "gain_1": colourfulness(1.0),
                                  "calibrated": colourfulness(gain)},
            "val_auc": {"gray": gray_auc, "gain_1": auc(1.0), "calibrated": auc(gain)}}


def score_at_colourfulness(model, dataset, device, ratio: float, limit: int = 256,
                           batch_size: int = 16) -> dict:
    """Validation scores of ``model`` with its ab scaled so that its predictions are ``ratio``
    times as colourful as the photos: AuC, PSNR (dB) and CIEDE2000, for comparing models at equal
    colourfulness (a duller model otherwise wins AuC and PSNR by staying near grey)."""
    return scores_at_colourfulness(model, dataset, device, [ratio], limit, batch_size)[0]


def scores_at_colourfulness(model, dataset, device, ratios, limit: int = 256, batch_size: int = 16,
                            max_channel: bool = False) -> list[dict]:
    """:func:`score_at_colourfulness` at each of ``ratios`` from one set of predictions, with the
    correlation across photos of log colourfulness, predicted against true (how well the model
    tells a colourful photo from a drab one; a global gain cannot change it); with
    ``max_channel``, also the seed's max-colour-channel agreement (slower: it segments every photo
    once)."""
    from colorizer import metrics
    from colorizer.color import lab2rgb_u8

    triples = _predictions(model, dataset, device, limit, batch_size)
    truths = [lab2rgb_u8(np.concatenate([L, t], 2)) for L, _, t in triples]
    labels = [metrics.grading_regions(rgb) for rgb in truths] if max_channel else None
    photos = np.array([metrics.colourfulness(rgb) for rgb in truths])
    at_1 = np.array([_colourfulness(L, p) for L, p, _ in triples])
    correlation = float(np.corrcoef(np.log1p(at_1), np.log1p(photos))[0, 1]) if at_1.any() else float("nan")

    def colourfulness(gain):
        return float(np.mean([_colourfulness(L, gain * p) for L, p, _ in triples]))

    out = []
    for ratio in ratios:
        gain = sum(_bracket_gain(colourfulness, ratio * photos.mean(), 0.0, 8.0, steps=14)) / 2
        rows = []
        for k, (L, p, t) in enumerate(triples):
            pred = np.concatenate([L, gain * p], 2)
            rgb = lab2rgb_u8(pred)
            row = [metrics.auc(gain * p, t), metrics.psnr(rgb, truths[k]),
                   metrics.ciede2000(pred, np.concatenate([L, t], 2))]
            if max_channel:
                row.append(metrics.max_channel_agreement(rgb, truths[k], labels=labels[k])["agreement"])
            rows.append(row)
        means = [float(v) for v in np.mean(rows, 0)]
        scores = {"gain": round(gain, 3), "colourfulness_ratio": ratio, "val_images": len(triples),
                  "auc": means[0], "psnr": means[1], "ciede2000": means[2],
                  "colourfulness_correlation": correlation}
        if max_channel:
            scores["max_channel"] = means[3]
        out.append(scores)
    return out


#: Annealing temperatures tried by :func:`calibrate` for models that decode with one (zhang).
TEMPERATURES = (0.05, 0.1, 0.15, 0.2, 0.38)


def calibrate(model, dataset, device) -> dict:
    """:func:`calibrate_chroma`; for a model that decodes with an annealed mean (zhang), first
    the temperature too: each of :data:`TEMPERATURES` is calibrated and the one with the best
    validation AuC is kept (set on ``model.config``). Zhang's classifier is there to get rare,
    saturated colours right, so for it the accuracy is the class-rebalanced AuC."""
    config = getattr(model, "config", None)
    if not hasattr(config, "temperature"):
        return calibrate_chroma(model, dataset, device)
    tried = {}
    for t in TEMPERATURES:
        config.temperature = t
        tried[t] = calibrate_chroma(model, dataset, device, rebalanced=True)
    best = max(tried, key=lambda t: tried[t]["val_auc"]["calibrated"])
    config.temperature = best
    return {**tried[best], "temperature": best,
            "temperatures_tried": {str(t): {"chroma_gain": r["chroma_gain"],
                                            "val_auc": r["val_auc"]["calibrated"]} for t, r in tried.items()}}


def calibrate_weights(weights: str | os.PathLike, data: list[str], size: int | None = None) -> dict:
    """Calibrate saved weights on a dataset's validation photos; writes the gain into the card."""
    from colorizer.data import LabDataset
    from colorizer.io import atomic_write
    from colorizer.registry import get_colorizer
    from colorizer.weights import card_path

    if not card_path(weights).exists():
        raise ColorizerError(f"{weights}: no model card beside the weights")
    cards = json.loads(card_path(weights).read_text())
    if not cards.get("name"):
        raise ColorizerError(f"{card_path(weights)}: the card does not name its model")
    model = get_colorizer(cards["name"], weights=str(weights), device="cpu")
    val = LabDataset([Path(d) for d in data], "val", size, augment=False)
    if len(val) == 0:
        raise ColorizerError("no validation photos in --data")
    model.chroma_gain = 1.0
    result = calibrate(model, val, torch.device("cpu"))
    if "temperature" in result:
        cards["config"]["temperature"] = result["temperature"]
    cards["chroma_gain"] = result["chroma_gain"]
    cards["calibration"] = result
    atomic_write(card_path(weights),
                 lambda tmp: Path(tmp).write_text(json.dumps(cards, indent=2, sort_keys=True)))
    return result


# --- the loop -----------------------------------------------------------------------------------


def _datasets(cfg: TrainConfig, run: Path, damage: str = "light"):
    """LabDatasets for train/val; plain image folders are prepared into the run folder first.
    ``damage``: what the training items' L goes through (:meth:`LabDataset.degrade_l`)."""
    from colorizer.data import LabDataset, PrepareConfig, prepare

    roots = []
    for d in cfg.data:
        d = Path(d)
        if (d / "l.npy").exists() or (d / "l" / "gray_scale.npy").exists():
            roots.append(d)
        else:
            target = run / "data" / d.resolve().name
            if not (target / "dataset.json").exists():
                prepare([d], target, PrepareConfig(val_fraction=cfg.val_fraction), progress=True)
            roots.append(target)
    train = LabDataset(roots, "train", cfg.size, augment=True, val_fraction=cfg.val_fraction,
                       seed=cfg.seed, damage=damage, crop=cfg.crop)
    val = LabDataset(roots, "val", cfg.size, augment=False, val_fraction=cfg.val_fraction)
    if len(train) == 0:
        raise ColorizerError(f"{', '.join(cfg.data)}: no training images in --data (empty, or all "
                             "in the validation split)")
    return train, val


def build_model(cfg: TrainConfig):
    """A fresh, untrained ``cfg.model`` with ``cfg.model_config`` overriding its default config."""
    from colorizer.registry import build_untrained

    model = build_untrained(cfg.model)
    if cfg.model_config:  # on the default config, not the built model's (zhang fills in n_bins)
        defaults = asdict(type(model).Config())
        model = type(model)(type(model).config_from_dict({**defaults, **cfg.model_config}))
        model.name = cfg.model
    return model


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train ``cfg.model``; returns the path of the final weights (RUN/NAME.safetensors)."""
    from tqdm import tqdm

    from colorizer.registry import build_untrained, is_trainable, resolve_device
    from colorizer.weights import save_weights

    if cfg.lr_schedule not in LR_SCHEDULES:
        raise ColorizerError(f"lr schedule must be one of {', '.join(LR_SCHEDULES)}, got {cfg.lr_schedule!r}")
    if not is_trainable(cfg.model):
        build_untrained(cfg.model)  # raises the error that lists the trainable names
    rank, world = _rank()
    distributed = world > 1
    if distributed:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = resolve_device(cfg.device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Path(cfg.out)
    if rank == 0:
        if run.exists() and (run / "checkpoint").exists() and not resume:
            if (run / f"{cfg.model}.safetensors").exists():  # a finished run: its weights are there
                raise OutputExists(f"{run}: holds a finished training run ({cfg.model}.safetensors), "
                                   "not overwritten (--resume trains it on, or choose another --out)")
            raise ColorizerError(f"{run}: holds a training run; pass --resume to continue it or "
                                 "choose another --out")
    seed_everything(cfg.seed + rank)
    model = build_model(cfg)
    if cfg.init and not resume:  # fine-tuning: a resumed run has its own weights
        from colorizer.weights import load_into, load_weights

        # parts the starting weights lack (a hint branch) start as the model built them
        load_into(model, load_weights(cfg.init)[0], cfg.init, optional=getattr(model, "new_parts", ()))
    elif not resume:
        model.load_pretrained()  # the ImageNet encoder named by --set encoder_weights=...
        if getattr(model.config, "encoder", "none") != "none" and not model.config.encoder_weights \
                and rank == 0:
            import warnings

            warnings.warn(f"{model.config.encoder} encoder starts from random weights; for the ImageNet "
                          "ones pass --set encoder_weights=FILE (scripts/convert_mobilenet_v2.py), or "
                          "--set encoder=none for the small from-scratch U-Net", stacklevel=2)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        for name in model.ddp_modules():
            sub = getattr(model, name)
            # no buffer broadcast: rank 0 validates alone, and a forward pass there must not wait
            # for the other ranks (batch-norm statistics stay per rank; parameters are shared)
            setattr(model, name, DDP(sub, device_ids=[device.index] if device.type == "cuda" else None,
                                     broadcast_buffers=False))
    optimizers = model.configure_optimizers(cfg.lr)
    # a model that damages its own inputs (the denoiser: it needs the clean L as its target) says so
    damage = getattr(model, "input_damage", cfg.damage)
    train_set, val_set = _datasets(cfg, run, damage) if rank == 0 or not distributed else (None, None)
    if rank == 0:  # only now: bad --data leaves no empty run folder behind
        run.mkdir(parents=True, exist_ok=True)
    if distributed:
        dist.barrier()
        if train_set is None:
            train_set, val_set = _datasets(cfg, run, damage)
    state = {"step": 0, "epoch": 0, "batch": 0}
    if hasattr(model, "fit_data") and not resume and not cfg.init:  # e.g. Zhang's class rebalancing weights
        model.fit_data(train_set)
    if resume:
        state = load_checkpoint(run, model, optimizers, train_set.rng)
    if rank == 0 and ("log_bytes" in state or not resume):
        _trim_log(run / "log.csv", state)  # rows a killed run logged after its checkpoint
    if cfg.data_weights and len(cfg.data_weights) != len(train_set.sources):
        raise ColorizerError(f"--data-weights has {len(cfg.data_weights)} values for "
                             f"{len(train_set.sources)} --data folders")
    epoch_len = len(epoch_order(train_set, cfg.data_weights, torch.Generator().manual_seed(0)))
    per_epoch = epoch_len // (cfg.batch_size * world)
    if per_epoch == 0:
        raise ColorizerError(f"only {len(train_set)} training images for batch size {cfg.batch_size}")
    total = per_epoch * cfg.epochs
    log_path = run / "log.csv"
    writer = _tensorboard(run) if rank == 0 else None
    start = time.monotonic()
    seconds_before = state.get("seconds", 0.0)  # training time of earlier sessions (resume)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else _nullcontext()
    bar = tqdm(total=total, initial=state["step"], unit="step", disable=not progress or rank != 0,
               desc=f"train {cfg.model}")
    model.train()
    stop = False
    while state["epoch"] < cfg.epochs and not stop:
        shuffle = torch.Generator().manual_seed(cfg.seed + state["epoch"])
        order = epoch_order(train_set, cfg.data_weights, shuffle)
        order = order[rank::world]
        while state["batch"] < per_epoch:
            idx = order[state["batch"] * cfg.batch_size:(state["batch"] + 1) * cfg.batch_size].tolist()
            items = [train_set[i] for i in idx]
            L = torch.stack([it[0] for it in items]).to(device)
            ab = torch.stack([it[1] for it in items]).to(device)
            if device.type == "cuda":
                L, ab = L.to(memory_format=torch.channels_last), ab.to(memory_format=torch.channels_last)
            lr_factor = set_learning_rate(optimizers, cfg.lr_schedule, state["step"], total)
            with autocast:
                logs = model.training_step(L, ab, optimizers, state["step"])
            if cfg.lr_schedule != "constant":
                logs["lr_factor"] = lr_factor
            state["step"] += 1
            state["batch"] += 1
            bar.update()
            bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()})
            if rank == 0:
                _log(log_path, {"step": state["step"], "epoch": state["epoch"], **logs}, writer)
                if state["step"] % cfg.checkpoint_every == 0:
                    state["seconds"] = seconds_before + time.monotonic() - start
                    state["log_bytes"] = log_path.stat().st_size
                    save_checkpoint(run, model, optimizers, cfg, state, train_set.rng)
            if cfg.max_minutes and time.monotonic() - start > 60 * cfg.max_minutes:
                stop = True
                break
        if not stop:
            state["epoch"] += 1
            state["batch"] = 0
            if rank == 0 and len(val_set):
                # a model that is not a colorizer (the denoiser) brings its own validation
                val = getattr(model, "validate", functools.partial(validate, model))(
                    val_set, device, cfg.val_images, cfg.batch_size)
                _log(log_path, {"step": state["step"], "epoch": state["epoch"], **val}, writer)
                bar.write(f"epoch {state['epoch']}: " + ", ".join(f"{k} {v:.4f}" for k, v in val.items()))
    bar.close()
    final = run / f"{cfg.model}.safetensors"
    if rank == 0:
        state["seconds"] = seconds_before + time.monotonic() - start
        state["log_bytes"] = log_path.stat().st_size if log_path.exists() else 0
        save_checkpoint(run, model, optimizers, cfg, state, train_set.rng)
        plain = build_model(cfg)  # the same model without DDP wrappers, on the CPU
        plain.load_state_dict(_unwrapped_state(model))
        # calibrated on whole validation photos at their stored size, nearer to the 256 px that
        # users run at than the training crops
        whole = copy.copy(val_set)
        whole.size = None
        calibration = calibrate(plain, whole, torch.device("cpu")) \
            if len(val_set) and not hasattr(plain, "validate") else {}
        save_weights(plain, final, model_card(plain, cfg, {
            "chroma_gain": calibration.get("chroma_gain", 1.0), "calibration": calibration,
            "steps": state["step"], "epochs_completed": state["epoch"],
            "train_images": len(train_set), "val_images": len(val_set),
            "hardware": _hardware(device), "training_seconds": round(state["seconds"], 1)}))
        from colorizer.io import atomic_write

        atomic_write(run / "config.json", lambda tmp: tmp.write_text(json.dumps(asdict(cfg), indent=1)))
    if distributed:
        in_sync = ranks_in_sync(model)
        if rank == 0:
            card_file = final.with_suffix(".json")
            card = json.loads(card_file.read_text())
            card["ddp"] = {"world_size": world, "ranks_in_sync": in_sync}
            card_file.write_text(json.dumps(card, indent=2, sort_keys=True))
        dist.barrier()
        dist.destroy_process_group()
    return final


def ranks_in_sync(model) -> bool:
    """True when every rank holds exactly the same parameters (checked with an all-gather)."""
    import torch.distributed as dist

    signature = torch.stack([p.detach().double().sum() for p in model.parameters()]
                            + [p.detach().double().abs().sum() for p in model.parameters()]).cpu()
    gathered = [torch.zeros_like(signature) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, signature)
    return all(torch.equal(gathered[0], g) for g in gathered[1:])


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _hardware(device) -> str:
    import platform

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
           f"{torch.get_num_threads()} threads)"


def _tensorboard(run: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional extra: pip install 'colorizer[train]'
        return None
    return SummaryWriter(str(run / "tensorboard"))


def _trim_log(path: Path, state: dict) -> None:
    """Cut log.csv back to its length when the checkpoint that a run starts from was written
    (``state["log_bytes"]``; a fresh run: nothing), dropping what a killed run logged after it
    (it is logged again), so that a resumed run's log reads like an uninterrupted one's."""
    if not path.exists():
        return
    keep = int(state.get("log_bytes", 0))
    if keep == 0:
        path.unlink()
    elif path.stat().st_size > keep:
        os.truncate(path, keep)


def _log(path: Path, row: dict, writer) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["step", "epoch", "key", "value"])
        for k, v in row.items():
            if k not in ("step", "epoch"):
                w.writerow([row["step"], row["epoch"], k, f"{v:.6g}"])
                if writer is not None:
                    writer.add_scalar(k, v, row["step"])
