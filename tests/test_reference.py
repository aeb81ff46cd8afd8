"""Colour from a reference photo (colorizer.reference, colorize(reference=...), --reference)."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import GRASS, SKY, grey_of, sky_over_grass
from PIL import Image

from colorizer import reference
from colorizer.api import colorize, colorize_with_reference, prepare_reference
from colorizer.cli import cli
from colorizer.color import rgb2lab
from colorizer.errors import ColorizerError
from colorizer.io import Picture

two_halves, grey = sky_over_grass, grey_of


def mean_ab(rgb: np.ndarray, rows: slice) -> np.ndarray:
    return rgb2lab(rgb[rows])[..., 1:].reshape(-1, 2).mean(0)


def test_sky_takes_the_sky_colour_and_grass_the_grass_wherever_they_are():
    ref = two_halves(128, 192, 64)
    photo = grey(two_halves(160, 224, 56, seed=1, flip=True))  # another size, split higher, flipped
    out = colorize(photo, model="gray", reference=ref)  # "gray": no colour but the reference's
    sky, grass = rgb2lab(np.array([[SKY, GRASS]], np.uint8))[0, :, 1:]
    top, bottom = mean_ab(out, slice(8, 48)), mean_ab(out, slice(72, 150))
    assert np.linalg.norm(top - sky) < 8, (top, sky)
    assert np.linalg.norm(bottom - grass) < 10, (bottom, grass)
    # the lightness is the photo's own
    assert np.abs(rgb2lab(out)[..., 0] - rgb2lab(np.repeat(photo[..., None], 3, 2))[..., 0]).max() < 1.5


def test_reference_alone_and_where_it_was_used():
    ref = two_halves(96, 128, 48)
    pic = Picture.from_array(grey(two_halves(96, 128, 40, seed=2)))
    refs = prepare_reference([ref, ref[:, ::-1]])  # several references pool their cells
    out, used = colorize_with_reference(pic, None, refs)
    assert used.shape == (96, 128) and used.min() >= 0 and used.max() <= 1
    assert used.mean() > 0.5
    assert mean_ab(out.pixels, slice(4, 36))[1] < -15  # blue from the reference alone


def test_another_scene_is_ignored():
    """A reference of another scene (random blobs of strong colour) leaves the model's colours."""
    rng = np.random.default_rng(3)
    blobs = np.kron(rng.integers(0, 255, (6, 8, 3)), np.ones((20, 20, 1))).astype(np.uint8)
    photo = grey(two_halves(128, 160, 60))
    hint_ab, weight = reference.reference_hints(
        Picture.from_array(photo).lightness()[:128, :160], prepare_reference(blobs).cells,
        reference.feature_encoder(None))
    assert weight.max() == 0
    plain = colorize(photo, model="gray")
    with_wrong = colorize(photo, model="gray", reference=blobs)
    assert np.abs(plain.astype(int) - with_wrong.astype(int)).max() <= 1


@pytest.mark.slow
def test_a_wrong_real_reference_stays_with_the_model(shared_data):
    davis = shared_data / "video" / "davis"
    photo = np.asarray(Image.open(davis / "blackswan" / "00030.jpg").convert("L"))
    wrong = davis / "cows" / "00000.jpg"
    plain = colorize(photo).astype(int)
    out = colorize(photo, reference=wrong).astype(int)
    assert np.abs(out - plain).mean() < 1.0


def test_match_cells_mutual_known_answer():
    photo = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 3.0]], np.float32)
    ref = np.array([[1.1, 0.0], [0.0, 0.1], [9.0, 9.0]], np.float32)
    nearest, dist, mutual = reference.match_cells(photo, ref, k=2)
    assert nearest[:, 0].tolist() == [1, 0, 0]
    assert np.allclose(dist[0, 0], 0.01)
    assert mutual.tolist() == [True, True, False]  # ref 0's best is photo 1, not photo 2


def test_fill_follows_edges_and_keeps_the_model_elsewhere():
    L = np.full((40, 40), 30.0)
    L[:, 20:] = 80.0
    prior = np.zeros((40, 40, 2), np.float32)
    prior[..., 0] = 10
    hint = np.zeros((40, 40, 2), np.float32)
    weight = np.zeros((40, 40), np.float32)
    hint[10:30, 4:10] = (-40, 30)
    weight[10:30, 4:10] = 1
    ab, reach = reference.fill(L, prior, hint, weight)
    assert np.allclose(ab[20, 12], (-40, 30), atol=8)  # beside the hints
    assert np.allclose(ab[20, 23], (10, 0), atol=1)  # across the edge: the model's colours
    assert reach[20, 12] > 0.7 and reach[20, 23] < 0.05


def write(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(rgb).save(path)
    return path


def test_cli_reference_and_confidence(tmp_path):
    old = write(tmp_path / "old.png", grey(two_halves(96, 128, 40, seed=4, flip=True)))
    ref = write(tmp_path / "ref.jpg", two_halves(120, 200, 60))
    r = CliRunner().invoke(cli, ["image", str(old), "--model", "gray", "--reference", str(ref),
                                 "--reference", str(ref), "--confidence", str(tmp_path / "used.png")])
    assert r.exit_code == 0, r.output
    out = np.asarray(Image.open(tmp_path / "old_color.png"))
    assert mean_ab(out, slice(4, 32))[1] < -15
    used = np.asarray(Image.open(tmp_path / "used.png").convert("L"))
    assert used.shape == (96, 128) and used.mean() > 100
    r = CliRunner().invoke(cli, ["image", str(old), "-o", str(tmp_path / "alone.png"), "--model", "none",
                                 "--reference", str(ref)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["image", str(old), "--model", "none"])
    assert r.exit_code == 2 and "--reference" in r.output


def test_cli_bad_references_one_line_each_nothing_written(tmp_path):
    old = write(tmp_path / "old.png", grey(two_halves(64, 64, 32)))
    grey_ref = write(tmp_path / "grey.png", grey(two_halves(64, 64, 32)))
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    args = ["image", str(old), "--model", "gray", "--confidence", str(tmp_path / "used.png")]
    for bad, words in ((grey_ref, "grey"), (text, "not an image"), (tmp_path / "missing.jpg", "not found")):
        r = CliRunner().invoke(cli, [*args, "--reference", str(bad)])
        assert r.exit_code == 1
        lines = [line for line in r.output.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and bad.name in lines[0] and words in lines[0], r.output
    r = CliRunner().invoke(cli, [*args, "--reference", str(grey_ref), "--reference", str(text)])
    assert len([line for line in r.output.splitlines() if line.startswith("error:")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grey.png", "notes.jpg", "old.png"]


def test_api_errors():
    photo = grey(two_halves(64, 64, 32))
    with pytest.raises(ColorizerError, match="grey"):
        colorize(photo, model="gray", reference=photo)
    with pytest.raises(ColorizerError, match="reference"):
        colorize(photo, model="none")


def test_video_keyframes_take_the_reference(tmp_path):
    frames = tmp_path / "clip"
    frames.mkdir()
    for i in range(4):
        write(frames / f"{i:05d}.png", grey(np.roll(two_halves(96, 128, 44, seed=5), 3 * i, axis=1)))
    ref = write(tmp_path / "ref.png", two_halves(96, 128, 48))
    r = CliRunner().invoke(cli, ["video", str(frames), "-o", str(tmp_path / "out"), "--model", "gray",
                                 "--reference", str(ref)])
    assert r.exit_code == 0, r.output
    outs = sorted((tmp_path / "out").iterdir())
    assert len(outs) == 4
    for path in outs:
        out = np.asarray(Image.open(path).convert("RGB"))
        assert mean_ab(out, slice(4, 36))[1] < -15, path.name
        assert mean_ab(out, slice(60, 92))[0] < -10, path.name
    r = CliRunner().invoke(cli, ["video", str(frames), "-o", str(tmp_path / "bad"), "--model", "gray",
                                 "--reference", str(tmp_path / "nope.png")])
    assert r.exit_code == 1 and not (tmp_path / "bad").exists()


def test_video_with_a_reference_holds_its_colours_longer(monkeypatch):
    """With a reference the keyframes come every 4th frame, and the carried colour never gives way
    (TemporalConfig.for_reference); what the user sets still wins."""
    from colorizer import video
    from colorizer.registry import get_colorizer
    from colorizer.video import Frame, TemporalConfig, colorize_frames

    cfg = TemporalConfig.for_reference(strength=0.8)
    assert (cfg.strength, cfg.keyframe_interval, cfg.give_way) == (0.8, 4, 0.0)
    net = get_colorizer("gray")
    ref = prepare_reference(two_halves(96, 128, 48), net)
    clip = [np.repeat(grey(np.roll(two_halves(96, 128, 44, seed=5), i, axis=1))[..., None], 3, 2)
            for i in range(9)]
    real, made = video.TemporalSmoother, []
    monkeypatch.setattr(video, "TemporalSmoother", lambda c: made.append(real(c)) or made[-1])
    counts = {}
    for name, kwargs in (("plain", {}), ("reference", {"reference": ref})):
        list(colorize_frames((Frame(f, i, "", i) for i, f in enumerate(clip)), net, **kwargs))
        counts[name] = (made[-1].predictions, made[-1].cfg.give_way)
    assert counts["plain"] == (5, TemporalConfig().give_way)
    assert counts["reference"] == (3, 0.0)


@pytest.mark.parametrize("shape", [(9, 14), (14, 9)])
def test_banded_solve_matches_a_sparse_lu(shape):
    """The banded Cholesky of reference.fill gives the sparse LU's answer, wide or tall."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    from colorizer import levin

    rng = np.random.default_rng(0)
    L = rng.uniform(20, 80, shape)
    data = (rng.random(shape) < 0.3) * rng.random(shape)
    drive = rng.normal(size=(*shape, 3))
    W = levin.affinity_matrix(L / 100.0)
    A = sp.diags(np.asarray(W.sum(1)).ravel() + 0.01 + data.ravel()) - W
    want = spsolve(A.tocsc(), drive.reshape(-1, 3)).reshape(*shape, 3)
    got = reference._solve_correction(L, data, drive, 0.01)
    assert np.allclose(got, want, rtol=1e-4, atol=1e-4)
