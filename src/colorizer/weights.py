"""Model weights on disk: ``NAME.safetensors`` (tensors only, never pickle) + ``NAME.json`` (card).

The card is a JSON object holding at least ``architecture`` and ``config``; trained models add
parameter count, training data, steps, hardware and scores.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from colorizer.errors import ColorizerError
from colorizer.io import atomic_write


def card_path(weights: str | os.PathLike) -> Path:
    """The JSON card that sits next to a weights file."""
    return Path(weights).with_suffix(".json")


def save_weights(module: torch.nn.Module, path: str | os.PathLike, card: dict) -> Path:
    """Write ``module``'s state dict as safetensors and ``card`` as JSON beside it, atomically."""
    path = Path(path)
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    card = {**card, "parameters": sum(p.numel() for p in module.parameters())}
    atomic_write(path, lambda tmp: save_file(state, str(tmp)))
    atomic_write(card_path(path),
                  lambda tmp: Path(tmp).write_text(json.dumps(card, indent=2, sort_keys=True)))
    return path


def load_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a safetensors state dict and its card (empty dict when the card is missing)."""
    path = Path(path)
    if not path.is_file():
        raise ColorizerError(f"{path}: weights file not found")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head[:1] == b"\x80" or head == b"PK":  # a pickle, or torch.save's zip of pickles
            raise ColorizerError(f"{path}: is a pickle (PyTorch .pth/.pt), not a readable safetensors file; "
                                 "pickles are never loaded, as they can run code. Convert it with "
                                 "safetensors.torch.save_file where you trust it") from None
        raise ColorizerError(f"{path}: not a readable safetensors file ({exc})") from None
    card = {}
    if card_path(path).is_file():
        try:
            card = json.loads(card_path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ColorizerError(f"{card_path(path)}: model card is not valid JSON ({exc})") from None
    return state, card


def packaged_weights(name: str) -> Path:
    """Path of the weights shipped inside the package for model ``name``."""
    return Path(str(resources.files("colorizer") / "assets" / f"{name}.safetensors"))


def load_into(module: torch.nn.Module, state: dict, source: str, optional: tuple[str, ...] = ()) -> None:
    """Load a state dict strictly, turning a mismatch into an error naming the keys. Keys of the
    module that start with one of ``optional`` may be missing from ``state`` (they keep their
    initial values: new parts of a model fine-tuned from weights without them)."""
    own = module.state_dict()
    missing = sorted(k for k in set(own) - set(state) if not (optional and k.startswith(optional)))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected),
                            ("wrong shape", wrong)):
            if keys:
                parts.append(f"{label} keys: {', '.join(keys[:5])}"
                             + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""))
        raise ColorizerError(f"{source}: weights do not fit this model; " + "; ".join(parts))
    module.load_state_dict(state, strict=not optional)
