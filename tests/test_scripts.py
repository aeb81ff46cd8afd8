"""The repository's scripts that build training data and run training elsewhere, on tiny inputs."""

import csv
import json
import subprocess

import cv2
import numpy as np
import pytest
from helpers import load_script
from safetensors.torch import load_file


def _photo(seed: int, h: int = 180, w: int = 200, colour: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, rng.integers(0, 255))], 2)
    image = image.astype(np.uint8)
    return image if colour else cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def _jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_build_training_set_keeps_colour_photos_once_and_leaves_out_the_shared_sample(tmp_path):
    build = load_script("scripts/build_training_set.py")
    repo = tmp_path / "snap"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    folder = repo / "photos"
    folder.mkdir()
    files = {"a.jpg": _jpeg(_photo(1)), "b.jpg": _jpeg(_photo(2)), "copy_of_a.jpg": _jpeg(_photo(1)),
             "grey.jpg": _jpeg(_photo(3, colour=False)), "small.jpg": _jpeg(_photo(4, 100, 120)),
             "sampled.jpg": _jpeg(_photo(5)), "notes.txt": b"not a photo"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    env = ["-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", *env, "-C", str(repo), "commit", "-qm", "photos"], check=True)
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    source = build.Source("test", "someone/photos", commit, ("photos",), "CC0", "test photos")
    build.SOURCES = (source,)
    import hashlib
    exclude = {hashlib.sha1(files["sampled.jpg"]).hexdigest()[:8]}
    out = tmp_path / "out"
    summary = build.build({"someone/photos": build.git_dir(repo)}, out, 150, exclude, None)
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert sorted(r["path"] for r in rows) == ["photos/a.jpg", "photos/b.jpg"]
    assert summary["sets"][0]["left out"] == {"duplicate": 1, "greyscale": 1, "small": 1,
                                              "in the shared sample": 1}
    kept = cv2.imread(str(out / rows[0]["file"]))
    assert min(kept.shape[:2]) == 150  # reduced to the short side, aspect kept
    # a second run continues: nothing new, nothing lost
    assert build.build({"someone/photos": build.git_dir(repo)}, out, 150, exclude, None)["total"] == 2
    assert json.loads((out / "sources.json").read_text())["sets"][0]["commit"] == commit


@pytest.mark.slow
def test_device_stage_packs_and_trains_a_tiny_run_on_the_cpu(tmp_path):
    stage_script = load_script("scripts/device_stage.py")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(12):
        cv2.imwrite(str(photos / f"p{i}.jpg"), _photo(i, 200, 240))
    stage = tmp_path / "stage"
    one = len(cv2.imencode(".jpg", cv2.resize(_photo(0, 200, 240), (211, 176)))[1])
    info = stage_script.pack([photos], stage, mib=5.5 * one / 2**20, seed=1)
    assert 0 < info["photos"] < 12  # the budget cuts the draw
    assert all(min(cv2.imread(str(f)).shape[:2]) == 176 for f in (stage / "photos").iterdir())
    out = tmp_path / "back"
    stage_script.run(stage, out, minutes=0.3, epochs=1, batch_size=2, size=32, lr=1e-4, device="cpu",
                     init=stage_script.SHIPPED, work=tmp_path / "work", extra=["--val-images", "2"])
    assert {"gan.safetensors", "gan.json", "log.csv", "pack.json"} <= {f.name for f in out.iterdir()}
    new, old = load_file(out / "gan.safetensors"), load_file(stage_script.SHIPPED)
    assert new.keys() == old.keys() and any(not (new[k] == old[k]).all() for k in new)
