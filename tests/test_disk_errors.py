"""Full disks and read-only folders: one line per failed file, nothing half-written, and the
files already done are kept.

A full disk is simulated with RLIMIT_FSIZE (a write past the limit fails with EFBIG, as one past
the free space fails with ENOSPC). Read-only folders are chmod 555; as root (CI runs as root)
that alone would not stop the writes, so the commands then run without CAP_DAC_OVERRIDE
(tests/clirun.py). Every command is a real ``colorize`` process.
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from clirun import can_drop_dac_override, run_many
from helpers import smooth_photo
from PIL import Image

LIMIT = 100_000  # bytes: the small outputs fit, the big ones do not


def digest(folder: Path) -> dict:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def errors(result) -> list[str]:
    return result.lines("error:")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("disk")
    photos = root / "photos"
    (photos / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(smooth_photo(40, 60, i)).save(photos / f"small{i}.png")
    for i in range(2):  # noise does not compress: about 360 kB as PNG
        noise = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
        Image.fromarray(noise).save(photos / "sub" / f"big{i}.png")
    frames = root / "frames"
    frames.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(frames / f"f{i:02d}.png")
    read_only = can_drop_dac_override()
    ro_all, ro_part = root / "ro_all", root / "ro_part"
    (ro_part / "sub").mkdir(parents=True)
    ro_all.mkdir()
    ro_all.chmod(0o555)
    (ro_part / "sub").chmod(0o555)
    before = digest(photos) | digest(frames)
    image = ["image", str(photos), "--model", "gray"]
    prepare = ["prepare", str(photos), "--size", "64", "--workers", "1"]
    commands = {
        "image_ref": [*image, "--out-dir", str(root / "ref")],
        "image_full": {"args": [*image, "--out-dir", str(root / "full")], "fsize": LIMIT},
        "prepare_ref": [*prepare, "--out", str(root / "ds_ref")],
        "prepare_full": {"args": [*prepare, "--out", str(root / "ds")], "fsize": 20_000},
        "prepare_again": [*prepare, "--out", str(root / "ds")],
        "video_full": {"args": ["video", str(frames), "-o", str(root / "v" / "clip.mp4"), "--model", "gray",
                                "--temporal", "none"], "fsize": 3000},
    }
    if read_only:
        commands |= {
            "image_ro_part": {"args": [*image, "--out-dir", str(ro_part)], "read_only": True},
            "image_ro_all": {"args": [*image, "--out-dir", str(ro_all)], "read_only": True},
            "video_ro": {"args": ["video", str(frames), "-o", str(ro_all / "clip.mp4"), "--model", "gray",
                                  "--temporal", "none"], "read_only": True},
            "prepare_ro": {"args": [*prepare, "--out", str(ro_all / "ds")], "read_only": True},
            "train_ro": {"args": ["train", "--data", str(root / "ds_ref"), "--out", str(ro_all / "run"),
                                  "--set", "encoder=none", "--epochs", "1", "--batch-size", "1",
                                  "--size", "16", "--threads", "1"], "read_only": True},
        }
    results = dict(zip(commands, run_many(list(commands.values())), strict=True))
    return {"root": root, "photos": photos, "results": results, "read_only": read_only,
            "before": before, "after": digest(photos) | digest(frames)}


def test_no_traceback_and_inputs_unchanged(runs):
    for name, r in runs["results"].items():
        assert "Traceback" not in r.stderr + r.stdout, f"{name}:\n{r.stderr[-3000:]}"
    assert runs["after"] == runs["before"]


def test_full_disk_colorize_image(runs):
    root, r = runs["root"], runs["results"]["image_full"]
    assert r.returncode == 1
    lines = errors(r)
    assert len(lines) == 2, r.stderr
    for i in range(2):
        mine = [line for line in lines if str(root / "full" / "sub" / f"big{i}.png") in line]
        assert len(mine) == 1 and "not written" in mine[0] and "space" in mine[0]
    assert "done 3, skipped 0, failed 2" in r.stderr
    reference, full = digest(root / "ref"), digest(root / "full")
    assert sorted(full) == [f"small{i}.png" for i in range(3)]  # no half-written big file
    assert all(reference[name] == h for name, h in full.items())  # the finished ones are whole


def test_full_disk_prepare_then_rerun(runs):
    root, r = runs["root"], runs["results"]["prepare_full"]
    assert r.returncode == 1 and len(errors(r)) == 1, r.stderr
    assert str(root / "ds") in errors(r)[0] and "not written" in errors(r)[0]
    again = runs["results"]["prepare_again"]
    assert again.returncode == 0, again.stderr
    assert digest(root / "ds") == digest(root / "ds_ref")  # resumed, as if nothing had happened


def test_full_disk_video(runs):
    root, r = runs["root"], runs["results"]["video_full"]
    assert r.returncode == 1 and len(errors(r)) == 1, r.stderr
    assert "clip.mp4" in errors(r)[0] and "not written" in errors(r)[0]
    assert digest(root / "v") == {}  # no partial clip, no temporary file


def test_read_only_folders(runs):
    if not runs["read_only"]:
        pytest.skip("running as root without the right to drop CAP_DAC_OVERRIDE: a chmod'd folder "
                    "would still be writable")
    root, res = runs["root"], runs["results"]
    r = res["image_ro_part"]  # the sub-folder is read-only: its two files fail, the rest are done
    assert r.returncode == 1 and "done 3, skipped 0, failed 2" in r.stderr, r.stderr
    assert len(errors(r)) == 2 and all("read-only" in line and "/sub/big" in line for line in errors(r))
    assert sorted(digest(root / "ro_part")) == [f"small{i}.png" for i in range(3)]
    r = res["image_ro_all"]
    assert r.returncode == 1 and len(errors(r)) == 5 and "done 0, skipped 0, failed 5" in r.stderr
    for name in ("video_ro", "prepare_ro", "train_ro"):
        r = res[name]
        assert r.returncode == 1 and len(errors(r)) == 1, (name, r.stderr)
        assert str(root / "ro_all") in errors(r)[0] and "read-only" in errors(r)[0], (name, r.stderr)
    assert digest(root / "ro_all") == {}


def test_stale_temporaries_of_dead_processes_only(tmp_path):
    """What a killed run left is removed; a running process's temporary file, another computer's
    and a user's own hidden files are not."""
    import os
    import subprocess
    import sys

    from colorizer.io import _host_tag, atomic_write, remove_stale_temps

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    tag = _host_tag()
    names = {"dead": f".a.png.{dead}~{tag}-x1.tmp", "alive": f".b.png.{os.getppid()}~{tag}-x2.tmp",
             "other_host": f".c.png.{dead}~ffffff-x3.tmp", "user": ".notes.tmp", "plain": "d.png"}
    for name in names.values():
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / f".frames.{dead}~{tag}-x4.tmp").mkdir()  # a video frame folder
    atomic_write(tmp_path / "e.png", lambda p: p.write_bytes(b"e"))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([names["alive"], names["other_host"], names["user"], names["plain"], "e.png"])
    assert remove_stale_temps(tmp_path) == []  # once per folder and process
