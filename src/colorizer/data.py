"""Training data: ``prepare`` photo folders into Lab arrays, and one Dataset that reads them.

Prepared layout (the Kaggle "image colorization" convention, 8-bit OpenCV Lab)::

    DIR/l.npy         (N, S, S)    uint8  L * 255 / 100
    DIR/ab.npy        (N, S, S, 2) uint8  a + 128, b + 128
    DIR/split.npy     (N,)         uint8  0 = train, 1 = validation
    DIR/manifest.csv  one row per source file: path, sha256, split, kept/skipped, reason
    DIR/dataset.json  the resolved PrepareConfig, counts, and "complete": true

L comes from the resized original photo and ab from the colour target, which is the superpixel-
smoothed photo when ``superpixels`` is on: the network sees real lightness and learns flat,
region-level colour. ``l_from="smoothed"`` reproduces the seed, which took both from the smoothed
image.

Greyscale photos are left out, because they teach a model to output grey. The chroma test: at
64x64, a photo is greyscale when the 99th percentile of its chroma sqrt(a^2 + b^2) is below
``grey_chroma`` (3 Lab units). On ../shared/data/photos/train the colour photos start at 5.7 and
the greyscale ones stay under 1.1.

Preparing is parallel, resumable and safe: each item is written into its own slot of memory-mapped
work arrays and logged in ``progress.jsonl``; a rerun after a kill redoes only unlogged items, and
the final arrays are compacted from the slots, so they are identical to an uninterrupted run's.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from colorizer.color import ab8_to_ab, ab_to_ab8, l8_to_l, l_to_l8, srgb_to_lab
from colorizer.errors import ColorizerError, OutputExists
from colorizer.io import atomic_write, read_image, remove_stale_temps


@dataclass
class PrepareConfig:
    """Options of ``colorize prepare``; saved as dataset.json next to the arrays."""

    size: int = 224
    fit: str = "crop"  # "crop": centre square; "stretch": the seed's plain resize
    superpixels: bool = False
    n_segments: int = 10000
    sigma: float = 5.0
    thresh: float = 35.0
    l_from: str = "original"  # "original" or "smoothed" (the seed)
    val_fraction: float = 0.1
    grey_chroma: float = 3.0
    sources: list[str] = field(default_factory=list)

    def check(self) -> None:
        if self.size < 16:
            raise ColorizerError(f"--size must be at least 16, got {self.size}")
        if self.fit not in ("crop", "stretch"):
            raise ColorizerError(f"--fit must be crop or stretch, got {self.fit!r}")
        if self.l_from not in ("original", "smoothed"):
            raise ColorizerError(f"--l-from must be original or smoothed, got {self.l_from!r}")
        if not 0 <= self.val_fraction < 1:
            raise ColorizerError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")


# --- one photo ------------------------------------------------------------------------------------


def resize_photo(rgb: np.ndarray, size: int, fit: str = "crop") -> np.ndarray:
    """Resize to ``size`` x ``size``: centre crop after scaling the short side, or stretch."""
    import cv2

    h, w = rgb.shape[:2]
    if fit == "stretch":
        return cv2.resize(rgb, (size, size))  # the seed's call (bilinear)
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(rgb, (nw, nh), interpolation=interp)
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(resized[top:top + size, left:left + size])


def greyscale_chroma(rgb: np.ndarray) -> float:
    """99th percentile of chroma at 64x64, in Lab units (see the module docstring)."""
    import cv2

    small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
    lab = srgb_to_lab(small)
    return float(np.percentile(np.hypot(lab[..., 1], lab[..., 2]), 99))


def prepare_photo(rgb: np.ndarray, cfg: PrepareConfig) -> tuple[np.ndarray, np.ndarray]:
    """One resized uint8 photo -> (l8 (S, S), ab8 (S, S, 2)) in the 8-bit OpenCV convention."""
    target = rgb
    if cfg.superpixels:
        from colorizer.superpixels import smooth

        target = smooth(rgb, cfg.n_segments, cfg.sigma, cfg.thresh)
    lab_target = srgb_to_lab(target)  # numpy: preparing never imports torch
    lab_l = lab_target if cfg.l_from == "smoothed" else srgb_to_lab(rgb)
    return l_to_l8(lab_l[..., 0]), ab_to_ab8(lab_target[..., 1:])  # lab_to_lab8's channels


def split_of(sha256: str, val_fraction: float) -> str:
    """Deterministic split from the file's content hash (independent of order and workers)."""
    return "val" if int(sha256[:8], 16) / 2**32 < val_fraction else "train"


# --- the whole folder ------------------------------------------------------------------------------

_WORKER: dict = {}
#: What an unfinished ``prepare`` keeps in ``--out`` (prepare.json is written last when starting).
_WORK_FILES = ("work_l.npy", "work_ab.npy", "progress.jsonl", "prepare.json")


def _init_worker(out: str, files: list[str], cfg: PrepareConfig) -> None:
    # no torch here: a worker's whole job is numpy, OpenCV, scikit-image and numba
    _WORKER["files"] = files
    _WORKER["cfg"] = cfg
    _WORKER["l"] = np.load(Path(out) / "work_l.npy", mmap_mode="r+")
    _WORKER["ab"] = np.load(Path(out) / "work_ab.npy", mmap_mode="r+")


def prepare_item(path: str, cfg: PrepareConfig) -> tuple[dict, np.ndarray | None, np.ndarray | None]:
    """One source file -> (record, l8, ab8), the per-photo step of every way of preparing (the
    local process pool here, Dask in :mod:`colorizer.distributed`).

    ``record`` is ``{"status": "kept" | "skipped", "reason": ..., "sha256": ...}``; ``l8`` (S, S)
    and ``ab8`` (S, S, 2) are the photo's arrays, None unless it is kept.
    """
    import warnings

    if not Path(path).is_file():  # a FIFO or a device: reading it could wait forever
        return {"status": "skipped", "reason": "not a regular file", "sha256": ""}, None, None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return {"status": "skipped", "reason": f"unreadable ({exc.strerror})", "sha256": ""}, None, None
    sha = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pic = read_image(path)
    except ColorizerError as exc:
        return {"status": "skipped", "reason": str(exc).split(": ", 1)[-1], "sha256": sha}, None, None
    rgb = resize_photo(pic.to_array(np.uint8)[..., :3], cfg.size, cfg.fit)
    chroma = greyscale_chroma(rgb)
    if chroma < cfg.grey_chroma:
        return {"status": "skipped", "reason": f"greyscale (chroma {chroma:.1f})", "sha256": sha}, None, None
    l8, ab8 = prepare_photo(rgb, cfg)
    return {"status": "kept", "reason": "", "sha256": sha}, l8, ab8


def _process(i: int) -> dict:
    rec, l8, ab8 = prepare_item(_WORKER["files"][i], _WORKER["cfg"])
    if l8 is not None:
        # A shared file mapping: the bytes are in the page cache as soon as they are written, so a
        # killed process loses nothing that its logged items need (no msync per item).
        _WORKER["l"][i] = l8
        _WORKER["ab"][i] = ab8
    return {"i": i, **rec}


def _read_progress(path: Path) -> dict[int, dict]:
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
                done[int(rec["i"])] = rec
            except (json.JSONDecodeError, KeyError, ValueError):
                continue  # a line cut short by a kill
    return done


def prepare(sources: list[str | os.PathLike], out: str | os.PathLike, cfg: PrepareConfig, *,
            workers: int | None = None, overwrite: bool = False, progress: bool = True,
            limit: int | None = None, runner: Callable | None = None) -> dict:
    """Prepare image folders into ``out`` (see the module docstring). Returns the summary.

    ``limit`` stops after that many new items (used to test resuming). ``runner`` computes the
    items instead of the local process pool: ``runner(todo, files, cfg, out, store)`` must call
    ``store(record, l8, ab8)`` with each :func:`prepare_item` result (record plus ``"i"``, the
    item's index in ``files``); :func:`colorizer.distributed.prepare_on_cluster` passes one that
    runs on Dask. Either way the arrays come out identical.
    """
    from colorizer.batch import find_images

    cfg.check()
    out = Path(out)
    files = []
    for src in sources:
        src = Path(src)
        if not src.exists():
            raise ColorizerError(f"{src}: not found")
        files += [str(p.resolve()) for p in (find_images(src) if src.is_dir() else [src])]
    if not files:
        raise ColorizerError("no image files found in the given sources")
    cfg.sources = [str(Path(s).resolve()) for s in sources]
    state_path = out / "prepare.json"
    state = {"config": asdict(cfg), "files": files}
    if out.exists():
        remove_stale_temps(out)  # half-written arrays of a killed run
    if (out / "dataset.json").exists() and not overwrite:
        for name in _WORK_FILES:  # a run killed after it finished, before it tidied up
            (out / name).unlink(missing_ok=True)
        raise OutputExists(f"{out}: holds a finished dataset, not overwritten (use --overwrite to "
                           "replace it, or another --out)")
    if out.exists() and overwrite:
        for name in ("l.npy", "ab.npy", "split.npy", "manifest.csv", "dataset.json", *_WORK_FILES):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / "shards", ignore_errors=True)  # a Dask runner's unmerged results
    if state_path.exists():
        if json.loads(state_path.read_text()) != state:
            raise ColorizerError(f"{out}: holds an unfinished dataset prepared with other sources or "
                                 "options; use another --out, or --overwrite to start again")
    elif out.exists() and any(out.iterdir()):
        if {p.name for p in out.iterdir()} <= set(_WORK_FILES):
            for name in _WORK_FILES:  # killed while setting up, before prepare.json: start afresh
                (out / name).unlink(missing_ok=True)
        else:
            raise ColorizerError(f"{out}: folder is not empty; give a new or empty --out")
    try:
        return _prepare_into(out, files, cfg, state, workers, progress, limit, runner)
    except OSError as exc:  # a full disk or a read-only --out; a rerun continues where it stopped
        from colorizer.io import os_error_message

        raise ColorizerError(os_error_message(exc, exc.filename or out)) from None


def _prepare_into(out: Path, files: list[str], cfg: PrepareConfig, state: dict, workers, progress,
                  limit, runner) -> dict:
    state_path = out / "prepare.json"
    out.mkdir(parents=True, exist_ok=True)
    n, s = len(files), cfg.size
    if not state_path.exists():
        for name, shape in (("work_l.npy", (n, s, s)), ("work_ab.npy", (n, s, s, 2))):
            np.lib.format.open_memmap(out / name, "w+", np.uint8, shape).flush()
            _reserve(out / name)
        atomic_write(state_path, lambda p: p.write_text(json.dumps(state)))
    log_path = out / "progress.jsonl"
    done = _read_progress(log_path)
    todo = [i for i in range(n) if i not in done]
    if limit is not None:
        todo = todo[:limit]
    _run_items(todo, str(out), files, cfg, workers, log_path, done, progress, runner)
    if len(done) < n:
        return {"complete": False, "done": len(done), "total": n}
    return _finish(out, files, cfg, done)


def _reserve(path: Path) -> None:
    """Give a sparse work array its disk blocks now: on a full disk that is a clear error here,
    not a SIGBUS in a worker writing through its memory map later."""
    import errno

    with open(path, "r+b") as fh:
        try:
            os.posix_fallocate(fh.fileno(), 0, os.fstat(fh.fileno()).st_size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise OSError(exc.errno, exc.strerror, str(path)) from None


def _run_items(todo, out, files, cfg, workers, log_path, done, progress, runner=None) -> None:
    import multiprocessing as mp

    from tqdm import tqdm

    if not todo:
        return
    if cfg.superpixels and runner is None:  # compile the merge once here; forked workers inherit it
        from colorizer.superpixels import smooth

        smooth(np.zeros((8, 8, 3), np.uint8), n_segments=4, sigma=0)
    workers = workers or os.cpu_count() or 1
    frozen = runner is None and workers > 1
    if frozen:
        # numba's loaded code is hundreds of thousands of Python objects: frozen before the fork,
        # the workers' collections skip them (no time spent, no inherited pages copied)
        gc.freeze()
    bar = tqdm(total=len(todo), unit="img", disable=not progress, desc="prepare")
    with open(log_path, "a") as log:
        def record(rec):
            done[rec["i"]] = rec
            log.write(json.dumps(rec) + "\n")
            log.flush()
            bar.update()

        if runner is not None:
            work_l = np.load(Path(out) / "work_l.npy", mmap_mode="r+")
            work_ab = np.load(Path(out) / "work_ab.npy", mmap_mode="r+")

            def store(rec, l8=None, ab8=None):
                if l8 is not None:
                    work_l[rec["i"]] = l8
                    work_ab[rec["i"]] = ab8
                record(rec)

            runner(todo, files, cfg, Path(out), store)
        elif workers == 1:
            _init_worker(out, files, cfg)
            for i in todo:
                record(_process(i))
        else:
            ctx = mp.get_context("fork")
            with ctx.Pool(workers, initializer=_init_worker, initargs=(out, files, cfg)) as pool:
                # two photos a task: the last tasks leave the workers idle for at most two
                # photos' time (eight cost a short run a tenth of its time), for the price of
                # a message per 50 ms of work
                for rec in pool.imap_unordered(_process, todo, chunksize=2):
                    record(rec)
    if frozen:
        gc.unfreeze()
    bar.close()


def _finish(out: Path, files: list[str], cfg: PrepareConfig, done: dict[int, dict]) -> dict:
    kept = [i for i in range(len(files)) if done[i]["status"] == "kept"]
    work_l = np.load(out / "work_l.npy", mmap_mode="r")
    work_ab = np.load(out / "work_ab.npy", mmap_mode="r")
    s = cfg.size

    def compact(path, src, shape):
        arr = np.lib.format.open_memmap(path, "w+", np.uint8, shape)
        for k in range(0, len(kept), 256):  # streamed: never the whole dataset in memory
            arr[k:k + 256] = src[kept[k:k + 256]]
        arr.flush()
        del arr

    atomic_write(out / "l.npy", lambda p: compact(p, work_l, (len(kept), s, s)))
    atomic_write(out / "ab.npy", lambda p: compact(p, work_ab, (len(kept), s, s, 2)))
    split = np.array([split_of(done[i]["sha256"], cfg.val_fraction) == "val" for i in kept], np.uint8)

    def save_split(p):
        with open(p, "wb") as fh:  # np.save on a path would append ".npy" to the temporary name
            np.save(fh, split)

    atomic_write(out / "split.npy", save_split)

    def manifest(p):
        with open(p, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["source", "sha256", "split", "status", "reason"])
            for i, path in enumerate(files):
                rec = done[i]
                sp = split_of(rec["sha256"], cfg.val_fraction) if rec["status"] == "kept" else ""
                w.writerow([path, rec["sha256"], sp, rec["status"], rec["reason"]])

    atomic_write(out / "manifest.csv", manifest)
    skipped = {files[i]: done[i]["reason"] for i in range(len(files)) if done[i]["status"] != "kept"}
    summary = {"complete": True, "config": asdict(cfg), "kept": len(kept),
               "train": int((split == 0).sum()), "val": int((split == 1).sum()),
               "skipped": len(skipped), "skipped_files": skipped}
    # dataset.json marks the dataset finished; the work files go only after it, so a run killed
    # in between is either resumed from them or found finished (and tidied) by the next run
    atomic_write(out / "dataset.json", lambda p: p.write_text(json.dumps(summary, indent=1)))
    for name in _WORK_FILES:
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "shards", ignore_errors=True)  # a Dask runner's merged results
    return summary


# --- reading -------------------------------------------------------------------------------------


def _load_npy(path: Path, mmap: bool = True) -> np.ndarray:
    """One .npy array (memory-mapped), or a one-line error: never a pickle, and never a crash
    on a truncated or foreign file."""
    import zipfile

    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        text = str(exc)
        if "Python objects" in text or "allow_pickle" in text:
            raise ColorizerError(f"{path}: holds Python objects (a pickle), which are never loaded; "
                                 "datasets are plain uint8 arrays (`colorize prepare`)") from None
        raise ColorizerError(f"{path}: truncated or corrupt .npy file ({text.splitlines()[0]}); "
                             "prepare the dataset again") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ColorizerError(f"{path}: not a readable .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise ColorizerError(f"{path}: is an .npz archive, not one .npy array")
    return arr


def _check_arrays(root: Path, ls: list[np.ndarray], abs_: list[np.ndarray],
                  split: np.ndarray | None) -> None:
    """The 8-bit Lab layout of the module docstring, or an error naming what is off."""
    for name, arrays, ndim, tail in (("L", ls, 3, ()), ("ab", abs_, 4, (2,))):
        for arr in arrays:
            if arr.dtype != np.uint8:
                raise ColorizerError(f"{root}: {name} array is {arr.dtype}, not uint8 (8-bit Lab as "
                                     "`colorize prepare` writes it)")
            if arr.ndim != ndim or arr.shape[ndim - len(tail):] != tail:
                want = "(N, S, S)" if name == "L" else "(N, S, S, 2)"
                raise ColorizerError(f"{root}: {name} array has shape {arr.shape}, expected {want}")
    size = ls[0].shape[1:3]
    if any(a.shape[1:3] != size for a in ls + abs_):
        raise ColorizerError(f"{root}: L and ab images differ in shape "
                             f"({', '.join(str(a.shape) for a in ls + abs_)})")
    if size[0] != size[1]:
        raise ColorizerError(f"{root}: images are {size[1]}x{size[0]}; training images must be square")
    n = sum(len(a) for a in ls)
    if split is not None and (split.ndim != 1 or len(split) != n or not np.isin(split, (0, 1)).all()):
        raise ColorizerError(f"{root}: split.npy must hold one 0 (train) or 1 (val) per image: "
                             f"{split.shape} for {n} images")


def _open_root(root: Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray | None]:
    """Memory-map one dataset folder: ours, or the Kaggle download as it is."""
    if (root / "l.npy").exists() and (root / "ab.npy").exists():
        ls, abs_ = [_load_npy(root / "l.npy")], [_load_npy(root / "ab.npy")]
        split = _load_npy(root / "split.npy", mmap=False) if (root / "split.npy").exists() else None
        _check_arrays(root, ls, abs_, split)
        return ls, abs_, split
    kaggle_l = root / "l" / "gray_scale.npy"
    kaggle_ab = sorted((root / "ab").glob("ab*.npy")) if (root / "ab").is_dir() else []
    if kaggle_l.exists() and kaggle_ab:
        ls, abs_ = [_load_npy(kaggle_l)], [_load_npy(p) for p in kaggle_ab]
        _check_arrays(root, ls, abs_, None)
        return ls, abs_, None
    raise ColorizerError(f"{root}: not a dataset folder (expected l.npy + ab.npy, or the Kaggle "
                         "layout l/gray_scale.npy + ab/ab1.npy ...); make one with `colorize prepare`")


class _Rows:
    """Several memory-mapped arrays seen as one, without copying."""

    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = arrays
        self.offsets = np.cumsum([0] + [len(a) for a in arrays])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> np.ndarray:
        k = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return self.arrays[k][i - self.offsets[k]]


def _default_split(n: int, val_fraction: float) -> np.ndarray:
    """For arrays without split.npy (Kaggle): a fixed pseudo-random split by row."""
    return (np.random.default_rng(0).random(n) < val_fraction).astype(np.uint8)


class LabDataset:
    """Prepared folders and Kaggle downloads as one torch Dataset of (L, ab) in Lab units.

    Parameters
    ----------
    roots : list of paths
        Dataset folders; several are concatenated.
    split : {"train", "val", "all"}
    size : int, optional
        Output size (default: the stored size).
    augment : bool
        Random horizontal flip, a random crop (``crop``) and a degraded L (:meth:`degrade_l`).
    crop : {"resized", "native"}
        With ``augment``: "resized" takes a random resized crop (area 0.3-1, aspect 3/4-4/3;
        several scales), "native" a ``size`` x ``size`` window at the stored scale, never resized
        (for the denoiser: noise is measured per pixel, so the photos' pixel-level statistics must
        be those of the photos it will clean, not those of shrunken ones).
    val_fraction : float
        For arrays without split.npy.
    damage : {"light", "old", "none"}
        With ``augment``, what :meth:`degrade_l` does to L: "light" (mild jitter, noise, JPEG),
        "old" (the old-scan damage of :mod:`colorizer.damage`, for noise-robust colorizers), or
        "none" (clean L, e.g. for the denoiser, which damages its own input).

    Notes
    -----
    Items are ``(L, ab)``: float32 tensors (1, S, S) with L in [0, 100] and (2, S, S) in Lab units.
    Arrays are memory-mapped; nothing is loaded whole.
    """

    def __init__(self, roots, split: str = "train", size: int | None = None, augment: bool = False,
                 val_fraction: float = 0.1, seed: int = 0, damage: str = "light", crop: str = "resized"):
        if split not in ("train", "val", "all"):
            raise ColorizerError(f"split must be train, val or all, got {split!r}")
        if crop not in ("resized", "native"):
            raise ColorizerError(f"crop must be resized or native, got {crop!r}")
        self.crop = crop
        if damage not in ("light", "old", "none"):
            raise ColorizerError(f"damage must be light, old or none, got {damage!r}")
        self.damage = damage
        self.sources = []  # (l rows, ab rows, row indices)
        for root in [Path(r) for r in ([roots] if isinstance(roots, (str, Path)) else roots)]:
            ls, abs_, split_arr = _open_root(root)
            l_rows, ab_rows = _Rows(ls), _Rows(abs_)
            if len(l_rows) != len(ab_rows):
                raise ColorizerError(f"{root}: L has {len(l_rows)} images but ab has {len(ab_rows)}")
            if split_arr is None:
                split_arr = _default_split(len(l_rows), val_fraction)
            rows = np.arange(len(l_rows)) if split == "all" else \
                np.flatnonzero(split_arr == (1 if split == "val" else 0))
            self.sources.append((l_rows, ab_rows, rows))
        self.offsets = np.cumsum([0] + [len(s[2]) for s in self.sources])
        self.size, self.augment = size, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def raw(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The stored uint8 (l8, ab8) of item ``i``."""
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = int(np.searchsorted(self.offsets, i, side="right") - 1)
        l_rows, ab_rows, rows = self.sources[k]
        row = int(rows[i - self.offsets[k]])
        return np.asarray(l_rows[row]), np.asarray(ab_rows[row])

    def degrade_l(self, L: np.ndarray) -> np.ndarray:
        """What old scans do to lightness, at random (the target colour is left alone). "light":
        a slight gain/offset jitter (half the items), Gaussian noise (a quarter, sigma 1-4 L
        units) and JPEG compression (a quarter, quality 30-90); "old":
        :func:`colorizer.damage.damage_grey` on the 8-bit grey (noise up to sigma 50, grain, JPEG
        20-90, blur)."""
        import cv2

        rng = self.rng
        if self.damage == "none":
            return np.asarray(L, np.float32)
        if self.damage == "old":
            from colorizer.damage import damage_grey, grey_to_l, grey_u8

            return grey_to_l(damage_grey(grey_u8(L), rng))
        if rng.random() < 0.5:
            L = L * rng.uniform(0.9, 1.1) + rng.uniform(-5, 5)
        if rng.random() < 0.25:
            L = L + rng.normal(0, rng.uniform(1, 4), L.shape)
        if rng.random() < 0.25:
            l8 = np.clip(np.round(L * 2.55), 0, 255).astype(np.uint8)
            ok, enc = cv2.imencode(".jpg", l8, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 91))])
            L = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 2.55
        return np.clip(L, 0, 100).astype(np.float32)

    def __getitem__(self, i: int):
        import cv2
        import torch

        l8, ab8 = self.raw(i)
        lab = np.concatenate([l8_to_l(l8)[..., None], ab8_to_ab(ab8)], axis=2)
        s = lab.shape[0]
        out = self.size or s
        if self.augment:
            if self.crop == "native":  # a window at the stored scale (resized only if too small)
                ch = cw = min(s, out)
            else:
                area = self.rng.uniform(0.3, 1.0) * s * s  # several scales
                aspect = np.exp(self.rng.uniform(np.log(3 / 4), np.log(4 / 3)))
                ch = int(min(s, round(np.sqrt(area / aspect))))
                cw = int(min(s, round(np.sqrt(area * aspect))))
            y, x = self.rng.integers(0, s - ch + 1), self.rng.integers(0, s - cw + 1)
            lab = lab[y:y + ch, x:x + cw]
            if self.rng.random() < 0.5:
                lab = lab[:, ::-1]
        if lab.shape[:2] != (out, out):
            lab = cv2.resize(np.ascontiguousarray(lab), (out, out), interpolation=cv2.INTER_AREA)
        if self.augment:
            lab = np.ascontiguousarray(lab)
            lab[..., 0] = self.degrade_l(lab[..., 0])
        t = torch.from_numpy(np.ascontiguousarray(lab)).permute(2, 0, 1)
        return t[:1].float(), t[1:].float()
