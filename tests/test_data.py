import hashlib
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers import smooth_photo
from PIL import Image

from colorizer import color
from colorizer.cli import cli
from colorizer.data import LabDataset, PrepareConfig, prepare, resize_photo
from colorizer.errors import ColorizerError


@pytest.fixture
def photos(tmp_path):
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    for i in range(10):
        Image.fromarray(smooth_photo(40 + i, 60, seed=i)).save(src / f"p{i}.png")
    Image.fromarray(smooth_photo(50, 50)[..., 0]).save(src / "sub" / "grey.png")  # greyscale
    (src / "sub" / "broken.jpg").write_bytes(b"not a jpeg at all")
    return src


def digest(folder):
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest()
            for n in ("l.npy", "ab.npy", "split.npy", "manifest.csv")}


def test_prepare_writes_kaggle_layout_and_report(photos, tmp_path):
    out = tmp_path / "ds"
    summary = prepare([photos], out, PrepareConfig(size=32, val_fraction=0.3), workers=1,
                      progress=False)
    assert summary["kept"] == 10 and summary["skipped"] == 2
    reasons = " ".join(summary["skipped_files"].values())
    assert "greyscale" in reasons and "not an image" in reasons
    l8, ab8 = np.load(out / "l.npy"), np.load(out / "ab.npy")
    assert l8.shape == (10, 32, 32) and ab8.shape == (10, 32, 32, 2) and l8.dtype == np.uint8
    manifest = (out / "manifest.csv").read_text()
    assert "skipped" in manifest and "grey.png" in manifest
    assert not (out / "work_l.npy").exists()
    assert json.loads((out / "dataset.json").read_text())["complete"]


def test_round_trip_reproduces_resized_photo(photos, tmp_path):
    out = tmp_path / "ds"
    prepare([photos / "p3.png"], out, PrepareConfig(size=32), workers=1, progress=False)
    lab = color.lab8_to_lab(np.concatenate([np.load(out / "l.npy")[0][..., None],
                                            np.load(out / "ab.npy")[0]], axis=2))
    expected = resize_photo(np.asarray(Image.open(photos / "p3.png")), 32)
    exact = color.rgb2lab(expected)
    # within 8-bit Lab rounding: half a step of L (100/255) and of a, b (1)
    assert np.abs(lab[..., 0] - exact[..., 0]).max() <= 50 / 255 + 1e-4
    assert np.abs(lab[..., 1:] - exact[..., 1:]).max() <= 0.5 + 1e-4
    assert np.abs(color.lab2rgb_u8(lab).astype(int) - expected).mean() < 1.0


def test_kill_and_resume_gives_identical_arrays(photos, tmp_path):
    cfg = dict(size=24, superpixels=True, n_segments=60, sigma=1)
    prepare([photos], tmp_path / "a", PrepareConfig(**cfg), workers=2, progress=False)
    part = prepare([photos], tmp_path / "b", PrepareConfig(**cfg), workers=2, progress=False, limit=5)
    assert not part["complete"]
    with open(tmp_path / "b" / "progress.jsonl", "a") as fh:
        fh.write('{"i": 7, "stat')  # a line cut short by kill -9
    prepare([photos], tmp_path / "b", PrepareConfig(**cfg), workers=2, progress=False)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_finished_dataset_is_not_overwritten(photos, tmp_path):
    out = tmp_path / "ds"
    prepare([photos], out, PrepareConfig(size=16), workers=1, progress=False)
    before = digest(out)
    with pytest.raises(ColorizerError, match="finished dataset"):
        prepare([photos], out, PrepareConfig(size=16), workers=1, progress=False)
    assert digest(out) == before
    prepare([photos], out, PrepareConfig(size=16), workers=1, progress=False, overwrite=True)


def test_dataset_reads_kaggle_layout(tmp_path):
    root = tmp_path / "kaggle"
    (root / "l").mkdir(parents=True)
    (root / "ab").mkdir()
    rng = np.random.default_rng(0)
    l8 = rng.integers(0, 256, (25, 16, 16), dtype=np.uint8)
    ab8 = rng.integers(0, 256, (25, 16, 16, 2), dtype=np.uint8)
    np.save(root / "l" / "gray_scale.npy", l8)
    for k, (a, b) in enumerate(((0, 10), (10, 20), (20, 25)), start=1):
        np.save(root / "ab" / f"ab{k}.npy", ab8[a:b])
    ds = LabDataset(root, split="all")
    assert len(ds) == 25
    L, ab = ds[12]
    assert L.shape == (1, 16, 16) and ab.shape == (2, 16, 16)
    assert torch.allclose(L[0], torch.from_numpy(l8[12].astype(np.float32) * 100 / 255))
    assert torch.allclose(ab, torch.from_numpy(ab8[12].astype(np.float32) - 128).permute(2, 0, 1))
    train, val = LabDataset(root, "train"), LabDataset(root, "val", val_fraction=0.1)
    assert len(train) + len(val) == 25


def test_dataset_combines_folders_and_augments(photos, tmp_path):
    prepare([photos], tmp_path / "a", PrepareConfig(size=32, val_fraction=0), workers=1, progress=False)
    np.save(tmp_path / "l.npy", np.zeros((3, 32, 32), np.uint8))
    np.save(tmp_path / "ab.npy", np.full((3, 32, 32, 2), 128, np.uint8))
    ds = LabDataset([tmp_path / "a", tmp_path], split="all", size=24, augment=True)
    assert len(ds) == 13
    L, ab = ds[0]
    assert L.shape == (1, 24, 24) and ab.shape == (2, 24, 24)
    assert torch.allclose(ds[12][1], torch.zeros(2, 24, 24))
    with pytest.raises(ColorizerError, match="not a dataset folder"):
        LabDataset(tmp_path / "nothing")


def test_cli_prepare(photos, tmp_path):
    out = tmp_path / "ds"
    r = CliRunner().invoke(cli, ["prepare", str(photos), "--out", str(out), "--size", "16"])
    assert r.exit_code == 0, r.output
    assert "kept 10" in r.output and "grey.png" in r.output
    r = CliRunner().invoke(cli, ["prepare", str(photos), "--out", str(out), "--size", "16"])
    assert r.exit_code == 0 and r.output.startswith("skipped: ") and "finished dataset" in r.output


@pytest.mark.slow
def test_prepare_real_photos_skips_the_greyscale_ones(shared_data, tmp_path):
    src = shared_data / "photos" / "train" / "imagenet"
    summary = prepare([src], tmp_path / "ds", PrepareConfig(size=64), progress=False)
    skipped = summary["skipped_files"]
    assert any("Airedale" in k for k in skipped) and summary["kept"] > 950
    assert all("greyscale" in v for v in skipped.values())


def test_prepare_never_imports_torch(photos, tmp_path):
    """Preparing data (superpixels too) is numpy, OpenCV, scikit-image and numba: waiting 1-1.5 s
    for torch's import would cost more than the photos themselves on a small folder."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from colorizer.data import PrepareConfig, prepare\n"
            f"s = prepare([{str(photos)!r}], {str(tmp_path / 'ds')!r}, PrepareConfig(size=24, "
            "superpixels=True, n_segments=60, sigma=1), workers=1, progress=False)\n"
            "print(s['kept'], 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["10", "False"]


def test_native_crops_are_windows_at_the_stored_scale(tmp_path):
    """crop="native" (the denoiser's) cuts size x size windows out of the stored photo, never
    scaled, so pixel-level detail stays as in the photos; "resized" scales its crops."""
    rng = np.random.default_rng(0)
    l8 = rng.integers(0, 256, (4, 32, 32), dtype=np.uint8)
    np.save(tmp_path / "l.npy", l8)
    np.save(tmp_path / "ab.npy", np.full((4, 32, 32, 2), 128, np.uint8))

    def is_window(L, stored):
        for y in range(32 - 16 + 1):
            for x in range(32 - 16 + 1):
                win = stored[y:y + 16, x:x + 16]
                if np.allclose(L, win, atol=1e-4) or np.allclose(L, win[:, ::-1], atol=1e-4):
                    return True
        return False

    stored = l8.astype(np.float32) * 100 / 255
    native = LabDataset(tmp_path, "all", size=16, augment=True, damage="none", crop="native")
    resized = LabDataset(tmp_path, "all", size=16, augment=True, damage="none")
    for i in range(4):
        assert is_window(native[i][0][0].numpy(), stored[i])
        assert not is_window(resized[i][0][0].numpy(), stored[i])
    with pytest.raises(ColorizerError, match="crop must be resized or native"):
        LabDataset(tmp_path, crop="tiles")
