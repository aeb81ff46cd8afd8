"""The one interface every colorizer implements, and the table that models register into.

Every colorizer takes L of shape (N, 1, H, W) in Lab units (0-100) plus optional hints, and
returns ab of shape (N, 2, H, W) in Lab units. A model module subclasses :class:`Colorizer` and
registers itself with :func:`register`; :mod:`colorizer.registry` looks models up by name. This
module sits below both, so the models import it and nothing here imports a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Hints:
    """User colour hints: ``ab`` (N, 2, H, W) in Lab units, valid where ``mask`` (N, 1, H, W) is 1."""

    ab: torch.Tensor
    mask: torch.Tensor

    def to(self, device) -> Hints:
        return Hints(self.ab.to(device), self.mask.to(device))


class Colorizer(torch.nn.Module):
    """Base class. Subclasses implement :meth:`predict_ab`.

    Attributes
    ----------
    name : str
        Registry name.
    multiple : int
        Height and width given to :meth:`predict_ab` are multiples of this.
    uses_hints : bool
        Whether :meth:`predict_ab` makes use of :class:`Hints`.
    card : dict
        Model card: config, parameter count, training data and scores (empty for untrained ones).
    chroma_gain : float
        Multiplies the predicted ab on the way out (:func:`colorizer.api.predict_working_ab`):
        the gain calibrated on held-out photos (``chroma_gain`` in the card), times the user's
        ``--saturation``.
    """

    name = "base"
    multiple = 1
    uses_hints = False
    chroma_gain = 1.0

    def __init__(self):
        super().__init__()
        self.card: dict = {}

    def predict_ab(self, L: torch.Tensor, hints: Hints | None = None) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def check_input(L: torch.Tensor) -> None:
        if L.ndim != 4 or L.shape[1] != 1:
            raise ValueError(f"L must have shape (N, 1, H, W), got {tuple(L.shape)}")

    @property
    def device(self) -> torch.device:
        p = next(iter(self.parameters()), None)
        return p.device if p is not None else torch.device("cpu")


@dataclass
class Entry:
    factory: Callable[..., Colorizer]
    summary: str
    takes_weights: bool
    build: Callable[[], Colorizer] | None = None  # an untrained instance (trainable models)
    kind: str = "colorizer"  # or "denoiser": a model on L that is run before a colorizer


REGISTRY: dict[str, Entry] = {}


def register(name: str, summary: str, takes_weights: bool = True, build=None, kind: str = "colorizer"):
    """Class or factory decorator: ``factory(weights=None) -> Colorizer`` under ``name``.

    ``build()``, for trainable models, makes an untrained instance (training, tests). ``kind``
    "denoiser" registers a model that cleans L instead of colouring it
    (:func:`colorizer.registry.get_denoiser`).
    """

    def deco(factory):
        REGISTRY[name] = Entry(factory, summary, takes_weights, build, kind)
        return factory

    return deco
