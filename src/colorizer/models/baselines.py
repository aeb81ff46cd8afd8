"""Trivial baselines that every trained model must beat."""

from __future__ import annotations

import torch

from colorizer.interface import Colorizer, Hints, register


@register("gray", "no colour at all: keeps the grey photo (the baseline the others are scored "
                  "against)",
          takes_weights=False)
class GrayColorizer(Colorizer):
    """Predicts no colour at all. Scores high on grey back-projection by construction."""

    name = "gray"

    def predict_ab(self, L: torch.Tensor, hints: Hints | None = None) -> torch.Tensor:
        self.check_input(L)
        n, _, h, w = L.shape
        return L.new_zeros(n, 2, h, w)
