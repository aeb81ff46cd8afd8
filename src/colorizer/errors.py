"""The one exception type that front ends show to users as a single line."""


class ColorizerError(Exception):
    """A problem with the user's input or options; the message names the thing and the fix."""


def one_line(text) -> str:
    """``text`` safe to print as one line on a terminal: control characters (a newline, or a
    terminal escape sequence in a file name) are shown escaped, as Python writes them."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
