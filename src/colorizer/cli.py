"""The ``colorize`` command: parses options and calls the library, nothing else.

User errors are printed as one line (``error: ...``) with exit code 1 (2 for bad usage); no
tracebacks. Library modules are imported inside the commands so that ``--help`` is instant.
"""

from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path

import click

from colorizer import __version__

MAX_PIXELS_DEFAULT = 100_000_000  # mirrors colorizer.io.DEFAULT_MAX_PIXELS (kept import-free)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)


def _user_errors(fn):
    """Turn library errors into one line on stderr and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from colorizer.errors import ColorizerError

        warnings.showwarning = _one_line_warning
        try:
            return fn(*args, **kwargs)
        except ColorizerError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except FileExistsError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted; finished outputs are kept, nothing half-written", err=True)
            sys.exit(130)

    return wrapper


def model_options(fn):
    """--model, --weights, --size and --device, shared by the commands that run a model."""
    fn = click.option("--device", default="auto", show_default=True,
                      type=click.Choice(["auto", "cpu", "cuda"]),
                      help="Where the model runs; auto picks CUDA when available.")(fn)
    fn = click.option("--size", default=256, show_default=True, type=click.IntRange(min=8),
                      help="Working resolution: the model sees about SIZE x SIZE pixels; the "
                           "output keeps the full input size.")(fn)
    fn = click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
                      help="A .safetensors file to use instead of the shipped weights.")(fn)
    fn = click.option("-m", "--model", default="default", show_default=True,
                      help="Colorizer name; see `colorize models`.")(fn)
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
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file, for a single input file.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; folders keep their layout inside it. Default: beside each "
                   "file as NAME_color.EXT, or a sibling folder FOLDER_colorized.")
@model_options
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
@click.option("--max-pixels", default=MAX_PIXELS_DEFAULT, show_default=True,
              type=click.IntRange(min=1), help="Refuse images larger than this many pixels.")
@_user_errors
def image(inputs, output, out_dir, model, weights, size, device, overwrite, max_pixels):
    """Colorize image files or folders (recursively) at their full resolution.

    A colour photo is re-colorized from its lightness. Bad files are reported one line each and
    the rest go on; the exit code is 1 if any file failed. Inputs are never modified and
    existing outputs are kept unless --overwrite is given.
    """
    from colorizer.api import colorize_picture
    from colorizer.batch import plan_jobs, run_jobs
    from colorizer.registry import get_colorizer

    jobs = plan_jobs(inputs, output, out_dir)
    if not jobs:
        raise click.UsageError("no image files found in the given inputs")
    net = get_colorizer(model, weights=str(weights) if weights else None, device=device)
    summary = run_jobs(jobs, lambda pic: colorize_picture(pic, net, size),
                       overwrite=overwrite, max_pixels=max_pixels)
    click.echo(summary.line(), err=True)
    sys.exit(1 if summary.failed else 0)


@cli.command()
@_user_errors
def models():
    """List the colorizers, the default, and their model cards."""
    from colorizer import registry

    try:
        default = registry.resolve_name("default")
    except Exception as exc:  # no trained model ships yet
        default = f"(none: {exc})"
    click.echo(f"default -> {default}")
    for name in registry.list_colorizers():
        click.echo(f"{name:10s} {registry.describe(name)}")
        card = registry.get_colorizer(name).card
        for key in ("architecture", "parameters", "data", "scores"):
            if key in card:
                click.echo(f"{'':10s}   {key}: {card[key]}")


@cli.command()
@click.option("--out-dir", default="colorize-demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where to write the result.")
@model_options
@click.option("--overwrite", is_flag=True, help="Replace an earlier demo result.")
@_user_errors
def demo(out_dir, model, weights, size, device, overwrite):
    """Colorize the bundled greyscale sample photo and say where the result is."""
    from importlib import resources

    from colorizer.api import colorize_picture
    from colorizer.io import read_image, write_image
    from colorizer.registry import get_colorizer

    sample = Path(str(resources.files("colorizer") / "assets" / "sample_grey.jpg"))
    net = get_colorizer(model, weights=str(weights) if weights else None, device=device)
    out = write_image(colorize_picture(read_image(sample), net, size),
                      out_dir / f"sample_{net.name}.png", overwrite=overwrite, inputs=(sample,))
    click.echo(f"colorized the bundled sample ({sample.name}) with '{net.name}': {out}")


def main():
    cli(prog_name="colorize")


if __name__ == "__main__":
    main()
