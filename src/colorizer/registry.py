"""The registry that names every colorizer: build one by name, list them, describe them.

Every colorizer implements :class:`colorizer.interface.Colorizer` (re-exported here with
:class:`~colorizer.interface.Hints` and :func:`~colorizer.interface.register`): it takes L of
shape (N, 1, H, W) in Lab units (0-100) plus optional hints, and returns ab of shape
(N, 2, H, W) in Lab units. The built-in models register themselves when :mod:`colorizer.models`
is imported, which this module does on first use. Models are looked up by name::

    >>> from colorizer.registry import get_colorizer, list_colorizers
    >>> "gray" in list_colorizers()
    True
    >>> get_colorizer("gray").predict_ab(torch.zeros(1, 1, 8, 8)).shape
    torch.Size([1, 2, 8, 8])
"""

from __future__ import annotations

import torch

from colorizer import DEFAULT_MODEL  # kept in the package root, to be read without torch
from colorizer.errors import ColorizerError
from colorizer.interface import REGISTRY as _REGISTRY
from colorizer.interface import Colorizer, Entry, Hints, register

__all__ = ["Colorizer", "Hints", "register", "build_untrained", "is_trainable", "list_colorizers",
           "list_denoisers", "describe", "resolve_name", "resolve_device", "get_colorizer",
           "get_denoiser"]


def build_untrained(name: str) -> Colorizer:
    """A freshly initialised instance of a trainable model (its default config)."""
    _load_builtins()
    trainable = ", ".join(n for n, e in sorted(_REGISTRY.items()) if e.build)
    if name != "default" and name not in _REGISTRY:
        raise ColorizerError(f"unknown model {name!r}; trainable: {trainable}")
    name = resolve_name(name, kind=None)
    if _REGISTRY[name].build is None:
        raise ColorizerError(f"model {name!r} is not trainable; trainable: {trainable}")
    model = _REGISTRY[name].build()
    model.name = name
    return model


def is_trainable(name: str) -> bool:
    _load_builtins()
    return name in _REGISTRY and _REGISTRY[name].build is not None


def _load_builtins() -> None:
    import colorizer.models  # noqa: F401  (registers the built-in models)


def list_colorizers() -> list[str]:
    """Names of every registered colorizer (``default`` is an alias, not listed)."""
    _load_builtins()
    return sorted(n for n, e in _REGISTRY.items() if e.kind == "colorizer")


def list_denoisers() -> list[str]:
    """Names of the registered denoisers (models that clean L before colorizing)."""
    _load_builtins()
    return sorted(n for n, e in _REGISTRY.items() if e.kind == "denoiser")


def describe(name: str) -> str:
    """One-line summary of a registered colorizer."""
    _load_builtins()
    return _REGISTRY[resolve_name(name)].summary


def resolve_name(name: str, kind: str | None = "colorizer") -> str:
    """Resolve the ``default`` alias and check that the name exists; an unknown name is an
    error that lists the valid names of ``kind`` (None: every kind; the denoiser is no colorizer)."""
    _load_builtins()
    if name == "default":
        if DEFAULT_MODEL is None:
            raise ColorizerError(
                "'default' points at no model in this install; choose one with --model (see "
                "`colorize models`), or --model NAME --weights FILE")
        name = DEFAULT_MODEL
    if name not in _REGISTRY:
        valid = sorted(n for n, e in _REGISTRY.items() if kind is None or e.kind == kind)
        raise ColorizerError(f"unknown model {name!r}; valid names: {', '.join(['default', *valid])}")
    return name


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> CUDA when available, else CPU; a clear error for unavailable CUDA."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ColorizerError("--device cuda was asked for but no CUDA GPU is available; "
                             "use --device cpu")
    return device


def get_colorizer(name: str = "default", *, weights: str | None = None,
                  device: str | torch.device | None = None) -> Colorizer:
    """Build a colorizer by name, load its shipped (or the given) weights, in eval mode."""
    name = resolve_name(name)
    entry = _REGISTRY[name]
    if entry.kind != "colorizer":
        raise ColorizerError(f"{name!r} is a {entry.kind}, not a colorizer; colorizers: "
                             f"{', '.join(['default', *list_colorizers()])}")
    return _build(name, entry, weights, device)


def get_denoiser(name: str = "denoise", *, weights: str | None = None,
                 device: str | torch.device | None = None) -> Colorizer:
    """Build a denoiser by name (``colorize denoise``, ``--denoise``) with its shipped (or the
    given) weights, in eval mode."""
    _load_builtins()
    if name not in list_denoisers():
        raise ColorizerError(f"unknown denoiser {name!r}; valid names: {', '.join(list_denoisers())}")
    model = _build(name, _REGISTRY[name], weights, device)
    if model.device.type == "cpu":
        # channels-last weights: oneDNN runs the denoiser's full-resolution convs in that layout
        # about a fifth faster on the CPU (benchmarks/bench_denoise_layout.py: x1.2-1.3 for two
        # passes at 512x512; the results differ by at most one 8-bit code on a few pixels)
        model.to(memory_format=torch.channels_last)
    return model


def _build(name: str, entry: Entry, weights: str | None, device) -> Colorizer:
    if weights is not None and not entry.takes_weights:
        raise ColorizerError(f"model {name!r} has no weights; drop --weights")
    model = entry.factory(weights=weights) if entry.takes_weights else entry.factory()
    model.name = name
    return model.to(resolve_device(device)).eval()
