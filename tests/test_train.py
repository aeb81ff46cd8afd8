import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_lab_dataset
from safetensors.torch import load_file

from colorizer.errors import ColorizerError
from colorizer.train import TrainConfig, train

TINY = {"encoder": "none", "channels": [4, 8, 8, 8], "disc_channels": 4}


def colour_of(L):
    """ab as a fixed function of L (N, 1, H, W), so that a model can know it exactly."""
    return torch.cat([(L - 50) * 0.6, 30 - (L - 50) * 0.4], dim=1)


def half_colour_model():
    """A colorizer that knows every colour (:func:`colour_of`) but gives it at half strength, as a
    model trained with MSE gives its unsure colours."""
    from colorizer.registry import Colorizer

    class Half(Colorizer):
        def predict_ab(self, L, hints=None):
            return 0.5 * colour_of(L)

    return Half()


@pytest.fixture
def dataset(tmp_path):
    return tiny_lab_dataset(tmp_path / "ds")


def config(dataset, out, **kw):
    base = dict(model="gan", data=[str(dataset)], out=str(out), epochs=3, batch_size=4, size=32,
                checkpoint_every=1, threads=1, val_images=4, model_config=dict(TINY))
    return TrainConfig(**{**base, **kw})


def _cli(cfg: TrainConfig, resume=False):
    args = [sys.executable, "-m", "colorizer.train", "--model", cfg.model, "--out", cfg.out,
            "--epochs", str(cfg.epochs), "--batch-size", str(cfg.batch_size), "--size", str(cfg.size),
            "--checkpoint-every", str(cfg.checkpoint_every), "--threads", "1",
            "--set", "encoder=none", "--set", f"channels={json.dumps(TINY['channels'])}",
            "--set", "disc_channels=4"]
    for d in cfg.data:
        args += ["--data", d]
    return args + (["--resume"] if resume else [])


def test_train_writes_weights_card_and_logs(dataset, tmp_path):
    final = train(config(dataset, tmp_path / "run", epochs=1), progress=False)
    card = json.loads(final.with_suffix(".json").read_text())
    assert card["architecture"] == "GANColorizer" and card["steps"] == 9
    assert card["config"]["channels"] == [4, 8, 8, 8]
    log = (tmp_path / "run" / "log.csv").read_text()
    assert "loss_adv" in log and "val_auc" in log
    from colorizer.registry import get_colorizer

    model = get_colorizer("gan", weights=str(final))
    assert model.predict_ab(torch.zeros(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    assert 1.0 <= card["chroma_gain"] <= 3.0 and model.chroma_gain == card["chroma_gain"]
    assert card["calibration"]["val_images"] == 4
    from click.testing import CliRunner

    from colorizer.cli import cli

    r = CliRunner().invoke(cli, ["calibrate", str(final), "--data", str(dataset), "--size", "32"])
    assert r.exit_code == 0 and "chroma gain" in r.output, r.output
    assert json.loads(final.with_suffix(".json").read_text())["calibration"]["val_images"] == 4
    from colorizer.errors import OutputExists

    with pytest.raises(OutputExists, match="--resume"):  # a finished run: skipped by the CLI
        train(config(dataset, tmp_path / "run", epochs=1), progress=False)
    r = CliRunner().invoke(cli, ["train", "--data", str(dataset), "--out", str(tmp_path / "run"),
                                 "--size", "32", "--epochs", "1"])
    assert r.exit_code == 0 and r.output.startswith("skipped: ") and "finished training run" in r.output


def test_init_starts_from_given_weights(dataset, tmp_path):
    from colorizer.weights import load_weights

    first = train(config(dataset, tmp_path / "a", epochs=1), progress=False)
    start = load_weights(first)[0]
    # lr 0: the fine-tuned run must end exactly where --init started it
    tuned = train(config(dataset, tmp_path / "b", epochs=1, lr=0.0, init=str(first)), progress=False)
    after = load_weights(tuned)[0]
    assert torch.equal(after["gen.out.weight"], start["gen.out.weight"])
    fresh = train(config(dataset, tmp_path / "c", epochs=1, lr=0.0, seed=1), progress=False)
    assert not torch.equal(load_weights(fresh)[0]["gen.out.weight"], start["gen.out.weight"])


def test_kill_9_then_resume_matches_an_uninterrupted_run(dataset, tmp_path, monkeypatch):
    # the killed run is a fresh process with oneDNN on; `colorize image` run in-process by earlier
    # tests turns it off for a few photos, which changes the last bits of the sums
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", True)
    # long enough (90 steps) that the kill lands mid-run on a fast machine too
    reference = train(config(dataset, tmp_path / "ref", epochs=10), progress=False)
    cfg = config(dataset, tmp_path / "killed", epochs=10)
    proc = subprocess.Popen(_cli(cfg), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = Path(cfg.out) / "checkpoint" / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if state.exists():
            try:
                if json.loads(state.read_text())["progress"]["step"] >= 12:
                    break
            except (OSError, json.JSONDecodeError, KeyError):  # caught mid-rename of checkpoint/
                pass
        time.sleep(0.01)
    assert proc.poll() is None, "training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (Path(cfg.out) / "gan.safetensors").exists()
    resumed = train(cfg, resume=True, progress=False)
    card = json.loads(resumed.with_suffix(".json").read_text())
    assert card["steps"] == 90  # 10 epochs x 9 steps, no step lost or repeated
    a, b = load_file(str(reference)), load_file(str(resumed))
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key


@pytest.mark.slow
def test_torchrun_ddp_two_cpu_processes(dataset, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not found")
    cfg = config(dataset, tmp_path / "ddp", epochs=2)
    args = _cli(cfg)
    cmd = [torchrun, "--standalone", "--nproc_per_node=2", *args[1:]]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((tmp_path / "ddp" / "gan.json").read_text())
    assert card["ddp"] == {"world_size": 2, "ranks_in_sync": True}
    assert card["steps"] == 2 * (36 // (4 * 2))  # each rank takes half of every epoch


def test_calibrate_chroma_undoes_a_shrunk_prediction():
    from colorizer.train import calibrate_chroma

    rng = np.random.default_rng(0)
    items = []
    for _ in range(12):
        L = torch.from_numpy(rng.uniform(30, 80, (1, 1, 24, 24)).astype(np.float32))
        items.append((L[0], colour_of(L)[0]))

    result = calibrate_chroma(half_colour_model(), items, torch.device("cpu"), batch_size=5)
    assert abs(result["chroma_gain"] - 2.0) < 0.1, result
    assert result["val_auc"]["calibrated"] > result["val_auc"]["gain_1"] > result["val_auc"]["gray"]
    c = result["val_colourfulness"]
    assert abs(c["calibrated"] - c["photos"]) < 0.05 * c["photos"] and c["gain_1"] < 0.6 * c["photos"]


def test_scores_at_colourfulness_scale_a_shrunk_prediction_back_to_the_truth():
    from colorizer.train import scores_at_colourfulness

    rng = np.random.default_rng(1)
    items = [(L[0], colour_of(L)[0]) for L in
             (torch.from_numpy(rng.uniform(30, 80, (1, 1, 24, 24)).astype(np.float32)) for _ in range(10))]
    half, full = scores_at_colourfulness(half_colour_model(), items, torch.device("cpu"), [0.5, 1.0],
                                         batch_size=4, max_channel=True)
    assert abs(full["gain"] - 2.0) < 0.1 and abs(half["gain"] - 1.0) < 0.1, (half, full)
    assert full["auc"] > 99 and full["max_channel"] > 99 and full["psnr"] > 40
    assert half["auc"] < full["auc"] and half["ciede2000"] > full["ciede2000"]
    assert full["colourfulness_correlation"] > 0.95  # 8-bit and gamut rounding


def test_calibration_takes_validation_photos_stored_at_different_sizes():
    """Two datasets stored at different sizes (the people photos at 180 beside 256) give a
    validation split of mixed sizes; the calibration at the end of `colorize train` used to stack
    them into one batch and crash after the last step."""
    from colorizer.train import calibrate_chroma

    rng = np.random.default_rng(2)
    items = []
    for k in range(9):
        side = 24 if k % 3 else 16
        L = torch.from_numpy(rng.uniform(30, 80, (1, 1, side, side)).astype(np.float32))
        items.append((L[0], colour_of(L)[0]))

    result = calibrate_chroma(half_colour_model(), items, torch.device("cpu"), batch_size=4)
    assert result["val_images"] == 9 and abs(result["chroma_gain"] - 2.0) < 0.1, result


def test_calibrate_picks_zhang_temperature_into_the_card(dataset, tmp_path):
    from colorizer.models.zhang import ZhangColorizer, ZhangConfig
    from colorizer.train import TEMPERATURES, calibrate_weights
    from colorizer.weights import save_weights

    weights = save_weights(ZhangColorizer(ZhangConfig(encoder="none")), tmp_path / "z.safetensors",
                           {"architecture": "ZhangColorizer", "name": "zhang",
                            "config": {"size": "compact", "n_bins": 261}})
    result = calibrate_weights(weights, [str(dataset)], size=32)
    card = json.loads(weights.with_suffix(".json").read_text())
    assert result["temperature"] in TEMPERATURES and card["config"]["temperature"] == result["temperature"]
    assert set(result["temperatures_tried"]) == {str(t) for t in TEMPERATURES}
    assert card["chroma_gain"] == result["chroma_gain"]


def test_cosine_schedule_factors_and_starting_lr():
    from colorizer.train import set_learning_rate

    opts = {"a": torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-3)}
    assert set_learning_rate(opts, "cosine", 0, 100) == pytest.approx(1.0)
    assert set_learning_rate(opts, "cosine", 50, 100) == pytest.approx(0.5)
    assert opts["a"].param_groups[0]["lr"] == pytest.approx(5e-4)
    assert set_learning_rate(opts, "cosine", 100, 100) == pytest.approx(0.0)
    assert opts["a"].param_groups[0]["initial_lr"] == 1e-3  # the start, not the decayed lr
    assert set_learning_rate(opts, "constant", 60, 100) == 1.0 and opts["a"].param_groups[0]["lr"] == 1e-3


def test_cosine_run_stopped_and_resumed_matches_an_uninterrupted_one(dataset, tmp_path, monkeypatch):
    from colorizer import train as train_module
    from colorizer.weights import load_weights

    whole = train(config(dataset, tmp_path / "whole", epochs=2, lr_schedule="cosine"), progress=False)
    # a clock that ticks one second per reading stops the run a few steps in, where the lr has
    # already decayed: the resumed run must anneal from the starting lr, not from that one
    ticks = iter(range(10**6))
    monkeypatch.setattr(train_module.time, "monotonic", lambda: float(next(ticks)))
    cut = config(dataset, tmp_path / "cut", epochs=2, lr_schedule="cosine", max_minutes=10 / 60)
    train(cut, progress=False)
    monkeypatch.undo()
    steps = json.loads((tmp_path / "cut" / "checkpoint" / "state.json").read_text())["progress"]["step"]
    assert 2 <= steps < 18
    cut.max_minutes = None
    resumed = train(cut, resume=True, progress=False)
    a, b = load_weights(whole)[0], load_weights(resumed)[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert "lr_factor" in (tmp_path / "whole" / "log.csv").read_text()
    with pytest.raises(ColorizerError, match="lr schedule"):
        train(config(dataset, tmp_path / "bad", lr_schedule="step"), progress=False)


def test_epoch_order_weights_each_folder():
    from colorizer.train import epoch_order

    class Two:  # two roots of 10 and 40 items, as LabDataset.offsets
        offsets = np.array([0, 10, 50])

        def __len__(self):
            return 50

    g = torch.Generator().manual_seed(0)
    plain = epoch_order(Two(), [], g)
    assert sorted(plain.tolist()) == list(range(50))
    order = epoch_order(Two(), [2, 0.25], g).tolist()
    first = [i for i in order if i < 10]
    assert len(first) == 20 and sorted(set(first)) == list(range(10))  # all of it, twice
    second = [i for i in order if i >= 10]
    assert len(second) == 10 and len(set(second)) == 10  # a quarter, no repeats


def test_data_weights_must_match_the_folders(dataset, tmp_path):
    with pytest.raises(ColorizerError, match="data-weights"):
        train(config(dataset, tmp_path / "w", data_weights=[1.0, 0.5]), progress=False)


def test_calibration_keeps_a_colourfulness_floor():
    """A model that is right about lightness-coded colour but adds a wrong cast: more gain makes
    it more colourful and less accurate, so the gain stops where the floor is reached."""
    from colorizer.registry import Colorizer
    from colorizer.train import COLOURFULNESS_FLOOR, calibrate_chroma

    rng = np.random.default_rng(1)
    items = []
    for _ in range(10):
        L = torch.from_numpy(rng.uniform(30, 80, (1, 1, 24, 24)).astype(np.float32))
        items.append((L[0], torch.cat([(L - 50) * 0.8, -(L - 50) * 0.8], 1)[0]))

    class Weak(Colorizer):  # 20% of the true colour plus a wrong, constant cast
        def predict_ab(self, L, hints=None):
            return torch.cat([(L - 50) * 0.16 + 3, -(L - 50) * 0.16 + 3], 1)

    r = calibrate_chroma(Weak(), items, torch.device("cpu"))
    c = r["val_colourfulness"]
    assert c["calibrated"] >= COLOURFULNESS_FLOOR * c["photos"] > c["gain_1"]
    # the smallest gain that reaches the floor is the most accurate of those allowed
    assert c["calibrated"] < (COLOURFULNESS_FLOOR + 0.1) * c["photos"]
