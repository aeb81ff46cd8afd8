"""The ``colorize`` command: parses options and calls the library, nothing else.

User errors are printed as one line (``error: ...``) with exit code 1 (2 for bad usage); no
tracebacks. Library modules are imported inside the commands so that ``--help`` is instant.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
import warnings
from pathlib import Path

import click

from colorizer import __version__

MAX_PIXELS_DEFAULT = 100_000_000  # mirrors colorizer.io.DEFAULT_MAX_PIXELS (kept import-free)
PASSES_DEFAULT, PASSES_MAX = 2, 8  # mirror colorizer.resize.DEFAULT_PASSES and len(SPIN_SHIFTS)


def _say(kind: str, message) -> None:
    """``kind: message`` on stderr as one line (control characters in file names escaped); while
    a progress bar runs (a damaged stretch found mid-clip), above it on a line of its own."""
    from tqdm import tqdm

    from colorizer.errors import one_line

    tqdm.write(one_line(f"{kind}: {message}"), file=sys.stderr)


def _warn(message) -> None:
    """``warning: message`` on stderr as one line (the ``warn`` of :func:`onnx_backend.load_for_job`)."""
    _say("warning", message)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    _warn(message)


def _user_errors(fn):
    """Turn library errors into one line on stderr and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from colorizer.errors import ColorizerError

        warnings.showwarning = _one_line_warning
        try:
            return fn(*args, **kwargs)
        except FileExistsError as exc:  # an existing output, kept: a rerun skips what is done
            _say("skipped", exc)
            return None
        except ColorizerError as exc:
            _say("error", exc)
            sys.exit(1)
        except BrokenPipeError:  # the reader left (colorize models | head): nothing more to say
            try:  # as Python's documentation advises: no second error when stdout is flushed at exit
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            sys.exit(0)
        except OSError as exc:  # a full disk or a read-only folder met outside the per-file loops
            from colorizer.io import os_error_message

            _say("error", os_error_message(exc))
            sys.exit(1)
        except MemoryError:
            click.echo("error: out of memory; try a smaller --size, or fewer or smaller inputs", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted; finished outputs are kept, nothing half-written", err=True)
            sys.exit(130)

    return wrapper


def _summary(summary) -> None:
    """The end of a batch run: where the outputs went, the counts, and the exit code (1 if any
    file failed; skipped outputs, kept from an earlier run, are no failure)."""
    if written := summary.written():
        click.echo(written, err=True)
    click.echo(summary.line(), err=True)
    sys.exit(1 if summary.failed else 0)


def model_options(fn):
    """--model, --weights, --size and --device, shared by the commands that run a model."""
    fn = click.option("--device", default="auto", show_default=True,
                      type=click.Choice(["auto", "cpu", "cuda"]),
                      help="Where the model runs; auto picks CUDA when available.")(fn)
    fn = click.option("--size", type=click.IntRange(min=8),
                      help="Working resolution: the model sees about SIZE x SIZE pixels (default: "
                           "the model's preferred size); the output keeps the full input size.")(fn)
    fn = click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
                      help="A .safetensors file to use instead of the shipped weights.")(fn)
    fn = click.option("-m", "--model", default="default", show_default=True,
                      help="Colorizer name; see `colorize models`.")(fn)
    fn = click.option("--saturation", default=1.0, show_default=True, type=click.FloatRange(min=0),
                      help="Colour strength relative to the model's calibrated default: 0 grey, "
                           "0.7 muted, 1.5 bolder.")(fn)
    return fn


def image_io_options(file_default: str, folder_default: str):
    """INPUTS, -o/--output, --out-dir, --overwrite and --max-pixels, shared by the commands that
    turn image files into image files; the defaults name where outputs go without --out-dir."""

    def decorate(fn):
        fn = click.option("--max-pixels", default=MAX_PIXELS_DEFAULT, show_default=True,
                          type=click.IntRange(min=1), help="Refuse images larger than this many pixels.")(fn)
        fn = click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")(fn)
        fn = click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
                          help="Output folder; folders keep their layout inside it. Default: beside "
                               f"each file as {file_default}, or a sibling folder {folder_default}.")(fn)
        fn = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                          help="Output file, for a single input file.")(fn)
        return click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))(fn)

    return decorate


def backend_option(fn):
    """--backend, for the commands that can run a model in onnxruntime."""
    return click.option(
        "--backend", default="auto", show_default=True, type=click.Choice(["auto", "onnx", "torch"]),
        help="What runs the model: onnxruntime (starts fast, never loads torch) or torch. auto "
             "takes onnxruntime when an ONNX file exists for the model (shipped, --weights "
             "FILE.onnx, or FILE.onnx beside --weights FILE.safetensors) and nothing needs torch.")(fn)


def precision_option(fn):
    """--precision, for the commands that can run the int8 model."""
    return click.option(
        "--precision", default="auto", show_default=True, type=click.Choice(["auto", "float", "int8"]),
        help="Numbers the model computes with in onnxruntime: int8 is faster on a CPU and close to "
             "float in accuracy. auto takes int8 where the model has an int8 file made from the "
             "same weights (NAME.int8.onnx beside NAME.onnx) and runs on the CPU; on a cluster "
             "(--workers, --scheduler) the float model runs.")(fn)


def cluster_options(fn):
    """--workers and --scheduler: run on a Dask cluster (colorizer.distributed)."""
    fn = click.option("--scheduler", metavar="tcp://HOST:PORT",
                      help="Run on a running Dask cluster (see `dask scheduler`, `dask worker`); "
                           "its workers must see the same paths.")(fn)
    fn = click.option("--workers", type=click.IntRange(min=1),
                      help="Run on a local Dask cluster of N processes, 1 thread each (needs "
                           "pip install 'colorizer[dask]').")(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="colorize")
def cli():
    """Colorize greyscale photos at full resolution on a CPU.

    \b
    Examples:
      colorize demo                          colorize the bundled sample photo
      colorize image old.jpg                 writes old_color.jpg beside it
      colorize image scans/ --out-dir out/   a whole folder, recursively
      colorize models                        list the colorizers and their cards
    """


@cli.command()
@image_io_options("NAME_color.EXT", "FOLDER_colorized")
@model_options
@click.option("--samples", type=click.IntRange(min=1),
              help="Write K different colorizations per photo (NAME_sample1..K), for models that "
                   "sample (vae).")
@click.option("--reference", "references", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A colour photo of the same scene, people or objects (any size): parts of the "
                   "photo that match parts of it by content take their colours; the model colours "
                   "the rest. Give it more than once for several photos. A reference of another "
                   "scene finds no good matches and is ignored. --model none: the reference "
                   "alone, spread along the photo's edges.")
@click.option("--confidence", type=click.Path(dir_okay=False, path_type=Path),
              help="For one input: also write a confidence map (white = sure, dark = a guess), "
                   "for models that give one (zhang). With --reference: where the reference's "
                   "colours were used (white) and where the model's stay (black).")
@click.option("--denoise", is_flag=True,
              help="Remove noise, grain and JPEG damage from the lightness first (the denoise "
                   "model, as `colorize denoise`); the output's L is then the denoised one.")
@click.option("--restore", "repair", is_flag=True,
              help="Repair scratches, cracks, dust and small tears first (as `colorize restore`).")
@backend_option
@precision_option
@cluster_options
@_user_errors
def image(inputs, output, out_dir, saturation, model, weights, size, device, overwrite, max_pixels,
          samples, references, confidence, denoise, repair, backend, precision, workers, scheduler):
    """Colorize image files or folders (recursively) at their full resolution.

    A colour photo is re-colorized from its lightness. Bad files are reported one line each and
    the rest go on; the exit code is 1 if any file failed. Inputs are never modified and
    existing outputs are kept unless --overwrite is given.

    \b
    With a colour photo of the same place or people:
      colorize image old.jpg --reference colour.jpg --confidence used.png
    """
    from colorizer.batch import plan_jobs, read_ahead, run_jobs, with_samples

    jobs = plan_jobs(inputs, output, out_dir)
    if not jobs:
        raise click.UsageError("no image files found in the given inputs")
    if (workers or scheduler) and precision == "int8":
        raise click.UsageError("--precision int8 does not run on a cluster yet; drop --workers/--scheduler")
    if model == "none" and not references:
        raise click.UsageError("--model none needs --reference (for colour scribbles alone, use "
                               "`colorize scribble`)")
    if references and (samples or workers or scheduler):
        raise click.UsageError("--reference works with one colorization per photo on this "
                               "machine; drop --samples/--workers/--scheduler")
    fix = _repairer(repair)
    if references:
        _colorize_with_references(jobs, references, confidence, model, weights, size, device,
                                  saturation, denoise, overwrite, max_pixels, fix)
        return
    if workers or scheduler:
        if confidence is not None:
            raise click.UsageError("--confidence takes one photo; drop --workers/--scheduler")
        if denoise or repair:
            raise click.UsageError(f"--{'denoise' if denoise else 'restore'} does not run on a cluster "
                                   "yet; drop --workers/--scheduler")
        from colorizer.distributed import ClusterConfig, colorize_on_cluster

        summary = colorize_on_cluster(jobs, ClusterConfig(workers, scheduler), model=model,
                                      weights=str(weights.absolute()) if weights else None, device=device,
                                      backend=backend, size=size, saturation=saturation, samples=samples,
                                      overwrite=overwrite, max_pixels=max_pixels)
        _summary(summary)
    first = read_ahead(jobs, max_pixels)
    from colorizer import onnx_backend  # no torch: loads onnxruntime while the first photo is read

    fast = onnx_backend.load_for_job(
        backend, model, weights, device=device,
        torch_only="--samples" if samples else "--confidence" if confidence is not None else None,
        warn=_warn, precision=precision)
    fast_denoiser = None
    if fast is not None and denoise:  # the denoiser's export too, or torch runs both
        fast_denoiser = onnx_backend.load_for_job(backend, "denoise", device=device, warn=_warn,
                                                  kind="denoiser")
        fast = fast if fast_denoiser is not None else None
    if fast is not None:
        summary = run_jobs(jobs, lambda pic, job: onnx_backend.colorize_picture(
                               fix(pic), fast, size, saturation, denoiser=fast_denoiser),
                           overwrite=overwrite, max_pixels=max_pixels, first=first)
        _summary(summary)
    from colorizer.api import colorize_picture  # imports torch while the first photo is read
    from colorizer.registry import get_colorizer

    net = get_colorizer(model, weights=str(weights) if weights else None, device=device)
    denoiser = None
    if denoise:
        from colorizer.registry import get_denoiser

        denoiser = get_denoiser(device=device)
    if len(jobs) <= 4 and net.device.type == "cpu":
        # oneDNN spends ~0.3 s building per-layer kernels on the first image, which only pays off
        # over many images; for a few photos the plain kernels finish sooner (measured on a
        # 12 MP photo with the gan model: 3.1 s -> 2.8 s end to end)
        import torch

        torch.backends.mkldnn.enabled = False
    if samples:
        from colorizer.api import require_sampler

        require_sampler(net)  # once, rather than one error per output file
        jobs = with_samples(jobs, samples)
    if confidence is not None:
        import numpy as np

        from colorizer.api import confidence_map
        from colorizer.io import Picture, check_output, write_image

        _check_confidence_path(confidence, jobs)
        try:
            check_output(confidence, overwrite=overwrite, inputs=(jobs[0].src,))
        except FileExistsError as exc:  # kept; the photo itself goes on (or is skipped too)
            _say("skipped", exc)
        else:
            pic, _ = first.result()  # the same read that run_jobs colorizes below
            if isinstance(pic, Exception):
                raise pic
            conf = confidence_map(fix(pic), net, size)
            write_image(Picture.from_array((np.clip(conf, 0, 1) * 255).astype(np.uint8)), confidence,
                        overwrite=overwrite, inputs=(jobs[0].src,))
            click.echo(f"wrote {confidence} (confidence map)", err=True)
    summary = run_jobs(jobs, lambda pic, job: colorize_picture(fix(pic), net, size, sample=job.variant,
                                                                 saturation=saturation,
                                                                 denoiser=denoiser),
                       overwrite=overwrite, max_pixels=max_pixels, first=first)
    _summary(summary)


def _repairer(repair: bool):
    """What ``--restore`` does to each photo before it is coloured: find and fill its damage
    (:func:`colorizer.repair.restore_picture`), or nothing."""
    if not repair:
        return lambda pic: pic
    from colorizer.repair import default_config, get_restorer, restore_picture

    restorer, config = get_restorer(), default_config()
    return lambda pic: restore_picture(pic, restorer, config)[0]


def _check_confidence_path(confidence, jobs) -> None:
    """--confidence takes one photo, and its map never takes the colorized photo's place."""
    from colorizer.batch import path_key

    if len(jobs) != 1:
        raise click.UsageError("--confidence takes exactly one input file")
    if path_key(Path(confidence).resolve()) == path_key(jobs[0].dst.resolve()):
        raise click.UsageError(f"--confidence {confidence} is where the colorized photo goes; "
                               "give the map another name")


def _read_references(paths, max_pixels: int = MAX_PIXELS_DEFAULT) -> list:
    """Read the --reference photos: one line for each that is missing, unreadable or grey, and
    exit before anything is written."""
    from colorizer.errors import ColorizerError
    from colorizer.io import read_image
    from colorizer.reference import check_reference

    pictures, bad = [], 0
    for path in paths:
        try:
            pictures.append(read_image(path, max_pixels))
            check_reference(pictures[-1], str(path))
        except ColorizerError as exc:
            _say("error", exc)
            bad += 1
    if bad:
        sys.exit(1)
    return pictures


def _colorize_with_references(jobs, references, confidence, model, weights, size, device, saturation,
                              denoise, overwrite, max_pixels, fix=lambda pic: pic):
    """``colorize image --reference``: read and describe the references once (each bad one gets
    its line and nothing is written), then colour every photo with them."""
    from colorizer.api import colorize_with_reference, prepare_reference
    from colorizer.batch import read_ahead, run_jobs
    from colorizer.io import Picture, check_output, write_image
    from colorizer.registry import get_colorizer

    if confidence is not None:
        _check_confidence_path(confidence, jobs)
        check_output(confidence, overwrite=overwrite, inputs=(jobs[0].src,))
    first = read_ahead(jobs, max_pixels)
    pictures = _read_references(references, max_pixels)
    net = None if model == "none" else get_colorizer(model, weights=str(weights) if weights else None,
                                                     device=device)
    denoiser = None
    if denoise:
        from colorizer.registry import get_denoiser

        denoiser = get_denoiser(device=device)
    ref = prepare_reference(pictures, net)
    used = {}

    def process(pic, job):
        out, used[job.dst] = colorize_with_reference(fix(pic), net, ref, size, saturation, denoiser)
        return out

    summary = run_jobs(jobs, process, overwrite=overwrite, max_pixels=max_pixels, first=first)
    if confidence is not None and jobs[0].dst in used:
        import numpy as np

        write_image(Picture.from_array((np.clip(used[jobs[0].dst], 0, 1) * 255).astype(np.uint8)),
                    confidence, overwrite=overwrite, inputs=(jobs[0].src, *references))
    _summary(summary)


@cli.command()
@image_io_options("NAME_denoised.EXT", "FOLDER_denoised")
@click.option("--strength", default=1.0, show_default=True, type=click.FloatRange(0, 2),
              help="How much of the estimated noise is removed: 1 as trained, 0.5 keeps some grain.")
@click.option("--passes", default=PASSES_DEFAULT, show_default=True, type=click.IntRange(1, PASSES_MAX),
              help="Copies of each photo, shifted by a pixel or two, denoised and averaged: each "
                   "pass costs one more run and cleans a little better (1 is fastest; 4 about "
                   "0.1 dB above 2 at noise sigma 25).")
@click.option("-m", "--model", default="denoise", show_default=True, help="Denoiser name.")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
              help="A .safetensors (or exported .onnx) file to use instead of the shipped weights.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@backend_option
@_user_errors
def denoise(inputs, output, out_dir, strength, passes, model, weights, device, overwrite, max_pixels,
            backend):
    """Remove noise, film grain and JPEG damage from photos (grey or colour) at full resolution.

    Only the lightness is cleaned: a grey photo stays grey, a colour photo keeps its colours.
    The model is blind (no noise level to give). Bad files are reported one line each and the
    rest go on; inputs are never modified and existing outputs are kept unless --overwrite.
    """
    from colorizer.batch import plan_jobs, read_ahead, run_jobs

    jobs = plan_jobs(inputs, output, out_dir, suffix="_denoised", folder_suffix="_denoised")
    if not jobs:
        raise click.UsageError("no image files found in the given inputs")
    first = read_ahead(jobs, max_pixels)
    from colorizer import onnx_backend  # no torch: loads onnxruntime while the first photo is read

    net = onnx_backend.load_denoiser(backend, model, weights, device=device, warn=_warn)
    summary = run_jobs(jobs, lambda pic, job: onnx_backend.denoise_any(pic, net, strength, passes),
                       overwrite=overwrite, max_pixels=max_pixels, first=first)
    _summary(summary)


@cli.command()
@image_io_options("NAME_restored.EXT", "FOLDER_restored")
@click.option("--strength", default=1.0, show_default=True, type=click.FloatRange(0, 3),
              help="How much counts as damage: 1 the tested balance, 1.5 also fainter marks, "
                   "0.7 only the surest, 0 only what --user-mask paints.")
@click.option("--mask", "mask_file", type=click.Path(dir_okay=False, path_type=Path),
              help="For one input: also write the damage found to this image (white = repaired).")
@click.option("--save-masks", is_flag=True,
              help="Write each photo's damage mask beside its output, as NAME_mask.png.")
@click.option("--user-mask", type=click.Path(dir_okay=False, path_type=Path),
              help="For one input: damage you painted (white on black, the photo's size), "
                   "repaired along with what is found.")
@click.option("--denoise", is_flag=True,
              help="Also remove noise, grain and JPEG damage (the denoise model), after the repair.")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
              help="Damage detector weights (.safetensors) instead of the shipped ones.")
@_user_errors
def restore(inputs, output, out_dir, overwrite, max_pixels, strength, mask_file, save_masks, user_mask,
            denoise, weights):
    """Find scratches, cracks, dust, hairs and small tears in photos and fill them in.

    Grey photos stay grey and colour photos keep their colours; only the damage found (and
    what --user-mask paints) changes. Check what was found with --mask. Bad files are reported
    one line each and the rest go on; inputs are never modified and existing outputs are kept
    unless --overwrite.

    \b
    Then colour the repaired photo, or do both at once:
      colorize restore scan.jpg --mask scan_damage.png
      colorize image scan.jpg --restore
    """
    from colorizer.batch import plan_jobs, read_ahead, run_jobs

    jobs = plan_jobs(inputs, output, out_dir, suffix="_restored", folder_suffix="_restored")
    if not jobs:
        raise click.UsageError("no image files found in the given inputs")
    for name, value in (("--mask", mask_file), ("--user-mask", user_mask)):
        if value is not None and len(jobs) != 1:
            raise click.UsageError(f"{name} takes exactly one input file (--save-masks writes a mask "
                                   "for every photo)")
    first = read_ahead(jobs, max_pixels)
    import numpy as np

    from colorizer.io import Picture, check_output, read_image, write_image
    from colorizer.repair import default_config, get_restorer, restore_picture

    painted = None
    if user_mask is not None:
        painted = read_image(user_mask, max_pixels).to_array(np.uint8)
    if mask_file is not None:
        from colorizer.batch import path_key

        if path_key(mask_file.resolve()) == path_key(jobs[0].dst.resolve()):
            raise click.UsageError(f"--mask {mask_file} is where the repaired photo goes; give the "
                                   "mask another name")
        check_output(mask_file, overwrite=overwrite,
                     inputs=(jobs[0].src,) + ((user_mask,) if user_mask else ()))
    restorer = get_restorer(str(weights) if weights else None)
    config = default_config(str(weights) if weights else None, strength)
    denoiser = None
    if denoise:
        from colorizer import onnx_backend

        denoiser = onnx_backend.load_denoiser("auto", warn=_warn)

    def process(pic, job):
        out, mask = restore_picture(pic, restorer, config, painted)
        targets = ([mask_file] if mask_file is not None else []) + \
                  ([job.dst.with_name(job.dst.stem + "_mask.png")] if save_masks else [])
        for target in targets:
            write_image(Picture.from_array(mask.astype(np.uint8) * 255), target, overwrite=overwrite,
                        inputs=(job.src,))
        if denoiser is not None:
            from colorizer import onnx_backend

            out = onnx_backend.denoise_any(out, denoiser)
        return out

    summary = run_jobs(jobs, process, overwrite=overwrite, max_pixels=max_pixels, first=first)
    _summary(summary)


@cli.command()
@click.argument("photo", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-s", "--scribbles", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Scribble image of the same size (coloured where it differs from the grey photo, "
                   "or opaque on a transparent layer), or a JSON list of strokes.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file. Default: PHOTO_color.EXT beside the photo.")
@click.option("-m", "--model", default="none", show_default=True,
              help="'none' for pure Levin et al. 2004, or a colorizer whose result the scribbles "
                   "correct (e.g. default).")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
              help="A .safetensors file for --model.")
@click.option("--prior-weight", type=click.FloatRange(min=0),
              help="With --model: how strongly unscribbled pixels keep the model's colours "
                   "(default 0.00001: each scribble colours the whole object it touches; "
                   "larger keeps the colour closer to the scribble).")
@click.option("--size", default=256, show_default=True, type=click.IntRange(min=8),
              help="Working resolution of --model.")
@click.option("--saturation", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Colour strength of the result: 1 as painted (and the model as calibrated), "
                   "0 grey, 1.5 bolder.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--overwrite", is_flag=True, help="Replace the output if it exists.")
@_user_errors
def scribble(photo, scribbles, output, model, weights, prior_weight, size, saturation, device, overwrite):
    """Colorize PHOTO from your colour scribbles (Levin et al. 2004), optionally on top of a model.

    \b
    Pure scribbles:      colorize scribble old.jpg -s marks.png
    Fix a model's guess: colorize scribble old.jpg -s fixes.json --model default
    """
    from colorizer.api import colorize_scribbles
    from colorizer.batch import plan_jobs
    from colorizer.io import check_output, read_image, write_image
    from colorizer.registry import get_colorizer
    from colorizer.scribbles import read_scribbles

    job = plan_jobs([photo], output)[0]
    check_output(job.dst, overwrite=overwrite, inputs=(photo, scribbles))
    pic = read_image(photo)
    hint_ab, mask = read_scribbles(scribbles, pic)
    net = None
    if model != "none":
        net = get_colorizer(model, weights=str(weights) if weights else None, device=device)
    out = colorize_scribbles(pic, hint_ab, mask, net, size=size, prior_weight=prior_weight,
                             saturation=saturation)
    write_image(out, job.dst, overwrite=overwrite, inputs=(photo, scribbles))
    click.echo(f"wrote {job.dst} ({int(mask.sum())} scribbled pixels"
               + (f", on top of '{net.name}')" if net else ")"), err=True)


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path, allow_dash=True),
              help="For one clip: a video file (.mp4, .mov, .mkv, .webm, .avi), a folder for PNG "
                   "frames, or - to send the video to standard output (for a player: "
                   "colorize video old.mp4 -o - | ffplay -). Needed for a camera, a URL or -.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder for several clips. Default: NAME_color.EXT beside each video, "
                   "FOLDER_colorized beside each frame folder.")
@model_options
@click.option("--temporal", default="flow", show_default=True, type=click.Choice(["flow", "none"]),
              help="flow: carry colours along the optical flow so they stay steady; none: each "
                   "frame alone.")
@click.option("--strength", type=click.FloatRange(0, 1, max_open=True),
              help="With --temporal flow: how much of the previous frame's colour is kept where the "
                   "motion is reliable. [default: 0.9; 0.95 with --reference]")
@click.option("--keyframe-interval", type=click.IntRange(min=1),
              help="With --temporal flow: the model colours every Nth frame (and any frame the motion "
                   "cannot carry); the flow carries the colours in between. 1: every frame. "
                   "[default: 2; 4 with --reference, whose colours need the model less often]")
@click.option("-s", "--scribbles", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON strokes with \"frame\": N; each hint holds along its shot, following the motion.")
@click.option("--reference", "references", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A colour photo of the scene (a colour-restored still, a colour frame of the "
                   "clip; more than once for several): the frames the model colours take its "
                   "colours where they match by content, and the motion carries them on.")
@click.option("--fps", type=click.FloatRange(min=0.01),
              help="Frame rate of a frame folder written as a video (default 25).")
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
@click.option("--format", "pipe_format", default="mkv", show_default=True,
              type=click.Choice(["mkv", "ts", "mp4"]),
              help="With -o -: the kind of video sent to standard output (Matroska, MPEG-TS, or "
                   "MP4 in fragments); all three play while they arrive.")
@click.option("--restore", "repair", is_flag=True,
              help="Repair dust, hairs and scratches first: damage on one frame only is found "
                   "against the frames either side and filled from them; scratches that run down "
                   "many frames are found by their shape. The output keeps the repaired lightness.")
@click.option("--realtime", default="auto", show_default=True, type=click.Choice(["auto", "on", "off"]),
              help="on: keep up with the source, dropping frames when colorizing is slower than it "
                   "(said once, counted at the end; the sound is not kept); a file is then played at "
                   "its own speed. off: colour every frame. auto: on for cameras and for network "
                   "streams that have no end, off for files, pipes and recorded streams.")
@backend_option
@precision_option
@cluster_options
@_user_errors
def video(inputs, output, out_dir, saturation, model, weights, size, device, temporal, strength,
          keyframe_interval, scribbles, references, fps, overwrite, pipe_format, repair, realtime, backend,
          precision, workers, scheduler):
    """Colorize video files, folders of frames, cameras and streams, with steady colours from
    frame to frame.

    \b
    colorize video old.mp4                     writes old_color.mp4 (same fps, frames and audio)
    colorize video old.mp4 -o frames/          PNG frames 00000.png, ...
    colorize video shots/ --out-dir colour/    every clip in a folder
    colorize video old.mp4 -s hints.json       frame-tied colour hints
    colorize video old.mp4 --reference a.jpg   colours from a colour photo of the scene
    colorize video old.mp4 --restore           dust and scratches repaired first
    colorize video /dev/video0 -o cam.mkv      a camera or capture card (Ctrl-C ends it)
    colorize video rtsp://HOST/PATH -o - | ffplay -       a network stream, to a player
    cat old.mp4 | colorize video - -o new.mp4  from a pipe (standard input)

    A source can be a file, a folder of frames, a camera device, a URL that FFmpeg opens (rtsp,
    http, https, udp, srt, tcp...) or - for standard input; a camera, URL or - needs -o. Ctrl-C
    stops at the current frame and finishes the output, which keeps the frames so far and plays.

    Only the first audio stream is kept. An odd-sized clip written as H.264 is padded one pixel
    to an even size (a warning says so); .webm keeps the exact size.

    Bad clips are reported one line each and the rest go on; the exit code is 1 if any failed.
    A damaged stretch inside a clip (packets that cannot be decoded) is skipped, as players skip
    it, with one warning line; a clip cut short (fewer frames than it declares) is an error.
    """
    from colorizer.errors import ColorizerError
    from colorizer.scribbles import read_frame_strokes
    from colorizer.video import STDIO, TemporalConfig, VideoJob, is_stream_source, plan_video_jobs

    streams = [src for src in inputs if is_stream_source(src)]
    if streams:
        what = "standard input (-)" if streams[0] == STDIO else streams[0]
        if len(inputs) > 1:
            raise ColorizerError(f"{what}: a camera, URL or - is colorized alone; give it on its own")
        if output is None:
            raise ColorizerError(f"{what}: give -o/--output for it (a file such as out.mp4, or - for "
                                 "standard output)")
        if workers or scheduler:
            raise click.UsageError("a camera, URL or - runs on this machine; drop --workers/--scheduler")
        jobs = [VideoJob(streams[0], output)]
    else:
        if output is not None and str(output) == STDIO and (workers or scheduler):
            raise click.UsageError("-o - runs on this machine; drop --workers/--scheduler")
        jobs = plan_video_jobs([Path(p) for p in inputs], output, out_dir)
    hints = read_frame_strokes(scribbles) if scribbles is not None else None
    if references:
        cfg = TemporalConfig.for_reference(temporal, strength, keyframe_interval)
    else:
        chosen = {"strength": strength, "keyframe_interval": keyframe_interval}
        cfg = TemporalConfig(method=temporal, **{k: v for k, v in chosen.items() if v is not None})
    if (workers or scheduler) and precision == "int8":
        raise click.UsageError("--precision int8 does not run on a cluster yet; drop --workers/--scheduler")
    if references and (workers or scheduler):
        raise click.UsageError("--reference runs on this machine; drop --workers/--scheduler")
    if repair and (workers or scheduler):
        raise click.UsageError("--restore does not run on a cluster yet; drop --workers/--scheduler")
    pictures = _read_references(references)
    if workers or scheduler:  # one clip per task
        from colorizer.distributed import ClusterConfig, videos_on_cluster

        summary = videos_on_cluster(jobs, ClusterConfig(workers, scheduler), model=model,
                                    weights=str(weights.absolute()) if weights else None, device=device,
                                    backend=backend, size=size, saturation=saturation, temporal=cfg,
                                    hints=hints, fps=fps, overwrite=overwrite)
        _summary(summary)
    from colorizer import onnx_backend
    from colorizer.video import video_threads

    net = onnx_backend.load_for_job(backend, model, weights, device=device, threads=video_threads(onnx=True),
                                    warn=_warn, precision=precision)
    if net is None:
        from colorizer.registry import get_colorizer

        net = get_colorizer(model, weights=str(weights) if weights else None, device=device)
    ref = None
    if pictures:
        from colorizer.api import prepare_reference
        from colorizer.registry import Colorizer

        ref = prepare_reference(pictures, net if isinstance(net, Colorizer) else None)
    import signal
    import threading

    from colorizer.batch import path_key

    finish = threading.Event()  # set by Ctrl-C: the clip at hand is finished with its frames so far

    def on_ctrl_c(signum, frame):
        if finish.is_set():  # a second Ctrl-C: abandon the output
            raise KeyboardInterrupt
        finish.set()
        os.write(2, b"\nstopping: finishing the output with the frames so far (Ctrl-C again to "
                    b"abandon it)\n")

    live = {"auto": None, "on": True, "off": False}[realtime]
    failed = not_started = 0
    inputs = {path_key(job.src) for job in jobs if not is_stream_source(job.src)}
    main = threading.current_thread() is threading.main_thread()  # (signals are the main thread's)
    before = signal.signal(signal.SIGINT, on_ctrl_c) if main else None
    try:
        for job in jobs:
            if finish.is_set():
                _say("skipped", f"{job.src}: not started (stopped with Ctrl-C)")
                not_started += 1
                continue
            failed += _one_video(job, net, inputs, dict(
                size=size, saturation=saturation, temporal=cfg, hints=hints, overwrite=overwrite, fps=fps,
                reference=ref, live=live, finish=finish, pipe_format=pipe_format, restore=repair))
    finally:
        if main:
            signal.signal(signal.SIGINT, before)
    sys.exit(1 if failed else 130 if not_started else 0)


def _one_video(job, net, inputs: set, options: dict) -> int:
    """Colorize one clip of ``colorize video``; says what happened; 1 if it failed, else 0."""
    from colorizer.batch import check_not_another_input
    from colorizer.errors import ColorizerError
    from colorizer.video import STDIO, colorize_video, is_stream_source

    try:
        if options["overwrite"] and str(job.dst) != STDIO and not is_stream_source(job.src):
            # without it, an output that exists is skipped inside colorize_video
            check_not_another_input(job.dst, job.src, inputs)
        r = colorize_video(job.src, job.dst, net, **options)
        where = "standard output" if str(r.dst) == STDIO else r.dst
        extra = (f", {r.dropped} dropped to keep up" if r.dropped else "") + \
            (", stopped with Ctrl-C" if r.stopped else "")
        click.echo(f"wrote {where} ({r.frames} frames, {r.fps:.1f} fps, {r.shots} shot"
                   f"{'s' if r.shots != 1 else ''}{extra})", err=True)
    except FileExistsError as exc:
        _say("skipped", exc)
    except ColorizerError as exc:
        _say("error", exc)
        return 1
    except OSError as exc:  # a full disk or a read-only folder: this clip fails, the rest go on
        from colorizer.io import os_error_message

        _say("error", os_error_message(exc, job.dst))
        return 1
    except Exception as exc:  # noqa: BLE001 - out of memory in torch or onnxruntime, a codec's own
        # failure: this clip fails (its partial output is removed), the rest go on
        from colorizer.errors import unexpected

        _say("error", f"{job.src}: {unexpected(exc)}")
        return 1
    return 0


@cli.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="New folder for l.npy, ab.npy, split.npy, manifest.csv and dataset.json.")
@click.option("--size", default=224, show_default=True, type=click.IntRange(min=16),
              help="Side of the square training images.")
@click.option("--fit", default="crop", show_default=True, type=click.Choice(["crop", "stretch"]),
              help="crop: centre square; stretch: plain resize to a square (the published recipe).")
@click.option("--superpixels/--no-superpixels", default=False, show_default=True,
              help="Smooth the colour target with merged SLIC superpixels (the published recipe).")
@click.option("--n-segments", default=10000, show_default=True, help="SLIC superpixels.")
@click.option("--sigma", default=5.0, show_default=True, help="SLIC pre-smoothing.")
@click.option("--thresh", default=35.0, show_default=True,
              help="Merge adjacent regions whose mean colours are closer than this (RGB 0-255).")
@click.option("--l-from", default="original", show_default=True,
              type=click.Choice(["original", "smoothed"]),
              help="Take L from the original photo, or from the smoothed one (the published recipe).")
@click.option("--val-fraction", default=0.1, show_default=True, type=click.FloatRange(0, 0.99),
              help="Share of photos in the validation split (decided by file hash).")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0),
              help="Run on a local Dask cluster of N processes, 1 thread each (needs pip install "
                   "'colorizer[dask]'); 0: a process pool on all cores, without Dask. Same arrays.")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Run on a running Dask cluster (see `dask scheduler`, `dask worker`); its "
                   "workers must see the same paths.")
@click.option("--overwrite", is_flag=True, help="Replace a finished dataset in --out.")
@_user_errors
def prepare(sources, out, size, fit, superpixels, n_segments, sigma, thresh, l_from, val_fraction,
            workers, scheduler, overwrite):
    """Turn photo folders into training arrays (8-bit OpenCV Lab, the Kaggle layout).

    Greyscale and unreadable photos are skipped and listed. Rerunning after an interruption
    continues where it stopped.
    """
    from colorizer.data import PrepareConfig
    from colorizer.data import prepare as run

    cfg = PrepareConfig(size=size, fit=fit, superpixels=superpixels, n_segments=n_segments,
                        sigma=sigma, thresh=thresh, l_from=l_from, val_fraction=val_fraction)
    if workers or scheduler:
        from colorizer.distributed import ClusterConfig, prepare_on_cluster

        summary = prepare_on_cluster(list(sources), out, cfg, ClusterConfig(workers or None, scheduler),
                                     overwrite=overwrite)
    else:
        summary = run(list(sources), out, cfg, overwrite=overwrite)
    for path, reason in summary["skipped_files"].items():
        _say("skipped", f"{path}: {reason}")
    click.echo(f"{out}: kept {summary['kept']} (train {summary['train']}, val {summary['val']}), "
               f"skipped {summary['skipped']}", err=True)
    # the process ends here: the collection at exit then skips numba's many objects (0.2 s of
    # a 2.4 s run of 120 photos, benchmarks/bench_prepare.py)
    gc.freeze()


@cli.command()
@click.option("-m", "--model", default="gan", show_default=True, help="Trainable model: gan, vae, ...")
@click.option("--data", multiple=True, required=True, type=click.Path(exists=True, path_type=Path),
              help="Prepared dataset, Kaggle download, or plain photo folder (prepared into the "
                   "run folder first). Repeat to combine.")
@click.option("--data-weights", metavar="W1,W2,...",
              help="How much each --data folder counts per epoch, in order: 0.5 draws a random "
                   "half of its photos each epoch, 2 uses them twice (default 1 each).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder: checkpoint/, log.csv, tensorboard/, MODEL.safetensors + .json.")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=2e-4, show_default=True, type=float, help="Adam learning rate.")
@click.option("--lr-schedule", default="constant", show_default=True,
              type=click.Choice(["constant", "cosine"]),  # train.LR_SCHEDULES; --help must not import torch
              help="cosine: anneal the lr to 0 at the last step of --epochs (with --resume, from "
                   "the lr the run has reached).")
@click.option("--size", default=128, show_default=True, type=click.IntRange(min=16),
              help="Training crop size (multiple of 16).")
@click.option("--val-fraction", default=0.1, show_default=True, type=click.FloatRange(0, 0.99),
              help="For data without a stored split.")
@click.option("--max-minutes", type=click.FloatRange(min=0), help="Stop (and save) after this long.")
@click.option("--val-images", default=128, show_default=True, type=click.IntRange(min=0),
              help="Validation photos scored after each epoch.")
@click.option("--checkpoint-every", default=200, show_default=True, type=click.IntRange(min=1),
              help="Steps between checkpoints.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--seed", default=0, show_default=True,
              help="Number that fixes the random draws (starting weights, crops, order): the same "
                   "number repeats a run.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads (default: all).")
@click.option("--init", type=click.Path(exists=True, dir_okay=False),
              help="Start from these weights (.safetensors, e.g. a shipped model's) instead of "
                   "random ones: fine-tune on your own photos.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Model config override, VALUE as JSON, e.g. --set lambda_adv=0.02.")
@click.option("--damage", default="light", show_default=True, type=click.Choice(["light", "old", "none"]),
              help="Damage on the training photos' L: light (mild noise, JPEG), old (old scans: noise "
                   "up to sigma 50, film grain, JPEG 20-90, blur; a noise-robust colorizer) or none. "
                   "The denoiser always makes its own.")
@click.option("--crop", default="resized", show_default=True, type=click.Choice(["resized", "native"]),
              help="Training crops: resized (random area 30-100%% scaled to --size: several scales) "
                   "or native (--size windows at the stored scale, never scaled: for the denoiser, "
                   "whose noise lives at the pixel scale of the photos it cleans).")
@_user_errors
def train(model, data, data_weights, out, epochs, batch_size, lr, lr_schedule, size, val_fraction,
          max_minutes, val_images,
          checkpoint_every, resume, seed, device, threads, init, overrides, damage, crop):
    """Train a colorizer (Adam, validation each epoch, resumable checkpoints).

    Also runs under torchrun for DDP: torchrun --nproc_per_node=N -m colorizer.train [OPTIONS].
    """
    import json

    from colorizer.train import TrainConfig
    from colorizer.train import train as run

    model_config = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.UsageError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            model_config[key] = json.loads(value)
        except json.JSONDecodeError:
            model_config[key] = value
    if size % 16:
        raise click.UsageError("--size must be a multiple of 16")
    weights = []
    if data_weights:
        try:
            weights = [float(w) for w in data_weights.split(",")]
        except ValueError:
            raise click.UsageError(f"--data-weights takes numbers like 1,0.5, got {data_weights!r}") from None
        if len(weights) != len(data) or any(w < 0 for w in weights):
            raise click.UsageError(f"--data-weights needs one number >= 0 per --data folder ({len(data)})")
    cfg = TrainConfig(model=model, data=[str(d) for d in data], data_weights=weights, out=str(out),
                      epochs=epochs,
                      batch_size=batch_size, lr=lr, lr_schedule=lr_schedule, size=size,
                      val_fraction=val_fraction,
                      max_minutes=max_minutes, val_images=val_images,
                      checkpoint_every=checkpoint_every, seed=seed,
                      device=device, threads=threads, init=init, model_config=model_config,
                      damage=damage, crop=crop)
    final = run(cfg, resume=resume)
    click.echo(f"weights: {final} (card: {final.with_suffix('.json')})", err=True)


@cli.command()
@click.argument("weights", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", required=True, multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Prepared dataset(s) whose validation photos are used. Repeatable.")
@click.option("--size", default=None, type=click.IntRange(min=16),
              help="Resolution of the validation photos (default: as stored in the dataset).")
@_user_errors
def calibrate(weights, data, size):
    """Set a trained model's chroma gain from held-out photos (written into its JSON card).

    MSE-trained models lean grey where unsure. The gain is the one with the best validation AuC
    among those that keep the colours at least 60% as strong as the photos'; the AuC before and
    after is printed next to the gray baseline's. `colorize train` does this at the end of every
    run; this redoes it for WEIGHTS.
    """
    from colorizer.train import calibrate_weights

    r = calibrate_weights(weights, [str(d) for d in data], size)
    click.echo(f"chroma gain {r['chroma_gain']:.3f} on {r['val_images']} validation photos: "
               f"colourfulness {r['val_colourfulness']['gain_1']:.1f} -> "
               f"{r['val_colourfulness']['calibrated']:.1f} (photos {r['val_colourfulness']['photos']:.1f}), "
               f"AuC {r['val_auc']['gain_1']:.2f} -> {r['val_auc']['calibrated']:.2f} "
               f"(gray {r['val_auc']['gray']:.2f})", err=True)


@cli.command()
@click.option("--models", default="gray", show_default=True,
              help="Comma-separated colorizers to compare; the gray baseline is always included.")
@click.option("--images", multiple=True, required=False, type=click.Path(exists=True, path_type=Path),
              help="Photo folders or files (colour ground truth). Repeatable.")
@click.option("--videos", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Instead of --images: a folder of clips (video files or frame folders) to score "
                   "each model with --temporal none and flow (warp error, CDC, AuC, PSNR, fps).")
@click.option("--max-frames", type=click.IntRange(min=2),
              help="With --videos: score at most N frames a clip.")
@click.option("--size", default=256, show_default=True, type=click.IntRange(min=32),
              help="Grading resolution: each photo is scored at SIZE x SIZE (the model cards' figures "
                   "are at 256).")
@click.option("--out", default="report", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Report folder.")
@click.option("--seed", default=0, show_default=True,
              help="Number that fixes the random draws of the bootstrap intervals (and of --noise): "
                   "the same number gives the same report.")
@click.option("--noise", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Gaussian noise of this sigma (8-bit units, seeded) added to each grey input.")
@click.option("--denoise", is_flag=True,
              help="Denoise each input's L first (the denoise model) and also report its PSNR.")
@click.option("--overwrite", is_flag=True, help="Replace an existing report in --out.")
@_user_errors
def evaluate(models, images, videos, max_frames, size, out, seed, noise, denoise, overwrite):
    """Score colorizers on photos against their true colours: max-channel and grey accuracy (the
    published system's measures), PSNR, SSIM, CIEDE2000, AuC and colourfulness, and a side-by-side
    HTML report (report.html, summary.md/json, per_image.csv, bars.png)."""
    from colorizer.evaluate import EvalConfig
    from colorizer.evaluate import evaluate as run

    if out.exists() and any(out.iterdir()) and not overwrite:
        report = out / ("videos.md" if videos is not None else "report.html")
        if report.exists():  # an earlier report, kept: a rerun is skipped, as in `image`
            _say("skipped", f"{out}: holds a report ({report.name}), not overwritten (use --overwrite "
                            "or another --out)")
            return
        raise click.ClickException(f"{out}: exists and is not empty; use --overwrite or another --out")
    if videos is not None:
        from colorizer.evaluate import VideoEvalConfig, evaluate_videos

        vcfg = VideoEvalConfig(videos=str(videos), models=[m.strip() for m in models.split(",") if m.strip()],
                               out=str(out), max_frames=max_frames)
        evaluate_videos(vcfg, say=lambda line: click.echo(line, err=True))
        click.echo((out / "videos.md").read_text())
        click.echo(f"report: {out / 'videos.md'}, flicker plot {out / 'flicker.png'}", err=True)
        return
    if not images:
        raise click.UsageError("give --images (photos) or --videos (clips)")
    cfg = EvalConfig(models=[m.strip() for m in models.split(",") if m.strip()],
                     images=[str(i) for i in images], out=str(out), size=size, seed=seed,
                     noise=noise, denoise=denoise)
    summary = run(cfg, say=lambda line: click.echo(line, err=True))
    click.echo((out / "summary.md").read_text())
    click.echo(f"report: {out / 'report.html'} ({summary['images_scored']} photos scored)", err=True)


@cli.command()
@click.argument("name", required=False)
@_user_errors
def models(name):
    """List the colorizers: what each is for, how good and how fast, and its licence.

    With NAME (a colorizer, `default`, or the `denoise` model), the model's full card.
    """
    import textwrap

    from colorizer import cards, registry

    try:
        default = registry.resolve_name("default")
    except Exception:  # noqa: BLE001 - no trained model ships in this install
        default = None
    denoisers = registry.list_denoisers()
    if name is None:
        click.echo("Choose one with --model NAME; `colorize models NAME` shows its full card.")
        for each in registry.list_colorizers() + denoisers:
            click.echo("")
            for line in cards.short_block(each, registry.describe(each), cards.packaged_card(each),
                                          default=each == default, denoiser=each in denoisers):
                click.echo(line)
        return
    name = registry.resolve_name(name, kind=None)
    card = cards.packaged_card(name)
    tag = " (default)" if name == default else ""
    click.echo(f"{name}{tag}: {registry.describe(name)}")
    if not card:
        click.echo("  no trained weights: nothing to download")
        return
    for label, text in cards.card_lines(card) + [
            ("history", f"how it was trained, every score and the commands that reproduce them: "
                        f"docs/models/{name}.md in the source repository")]:
        click.echo(textwrap.fill(text, 100, initial_indent=f"  {label + ':':14s}", break_on_hyphens=False,
                                 subsequent_indent=" " * 16))


@cli.command()
@click.option("-m", "--model", default="default", show_default=True,
              help="Colorizer or denoiser name; see `colorize models`.")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
              help="A .safetensors file to export instead of the shipped weights.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The .onnx file to write. Named FILE.onnx beside --weights FILE.safetensors, "
                   "colorize image --weights FILE.safetensors runs it in onnxruntime.")
@click.option("--opset", default=17, show_default=True, type=click.IntRange(min=11),
              help="ONNX opset version.")
@click.option("--dynamic", is_flag=True,
              help="Any batch size, height and width (photos of any shape); without it the file "
                   "takes 1 x 1 x SIZE x SIZE only.")
@click.option("--size", type=click.IntRange(min=8),
              help="Side of a fixed-shape export (default: the model's preferred size).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@_user_errors
def export(model, weights, out, opset, dynamic, size, overwrite):
    """Export a colorizer to ONNX, for onnxruntime (`colorize image --backend onnx`) and other runtimes.

    The graph takes CIELAB L (N x 1 x H x W, 0-100) at the working size and gives ab in Lab
    units with the calibrated chroma gain applied; the gain and the model card are in its
    metadata. A denoiser's graph gives the denoised L instead (`colorize denoise --backend onnx`).
    The file is checked with onnx.checker and compared with torch before it is written.
    """
    from colorizer.export import export_model

    r = export_model(model, out, weights=weights, opset=opset, dynamic=dynamic, size=size,
                     overwrite=overwrite)
    shapes = ", ".join("x".join(map(str, s)) for s in r["shapes"])
    click.echo(f"wrote {r['out']} ({r['bytes'] / 1e6:.1f} MB, opset {opset}, "
               f"{'dynamic N, H, W' if dynamic else 'fixed shape'}): onnx.checker passed; largest "
               f"difference from torch {r['max_abs_diff']:.1e} Lab units on {shapes}", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default keeps the page private to this computer. On "
                   "a loopback address the server answers only to the names 127.0.0.1, localhost "
                   "and ::1 (other web sites cannot reach it through DNS rebinding); on any other "
                   "address, to any name.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--max-upload-mb", default=20.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Largest photo upload; bigger ones get 413.")
@click.option("--max-megapixels", default=40.0, show_default=True, type=click.FloatRange(min=0.0001),
              help="Largest photo (or video frame) in pixels; bigger ones get 413.")
@click.option("--max-video-mb", default=500.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Largest video upload (POST /api/video); bigger ones get 413.")
@click.option("--max-video-frames", default=54_000, show_default=True, type=click.IntRange(min=1),
              help="Longest video upload in frames (30 minutes at 30 fps); longer ones get 413, or "
                   "fail when they pass it if the file does not say its length.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Photos colorized at once.")
@click.option("--queue", default=8, show_default=True, type=click.IntRange(min=0),
              help="Requests that may wait for a worker; more get 503 with Retry-After.")
@click.option("--live", metavar="SOURCE",
              help="Also show a live source in colour on the page: a camera (/dev/video0), a stream "
                   "URL (rtsp://..., http://..., udp://..., srt://...) or a video file (played at its "
                   "own speed). It opens when the page first asks for it and stops with the server; "
                   "frames are skipped when colorizing is slower than the source.")
@_user_errors
def serve(host, port, device, max_upload_mb, max_megapixels, max_video_mb, max_video_frames, workers,
          queue, live):
    """A local web page for colorizing, painting scribbles and comparing (and its HTTP API).

    Needs the web extra: pip install 'colorizer[web]'. The API is documented at /docs.
    """
    try:
        import uvicorn

        from colorizer.web.app import ServeConfig, create_app, serve_hosts
    except ImportError as exc:
        raise click.ClickException(f"colorize serve needs the web extra ({exc.name} is missing): "
                                   "pip install 'colorizer[web]'") from None
    cfg = ServeConfig(max_upload_bytes=int(max_upload_mb * 2**20), max_pixels=int(max_megapixels * 1e6),
                      max_video_bytes=int(max_video_mb * 2**20), max_video_frames=max_video_frames,
                      workers=workers, queue=queue, device=device, allowed_hosts=serve_hosts(host),
                      live=live)
    app = create_app(cfg)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"colorize serve: open http://{shown}:{port}/ (API docs at /docs); Ctrl+C stops it",
               err=True)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)


@cli.command()
@click.option("--out-dir", default="colorize-demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where to write the result.")
@model_options
@click.option("--overwrite", is_flag=True, help="Replace an earlier demo result.")
@_user_errors
def demo(out_dir, saturation, model, weights, size, device, overwrite):
    """Colorize the bundled greyscale sample photo and say where the result is.

    With --model levin the bundled sample scribbles (assets/sample_scribbles.json) give the
    colours; any other model colorizes the photo on its own.
    """
    from importlib import resources

    from colorizer.api import colorize_picture, colorize_scribbles
    from colorizer.io import check_output, read_image, write_image
    from colorizer.registry import get_colorizer, resolve_name
    from colorizer.scribbles import read_scribbles

    assets = resources.files("colorizer") / "assets"
    sample = Path(str(assets / "sample_grey.jpg"))
    # an earlier result is kept (and said) before any work: a rerun is skipped, as in `image`
    check_output(out_dir / f"sample_{resolve_name(model)}.png", overwrite=overwrite, inputs=(sample,))
    net = get_colorizer(model, weights=str(weights) if weights else None, device=device)
    pic = read_image(sample)
    if net.uses_hints:
        hint_ab, mask = read_scribbles(Path(str(assets / "sample_scribbles.json")), pic)
        result = colorize_scribbles(pic, hint_ab, mask)
    else:
        result = colorize_picture(pic, net, size, saturation=saturation)
    out = write_image(result, out_dir / f"sample_{net.name}.png", overwrite=overwrite, inputs=(sample,))
    click.echo(f"colorized the bundled sample ({sample.name}) with '{net.name}': {out}")


def main():
    cli(prog_name="colorize")


if __name__ == "__main__":
    main()
