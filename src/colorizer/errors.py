"""The one exception type that front ends show to users as a single line."""


class ColorizerError(Exception):
    """A problem with the user's input or options; the message names the thing and the fix."""


class OutputExists(ColorizerError, FileExistsError):
    """A finished output (a dataset, a training run) is already where a command would write it,
    and no ``--overwrite`` (or ``--resume``) was given: the command skips it, as a rerun of
    ``colorize image`` skips photos it has done."""


def one_line(text) -> str:
    """``text`` safe to print as one line on a terminal: control characters (a newline, or a
    terminal escape sequence in a file name) are shown escaped, as Python writes them."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def unexpected(exc: BaseException) -> str:
    """One line for an error that is not a :class:`ColorizerError` (out of memory in torch or
    onnxruntime, a codec's own failure): its type and the first line of its message."""
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    if isinstance(exc, MemoryError):
        return "out of memory" + (f": {first}" if first else "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
