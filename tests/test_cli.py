import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import smooth_photo
from PIL import Image

from colorizer.cli import cli


def digest(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "scans"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(smooth_photo(40, 60, 1)).save(src / "a.jpg")
    Image.fromarray(smooth_photo(30, 20, 2)).save(src / "sub" / "b.png")
    (src / "broken.jpg").write_bytes(b"this is not a jpeg")
    (src / "notes.txt").write_text("ignored: not an image extension")
    return src


def test_folder_with_one_corrupt_file(folder, tmp_path):
    before = digest(folder)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "colorizer.cli", "image", str(folder), "--out-dir", str(out),
         "--model", "gray"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert (out / "a.jpg").exists() and (out / "sub" / "b.png").exists()
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "broken.jpg" in errors[0]
    assert "Traceback" not in result.stderr
    assert "done 2, skipped 0, failed 1" in result.stderr
    assert digest(folder) == before
    assert Image.open(out / "sub" / "b.png").size == (20, 30)


def test_default_names_and_no_overwrite(tmp_path):
    src = tmp_path / "p.png"
    Image.fromarray(smooth_photo(20, 30)).save(src)
    runner = CliRunner()
    r = runner.invoke(cli, ["image", str(src), "--model", "gray"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "p_color.png"
    first = out.read_bytes()
    r = runner.invoke(cli, ["image", str(src), "--model", "gray"])
    assert "exists, not overwritten" in r.output and out.read_bytes() == first
    r = runner.invoke(cli, ["image", str(src), "-o", str(src), "--model", "gray", "--overwrite"])
    assert r.exit_code == 1 and "over the input" in r.output
    r = runner.invoke(cli, ["image", str(src), "--model", "gray", "--overwrite"])
    assert r.exit_code == 0 and "done 1" in r.output


def test_folder_default_sibling(tmp_path):
    src = tmp_path / "album"
    src.mkdir()
    Image.fromarray(smooth_photo(20, 30)).save(src / "x.png")
    r = CliRunner().invoke(cli, ["image", str(src), "--model", "gray"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "album_colorized" / "x.png").exists()


def test_output_folder_never_inside_the_input_folder_twice(tmp_path, monkeypatch):
    """`colorize image .` wrote its "sibling" folder inside ., and --out-dir scans/colour inside
    scans: each rerun colorized the earlier results again, one level deeper."""
    scans = tmp_path / "scans"
    scans.mkdir()
    Image.fromarray(smooth_photo(20, 30)).save(scans / "a.png")
    monkeypatch.chdir(scans)
    for _ in range(2):
        r = CliRunner().invoke(cli, ["image", ".", "--model", "gray"])
        assert r.exit_code == 0, r.output
    assert sorted(p.name for p in scans.iterdir()) == ["a.png"]
    assert sorted(p.name for p in (tmp_path / "scans_colorized").iterdir()) == ["a.png"]
    for _ in range(2):
        r = CliRunner().invoke(cli, ["image", str(scans), "--out-dir", str(scans / "colour"),
                                     "--model", "gray"])
        assert r.exit_code == 0, r.output
    assert sorted(str(p.relative_to(scans)) for p in scans.rglob("*")) == ["a.png", "colour", "colour/a.png"]


def test_linked_folders_are_walked_once_and_loops_are_not(tmp_path):
    """A symlinked subfolder (scans/2019 -> ../elsewhere) was skipped in silence; a link back up
    the tree must not loop."""
    from colorizer.batch import find_images

    scans, elsewhere = tmp_path / "scans", tmp_path / "elsewhere"
    scans.mkdir()
    elsewhere.mkdir()
    Image.fromarray(smooth_photo(20, 30)).save(scans / "a.png")
    Image.fromarray(smooth_photo(20, 30)).save(elsewhere / "b.png")
    (scans / "2019").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "up").symlink_to(scans, target_is_directory=True)  # a loop
    assert find_images(scans) == [scans / "a.png", scans / "2019" / "b.png"]
    # a link sorted before the real folder it points to does not take its place; a link above
    # the walked folder (here to its parent) is not followed
    (scans / "z").mkdir()
    Image.fromarray(smooth_photo(20, 30)).save(scans / "z" / "c.png")
    (scans / "0all").symlink_to(scans / "z", target_is_directory=True)
    (scans / "parent").symlink_to(tmp_path, target_is_directory=True)
    assert find_images(scans) == [scans / "a.png", scans / "2019" / "b.png", scans / "z" / "c.png"]
    for link in ("0all", "parent"):
        (scans / link).unlink()
    (scans / "z" / "c.png").unlink()
    (scans / "z").rmdir()
    r = CliRunner().invoke(cli, ["image", str(scans), "--out-dir", str(tmp_path / "out"), "--model", "gray"])
    assert r.exit_code == 0 and "done 2," in r.output, r.output
    assert (tmp_path / "out" / "2019" / "b.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["image", "x.png", "--model", "nope"], "unknown model 'nope'"),
    (["image", "a.png", "b.png", "-o", "c.png", "--model", "gray"], "exactly one input"),
    (["image", "missing.png", "--model", "gray"], "file not found"),
])
def test_user_errors_are_one_line(tmp_path, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(smooth_photo(8, 8)).save(tmp_path / "x.png")
    r = CliRunner().invoke(cli, args)
    assert r.exit_code != 0 and message in r.output
    assert "Traceback" not in r.output


def test_model_errors_speak_cli_words_and_list_what_fits(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(smooth_photo(8, 8)).save(tmp_path / "x.png")
    r = CliRunner().invoke(cli, ["image", "x.png", "--model", "nope"])
    assert r.exit_code == 1 and "valid names: default, gan, gray, levin, vae, zhang" in r.output, r.output
    assert "denoise" not in r.output  # a denoiser is no colorizer
    r = CliRunner().invoke(cli, ["image", "x.png", "--model", "levin"])
    assert r.exit_code == 1 and "`colorize scribble PHOTO -s SCRIBBLES`" in r.output, r.output
    assert "hints=" not in r.output
    r = CliRunner().invoke(cli, ["train", "--model", "nope", "--data", ".", "--out", "run"])
    assert r.exit_code == 1 and "trainable: denoise, gan, vae, zhang" in r.output, r.output
    r = CliRunner().invoke(cli, ["denoise", "x.png", "--model", "gan"])
    assert r.exit_code == 1 and "not a denoiser" in r.output, r.output


def test_help_speaks_plain_words():
    import re

    from colorizer.cards import history_words

    for command in [None, *sorted(cli.commands)]:
        r = CliRunner().invoke(cli, [command, "--help"] if command else ["--help"])
        assert r.exit_code == 0, (command, r.output)
        text = re.sub(r"\S+\.(png|md|json|csv|html)\b", "", r.output)  # file names: bars.png
        assert history_words(text) == [], (command, history_words(text))


def test_models_and_version():
    r = CliRunner().invoke(cli, ["models"])
    assert r.exit_code == 0 and "gray" in r.output and " (default): " in r.output
    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and "colorize, version" in r.output


def test_demo(tmp_path):
    r = CliRunner().invoke(cli, ["demo", "--model", "gray", "--out-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "sample_gray.png").size == (600, 400)


def test_image_says_where_it_wrote(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(smooth_photo(20, 30)).save(tmp_path / "a.png")
    r = CliRunner().invoke(cli, ["image", "a.png", "--model", "gray"])
    assert r.exit_code == 0 and "wrote a_color.png\ndone 1, skipped 0, failed 0" in r.output, r.output
    (tmp_path / "scans" / "1950").mkdir(parents=True)
    for name in ("b.png", "1950/c.png"):
        Image.fromarray(smooth_photo(20, 30)).save(tmp_path / "scans" / name)
    r = CliRunner().invoke(cli, ["image", "scans", "--model", "gray"])
    assert r.exit_code == 0 and f"wrote 2 files in scans_colorized{os.sep}\n" in r.output, r.output
    r = CliRunner().invoke(cli, ["image", "scans", "--model", "gray"])
    assert r.exit_code == 0 and "wrote" not in r.output and "done 0, skipped 2" in r.output


def test_rerun_over_existing_outputs_skips_them_and_exits_0(tmp_path, monkeypatch):
    """Every command that writes files keeps what an earlier run wrote: a second run says
    "skipped" and exits 0 (as `colorize image` always did), touching nothing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    for i in range(3):
        Image.fromarray(smooth_photo(24, 32, seed=i)).save(tmp_path / "photos" / f"p{i}.png")
    Image.fromarray(smooth_photo(24, 32)).save(tmp_path / "p.png")
    (tmp_path / "s.json").write_text('{"strokes": [{"points": [[4, 4], [20, 10]], "color": "#c0392b"}]}')
    commands = [
        ["image", "p.png", "--model", "gray"],
        ["image", "photos", "--model", "gray", "--out-dir", "folder"],
        ["denoise", "p.png"],
        ["scribble", "p.png", "-s", "s.json", "-o", "scribbled.png"],
        ["demo", "--model", "gray", "--out-dir", "demo"],
        ["evaluate", "--images", "photos", "--models", "gray", "--size", "32", "--out", "report"],
        ["prepare", "photos", "--out", "dataset", "--size", "16"],
    ]

    def files():
        return {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}

    for args in commands:
        first = CliRunner().invoke(cli, args)
        assert first.exit_code == 0, (args, first.output)
        before = files()
        again = CliRunner().invoke(cli, args)
        assert again.exit_code == 0 and "skipped" in again.output, (args, again.output)
        assert "error" not in again.output and files() == before, (args, again.output)


def test_export_over_an_existing_file_is_skipped(tmp_path):
    pytest.importorskip("onnx")
    out = tmp_path / "gan.onnx"
    out.write_bytes(b"an earlier export")
    r = CliRunner().invoke(cli, ["export", "--model", "gan", "--out", str(out)])
    assert r.exit_code == 0 and r.output.startswith("skipped: ") and "--overwrite" in r.output, r.output
    assert out.read_bytes() == b"an earlier export"


def test_demo_with_bundled_scribbles_is_colourful(tmp_path):
    r = CliRunner().invoke(cli, ["demo", "--model", "levin", "--out-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    out = np.asarray(Image.open(tmp_path / "sample_levin.png")).astype(int)
    assert out.shape == (400, 600, 3)
    assert np.ptp(out, axis=2).mean() > 15  # clearly coloured, not grey


@pytest.mark.slow
def test_large_jpeg_end_to_end(tmp_path):
    """The console script on a 4000x3000 JPEG: right size out, refuses to overwrite."""
    script = shutil.which("colorize", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("console script not installed")
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(small).resize((4000, 3000), Image.BILINEAR).save(tmp_path / "photo.jpg")
    cmd = [script, "image", str(tmp_path / "photo.jpg"), "-o", str(tmp_path / "out.png"),
           "--model", "gray"]
    assert subprocess.run(cmd, capture_output=True, timeout=300).returncode == 0
    assert Image.open(tmp_path / "out.png").size == (4000, 3000)
    stamp = (tmp_path / "out.png").stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert "exists, not overwritten" in again.stderr
    assert (tmp_path / "out.png").stat().st_mtime_ns == stamp


def test_vae_samples_are_different_files(tmp_path):
    import torch

    from colorizer.models.vae import VAEColorizer, VAEConfig
    from colorizer.weights import save_weights

    torch.manual_seed(0)
    # untrained, so make the code matter: wide samples of z
    # (random codes: the shipped way, code directions, needs a decoder trained to respond to z)
    config = {"encoder": "none", "channels": [4, 8, 8, 8], "latent": 4, "sample_scale": 200.0,
              "sampling": "random"}
    weights = save_weights(VAEColorizer(VAEConfig(encoder="none", channels=(4, 8, 8, 8), latent=4,
                                                  sample_scale=200.0, sampling="random")),
                           tmp_path / "vae.safetensors", {"architecture": "VAEColorizer", "config": config})
    Image.fromarray(smooth_photo(48, 64)).save(tmp_path / "x.png")
    r = CliRunner().invoke(cli, ["image", str(tmp_path / "x.png"), "--model", "vae", "--weights",
                                 str(weights), "--samples", "3", "--out-dir", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    outs = [np.asarray(Image.open(tmp_path / "out" / f"x_sample{k}.png")).astype(int) for k in (1, 2, 3)]
    assert all(o.shape == (48, 64, 3) for o in outs)
    assert np.abs(outs[0] - outs[1]).mean() > 0.5 and np.abs(outs[1] - outs[2]).mean() > 0.5
    r = CliRunner().invoke(cli, ["image", str(tmp_path / "x.png"), "--model", "gray", "--samples", "2"])
    assert r.exit_code == 1 and "--samples needs" in r.output


def test_read_ahead_first_file_broken_the_rest_go_on(folder, tmp_path):
    from colorizer.batch import Job, read_ahead, run_jobs

    jobs = [Job(folder / "broken.jpg", tmp_path / "x.png"), Job(folder / "a.jpg", tmp_path / "a.png")]
    lines = []
    summary = run_jobs(jobs, lambda pic, job: pic, first=read_ahead(jobs), report=lines.append,
                       progress=False)
    assert [src for src, _ in summary.failed] == [folder / "broken.jpg"]
    assert summary.done == [tmp_path / "a.png"] and not (tmp_path / "x.png").exists()
    assert len(lines) == 1 and lines[0].startswith("error:") and "broken.jpg" in lines[0]


def test_samples_of_one_photo_share_one_read(folder, tmp_path, monkeypatch):
    from colorizer import batch

    reads = []
    real_read = batch._read
    monkeypatch.setattr(batch, "_read", lambda path, *a, **k: reads.append(path) or real_read(path, *a, **k))
    jobs = batch.with_samples([batch.Job(folder / "a.jpg", tmp_path / "a.png"),
                               batch.Job(folder / "broken.jpg", tmp_path / "b.png")], 3)
    lines = []
    summary = batch.run_jobs(jobs, lambda pic, job: pic, report=lines.append, progress=False)
    assert reads == [folder / "a.jpg", folder / "broken.jpg"]
    assert summary.done == [tmp_path / f"a_sample{k}.png" for k in (1, 2, 3)]
    assert len(summary.failed) == 3 and all(line.startswith("error:") for line in lines)


def test_inputs_that_would_share_an_output_each_get_their_own(tmp_path):
    """a/x.jpg and b/x.jpg into one --out-dir, x.png and x.gif (both written as PNG) in one
    folder: the later one writes NAME_2.EXT with one warning line, where it used to be skipped as
    "exists" (or, with --overwrite, write over the first's result). The same input given twice
    runs once; a second run finds every output under the same name and skips it."""
    from colorizer.batch import plan_jobs

    grey = np.repeat(smooth_photo(24, 32)[..., :1], 3, axis=2)
    for rel in ("a/x.jpg", "b/x.jpg", "c/x.png", "c/x.gif"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grey).save(tmp_path / rel)
    a, b, c = (tmp_path / d for d in "abc")
    said = []
    jobs = plan_jobs([a / "x.jpg", b / "x.jpg", b / ".." / "a" / "x.jpg"], out_dir=tmp_path / "out",
                     report=said.append)
    assert [(j.src, j.dst.name) for j in jobs] == [(a / "x.jpg", "x.jpg"), (b / "x.jpg", "x_2.jpg")]
    assert said == [f"warning: {b / 'x.jpg'}: written as {tmp_path / 'out' / 'x_2.jpg'}, because "
                    f"{tmp_path / 'out' / 'x.jpg'} is the output of {a / 'x.jpg'}"]
    assert [(j.src.name, j.dst.name) for j in plan_jobs([c], report=said.append)] == [
        ("x.gif", "x.png"), ("x.png", "x_2.png")]  # in the folder's sorted order
    # the same file by another path, beside itself: one output, not two writing one file
    assert [j.dst for j in plan_jobs([a / "x.jpg", b / ".." / "a" / "x.jpg"], report=said.append)] == [
        a / "x_color.jpg"]

    args = ["image", str(a / "x.jpg"), str(b / "x.jpg"), str(c), "--out-dir", str(tmp_path / "out"),
            "--model", "gray"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "done 4, skipped 0, failed 0" in r.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x.jpg", "x.png", "x_2.jpg", "x_2.png"]
    assert sum(line.startswith("warning:") for line in r.output.splitlines()) == 2, r.output
    r = CliRunner().invoke(cli, args)
    assert "done 0, skipped 4, failed 0" in r.output, r.output


def test_an_output_never_lands_on_another_input_even_with_overwrite(tmp_path):
    """x.gif is written as x.png; with --out-dir the input folder and --overwrite, that replaced
    the user's own x.png (another input of the run), and the photo was lost. And an earlier
    output given again as an input (colorize image *.png) is skipped as before, not renamed."""
    folder = tmp_path / "scans"
    folder.mkdir()
    Image.fromarray(np.full((24, 32), 60, np.uint8)).save(folder / "x.gif")
    Image.fromarray(np.full((24, 32), 200, np.uint8)).save(folder / "x.png")
    before = (folder / "x.png").read_bytes()
    r = CliRunner().invoke(cli, ["image", str(folder), "--out-dir", str(folder), "--overwrite",
                                 "--model", "gray"])
    assert (folder / "x.png").read_bytes() == before, r.output
    assert f"error: {folder / 'x.png'}: not written: it is another input of this run" in r.output
    # x.png's own result is x_2.png (x.png is x.gif's output name): the grey-200 photo, colorized
    assert r.exit_code == 1 and sorted(p.name for p in folder.iterdir()) == ["x.gif", "x.png", "x_2.png"]
    assert np.asarray(Image.open(folder / "x_2.png").convert("L")).mean() == pytest.approx(200, abs=1)

    a = tmp_path / "a.png"
    Image.fromarray(np.full((24, 32), 90, np.uint8)).save(a)
    assert CliRunner().invoke(cli, ["image", str(a), "--model", "gray"]).exit_code == 0
    r = CliRunner().invoke(cli, ["image", str(a), str(tmp_path / "a_color.png"), "--model", "gray"])
    assert "done 1, skipped 1, failed 0" in r.output, r.output
    assert sorted(p.name for p in tmp_path.glob("a*")) == ["a.png", "a_color.png", "a_color_color.png"]


def test_an_unexpected_error_on_one_file_fails_that_file_only(tmp_path, monkeypatch):
    """onnxruntime's errors (out of memory on a huge photo) are not RuntimeErrors, and a
    MemoryError can have no message: each is one error line, and the other files go on."""
    from colorizer import batch

    class OrtFail(Exception):  # as onnxruntime's Fail: a plain Exception
        pass

    grey = Image.fromarray(np.full((24, 32), 90, np.uint8))
    for name in ("a.png", "b.png", "c.png"):
        grey.save(tmp_path / name)
    failures = {"a.png": OrtFail("[ONNXRuntimeError] : 1 : FAIL : Failed to allocate memory\nmore"),
                "b.png": MemoryError()}

    def process(pic, job):
        if job.src.name in failures:
            raise failures[job.src.name]
        return pic

    lines = []
    jobs = batch.plan_jobs([tmp_path / n for n in ("a.png", "b.png", "c.png")])
    summary = batch.run_jobs(jobs, process, report=lines.append, progress=False)
    assert summary.done == [tmp_path / "c_color.png"]
    assert lines == [f"error: {tmp_path / 'a.png'}: OrtFail: [ONNXRuntimeError] : 1 : FAIL : Failed to "
                     "allocate memory", f"error: {tmp_path / 'b.png'}: out of memory"]
    assert not (tmp_path / "a_color.png").exists()


@pytest.mark.slow
def test_readme_scribbles_on_the_default_fill_whole_objects(tmp_path):
    """The README's example: `colorize scribble sample_grey.jpg -s sample_scribbles.json --model
    default` colours the objects the strokes touch, not only the strokes: most pixels more than
    15 px from any stroke move away from the model's colours (the earlier behaviour moved a
    quarter of them)."""
    import cv2

    from colorizer.api import model_ab
    from colorizer.color import rgb2lab
    from colorizer.io import read_image
    from colorizer.registry import get_colorizer
    from colorizer.scribbles import read_scribbles

    assets = Path(__file__).resolve().parents[1] / "src" / "colorizer" / "assets"
    photo, strokes = assets / "sample_grey.jpg", assets / "sample_scribbles.json"
    out = tmp_path / "out.png"
    r = CliRunner().invoke(cli, ["scribble", str(photo), "-s", str(strokes), "--model", "default",
                                 "-o", str(out)])
    assert r.exit_code == 0, r.output
    pic = read_image(photo)
    _, mask = read_scribbles(strokes, pic)
    model = model_ab(pic.lightness(), get_colorizer("default", device="cpu"))
    ab = rgb2lab(np.asarray(Image.open(out).convert("RGB")))[..., 1:]
    far = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5) > 15
    moved = np.linalg.norm(ab - model, axis=2) > 5
    assert moved[far].mean() > 0.6, moved[far].mean()
