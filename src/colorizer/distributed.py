"""Many files on a Dask cluster: batch colorization, videos and dataset preparation.

    colorize image scans/ --out-dir colour/ --workers 2                    # local, 127.0.0.1
    colorize image scans/ --out-dir colour/ --scheduler tcp://HOST:8786    # a running cluster

The work is cut into tasks of a few files each. A worker loads the model once (a cache per
process) and calls the same library function as the in-process path: :func:`colorizer.batch.run_jobs`
with :func:`colorizer.api.colorize_picture` for photos (or, where ``--backend`` resolves to onnx as
in-process, :func:`colorizer.onnx_backend.colorize_picture`, and the worker never imports torch),
:func:`colorizer.video.colorize_video` for clips, :func:`colorizer.data.prepare_item` for
``prepare``. Outputs are written atomically by the workers. The client shows a bar over finished
files and appends one JSON line per output to a manifest (``file``, ``output``, ``status``,
``seconds``, ``error``), so a rerun skips the work already done.

Faults: when a worker dies (``kill -9``, out of memory) Dask runs its tasks again on another one;
an output is complete or absent, never half-written, and the temporary files of a killed writer
are removed at the end. A bad file fails with its one-line error and the run goes on. Ctrl-C
cancels the tasks, closes a local cluster and keeps every finished output.

Workers must see the inputs and outputs under the same paths as the client (one machine, or a
shared file system), and have the same version of colorizer installed.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from colorizer.batch import Job, Summary, check_not_another_input, path_key, run_jobs, with_samples
from colorizer.errors import ColorizerError
from colorizer.io import DEFAULT_MAX_PIXELS

try:  # the [dask] extra; without it, --workers and --scheduler say how to install it
    from distributed import WorkerPlugin as _WorkerPlugin
except ImportError:
    _WorkerPlugin = object

#: Manifest file name, in the folder that holds the outputs (``--out-dir``).
MANIFEST_NAME = "colorize-manifest.jsonl"


@dataclass
class ClusterConfig:
    """Where the tasks run: a new local cluster of ``workers`` processes (1 thread each, on
    127.0.0.1), or the running cluster whose scheduler is at ``scheduler`` (``tcp://HOST:PORT``).

    ``files_per_task``: files in one task (default: about eight tasks per worker thread, at most
    16 photos, 1 clip or 64 photos to prepare). ``timeout``: seconds to wait for the scheduler and its
    first worker.
    """

    workers: int | None = None
    scheduler: str | None = None
    files_per_task: int | None = None
    timeout: float = 30.0

    def check(self) -> None:
        if self.workers is not None and self.scheduler is not None:
            raise ColorizerError("give either --workers (a local cluster) or --scheduler (a running "
                                 "one), not both")
        if self.workers is None and self.scheduler is None:
            raise ColorizerError("give --workers N for a local Dask cluster, or --scheduler "
                                 "tcp://HOST:PORT for a running one")
        if self.workers is not None and self.workers < 1:
            raise ColorizerError(f"--workers must be at least 1, got {self.workers}")
        if self.files_per_task is not None and self.files_per_task < 1:
            raise ColorizerError(f"files per task must be at least 1, got {self.files_per_task}")


def _say(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ColorizerError("--workers and --scheduler need Dask: pip install 'colorizer[dask]'") from None
    return distributed


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def _has_dashboard(client, local: bool) -> bool:
    """Whether the scheduler serves the dashboard: it needs bokeh where the scheduler runs (without
    it, the scheduler's HTTP server only says so)."""
    if not client.scheduler_info().get("services", {}).get("dashboard"):
        return False
    if local:
        return _has_bokeh()
    try:  # a lambda travels by value: the scheduler need not have colorizer installed
        return bool(client.run_on_scheduler(
            lambda: __import__("importlib.util").util.find_spec("bokeh") is not None))
    except Exception:
        return False


@contextmanager
def connect(cluster: ClusterConfig, say: Callable[[str], None] = _say) -> Iterator:
    """A ``distributed.Client`` on the cluster; a local one is started here and closed on exit.

    Checks that a worker is there and can import colorizer, and says the dashboard's address
    when the scheduler has one (it needs bokeh).
    """
    cluster.check()
    distributed = _import_distributed()
    local = None
    if cluster.scheduler is not None:
        try:
            client = distributed.Client(cluster.scheduler, timeout=cluster.timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ColorizerError(f"cannot reach the Dask scheduler at {cluster.scheduler} "
                                 f"({str(exc).splitlines()[0]}); start one with `dask scheduler`, or "
                                 "use --workers N for a local cluster") from None
    else:
        # Ctrl-C in a terminal reaches the whole process group: the workers must leave it to this
        # client, which cancels the tasks and closes them. Workers started now inherit the
        # ignored signal; the plugin does the same for any worker the nanny restarts later.
        with _interrupts_ignored():
            # every server on 127.0.0.1; the scheduler's HTTP server on a free port (8787 may be taken)
            local = distributed.LocalCluster(
                n_workers=cluster.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
        client = distributed.Client(local)
        client.register_plugin(IgnoreInterrupt())
    try:
        _check_workers(client, cluster)
        if _has_dashboard(client, local is not None):
            say(f"Dask dashboard: {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if local is not None:
            local.close()


@contextmanager
def _interrupts_ignored():
    """SIGINT ignored meanwhile (in the main thread only; elsewhere Python cannot change it)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class IgnoreInterrupt(_WorkerPlugin):
    """Worker plugin for local clusters: the worker process ignores SIGINT (see :func:`connect`)."""

    name = "colorizer-ignore-interrupt"
    idempotent = True

    def setup(self, worker) -> None:
        import signal

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _colorizer_version() -> str:
    from colorizer import __version__

    return __version__


def _check_workers(client, cluster: ClusterConfig) -> None:
    from colorizer import __version__

    try:
        client.wait_for_workers(1, timeout=cluster.timeout)
    except TimeoutError:
        raise ColorizerError(f"no Dask worker joined {cluster.scheduler} within {cluster.timeout:.0f} s; "
                             f"start some with `dask worker {cluster.scheduler} --nthreads 1`") from None
    try:
        versions = client.run(_colorizer_version)
    except Exception as exc:  # a worker that cannot unpickle or import colorizer
        raise ColorizerError(f"a Dask worker cannot run colorizer ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}); install the same "
                             "colorizer on every worker") from None
    other = {v for v in versions.values() if v != __version__}
    if other:
        raise ColorizerError(f"the Dask workers run colorizer {', '.join(sorted(other))}, this client "
                             f"{__version__}; install the same version everywhere")


# --- on the workers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to load the model itself (data, not a model object).

    ``backend`` is the one already resolved on the client (:func:`resolve_model`): ``"onnx"``
    (onnxruntime, no torch) or ``"torch"``.
    """

    model: str = "default"
    weights: str | None = None
    device: str = "auto"
    backend: str = "torch"


_MODELS: dict = {}
_MODELS_LOCK = threading.Lock()


def _in_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


def _one_thread_per_task() -> None:
    """In a Dask worker, each task gets one torch thread: a worker runs as many tasks at once as it
    has threads (``--nthreads``), so more would oversubscribe the cores."""
    if _in_worker():
        import torch

        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)


def _load(spec: ModelSpec):
    if spec.backend == "onnx":
        from colorizer.onnx_backend import load_for_job

        # the client chose onnx (resolve_model), so the file must load here: "onnx", not "auto",
        # fails this task with the reason rather than falling back to torch on some workers only
        # (the float export: --precision does not reach the workers yet)
        return load_for_job("onnx", spec.model, spec.weights, device=spec.device,
                            threads=1 if _in_worker() else None, precision="float")
    from colorizer.registry import get_colorizer

    _one_thread_per_task()
    return get_colorizer(spec.model, weights=spec.weights, device=spec.device)


def worker_model(spec: ModelSpec):
    """The model for ``spec``, loaded once per process and kept (one at a time): a torch colorizer,
    or an :class:`~colorizer.onnx_backend.OnnxColorizer` for ``backend="onnx"``."""
    with _MODELS_LOCK:
        if spec not in _MODELS:
            _MODELS.clear()
            _MODELS[spec] = _load(spec)
        return _MODELS[spec]


def preload(spec: ModelSpec) -> int:
    """As a task on a worker: load the model now (:func:`worker_model`); returns the worker's
    threads per task (torch's, or onnxruntime's). Benchmarks use it to time work without start-up."""
    net = worker_model(spec)
    if spec.backend == "onnx":
        return net.session.get_session_options().intra_op_num_threads
    import torch

    return torch.get_num_threads()


def _record(src, dst, status: str, seconds: float, error: str = "", notes=()) -> dict:
    return {"file": str(src), "output": str(dst), "status": status, "seconds": round(seconds, 4),
            "error": error, "notes": list(notes)}


def _one_line(src, exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{src}: {type(exc).__name__}: {text}"


@dataclass(frozen=True)
class ImageTask:
    """Options of ``colorize image`` that travel with each task."""

    model: ModelSpec = ModelSpec()
    size: int | None = None
    saturation: float = 1.0
    overwrite: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS


def colorize_chunk(jobs: list[Job], task: ImageTask) -> list[dict]:
    """On a worker: colorize ``jobs`` with :func:`colorizer.batch.run_jobs` and
    :func:`colorizer.api.colorize_picture` (:func:`colorizer.onnx_backend.colorize_picture` for the
    onnx backend), as ``colorize image`` does in-process. One record per job; a file's problem fails
    that file only."""
    net = worker_model(task.model)
    if task.model.backend == "onnx":
        from colorizer import onnx_backend

        def process(pic, job):
            return onnx_backend.colorize_picture(pic, net, task.size, task.saturation)
    else:
        from colorizer.api import colorize_picture

        def process(pic, job):
            return colorize_picture(pic, net, task.size, sample=job.variant, saturation=task.saturation)

    records = []
    for job in jobs:
        lines: list[str] = []
        start = time.perf_counter()
        try:
            s = run_jobs([job], process, overwrite=task.overwrite, max_pixels=task.max_pixels,
                         progress=False, report=lines.append)
            if s.done:
                status, error = "done", ""
            elif s.skipped:
                status, error = "skipped", s.skipped[0][1]
            else:
                status, error = "failed", s.failed[0][1]
                if str(job.src) not in error:
                    error = f"{job.src}: {error}"
        except Exception as exc:  # e.g. a full disk or no permission: this file fails, the rest go on
            status, error = "failed", _one_line(job.src, exc)
        notes = [line for line in lines if line.startswith("warning:")]
        records.append(_record(job.src, job.dst, status, time.perf_counter() - start, error, notes))
    return records


@dataclass(frozen=True)
class VideoTask:
    """Options of ``colorize video`` that travel with each task (one clip per task)."""

    model: ModelSpec = ModelSpec()
    size: int | None = None
    saturation: float = 1.0
    temporal: object = None  # colorizer.video.TemporalConfig
    hints: dict | None = None
    fps: float | None = None
    overwrite: bool = False


def colorize_video_chunk(jobs: list, task: VideoTask) -> list[dict]:
    """On a worker: :func:`colorizer.video.colorize_video` on each clip, as ``colorize video``
    does in-process (its warnings, e.g. an odd size padded for H.264, are the record's notes)."""
    import warnings

    from colorizer.video import colorize_video

    net = worker_model(task.model)
    records = []
    for job in jobs:
        start = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                r = colorize_video(job.src, job.dst, net, size=task.size, saturation=task.saturation,
                                   temporal=task.temporal, hints=task.hints, overwrite=task.overwrite,
                                   fps=task.fps, progress=False)
            rec = _record(job.src, job.dst, "done", time.perf_counter() - start,
                          notes=[*(f"warning: {w.message}" for w in caught),
                                 f"wrote {r.dst} ({r.frames} frames, {r.fps:.1f} fps, {r.shots} shot"
                                 f"{'s' if r.shots != 1 else ''})"])
        except FileExistsError as exc:
            rec = _record(job.src, job.dst, "skipped", time.perf_counter() - start, str(exc))
        except ColorizerError as exc:
            rec = _record(job.src, job.dst, "failed", time.perf_counter() - start, str(exc))
        except Exception as exc:
            rec = _record(job.src, job.dst, "failed", time.perf_counter() - start, _one_line(job.src, exc))
        records.append(rec)
    return records


# --- on the client ----------------------------------------------------------------------------------


class Manifest:
    """JSON lines, one per output: ``file``, ``output``, ``status`` (done, skipped, failed),
    ``seconds`` and ``error``. The last line about an output wins; a line cut short by a kill is
    ignored."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def finished(self) -> set[str]:
        """Outputs whose last record says done."""
        last: dict[str, str] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                    last[rec["output"]] = rec["status"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
        return {out for out, status in last.items() if status == "done"}

    @contextmanager
    def appending(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fh = open(self.path, "a")
        except OSError as exc:
            raise ColorizerError(f"{self.path}: cannot write the manifest ({exc.strerror}); give "
                                 "--out-dir in a folder you can write") from None
        with fh:
            def write(rec: dict) -> None:
                fh.write(json.dumps({k: rec[k] for k in ("file", "output", "status", "seconds", "error")})
                         + "\n")
                fh.flush()

            yield write


def default_manifest(outputs: list[Path]) -> Path:
    """:data:`MANIFEST_NAME` in the deepest folder that holds every output."""
    return Path(os.path.commonpath([str(p.parent.resolve()) for p in outputs])) / MANIFEST_NAME


def _files_per_task(cluster: ClusterConfig, n: int, threads: int, cap: int) -> int:
    if cluster.files_per_task:
        return cluster.files_per_task
    # about eight tasks per thread: a small last task keeps the workers' finishing times close
    return max(1, min(cap, math.ceil(n / (8 * max(threads, 1)))))


def _stray_temporaries(outputs: list[Path]) -> list[Path]:
    """Temporary files (or frame folders) that :func:`colorizer.io.atomic_write` and the video
    writer leave beside these outputs when their process is killed: ``.NAME.XXXXXXXX.tmp``."""
    names = defaultdict(set)
    for p in outputs:
        names[p.parent].add(p.name)
    stray = []
    for folder, wanted in names.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            if e.name.startswith(".") and e.name.endswith(".tmp") \
                    and e.name[1:-4].rpartition(".")[0] in wanted:
                stray.append(Path(e.path))
    return stray


def _remove(paths: list[Path]) -> None:
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def run_files(jobs: list, fn: Callable, task, cluster: ClusterConfig, *, manifest: str | os.PathLike,
              overwrite: bool = False, progress: bool = True, unit: str = "file", cap: int = 16,
              say: Callable[[str], None] = _say) -> Summary:
    """Run ``fn(chunk, task) -> records`` over chunks of ``jobs`` (each has ``src`` and ``dst``) on
    the cluster; the one loop behind :func:`colorize_on_cluster` and :func:`videos_on_cluster`.

    Jobs whose output the manifest lists as done, and still exists, are skipped without a task;
    so are existing outputs, unless ``overwrite``. Problems are reported one line each through
    ``say``.
    """
    from tqdm import tqdm

    cluster.check()
    summary = Summary()
    manifest = Manifest(manifest)
    finished = set() if overwrite else manifest.finished()
    todo, before = [], 0
    inputs = {path_key(job.src) for job in jobs}
    for job in jobs:
        try:
            if overwrite:
                check_not_another_input(job.dst, job.src, inputs)
        except ColorizerError as exc:
            summary.failed.append((job.src, str(exc)))
            say(f"error: {exc}")
            continue
        if overwrite or not Path(job.dst).exists():
            todo.append(job)
        elif str(job.dst) in finished:
            before += 1
            summary.skipped.append((job.src, f"{job.dst}: done in an earlier run"))
        else:
            msg = f"{job.dst}: exists, not overwritten (use --overwrite)"
            summary.skipped.append((job.src, msg))
            say(f"skipped: {msg}")
    if before:
        say(f"{before} of {len(jobs)} outputs were done in an earlier run ({manifest.path}); "
            "skipping them")
    if not todo:
        return summary
    outputs = [Path(j.dst) for j in todo]
    shared = {p for p, n in Counter(outputs).items() if n > 1}  # two inputs, one output name
    ended = False  # every task ended: no worker is writing any more
    try:
        with manifest.appending() as write, connect(cluster, say) as client:
            k = _files_per_task(cluster, len(todo), sum(client.nthreads().values()), cap)
            chunks = [todo[i:i + k] for i in range(0, len(todo), k)]
            futures = client.map(fn, chunks, task=task, pure=False)
            chunk_of = {f.key: c for f, c in zip(futures, chunks, strict=True)}
            bar = tqdm(total=len(todo), unit=unit, disable=not progress, dynamic_ncols=True)
            try:
                for future in _import_distributed().as_completed(futures):
                    chunk = chunk_of[future.key]
                    try:
                        records = future.result()
                    except Exception as exc:  # the task itself failed, e.g. its workers kept dying
                        why = ("workers died running it (out of memory?)"
                               if type(exc).__name__ == "KilledWorker" else _one_line("task", exc))
                        records = [_record(j.src, j.dst, "failed", 0.0, f"{j.src}: {why}") for j in chunk]
                    future.release()
                    for rec in records:
                        if rec["status"] == "skipped" and not overwrite and Path(rec["output"]) not in shared:
                            # absent when the run began, so an earlier try of this task wrote it
                            # completely before its worker died
                            rec.update(status="done", error="")
                        _tally(rec, summary, write, say)
                    bar.update(len(chunk))
                ended = True
            except KeyboardInterrupt:
                client.cancel(futures)
                raise
            finally:
                bar.close()
    finally:
        if ended or cluster.scheduler is None:  # a local cluster is closed by now
            _remove(_stray_temporaries(outputs))
    return summary


def _tally(rec: dict, summary: Summary, write, say) -> None:
    write(rec)
    for line in rec["notes"]:
        say(line)
    if rec["status"] == "done":
        summary.done.append(Path(rec["output"]))
    elif rec["status"] == "skipped":
        summary.skipped.append((Path(rec["file"]), rec["error"]))
        say(f"skipped: {rec['error']}")
    else:
        summary.failed.append((Path(rec["file"]), rec["error"]))
        say(f"error: {rec['error']}")


def _absolute(jobs: list) -> list:
    """Jobs with absolute paths: a worker started by hand has its own working folder."""
    return [replace(j, src=Path(j.src).absolute(), dst=Path(j.dst).absolute()) for j in jobs]


def _check_model(spec: ModelSpec, samples: int | None) -> None:
    """Errors in the model options, once on the client rather than once per file on the workers."""
    from colorizer.registry import get_colorizer, resolve_name

    resolve_name(spec.model)
    if spec.weights is not None and not Path(spec.weights).is_file():
        raise ColorizerError(f"{spec.weights}: weights file not found")
    if samples:
        from colorizer.api import require_sampler

        require_sampler(get_colorizer(spec.model, weights=spec.weights, device="cpu"))


def resolve_model(model: str = "default", weights: str | None = None, device: str = "auto",
                  backend: str = "auto", *, samples: int | None = None,
                  say: Callable[[str], None] = _say) -> ModelSpec:
    """The :class:`ModelSpec` for ``colorize image`` on a cluster, its backend chosen once, here on
    the client, by :func:`colorizer.onnx_backend.load_for_job` as in-process: the same rules
    (``auto`` takes onnxruntime where an ONNX file exists and nothing needs torch), the same errors
    (``--backend onnx`` without an ONNX file, or with ``--samples``) and the same ``warning:`` line
    when ``auto`` meets a stale export and falls back to torch. Errors in the model options are
    raised here rather than once per file on the workers; the onnx route imports no torch.
    """
    from colorizer.onnx_backend import load_for_job

    fast = load_for_job(backend, model, weights, device=device,
                        torch_only="--samples" if samples else None,
                        warn=lambda line: say(f"warning: {line}"), precision="float")
    spec = ModelSpec(model, weights, device, "torch" if fast is None else "onnx")
    if spec.backend == "torch":
        _check_model(spec, samples)
    return spec


def colorize_on_cluster(jobs: list[Job], cluster: ClusterConfig, *, model: str = "default",
                        weights: str | None = None, device: str = "auto", backend: str = "auto",
                        size: int | None = None, saturation: float = 1.0, samples: int | None = None,
                        overwrite: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                        manifest: str | os.PathLike | None = None, progress: bool = True,
                        say: Callable[[str], None] = _say) -> Summary:
    """``colorize image`` on a Dask cluster: the jobs of :func:`colorizer.batch.plan_jobs`
    colorized by :func:`colorize_chunk` on the workers.

    ``backend`` (auto, onnx, torch) is resolved as in-process (:func:`resolve_model`).
    ``manifest`` defaults to :data:`MANIFEST_NAME` in the folder holding all outputs.

    Examples
    --------
    >>> jobs = plan_jobs(["scans/"], out_dir="colour/")  # doctest: +SKIP
    >>> colorize_on_cluster(jobs, ClusterConfig(workers=2)).line()  # doctest: +SKIP
    'done 40, skipped 0, failed 0'
    """
    cluster.check()
    spec = resolve_model(model, weights, device, backend, samples=samples, say=say)
    jobs = _absolute(jobs)
    if samples:
        jobs = with_samples(jobs, samples)
    task = ImageTask(spec, size, saturation, overwrite, max_pixels)
    return run_files(jobs, colorize_chunk, task, cluster,
                     manifest=manifest or default_manifest([j.dst for j in jobs]),
                     overwrite=overwrite, progress=progress, unit="img", say=say)


def videos_on_cluster(jobs: list, cluster: ClusterConfig, *, model: str = "default",
                      weights: str | None = None, device: str = "auto", backend: str = "auto",
                      size: int | None = None, saturation: float = 1.0, temporal=None,
                      hints: dict | None = None, fps: float | None = None, overwrite: bool = False,
                      manifest: str | os.PathLike | None = None, progress: bool = True,
                      say: Callable[[str], None] = _say) -> Summary:
    """``colorize video`` over many clips (:func:`colorizer.video.plan_video_jobs`), one clip per
    task, each through :func:`colorizer.video.colorize_video` on a worker, with the backend
    chosen once here as for photos (:func:`resolve_model`)."""
    cluster.check()
    spec = resolve_model(model, weights, device, backend, say=say)
    jobs = _absolute(jobs)
    task = VideoTask(spec, size, saturation, temporal, hints, fps, overwrite)
    return run_files(jobs, colorize_video_chunk, task, cluster,
                     manifest=manifest or default_manifest([Path(j.dst) for j in jobs]),
                     overwrite=overwrite, progress=progress, unit="clip", cap=1, say=say)


# --- prepare ----------------------------------------------------------------------------------------


def prepare_shard(out: str, items: list[tuple[int, str]], cfg) -> str:
    """On a worker: :func:`colorizer.data.prepare_item` on each ``(index, path)``; the kept arrays
    and all records go to one shard file ``OUT/shards/FIRST-LAST.npz``, written atomically."""
    import numpy as np

    from colorizer.data import prepare_item
    from colorizer.io import atomic_write

    _one_thread_per_task()
    records, index, ls, abs_ = [], [], [], []
    for i, path in items:
        rec, l8, ab8 = prepare_item(path, cfg)
        records.append({"i": i, **rec})
        if l8 is not None:
            index.append(i)
            ls.append(l8)
            abs_.append(ab8)
    s = cfg.size
    arrays = {"index": np.asarray(index, np.int64),
              "l": np.stack(ls) if ls else np.zeros((0, s, s), np.uint8),
              "ab": np.stack(abs_) if abs_ else np.zeros((0, s, s, 2), np.uint8),
              "records": np.asarray(json.dumps(records))}
    path = Path(out) / "shards" / f"{items[0][0]:09d}-{items[-1][0]:09d}.npz"

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # np.savez on a path would append ".npz" to the temporary name
            np.savez(fh, **arrays)

    atomic_write(path, save)
    return str(path)


def _merge_shard(path: Path, wanted: set[int], store) -> set[int]:
    """Hand a shard's items that are still wanted to ``store``; delete the shard. Returns them."""
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        rows = {int(i): k for k, i in enumerate(z["index"])}
        ls, abs_ = z["l"], z["ab"]
        merged = set()
        for rec in json.loads(str(z["records"])):
            i = rec["i"]
            if i in wanted:
                k = rows.get(i)
                store(rec, ls[k] if k is not None else None, abs_[k] if k is not None else None)
                merged.add(i)
    path.unlink()
    return merged


def _visible(path: Path, wait: float = 10.0) -> Path:
    """``path``, written by a worker, once this client sees it (a network file system may show it
    a little later); a clear error if it never does."""
    deadline = time.monotonic() + wait
    while not path.exists():
        if time.monotonic() > deadline:
            raise ColorizerError(f"{path}: written by a Dask worker but not found here; the workers "
                                 "must see the same paths as this computer (a shared file system)")
        time.sleep(0.2)
    return path


def prepare_on_cluster(sources, out, cfg, cluster: ClusterConfig, *, overwrite: bool = False,
                       progress: bool = True, say: Callable[[str], None] = _say) -> dict:
    """``colorize prepare`` on a Dask cluster, with arrays byte-identical to the in-process run.

    Each task writes a shard of photos (:func:`prepare_shard`); the client merges every shard
    into the work arrays of :func:`colorizer.data.prepare` as it arrives and logs its items, and
    that function compacts them into the Kaggle layout as usual. A rerun after an interruption
    merges the shards that were finished and computes only the rest.
    """
    from colorizer.data import prepare

    cluster.check()
    _import_distributed()  # before prepare() lays out its work files

    def runner(todo, files, cfg, out_path: Path, store):
        wanted = set(todo)
        shard_dir = out_path / "shards"
        for path in sorted(shard_dir.glob("*.npz")) if shard_dir.is_dir() else []:
            wanted -= _merge_shard(path, wanted, store)  # finished before an interruption
        if not wanted:
            return
        failed = []
        with connect(cluster, say) as client:
            left = sorted(wanted)
            k = _files_per_task(cluster, len(left), sum(client.nthreads().values()), 64)
            chunks = [[(i, files[i]) for i in left[j:j + k]] for j in range(0, len(left), k)]
            futures = client.map(prepare_shard, [str(out_path)] * len(chunks), chunks, cfg=cfg,
                                 pure=False)
            chunk_of = {f.key: c for f, c in zip(futures, chunks, strict=True)}
            distributed = _import_distributed()
            try:
                for future in distributed.as_completed(futures):
                    chunk = chunk_of[future.key]
                    try:
                        path = Path(future.result())
                    except Exception as exc:
                        why = ("workers died preparing them" if type(exc).__name__ == "KilledWorker"
                               else _one_line("task", exc))
                        failed.append(f"{len(chunk)} photos from {chunk[0][1]}: {why}")
                        say(f"error: {failed[-1]}")
                        continue
                    future.release()
                    _merge_shard(_visible(path), wanted, store)
            except KeyboardInterrupt:
                client.cancel(futures)
                raise
        if failed:
            raise ColorizerError(f"{len(failed)} task(s) failed ({failed[0]}); rerun the same "
                                 "command to retry them, the rest is kept")
        if shard_dir.is_dir() and not any(shard_dir.iterdir()):
            shard_dir.rmdir()

    # absolute: a worker started by hand has its own working folder
    return prepare(sources, Path(out).absolute(), cfg, overwrite=overwrite, progress=progress,
                   runner=runner)
