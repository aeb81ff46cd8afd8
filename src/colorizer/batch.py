"""Many files in one go: find images in folders, plan output names, colorize each, keep going.

Used by ``colorize image`` (and later by the distributed batch runner). A bad file is reported
in one line and counted; it never stops the others.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from colorizer.errors import ColorizerError, one_line, unexpected
from colorizer.io import (
    DEFAULT_MAX_PIXELS,
    FORMATS,
    INPUT_FORMATS,
    UNSUPPORTED_FORMATS,
    check_encodable,
    check_output,
    os_error_message,
    read_image,
    remove_stale_temps,
    write_image,
)

OUTPUT_SUFFIX = "_color"


@dataclass
class Job:
    """One input file and where its result goes (``variant``: which sample, if several)."""

    src: Path
    dst: Path
    variant: int | None = None


def with_samples(jobs: list[Job], samples: int) -> list[Job]:
    """Each job k times, writing NAME_sampleK.EXT (k = 1..samples)."""
    return [Job(j.src, j.dst.with_name(f"{j.dst.stem}_sample{k}{j.dst.suffix}"), k)
            for j in jobs for k in range(1, samples + 1)]


@dataclass
class Summary:
    done: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def line(self) -> str:
        return f"done {len(self.done)}, skipped {len(self.skipped)}, failed {len(self.failed)}"

    def written(self) -> str | None:
        """Where the outputs went: ``wrote PATH`` for one file, ``wrote N files in FOLDER`` (the
        folder that holds them all) for several; None when nothing was written."""
        if not self.done:
            return None
        if len(self.done) == 1:
            return f"wrote {self.done[0]}"
        folder = Path(os.path.commonpath([os.path.abspath(p.parent) for p in self.done]))
        try:
            folder = folder.relative_to(Path.cwd())
        except ValueError:
            pass
        return f"wrote {len(self.done)} files in {folder}{os.sep}"


def find_images(folder: Path, skip: Path | None = None) -> list[Path]:
    """Image files under ``folder``, recursively (into linked folders too, each real folder once),
    sorted; hidden files and folders are skipped, and so is the folder ``skip`` (a run's output
    folder inside its input folder, whose earlier results must not be taken for new photos).

    Files with an image extension that cannot be read (HEIC, SVG, PDF, camera raw) are listed too,
    so that reading them reports them instead of passing them over in silence."""
    wanted = set(INPUT_FORMATS) | set(UNSUPPORTED_FORMATS)
    skip = skip.resolve() if skip is not None else None
    top = Path(folder).resolve()
    # A folder whose real path lies under ``top`` is walked under its own path, never through a
    # link (so a link sorted first cannot take its place); a link, or a folder inside a linked
    # one, is followed only to a real path met nowhere else and not above ``folder`` (a loop, or
    # the whole disk for a link to /).
    linked: set[Path] = set()  # folders reached through links, by real path
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        kept = []
        for d in sorted(d for d in dirs if not d.startswith(".")):
            path = Path(root) / d
            real = path.resolve()
            if real == skip:
                continue
            inside = real.is_relative_to(top)
            if path.is_symlink() or not inside:
                if inside or real in linked or top.is_relative_to(real):
                    continue
                linked.add(real)
            kept.append(d)
        dirs[:] = kept
        found += [Path(root) / f for f in sorted(files)
                  if not f.startswith(".") and Path(f).suffix.lower() in wanted]
    return found


def sibling(folder: Path, suffix: str) -> Path:
    """``FOLDER{suffix}`` beside ``folder``; for ``.`` or ``..``, beside the folder they name (not
    inside it, where a rerun would take the results for new inputs)."""
    parent = folder.parent if folder.name not in ("", ".", "..") else folder.resolve().parent
    return parent / f"{folder.resolve().name}{suffix}"


def _out_name(src: Path, suffix: str = "") -> str:
    ext = src.suffix if src.suffix.lower() in FORMATS else ".png"
    return src.stem + suffix + ext


def _stderr_line(line: str) -> None:
    tqdm.write(one_line(line), file=sys.stderr)


def distinct_outputs(jobs: list, report: Callable[[str], None] | None = None) -> list:
    """``jobs`` (each with ``src`` and ``dst``) with no two writing the same output.

    Two inputs can map to one output: ``a/x.jpg`` and ``b/x.jpg`` into one ``--out-dir``;
    ``x.png`` and ``x.gif`` (written as PNG) in one folder; ``clip.mp4`` and ``clip.MP4``. The
    later one then writes ``NAME_2.EXT`` (``_3``, ... if that is taken too), and ``report`` says so
    in one line, instead of the first result being skipped or overwritten. The plan depends only
    on the inputs and their order, so the same run repeated finds its outputs under the same
    names. The same input given twice runs once. (An output that is another input of the run is
    left to :func:`check_not_another_input`: skipped as existing, refused with ``--overwrite``.)
    Names are compared without case, as macOS and Windows do."""
    say = report or _stderr_line
    inputs = {path_key(job.src) for job in jobs}
    taken: dict[str, Path] = {}  # output's key -> the input that writes it
    kept = []
    for job in jobs:
        src, dst = Path(job.src), Path(job.dst)
        first = taken.get(path_key(dst))
        if first is not None:
            if os.path.abspath(first) == os.path.abspath(src):
                continue  # the same input again
            new, n = dst, 1
            while path_key(new) in taken or path_key(new) in inputs:
                n += 1
                new = dst.with_name(f"{dst.stem}_{n}{dst.suffix}")
            say(f"warning: {src}: written as {new}, because {dst} is the output of {first}")
            job, dst = replace(job, dst=new), new
        taken[path_key(dst)] = src
        kept.append(job)
    return kept


def path_key(path: str | os.PathLike) -> str:
    """A path's identity for clash checks: absolute, without case (as macOS and Windows see it)."""
    return os.path.abspath(path).casefold()


def check_not_another_input(dst: str | os.PathLike, src: str | os.PathLike, inputs: set[str]) -> None:
    """Refuse to write ``dst`` when it is another input of the run (``inputs``: their
    :func:`path_key`): ``x.gif`` is written as ``x.png``, and the user's own ``x.png`` beside it,
    with ``--out-dir`` the input folder, must survive ``--overwrite``. Without ``--overwrite`` such
    an output exists and is skipped before this is asked."""
    if path_key(dst) in inputs and path_key(dst) != path_key(src):
        raise ColorizerError(f"{dst}: not written: it is another input of this run; choose another "
                             "--out-dir")


def plan_jobs(inputs: Iterable[str | os.PathLike], output: str | os.PathLike | None = None,
              out_dir: str | os.PathLike | None = None, suffix: str = OUTPUT_SUFFIX,
              folder_suffix: str = "_colorized", report: Callable[[str], None] | None = None) -> list[Job]:
    """Map inputs (files or folders) to output paths.

    * ``output``: exactly one input file, written to that path.
    * ``out_dir``: files go to ``out_dir/NAME``; a folder's files keep their relative paths.
    * neither: a file goes beside itself as ``STEM_color.EXT``; a folder ``F`` goes to a new
      sibling folder ``F_colorized`` with the same layout (``suffix`` and ``folder_suffix``
      name them otherwise, e.g. ``_denoised`` for ``colorize denoise``).

    No two jobs write the same file (:func:`distinct_outputs`, which tells ``report``).
    """
    inputs = [Path(p) for p in inputs]
    if output is not None and out_dir is not None:
        raise ColorizerError("give either -o/--output or --out-dir, not both")
    if output is not None:
        if len(inputs) != 1 or inputs[0].is_dir():
            raise ColorizerError("-o/--output takes exactly one input file; use --out-dir for "
                                 "several files or a folder")
        return [Job(inputs[0], Path(output))]
    jobs = []
    for p in inputs:
        if p.is_dir():
            base = Path(out_dir) if out_dir is not None else sibling(p, folder_suffix)
            jobs += [Job(f, base / f.relative_to(p).parent / _out_name(f)) for f in find_images(p, skip=base)]
        elif out_dir is not None:
            jobs.append(Job(p, Path(out_dir) / _out_name(p)))
        else:
            jobs.append(Job(p, p.with_name(_out_name(p, suffix))))
    return distinct_outputs(jobs, report)


def _read(path: Path, max_pixels: int, lightness: bool = False):
    """(picture, warnings) or (exception, warnings): a read that can run in another thread;
    with ``lightness`` the picture's L is computed too (numpy only, no torch needed)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pic = read_image(path, max_pixels=max_pixels)
            if lightness:
                pic.lightness()
            return pic, caught
        except ColorizerError as exc:
            return exc, caught


def read_ahead(jobs: list[Job], max_pixels: int = DEFAULT_MAX_PIXELS) -> Future | None:
    """Start reading the first job's input in a thread; pass the result to :func:`run_jobs`.

    Pillow decodes, and numpy computes L, mostly without holding the GIL, so both overlap with
    loading the model (the import of torch alone takes 1.2-1.6 s): on a 12 MP JPEG that hides
    about 0.45 s of decoding and L.
    """
    if not jobs:
        return None
    pool = ThreadPoolExecutor(1)
    future = pool.submit(_read, jobs[0].src, max_pixels, True)
    pool.shutdown(wait=False)
    return future


def run_jobs(jobs: list[Job], process: Callable, *, overwrite: bool = False,
             max_pixels: int = DEFAULT_MAX_PIXELS, progress: bool = True,
             report: Callable[[str], None] | None = None, first: Future | None = None) -> Summary:
    """Read each job's input, apply ``process(picture, job) -> picture``, write the result.

    Problems with one file are reported through ``report`` (default: a line on stderr that does
    not break the progress bar) and the run goes on.
    Existing outputs are skipped unless ``overwrite``; inputs are never written over.
    ``first`` is the first input already being read (:func:`read_ahead`). Consecutive jobs with
    the same input (:func:`with_samples`) share one read of it.
    """
    summary = Summary()
    for folder in sorted({job.dst.parent for job in jobs}):
        remove_stale_temps(folder)  # a killed run's half-written files (kill -9, power loss)
    bar = tqdm(jobs, unit="img", disable=not progress or len(jobs) < 2, dynamic_ncols=True)
    say = report or _stderr_line
    last_src, last_pic = None, None
    inputs = {path_key(job.src) for job in jobs}
    for i, job in enumerate(bar):
        try:
            check_output(job.dst, overwrite=overwrite, inputs=(job.src,))
            check_not_another_input(job.dst, job.src, inputs)
            if job.src == last_src:
                pic = last_pic
            else:
                pic, caught = first.result() if i == 0 and first is not None else _read(job.src, max_pixels)
                for w in caught:
                    say(f"warning: {w.message}")
                last_src, last_pic = job.src, pic
            if isinstance(pic, Exception):
                raise pic
            check_encodable(job.dst, pic.size)  # outputs keep the input's size
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                write_image(process(pic, job), job.dst, overwrite=overwrite, inputs=(job.src,))
            for w in caught:
                say(f"warning: {w.message}")
            summary.done.append(job.dst)
        except FileExistsError as exc:
            summary.skipped.append((job.src, str(exc)))
            say(f"skipped: {exc}")
        except ColorizerError as exc:
            summary.failed.append((job.src, str(exc)))
            say(f"error: {exc}")
        except OSError as exc:  # a full disk, a read-only folder: this file fails, the rest go on
            summary.failed.append((job.src, str(exc)))
            say(f"error: {os_error_message(exc, job.dst)}")
        except Exception as exc:  # noqa: BLE001 - out of memory in torch or onnxruntime (whose errors
            # are not RuntimeErrors), an encoder's own failure: this file fails, the rest go on
            summary.failed.append((job.src, unexpected(exc)))
            say(f"error: {job.src}: {unexpected(exc)}")
    return summary
