"""Levin et al. 2004 as a registered colorizer: spreads the given hints; needs hints."""

from __future__ import annotations

import numpy as np
import torch

from colorizer.errors import ColorizerError
from colorizer.interface import Colorizer, Hints, register


@register("levin", "spreads the colours you paint on a photo (Levin et al. 2004; "
          "`colorize scribble`)", takes_weights=False)
class LevinColorizer(Colorizer):
    """No learned weights: the hints are all the colour there is."""

    name = "levin"
    uses_hints = True

    def predict_ab(self, L: torch.Tensor, hints: Hints | None = None) -> torch.Tensor:
        self.check_input(L)
        if hints is None or not bool(hints.mask.any()):
            # the Python API's hints argument is in the docstrings; this line is for every front end
            raise ColorizerError("model 'levin' colours a photo only from your scribbles, and none "
                                 "were given; use `colorize scribble PHOTO -s SCRIBBLES` (on the web "
                                 "page: paint on the photo)")
        from colorizer import levin  # SciPy's sparse stack, only when scribbles are used

        out = []
        for i in range(L.shape[0]):
            ab = levin.colorize(L[i, 0].double().cpu().numpy(),
                                hints.ab[i].permute(1, 2, 0).double().cpu().numpy(),
                                hints.mask[i, 0].cpu().numpy() > 0)
            out.append(torch.from_numpy(np.ascontiguousarray(ab)).permute(2, 0, 1))
        return torch.stack(out).to(L.device, torch.float32)
