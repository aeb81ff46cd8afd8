"""The bad-input corpus (tests/badinputs.py) through the real CLI.

Every kind is checked for five things: the exit code, one error line naming the file (and none
for the kinds that must work), no traceback, inputs unchanged (hashes before and after), and no
partial output. The commands run as a user would meet the files: one ``colorize image`` run over
the folder of odd images, one ``colorize video`` run over the bad clips, and one run per bad
scribble, weights file and dataset. Each command is a process of its own (tests/clirun.py forks
them from one process that has imported torch, which keeps the whole corpus to seconds).
"""

import hashlib
from pathlib import Path

import badinputs
import numpy as np
import pytest
from clirun import run_many
from PIL import Image

from colorizer.batch import plan_jobs
from colorizer.color import rgb2lab
from colorizer.errors import one_line

pytest.importorskip("av")


def hashes(folder: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Make every kind, run every command once (one fork server), return kinds and results."""
    root = tmp_path_factory.mktemp("corpus")
    inputs, outputs = root / "in", root / "out"
    images = badinputs.image_kinds(inputs / "images")
    photo, scribbles = badinputs.scribble_kinds(inputs / "scribbles")
    weights = badinputs.weight_kinds(inputs / "weights")
    datasets = badinputs.dataset_kinds(inputs / "datasets")
    videos = badinputs.video_kinds(inputs / "clips") + badinputs.frame_folder_kinds(inputs / "frames")
    before = hashes(inputs)
    commands = {
        "images": ["image", str(inputs / "images"), "--out-dir", str(outputs / "images"), "--size", "64"],
        "videos": ["video", str(inputs / "clips"), *(str(k.path) for k in videos if k.path.is_dir()),
                   "--out-dir", str(outputs / "videos"), "--model", "gray", "--temporal", "none"],
    }
    for k in scribbles:
        commands[k.name] = ["scribble", str(photo), "-s", str(k.path), "-o", str(outputs / f"{k.name}.png")]
    for k in weights:
        commands[k.name] = ["image", str(photo), "--model", k.extra.get("model", "gan"), "--weights",
                            str(k.path), "-o", str(outputs / f"{k.name}.png"), "--size", "32"]
    for k in datasets:
        commands[k.name] = ["train", "--data", str(k.path), "--out", str(outputs / "runs" / k.name),
                            "--set", "encoder=none", "--epochs", "1", "--batch-size", "2", "--size", "16",
                            "--threads", "1"]
    results = dict(zip(commands, run_many(list(commands.values())), strict=True))
    return {"images": images, "scribbles": scribbles, "weights": weights, "datasets": datasets,
            "videos": videos, "results": results, "before": before, "after": hashes(inputs),
            "inputs": inputs, "outputs": outputs, "photo": photo}


def error_problems(kind, result, name_in_line: str) -> list[str]:
    """What is wrong with how one bad file was reported in ``result`` (empty: nothing)."""
    problems = []
    name_in_line = one_line(name_in_line)  # a newline or an escape in a name is shown escaped
    mine = [line for line in result.lines("error:") if name_in_line in line]
    if len(mine) != 1:
        problems.append(f"{kind.name}: {len(mine)} error lines naming it")
    elif kind.match not in mine[0]:
        problems.append(f"{kind.name}: error line lacks {kind.match!r}: {mine[0]}")
    return problems


def test_corpus_has_at_least_25_kinds_across_five_groups(corpus):
    groups = {g: len(corpus[g]) for g in ("images", "scribbles", "weights", "datasets", "videos")}
    assert all(n >= 4 for n in groups.values()), groups
    assert sum(groups.values()) >= 25, groups
    print(f"corpus kinds: {groups}, total {sum(groups.values())}")


def test_no_traceback_and_inputs_unchanged(corpus):
    for name, r in corpus["results"].items():
        assert "Traceback" not in r.stderr + r.stdout, f"{name}:\n{r.stderr[-2000:]}"
    assert corpus["after"] == corpus["before"]
    assert not any(k.extra["marker"].exists() for k in corpus["weights"]), "pickled code ran"


def test_image_folder_run(corpus):
    r = corpus["results"]["images"]
    kinds = corpus["images"]
    bad = [k for k in kinds if k.expect == "error"]
    good = [k for k in kinds if k.expect == "ok"]
    assert r.returncode == 1
    assert f"done {len(good)}, skipped 0, failed {len(bad)}" in r.stderr, r.stderr[-3000:]
    problems = []
    for k in bad:
        problems += error_problems(k, r, str(k.path))
    for k in good:
        if any(str(k.path) in line for line in r.lines("error:")):
            problems.append(f"{k.name}: reported as an error")
        warned = [line for line in r.lines("warning:") if str(k.path) in line]
        if k.warn and not (len(warned) == 1 and k.warn in warned[0]):
            problems.append(f"{k.name}: expected one warning with {k.warn!r}, got {warned}")
        if not k.warn and warned:
            problems.append(f"{k.name}: unexpected warning {warned}")
    unknown = [line for line in r.stderr.replace("\r", "\n").splitlines()
               if line.strip() and not line.startswith(("error:", "warning:", "done ", "wrote "))
               and "img/s" not in line and "img]" not in line]
    assert not unknown, unknown
    assert not problems, "\n".join(problems)
    # nothing but the good kinds' outputs: no partial file, no output for a bad input
    planned = {j.src: j.dst for j in plan_jobs([corpus["inputs"] / "images"],
                                               out_dir=corpus["outputs"] / "images")}
    assert set(planned) == {k.path for k in kinds}, "a file of the folder was not planned"
    assert files_under(corpus["outputs"] / "images") == sorted(planned[k.path] for k in good)


def _lightness(path: Path) -> np.ndarray:
    return rgb2lab(np.asarray(Image.open(path).convert("RGB")))[..., 0]


def test_image_outputs_are_right(corpus):
    planned = {j.src: j.dst for j in plan_jobs([corpus["inputs"] / "images"],
                                               out_dir=corpus["outputs"] / "images")}
    kinds = {k.name: k for k in corpus["images"]}
    photo_l = rgb2lab(badinputs.smooth_photo(badinputs.H, badinputs.W, 3))[..., 0]
    for value in range(1, 9):
        k = kinds[f"exif_orientation_{value}"]
        out_l = _lightness(planned[k.path])
        want = badinputs.oriented(photo_l, value)
        assert out_l.shape == want.shape, (value, out_l.shape)
        error = np.abs(out_l - want).mean()
        assert error < 3, (value, error)  # JPEG loss; a wrong orientation is off by > 10
        for other in range(1, 9):
            wrong = badinputs.oriented(photo_l, other)
            if wrong.shape == want.shape and not np.allclose(wrong, want):
                assert np.abs(out_l - wrong).mean() > error + 5, (value, other)
    # the embedded Adobe RGB profile was applied: L is that of the converted colours
    k = kinds["icc_adobe_rgb"]
    want = rgb2lab(badinputs.adobe_to_srgb8(k.extra["source"]))[..., 0]
    naive = rgb2lab(k.extra["source"])[..., 0]
    out_l = _lightness(planned[k.path])
    assert np.abs(out_l - want).max() < 1.0
    assert np.abs(naive - want).max() > 2.0  # so the check above could fail
    # the first frame of an animated GIF (frames are photos 1, 2, 3)
    out_l = _lightness(planned[kinds["gif_animated"].path])
    frames_l = [rgb2lab(badinputs.smooth_photo(badinputs.H, badinputs.W, s))[..., 0] for s in (1, 2)]
    assert np.abs(out_l - frames_l[0]).mean() < np.abs(out_l - frames_l[1]).mean()
    assert planned[kinds["gif_animated"].path].suffix == ".png"
    # 16-bit in, 16-bit out
    import cv2

    assert cv2.imread(str(planned[kinds["png_16bit_rgb"].path]), cv2.IMREAD_UNCHANGED).dtype == np.uint16


@pytest.mark.parametrize("group", ["scribbles", "weights", "datasets"])
def test_one_command_per_bad_file(corpus, group):
    problems = []
    for k in corpus[group]:
        r = corpus["results"][k.name]
        if r.returncode != 1:
            problems.append(f"{k.name}: exit code {r.returncode}")
        # the line names the file (a card error names NAME.json beside NAME.safetensors)
        problems += error_problems(k, r, str(k.path.with_suffix("")))
        if len(r.lines("error:")) != 1:
            problems.append(f"{k.name}: {len(r.lines('error:'))} error lines in all:\n{r.stderr}")
    assert not problems, "\n".join(problems)
    outputs = corpus["outputs"]
    leftovers = [p for p in files_under(outputs) if not p.is_relative_to(outputs / "images")
                 and not p.is_relative_to(outputs / "videos")]
    assert leftovers == []
    assert not (outputs / "runs").exists() or not any((outputs / "runs").iterdir())


def test_video_run(corpus):
    r = corpus["results"]["videos"]
    assert r.returncode == 1
    problems = []
    for k in corpus["videos"]:
        problems += error_problems(k, r, str(k.path))
    assert not problems, "\n".join(problems) + "\n" + r.stderr
    assert len(r.lines("error:")) == len(corpus["videos"])
    assert files_under(corpus["outputs"] / "videos") == []
