"""Damage repair: the damage generator, the mask metrics, the shipped detector on synthetic and
real photos, the library call and ``colorize restore`` / ``colorize image --restore``."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import smooth_photo
from PIL import Image

from colorizer.cli import cli
from colorizer.damage import DefectConfig, draw_defects
from colorizer.errors import ColorizerError
from colorizer.metrics import mask_precision_recall, psnr_where
from colorizer.repair import Restorer, default_config, fill, restore_array


def scene(h: int = 120, w: int = 160) -> np.ndarray:
    """A grey 'photo' with smooth shading, a wide bright post and a dark wide band: things that
    are not damage."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = 90 + 50 * np.sin(xx / 31) + 30 * yy / h
    g[:, 100:118] = 235          # a lamp post, 18 px wide
    g[80:100, :] -= 40           # a dark wide band
    return np.clip(g, 0, 255).astype(np.uint8)


def scratched() -> tuple[np.ndarray, np.ndarray]:
    """:func:`scene` with a thin white scratch across it and a dark speck, and their mask."""
    clean = scene()
    damaged = clean.copy()
    rr = np.arange(clean.shape[0])
    damaged[rr, (20 + rr * 0.3).astype(int)] = 250       # slightly slanted, 2 px wide
    damaged[rr, (21 + rr * 0.3).astype(int)] = 245
    damaged[40:43, 70:73] = 10
    return damaged, damaged != clean


def test_draw_defects_is_seeded_and_its_mask_is_what_changed():
    clean = scene()
    a, mask_a = draw_defects(clean, np.random.default_rng(5))
    b, mask_b = draw_defects(clean, np.random.default_rng(5))
    assert np.array_equal(a, b) and np.array_equal(mask_a, mask_b)
    masks = [draw_defects(clean, np.random.default_rng(s))[1] for s in range(8)]
    assert sum(m.any() for m in masks) >= 6
    moved = np.abs(a.astype(int) - clean) >= DefectConfig().visible
    assert np.array_equal(mask_a, mask_a & moved)  # every marked pixel visibly moved
    colour = smooth_photo(120, 160, 1)
    damaged, mask = draw_defects(colour, np.random.default_rng(5))
    assert damaged.shape == colour.shape and mask.shape == colour.shape[:2]


def test_mask_precision_recall_known_answers():
    true = np.zeros((30, 30), bool)
    true[:, 15] = True
    assert mask_precision_recall(true, true) == (1.0, 1.0)
    shifted = np.roll(true, 2, axis=1)       # within the 2-pixel tolerance
    assert mask_precision_recall(shifted, true) == (1.0, 1.0)
    far = np.roll(true, 5, axis=1)
    assert mask_precision_recall(far, true) == (0.0, 0.0)
    assert mask_precision_recall(np.zeros_like(true), true) == (1.0, 0.0)
    with pytest.raises(ValueError):
        mask_precision_recall(true, true[:, :10])
    zeros = np.zeros((4, 4), np.uint8)
    assert psnr_where(zeros, zeros, np.ones((4, 4), bool)) == float("inf")


def test_fill_keeps_everything_outside_the_mask_and_every_dtype():
    photo = smooth_photo(40, 50, 2)
    mask = np.zeros((40, 50), bool)
    mask[10:12, :] = True
    for image in (photo, photo.astype(np.uint16) * 257, photo.astype(np.float32) / 255):
        out = fill(image, mask)
        assert out.dtype == image.dtype and out.shape == image.shape
        assert np.array_equal(out[~mask], image[~mask])


def test_a_scratch_and_a_speck_are_found_and_filled_and_the_rest_kept():
    clean = scene()
    damaged, true = scratched()
    fixed, mask = restore_array(damaged)
    precision, recall = mask_precision_recall(mask, true)
    assert recall > 0.9 and precision > 0.6, (precision, recall)
    assert np.array_equal(fixed[~mask], damaged[~mask])
    every = np.ones(clean.shape, bool)
    assert psnr_where(fixed, clean, every) > psnr_where(damaged, clean, every) + 10


def test_things_that_are_not_damage_stay():
    clean = scene()
    fixed, mask = restore_array(clean)
    assert mask[:, 100:118].mean() < 0.02 and mask[80:100].mean() < 0.02   # the post and the band
    assert psnr_where(fixed, clean, np.ones(clean.shape, bool)) > 40


def test_grey_stays_grey_colour_keeps_colour_and_strength_zero_changes_nothing():
    damaged, _ = scratched()
    grey_rgb = np.repeat(damaged[..., None], 3, axis=2)
    out, mask = restore_array(grey_rgb)
    assert mask.any()
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    colour_damaged = smooth_photo(120, 160, 3)
    colour_damaged[scratched()[1]] = 5      # a dark scratch: the photo is bright in places
    out, mask = restore_array(colour_damaged)
    assert mask.any()
    assert np.array_equal(out[~mask], colour_damaged[~mask])
    still, none = restore_array(damaged, default_config(strength=0))
    assert not none.any() and np.array_equal(still, damaged)


def test_user_mask_is_added_and_checked():
    clean = scene()
    user = np.zeros(clean.shape, bool)
    user[5:9, 5:30] = True
    out, mask = restore_array(clean, user_mask=user)
    assert mask[user].all()
    with pytest.raises(ColorizerError, match="damage mask is 10x10"):
        restore_array(clean, user_mask=np.ones((10, 10), bool))


def test_detector_weights_errors_are_one_line(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"not weights")
    with pytest.raises(ColorizerError, match="bad.safetensors"):
        Restorer(str(tmp_path / "bad.safetensors"))


def test_api_restore_and_colorize_restore():
    import colorizer
    from colorizer.api import restore

    damaged, _ = scratched()
    fixed, mask = restore(damaged)
    assert fixed.shape == (*damaged.shape, 3) and fixed.dtype == np.uint8 and mask.any()
    out = colorizer.colorize(damaged, model="gray", restore=True)
    assert np.array_equal(out, fixed)  # gray adds no colour: the repaired photo itself


def test_cli_restore_writes_photo_and_mask_and_reports_bad_files(tmp_path):
    damaged, _ = scratched()
    Image.fromarray(damaged).save(tmp_path / "scan.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    before = (tmp_path / "scan.png").read_bytes()
    runner = CliRunner()
    r = runner.invoke(cli, ["restore", str(tmp_path / "scan.png"), "--mask", str(tmp_path / "found.png")])
    assert r.exit_code == 0, r.output
    out = np.asarray(Image.open(tmp_path / "scan_restored.png").convert("RGB"))
    found = np.asarray(Image.open(tmp_path / "found.png").convert("L")) > 127
    assert found.any() and np.array_equal(out[..., 0], out[..., 2])   # grey in, grey out
    assert np.array_equal(out[..., 0][~found], damaged[~found])
    r = runner.invoke(cli, ["restore", str(tmp_path / "scan.png"), str(tmp_path / "bad.png"),
                            "--out-dir", str(tmp_path / "o"), "--save-masks"])
    assert r.exit_code == 1 and "done 1, skipped 0, failed 1" in r.output and "Traceback" not in r.output
    assert [line for line in r.output.splitlines() if line.startswith("error:")][0].count("bad.png") == 1
    assert (tmp_path / "o" / "scan.png").exists() and (tmp_path / "o" / "scan_mask.png").exists()
    r = runner.invoke(cli, ["restore", str(tmp_path / "scan.png"), str(tmp_path / "bad.png"),
                            "--mask", str(tmp_path / "m.png")])
    assert r.exit_code == 2 and "--mask takes exactly one input file" in r.output
    r = runner.invoke(cli, ["restore", str(tmp_path / "scan.png"), "--user-mask", str(tmp_path / "bad.png")])
    assert r.exit_code == 1 and "bad.png" in r.output and "Traceback" not in r.output
    assert (tmp_path / "scan.png").read_bytes() == before


def test_cli_image_restore(tmp_path):
    damaged, true = scratched()
    Image.fromarray(damaged).save(tmp_path / "scan.png")
    r = CliRunner().invoke(cli, ["image", str(tmp_path / "scan.png"), "--model", "gray", "--restore",
                                 "-o", str(tmp_path / "out.png")])
    assert r.exit_code == 0, r.output
    out = np.asarray(Image.open(tmp_path / "out.png").convert("L")).astype(int)
    assert np.abs(out - scene())[true].mean() < np.abs(damaged.astype(int) - scene())[true].mean() / 2


@pytest.mark.slow
def test_shipped_detector_on_real_photos(shared_data):
    """Damage drawn on eight eval photos (colour ones as colour): found and repaired, and the
    same photos undamaged come back nearly untouched. The full figures: bench_restore.py."""
    from colorizer.io import read_image

    files = sorted((shared_data / "photos" / "eval").rglob("*.png"))[::4][:8]
    config = default_config()
    stats = []
    for i, path in enumerate(files):
        clean = read_image(path).to_array(np.uint8)
        damaged, true = draw_defects(clean, np.random.default_rng(100 + i))
        fixed, found = restore_array(damaged, config)
        untouched, _ = restore_array(clean, config)
        every = np.ones(true.shape, bool)
        stats.append((*mask_precision_recall(found, true),
                      psnr_where(fixed, clean, true) - psnr_where(damaged, clean, true),
                      min(psnr_where(untouched, clean, every), 60.0)))
    precision, recall, gain_inside, untouched = np.mean(stats, axis=0)
    # the shipped detector's level (bench_restore.py has the full figures): about half of the
    # drawn damage found, most of what it fills is damage, the damaged pixels come nearer the
    # photo, and an undamaged photo is barely touched
    assert recall > 0.28 and precision > 0.4 and gain_inside > 1.0 and untouched > 36, stats


def test_shipped_onnx_export_stands_for_the_shipped_weights_and_matches_torch():
    """``restore.onnx`` (what ``colorize restore`` runs, without torch) is the export of
    ``restore.safetensors``: same SHA-256 in its metadata, same probabilities as torch."""
    from colorizer.repair import _load_net, shipped_weights

    restorer = Restorer()
    assert restorer.session is not None, "assets/restore.onnx is missing or stale: run export_detector()"
    grey = scratched()[0]
    fast = restorer.probability(grey)
    restorer.session, restorer.net = None, _load_net(str(shipped_weights()))
    assert np.abs(restorer.probability(grey) - fast).max() < 1e-4


def test_a_large_photo_is_searched_at_a_working_size(monkeypatch):
    import colorizer.repair as repair

    monkeypatch.setattr(repair, "DETECT_MAX_PIXELS", 120 * 160)
    damaged, true = scratched()
    big = np.kron(damaged, np.ones((2, 2), np.uint8))       # the scene at twice the size
    seen = []
    restorer = Restorer()
    original = restorer._logits
    restorer._logits = lambda x: seen.append(x.shape) or original(x)
    prob = restorer.probability(big)
    assert prob.shape == big.shape and seen == [(3, 120, 160)]
    found = restorer.decide(prob, default_config())
    assert mask_precision_recall(found, np.kron(true, np.ones((2, 2), bool)))[1] > 0.8


def test_package_level_restore_is_the_function():
    import colorizer
    import colorizer.repair  # noqa: F401 - importing the module must not shadow the function

    assert callable(colorizer.restore) and colorizer.restore.__module__ == "colorizer.api"
