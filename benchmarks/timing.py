"""The timing loop the benchmark scripts share: the best of several runs of one call.

Imported by the scripts in this folder (``python benchmarks/NAME.py`` puts the folder first on
the module path).
"""

from __future__ import annotations

import time


def best_seconds(fn, repeat: int, warmup: bool = False) -> float:
    """The shortest of ``repeat`` timed calls of ``fn()``, in seconds; ``warmup``: one untimed
    call first (kernels, caches)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
