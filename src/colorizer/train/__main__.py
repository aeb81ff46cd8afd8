"""``python -m colorizer.train [OPTIONS]``: the training loop with the options of ``colorize train``,
for launchers that start a Python module, such as ``torchrun``::

    torchrun --nproc_per_node=2 -m colorizer.train --model gan --data DATASET --out runs/gan

It runs the CLI's ``train`` command. It lives apart from the loop (:mod:`colorizer.train`), which
the CLI imports, so that the loop never imports the CLI back.
"""

import sys

from colorizer.cli import cli


def main(argv: list[str] | None = None) -> None:
    """Run ``colorize train`` with ``argv`` (default: the command line)."""
    cli(["train", *(sys.argv[1:] if argv is None else argv)], prog_name="colorize", standalone_mode=True)


if __name__ == "__main__":
    main()
