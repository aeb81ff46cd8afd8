"""colorizer: turn greyscale photographs into plausible colour, at full resolution, on a CPU.

    >>> import colorizer
    >>> colorizer.list_colorizers()          # doctest: +SKIP
    >>> colorizer.colorize("photo.jpg", model="default").save("photo_color.png")  # doctest: +SKIP

Attributes are imported lazily so that ``import colorizer`` (and ``colorize --help``) stays fast.
"""

from importlib import import_module

__version__ = "0.1.0"

#: The name that ``default`` resolves to: the best trained model shipped in the package, chosen
#: by ``colorize evaluate`` on ../shared/data/photos/eval (scores in docs/models/). It lives here,
#: not in :mod:`colorizer.registry`, so that the onnxruntime path finds it without importing torch.
DEFAULT_MODEL: str | None = "gan"

_LAZY = {
    "colorize": "colorizer.api",
    "restore": "colorizer.api",
    "get_colorizer": "colorizer.registry",
    "list_colorizers": "colorizer.registry",
    "Colorizer": "colorizer.registry",
    "Hints": "colorizer.registry",
    "ColorizerError": "colorizer.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'colorizer' has no attribute {name!r}")
