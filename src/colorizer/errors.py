"""The one exception type that front ends show to users as a single line."""


class ColorizerError(Exception):
    """A problem with the user's input or options; the message names the thing and the fix."""
