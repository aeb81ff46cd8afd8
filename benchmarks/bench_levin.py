"""Levin scribble colorization: our solver against a direct sparse solve, in the same run.

    python benchmarks/bench_levin.py [--sizes 256 512 1024 12mp] [--direct-12mp]

For each size: ``colorize`` (what users get: at most 256x256 solved, larger images upsampled
with a fast guided filter), the multigrid-CG solve of the full-size system, and SciPy's direct
``spsolve`` (SuperLU) of the same full-size system in a child process stopped after 60 s, with
the ratios direct / colorize and direct / multigrid, and the AuC against the photo's true colours
of ``colorize`` and of the direct solve (the strokes take the photo's true colour).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
from PIL import Image

from colorizer import color, levin
from colorizer.metrics import auc

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos" / "eval" / "val20"


def photo(h: int, w: int) -> np.ndarray:
    files = sorted(SHARED.glob("*.png")) if SHARED.is_dir() else []
    if files:
        return np.asarray(Image.open(files[0]).convert("RGB").resize((w, h), Image.BICUBIC))
    yy, xx = np.mgrid[0:h, 0:w]
    return (np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 40)], -1) * 255).astype(np.uint8)


def scribbles(lab: np.ndarray, n: int = 30, seed: int = 0):
    """n short horizontal strokes taking the photo's true colour, scaled with the image."""
    h, w = lab.shape[:2]
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), bool)
    length, thick = max(8, w // 12), max(2, h // 170)
    for _ in range(n):
        y, x = rng.integers(0, h - thick), rng.integers(0, w - length)
        mask[y:y + thick, x:x + length] = True
    return np.where(mask[..., None], lab[..., 1:], 0.0), mask


def _direct(args, queue):
    L, hint, mask = args
    t = time.perf_counter()
    ab = levin.solve(L, hint, mask, method="direct")
    queue.put((time.perf_counter() - t, ab.astype(np.float32)))


def direct_solve(L, hint, mask, limit=60.0):
    """(seconds, ab) of the direct solve in a child process, or (None, None) after ``limit`` s."""
    queue = mp.get_context("fork").Queue()
    proc = mp.get_context("fork").Process(target=_direct, args=((L, hint, mask), queue))
    proc.start()
    try:
        return queue.get(timeout=limit)  # before join: a large result would block the child
    except Exception:  # queue.Empty: still solving
        return None, None
    finally:
        proc.kill()
        proc.join()


def timed(fn, *args, repeat=3):
    """Best of ``repeat`` runs (the machines are shared and noisy)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["256", "512", "1024", "12mp"])
    ap.add_argument("--direct-12mp", action="store_true", help="also try the direct solve at 12 MP")
    args = ap.parse_args()
    import pyamg  # noqa: F401  (import once, outside the timings)

    print(f"{'size':>11s} {'colorize s':>11s} {'amg full s':>11s} {'direct s':>10s} "
          f"{'direct/colorize':>16s} {'direct/amg':>11s} {'AuC colorize':>13s} {'AuC direct':>11s}")
    for size in args.sizes:
        h, w = (3000, 4000) if size.lower() == "12mp" else (int(size), int(size))
        lab = color.rgb2lab(photo(h, w)).astype(np.float64)
        hint, mask = scribbles(lab)
        L = lab[..., 0]
        t_ours = timed(levin.colorize, L, hint, mask)
        ours = levin.colorize(L, hint, mask)
        big = h * w > 1100 * 1100
        t_amg = None if big else timed(levin.solve, L, hint, mask)
        t_direct, direct_ab = None, None
        if not big or args.direct_12mp:
            t_direct, direct_ab = direct_solve(L, hint, mask)
        fmt = lambda t: f"{t:.3f}" if t is not None else "-"  # noqa: E731
        ratio = lambda a, b: f"{a / b:.1f}x" if a and b else "-"  # noqa: E731
        direct = fmt(t_direct) if t_direct is not None else ("> 60 s" if not big or args.direct_12mp
                                                               else "not run")
        step = max(1, int(np.sqrt(h * w / 512**2)))  # AuC on at most about 512x512 pixels
        truth = lab[::step, ::step, 1:]
        auc_direct = f"{auc(direct_ab[::step, ::step], truth):.2f}" if direct_ab is not None else "-"
        print(f"{w:>5d}x{h:<5d} {t_ours:11.3f} {fmt(t_amg):>11s} {direct:>10s} "
              f"{ratio(t_direct, t_ours):>16s} {ratio(t_direct, t_amg):>11s} "
              f"{auc(ours[::step, ::step], truth):13.2f} {auc_direct:>11s}")


if __name__ == "__main__":
    main()
