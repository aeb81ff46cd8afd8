"""colorizer.distributed: the Dask runner on real local clusters (127.0.0.1).

The tests reach the cluster by its scheduler address, as ``--scheduler`` does; one cluster of two
1-thread workers serves the quick tests, and the worker-kill test starts its own.
"""

import hashlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import smooth_photo
from PIL import Image

from colorizer.batch import plan_jobs
from colorizer.cli import cli
from colorizer.data import PrepareConfig, prepare
from colorizer.distributed import (
    MANIFEST_NAME,
    ClusterConfig,
    ModelSpec,
    colorize_on_cluster,
    preload,
    prepare_on_cluster,
    prepare_shard,
    resolve_model,
    videos_on_cluster,
)
from colorizer.errors import ColorizerError

distributed = pytest.importorskip("distributed")


def local_cluster():
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    host="127.0.0.1", dashboard_address="127.0.0.1:0")


@pytest.fixture(scope="module")
def scheduler():
    with local_cluster() as cluster:
        yield cluster.scheduler_address


def make_photos(folder, n, h=24, w=32, vary=5):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(smooth_photo(h + i % vary, w, seed=i)).save(folder / f"p{i:02d}.png")
    return folder


def quiet(line):
    pass


def test_bad_file_one_line_and_the_rest_go_on(scheduler, tmp_path):
    src = make_photos(tmp_path / "scans", 3)
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["image", str(src), "--out-dir", str(out), "--model", "gray",
                                 "--scheduler", scheduler])
    assert r.exit_code == 1, r.output
    errors = [line for line in r.output.splitlines() if "error:" in line]
    assert len(errors) == 1 and "broken.jpg" in errors[0] and "not an image" in errors[0]
    assert "Traceback" not in r.output and "done 3, skipped 0, failed 1" in r.output
    assert sorted(p.name for p in out.glob("*.png")) == ["p00.png", "p01.png", "p02.png"]
    records = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert {rec["status"] for rec in records} == {"done", "failed"} and len(records) == 4
    bad = next(rec for rec in records if rec["status"] == "failed")
    assert bad["file"].endswith("broken.jpg") and "not an image" in bad["error"]
    assert all(set(rec) == {"file", "output", "status", "seconds", "error"} for rec in records)


def test_manifest_lets_a_rerun_skip_finished_work(scheduler, tmp_path):
    src = make_photos(tmp_path / "scans", 6)
    (src / "broken.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "out"
    jobs = plan_jobs([src], out_dir=out)
    first = colorize_on_cluster(jobs, ClusterConfig(scheduler=scheduler, files_per_task=2),
                                model="gray", progress=False, say=quiet)
    assert len(first.done) == 6 and len(first.failed) == 1
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    for name in ("p01.png", "p04.png"):
        (out / name).unlink()
    with open(out / MANIFEST_NAME, "a") as fh:
        fh.write('{"file": "x", "outp')  # a line cut short by a kill
    lines = []
    again = colorize_on_cluster(jobs, ClusterConfig(scheduler=scheduler), model="gray",
                                progress=False, say=lines.append)
    assert sorted(p.name for p in again.done) == ["p01.png", "p04.png"]
    assert len(again.skipped) == 4 and len(again.failed) == 1  # a failed file is tried again
    assert any("4 of 7 outputs were done in an earlier run" in line for line in lines)
    has_bokeh = importlib.util.find_spec("bokeh") is not None  # the dashboard needs it
    assert any(line.startswith("Dask dashboard: http://127.0.0.1:") for line in lines) == has_bokeh
    kept = {n: t for n, t in stamps.items() if n not in ("p01.png", "p04.png")}
    assert all((out / n).stat().st_mtime_ns == t for n, t in kept.items())  # not written again
    # nothing left to do: no task and no cluster needed (this address has no scheduler)
    (src / "broken.png").unlink()
    jobs = plan_jobs([src], out_dir=out)
    third = colorize_on_cluster(jobs, ClusterConfig(scheduler="tcp://127.0.0.1:9", timeout=1),
                                model="gray", progress=False, say=quiet)
    assert len(third.skipped) == 6 and not third.done


def test_user_errors(tmp_path):
    make_photos(tmp_path / "scans", 1)
    r = CliRunner().invoke(cli, ["image", str(tmp_path / "scans"), "--model", "gray", "--workers", "2",
                                 "--scheduler", "tcp://127.0.0.1:9"])
    assert r.exit_code == 1 and "not both" in r.output
    with pytest.raises(ColorizerError, match="cannot reach the Dask scheduler"):
        colorize_on_cluster(plan_jobs([tmp_path / "scans"]), ClusterConfig(scheduler="tcp://127.0.0.1:9",
                                                                          timeout=1),
                            model="gray", progress=False, say=quiet)
    with pytest.raises(ColorizerError, match="unknown model"):
        colorize_on_cluster(plan_jobs([tmp_path / "scans"]), ClusterConfig(workers=1), model="nope")


def test_onnx_backend_reaches_the_workers(tmp_path):
    """The default --backend auto picks onnxruntime on the workers as in-process: outputs within
    1 grey level of the in-process --backend onnx run, a bad file fails alone, one onnxruntime
    thread per task, and the worker process never imports torch, for photos and for a clip."""
    src = make_photos(tmp_path / "scans", 3)
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    ref, out = tmp_path / "ref", tmp_path / "out"
    r = CliRunner().invoke(cli, ["image", str(src), "--out-dir", str(ref), "--backend", "onnx",
                                 "--precision", "float"])  # clusters run the float export
    assert r.exit_code == 1 and "done 3, skipped 0, failed 1" in r.output, r.output
    # a cluster of its own: the shared one's workers have run torch models
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster, \
            distributed.Client(cluster) as client:
        r = CliRunner().invoke(cli, ["image", str(src), "--out-dir", str(out),
                                     "--scheduler", cluster.scheduler_address])
        assert r.exit_code == 1 and "done 3, skipped 0, failed 1" in r.output, r.output
        errors = [line for line in r.output.splitlines() if "error:" in line]
        assert len(errors) == 1 and "broken.jpg" in errors[0] and "Traceback" not in r.output
        assert client.submit(preload, ModelSpec(backend="onnx"), pure=False).result() == 1
        # a clip (a folder of frames) on the same route: `colorize video` resolves --backend alike
        make_photos(tmp_path / "clip", 3, vary=1)
        r = CliRunner().invoke(cli, ["video", str(tmp_path / "clip"), "--out-dir", str(tmp_path / "vid"),
                                     "--scheduler", cluster.scheduler_address])
        assert r.exit_code == 0 and "done 1, skipped 0, failed 0" in r.output, r.output
        assert len(list((tmp_path / "vid" / "clip").glob("*.png"))) == 3
        assert list(client.run(lambda: "torch" in sys.modules).values()) == [False]
    for p in sorted(ref.glob("*.png")):
        got = np.asarray(Image.open(out / p.name)).astype(int)
        assert np.abs(got - np.asarray(Image.open(p)).astype(int)).max() <= 1, p.name
    assert sorted(p.name for p in out.glob("*.png")) == ["p00.png", "p01.png", "p02.png"]


def test_backend_errors_as_in_process(tmp_path):
    """Impossible --backend combinations fail on the client, before any cluster is reached, with
    the in-process route's one line; auto falls back to torch with a warning as in-process."""
    src = make_photos(tmp_path / "scans", 1)
    (tmp_path / "x.onnx").write_bytes(b"not onnx")
    for args, why in [(["--model", "gray", "--backend", "onnx"], "no ONNX file for model 'gray'"),
                      (["--backend", "onnx", "--samples", "2"], "--samples needs the torch backend"),
                      (["--backend", "torch", "--weights", str(tmp_path / "x.onnx")],
                       "runs with --backend onnx")]:
        base = ["image", str(src), "--out-dir", str(tmp_path / "out"), *args]
        here = CliRunner().invoke(cli, base)
        there = CliRunner().invoke(cli, [*base, "--scheduler", "tcp://127.0.0.1:9"])
        assert here.exit_code == there.exit_code == 1 and why in there.output, there.output
        assert there.output == here.output and len(there.output.splitlines()) == 1
    assert resolve_model().backend == "onnx"  # the default model ships its ONNX export
    assert resolve_model("default", backend="torch").backend == "torch"
    assert resolve_model("gray").backend == "torch"
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    weights.with_suffix(".onnx").write_bytes(b"not onnx")  # a broken twin beside the weights
    lines = []
    assert resolve_model("gan", str(weights), say=lines.append).backend == "torch"
    assert len(lines) == 1 and lines[0].startswith("warning:") and "using torch" in lines[0]
    with pytest.raises(ColorizerError, match="not a readable ONNX model"):
        resolve_model("gan", str(weights), backend="onnx")


def digest(folder):
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest()
            for n in ("l.npy", "ab.npy", "split.npy", "manifest.csv")}


@pytest.fixture
def photo_tree(tmp_path):
    src = make_photos(tmp_path / "photos", 10, 40, 60)
    (src / "sub").mkdir()
    Image.fromarray(smooth_photo(50, 50)[..., 0]).save(src / "sub" / "grey.png")  # greyscale
    (src / "sub" / "broken.jpg").write_bytes(b"not a jpeg at all")
    return src


def test_prepare_on_cluster_is_byte_identical(scheduler, photo_tree, tmp_path):
    cfg = dict(size=32, val_fraction=0.3)
    local = prepare([photo_tree], tmp_path / "a", PrepareConfig(**cfg), workers=1, progress=False)
    remote = prepare_on_cluster([photo_tree], tmp_path / "b", PrepareConfig(**cfg),
                                ClusterConfig(scheduler=scheduler, files_per_task=3), progress=False)
    assert remote["kept"] == local["kept"] == 10 and remote["skipped"] == 2
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    r = CliRunner().invoke(cli, ["prepare", str(photo_tree), "--out", str(tmp_path / "c"), "--size", "32",
                                 "--val-fraction", "0.3", "--scheduler", scheduler])
    assert r.exit_code == 0 and "kept 10" in r.output and "grey.png" in r.output, r.output
    assert digest(tmp_path / "a") == digest(tmp_path / "c")
    assert sorted(os.listdir(tmp_path / "b")) == sorted(os.listdir(tmp_path / "a"))  # no shards left


def test_prepare_merges_shards_finished_before_an_interruption(scheduler, photo_tree, tmp_path):
    cfg = PrepareConfig(size=24)
    prepare([photo_tree], tmp_path / "a", cfg, workers=1, progress=False)
    out = tmp_path / "b"
    assert not prepare([photo_tree], out, cfg, progress=False, limit=0)["complete"]
    files = json.loads((out / "prepare.json").read_text())["files"]
    # a task that wrote its shard before the client was killed (file 11 is the greyscale one)
    shard = prepare_shard(str(out), [(i, files[i]) for i in (0, 1, 11)], cfg)
    prepare_on_cluster([photo_tree], out, cfg, ClusterConfig(scheduler=scheduler), progress=False)
    assert digest(tmp_path / "a") == digest(out)
    assert not os.path.exists(shard) and not (out / "shards").exists()


def test_videos_on_cluster(scheduler, tmp_path):
    from colorizer.video import TemporalConfig, plan_video_jobs

    for name in ("a", "b"):
        make_photos(tmp_path / "clips" / name, 3, vary=1)  # frames of one size
    jobs = plan_video_jobs([tmp_path / "clips" / "a", tmp_path / "clips" / "b"], out_dir=tmp_path / "out")
    lines = []
    summary = videos_on_cluster(jobs, ClusterConfig(scheduler=scheduler), model="gray",
                                temporal=TemporalConfig(method="none"), progress=False, say=lines.append)
    assert summary.line() == "done 2, skipped 0, failed 0", lines
    assert sum("wrote" in line and "3 frames" in line for line in lines) == 2
    for name in ("a", "b"):
        frames = sorted(p.name for p in (tmp_path / "out" / name).glob("*.png"))
        assert frames == ["p00.png", "p01.png", "p02.png"]


@pytest.mark.slow
def test_worker_killed_mid_run_every_output_complete(tmp_path):
    """kill -9 one of two workers while it colorizes: its task runs again elsewhere, and all 40
    outputs are complete and within 1 grey level of the in-process result (torch: slower than
    onnxruntime, so that the run is still going when the kill comes)."""
    src = make_photos(tmp_path / "scans", 40, 36, 48)
    ref, out = tmp_path / "ref", tmp_path / "out"
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a worker; on a busy machine, OpenMP threads spin for long
    try:
        r = CliRunner().invoke(cli, ["image", str(src), "--out-dir", str(ref), "--size", "64",
                                     "--backend", "torch"])
    finally:
        torch.set_num_threads(threads)
    assert r.exit_code == 0, r.output
    with local_cluster() as cluster, distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        result, killed = {}, []

        def run():
            jobs = plan_jobs([src], out_dir=out)
            result["summary"] = colorize_on_cluster(jobs, ClusterConfig(scheduler=cluster.scheduler_address,
                                                                        files_per_task=2),
                                                    backend="torch", size=64, progress=False,
                                                    say=quiet)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 300
        while not killed and thread.is_alive() and time.monotonic() < deadline:
            if len(list(out.glob("*.png"))) >= 4:  # the models are loaded, and work is left
                busy = [w for w, keys in client.processing().items() if keys and w in pids]
                if busy:  # a worker in the middle of a task
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
            time.sleep(0.02)
        thread.join(timeout=300)
    assert killed, "the run ended before a worker could be killed"
    assert result["summary"].line() == "done 40, skipped 0, failed 0"
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]  # no partial file
    for p in sorted(ref.glob("*.png")):
        with Image.open(out / p.name) as im:
            im.load()  # complete: decodes to the end
            got = np.asarray(im).astype(int)
        assert np.abs(got - np.asarray(Image.open(p)).astype(int)).max() <= 1, p.name
