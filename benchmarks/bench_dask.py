"""Batch colorization throughput: in-process, and on local Dask clusters of 1 and 2 workers.

    python benchmarks/bench_dask.py [--photos 48] [--folder ../shared/data/photos/eval] [--model default]

Prints files per second for, in one run and on the same photos:

* in-process: what ``colorize image`` does without ``--workers`` (one process, torch on all cores);
* 1 worker x 1 thread and 2 workers x 1 thread (``--workers 1`` / ``--workers 2``),

and the ratios against the in-process run and against 1 worker. The cluster figures are timed
after start-up (cluster started, every worker has loaded the model, as on a cluster that
processes many files); start-up is reported on its own line, and the files per second including
it too. The photos are read from ``--folder`` (cycled to ``--photos``; written outputs go to a
temporary folder).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos" / "eval"


def inputs(folder: Path, n: int, tmp: Path) -> Path:
    from colorizer.batch import find_images

    files = find_images(folder)
    if not files:
        raise SystemExit(f"no photos in {folder}")
    src = tmp / "in"
    src.mkdir()
    for k in range(n):
        f = files[k % len(files)]
        os.symlink(f.resolve(), src / f"{k:04d}_{f.name}")
    return src


def in_process(src: Path, out: Path, model: str, size) -> tuple[float, float]:
    """(model load seconds, run seconds) of the in-process ``colorize image`` path."""
    from colorizer.api import colorize_picture
    from colorizer.batch import plan_jobs, run_jobs
    from colorizer.registry import get_colorizer

    t = time.perf_counter()
    net = get_colorizer(model, device="cpu")
    load = time.perf_counter() - t
    jobs = plan_jobs([src], out_dir=out)
    t = time.perf_counter()
    s = run_jobs(jobs, lambda pic, job: colorize_picture(pic, net, size), progress=False)
    assert len(s.done) == len(jobs), s.line()
    return load, time.perf_counter() - t


def on_cluster(src: Path, out: Path, workers: int, model: str, size) -> tuple[float, float]:
    """(start-up seconds, run seconds) on a new local cluster of ``workers`` x 1 thread."""
    from distributed import Client, LocalCluster

    from colorizer.batch import plan_jobs
    from colorizer.distributed import ClusterConfig, ModelSpec, colorize_on_cluster, preload

    t = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        spec = ModelSpec(model, None, "cpu")
        threads = client.gather([client.submit(preload, spec, workers=[w], pure=False)
                                 for w in client.nthreads()])  # every worker loads the model now
        assert set(threads) == {1}, threads
        startup = time.perf_counter() - t
        jobs = plan_jobs([src], out_dir=out)
        t = time.perf_counter()
        s = colorize_on_cluster(jobs, ClusterConfig(scheduler=cluster.scheduler_address), model=model,
                                device="cpu", size=size, progress=False, say=lambda line: None)
        run = time.perf_counter() - t
    assert len(s.done) == len(jobs), s.line()
    return startup, run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=48)
    ap.add_argument("--folder", type=Path, default=DEFAULT)
    ap.add_argument("--model", default="default")
    ap.add_argument("--size", type=int, default=None, help="working resolution (default: the model's)")
    args = ap.parse_args()
    import torch

    print(f"{args.photos} photos from {args.folder}, model {args.model}, {os.cpu_count()} cores, "
          f"torch {torch.get_num_threads()} threads in-process")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = inputs(args.folder, args.photos, tmp)
        load, t_in = in_process(src, tmp / "out0", args.model, args.size)
        rate = {"in-process": args.photos / t_in}
        print(f"in-process:            {rate['in-process']:6.2f} files/s ({t_in:.1f} s; "
              f"model load {load:.1f} s)")
        for n in (1, 2):
            startup, t = on_cluster(src, tmp / f"out{n}", n, args.model, args.size)
            key = f"{n} worker{'s' if n > 1 else ''} x 1 thread"
            rate[key] = args.photos / t
            print(f"{key + ':':22s} {rate[key]:6.2f} files/s ({t:.1f} s; start-up {startup:.1f} s, "
                  f"{args.photos / (t + startup):.2f} files/s with it)")
    one, two = rate["1 worker x 1 thread"], rate["2 workers x 1 thread"]
    print(f"ratios: 1 worker / in-process {one / rate['in-process']:.2f}x, "
          f"2 workers / in-process {two / rate['in-process']:.2f}x, 2 workers / 1 worker {two / one:.2f}x")


if __name__ == "__main__":
    main()
