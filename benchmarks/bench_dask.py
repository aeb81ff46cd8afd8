"""Batch colorization throughput: in-process, and on local Dask clusters of 1 and 2 workers.

    python benchmarks/bench_dask.py [--photos 48] [--repeat 2] [--folder ../shared/data/photos/eval]
                                    [--backend auto|onnx|torch]

Prints files per second for, in one run and on the same photos:

* in-process: what ``colorize image`` does without ``--workers`` (one process, the model on all
  cores);
* 1 worker x 1 thread and 2 workers x 1 thread (``--workers 1`` / ``--workers 2``),

and the ratios against the in-process run and against 1 worker. The cluster figures are timed
after start-up (cluster started, every worker has loaded the model, as on a cluster that
processes many files); start-up is reported on its own, with the files per second including it.
Both clusters stay up and run ``--repeat`` times in turn, the fastest run of each counting, so
that a burst of other load on a shared machine does not fall on one of them only. For
reference, 1 and 2 plain processes x 1 thread without Dask (a multiprocessing pool, the same
library calls) show what the machine itself allows at the moment. The photos are read from
``--folder`` (cycled to ``--photos``); outputs go to a temporary folder.

``--backend`` is resolved once as ``colorize image`` does (:func:`colorizer.distributed.resolve_model`:
``auto`` takes onnxruntime for a model that ships an ONNX export) and every run above uses it.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from contextlib import ExitStack
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


def load_model(spec, threads: int | None = None):
    """(model, its ``colorize_picture(pic, net, size)``) for ``spec``'s resolved backend, with
    ``threads`` per run (None: all cores)."""
    if spec.backend == "onnx":
        from colorizer import onnx_backend

        return (onnx_backend.load_for_job("onnx", spec.model, spec.weights, device=spec.device,
                                          threads=threads), onnx_backend.colorize_picture)
    import torch

    from colorizer.api import colorize_picture
    from colorizer.registry import get_colorizer

    if threads:
        torch.set_num_threads(threads)
    return get_colorizer(spec.model, weights=spec.weights, device=spec.device), colorize_picture


def in_process(src: Path, out: Path, spec, size) -> tuple[float, float]:
    """(model load seconds, run seconds) of the in-process ``colorize image`` path."""
    from colorizer.batch import plan_jobs, run_jobs

    t = time.perf_counter()
    net, colorize_picture = load_model(spec)
    load = time.perf_counter() - t
    jobs = plan_jobs([src], out_dir=out)
    t = time.perf_counter()
    s = run_jobs(jobs, lambda pic, job: colorize_picture(pic, net, size), progress=False)
    assert len(s.done) == len(jobs), s.line()
    return load, time.perf_counter() - t


_NET = None


def _plain_init(spec, ready) -> None:
    global _NET
    _NET = load_model(spec, threads=1)
    ready.wait()


def _plain_one(job_size) -> None:
    from colorizer.io import read_image, write_image

    job, size = job_size
    net, colorize_picture = _NET
    write_image(colorize_picture(read_image(job.src), net, size), job.dst)


def plain(src: Path, out: Path, processes: int, spec, size) -> float:
    """Run seconds on a pool of ``processes`` x 1 torch thread (models loaded before timing)."""
    import multiprocessing as mp

    from colorizer.batch import plan_jobs

    ctx = mp.get_context("spawn")
    ready = ctx.Barrier(processes + 1)
    jobs = plan_jobs([src], out_dir=out)
    with ctx.Pool(processes, _plain_init, (spec, ready)) as pool:
        ready.wait()  # every process has loaded the model
        t = time.perf_counter()
        pool.map(_plain_one, [(j, size) for j in jobs], chunksize=1)
        return time.perf_counter() - t


def start_cluster(stack: ExitStack, workers: int, spec) -> tuple[str, float]:
    """(scheduler address, start-up seconds) of a new local cluster of ``workers`` x 1 thread whose
    workers have loaded the model."""
    from distributed import Client, LocalCluster

    from colorizer.distributed import preload

    t = time.perf_counter()
    cluster = stack.enter_context(LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR))
    with Client(cluster) as client:
        threads = client.gather([client.submit(preload, spec, workers=[w], pure=False)
                                 for w in client.nthreads()])
    assert set(threads) == {1}, threads  # one model thread per task
    return cluster.scheduler_address, time.perf_counter() - t


def on_cluster(src: Path, out: Path, scheduler: str, spec, size) -> float:
    """Run seconds of ``colorize image --scheduler`` (client connection included)."""
    from colorizer.batch import plan_jobs
    from colorizer.distributed import ClusterConfig, colorize_on_cluster

    jobs = plan_jobs([src], out_dir=out)
    t = time.perf_counter()
    s = colorize_on_cluster(jobs, ClusterConfig(scheduler=scheduler), model=spec.model,
                            weights=spec.weights, device=spec.device, backend=spec.backend, size=size,
                            progress=False, say=lambda line: None)
    run = time.perf_counter() - t
    assert len(s.done) == len(jobs), s.line()
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=48)
    ap.add_argument("--folder", type=Path, default=DEFAULT)
    ap.add_argument("--model", default="default")
    ap.add_argument("--size", type=int, default=None, help="working resolution (default: the model's)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs on each cluster, alternating 1 and 2 workers; the fastest counts")
    ap.add_argument("--backend", default="auto", choices=("auto", "onnx", "torch"),
                    help="what runs the model, everywhere, resolved as `colorize image --backend` does")
    args = ap.parse_args()
    from colorizer.distributed import resolve_model

    spec = resolve_model(args.model, None, "cpu", args.backend, say=print)
    if spec.backend == "torch":
        import torch

        threads = f"torch {torch.get_num_threads()} threads in-process"
    else:
        threads = "onnxruntime on all cores in-process"
    print(f"{args.photos} photos from {args.folder}, model {args.model}, backend {spec.backend} "
          f"(--backend {args.backend}), {os.cpu_count()} cores, {threads}")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        tmp = Path(tmp)
        src = inputs(args.folder, args.photos, tmp)
        load, t_in = in_process(src, tmp / "out0", spec, args.size)
        rate = {"in-process": args.photos / t_in}
        print(f"in-process:            {rate['in-process']:6.2f} files/s ({t_in:.1f} s; "
              f"model load {load:.1f} s)")
        clusters = {n: start_cluster(stack, n, spec) for n in (1, 2)}
        runs = {n: [] for n in clusters}
        for r in range(args.repeat):
            for n, (address, _) in clusters.items():
                runs[n].append(on_cluster(src, tmp / f"out{n}_{r}", address, spec, args.size))
        for n, (_, startup) in clusters.items():
            key, t = f"{n} worker{'s' if n > 1 else ''} x 1 thread", min(runs[n])
            rate[key] = args.photos / t
            times = " ".join(f"{x:.1f}" for x in runs[n])
            print(f"{key + ':':22s} {rate[key]:6.2f} files/s (best of {times} s; start-up {startup:.1f} s, "
                  f"{args.photos / (t + startup):.2f} files/s with it)")
        ceiling = [args.photos / plain(src, tmp / f"plain{n}", n, spec, args.size) for n in (1, 2)]
        print(f"for reference, no Dask: 1 process x 1 thread {ceiling[0]:.2f} files/s, 2 processes "
              f"{ceiling[1]:.2f} files/s: {ceiling[1] / ceiling[0]:.2f}x")
    one, two = rate["1 worker x 1 thread"], rate["2 workers x 1 thread"]
    print(f"ratios: 1 worker / in-process {one / rate['in-process']:.2f}x, "
          f"2 workers / in-process {two / rate['in-process']:.2f}x, 2 workers / 1 worker {two / one:.2f}x")


if __name__ == "__main__":
    main()
