"""The contract every trainable colorizer keeps, so that one training loop trains them all.

A trainable model is a :class:`~colorizer.interface.Colorizer` with a dataclass ``Config``, and:

* ``configure_optimizers(lr)`` -> dict of named optimisers (Adam, as the seed);
* ``training_step(L, ab, optimizers, step)`` -> dict of floats: one batch, its own updates
  (the GAN's alternating updates live in the GAN's file);
* ``predict_ab(L)`` for validation and inference.

Weights are loaded from ``NAME.safetensors`` + ``NAME.json`` (the card holds the config).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from colorizer.errors import ColorizerError
from colorizer.interface import Colorizer, register
from colorizer.weights import load_into, load_weights, packaged_weights


class TrainableColorizer(Colorizer):
    Config: type = None
    multiple = 16
    preferred_size = 256

    def __init__(self, config=None):
        super().__init__()
        self.config = config if config is not None else self.Config()

    def configure_optimizers(self, lr: float) -> dict:
        raise NotImplementedError

    def training_step(self, L, ab, optimizers: dict, step: int) -> dict:
        raise NotImplementedError

    def load_pretrained(self) -> None:
        """Load the converted ImageNet encoder named by ``config.encoder_weights`` into every
        pretrained encoder of the model (called by ``colorize train`` on a fresh model; a model
        loaded from its own weights file already holds the fine-tuned encoder)."""
        from colorizer.models.mobilenet import MobileNetV2Encoder

        path = getattr(self.config, "encoder_weights", "")
        if path:
            for module in self.modules():
                if isinstance(module, MobileNetV2Encoder):
                    module.load_pretrained(path)

    def encoder_frozen(self, step: int) -> bool:
        """Whether the pretrained encoder is kept fixed at training ``step``."""
        return step < getattr(self.config, "freeze_encoder_steps", 0)

    def param_groups(self, module: torch.nn.Module, lr: float) -> list[dict]:
        """Adam groups for ``module``: pretrained-encoder weights at ``lr * encoder_lr_scale``
        (fine-tuned gently), the rest at ``lr``."""
        from colorizer.models.mobilenet import MobileNetV2Encoder

        encoder = {id(p) for m in module.modules() if isinstance(m, MobileNetV2Encoder)
                   for p in m.parameters()}
        rest = [p for p in module.parameters() if id(p) not in encoder and p.requires_grad]
        pretrained = [p for p in module.parameters() if id(p) in encoder]
        groups = [{"params": rest, "lr": lr}]
        if pretrained:
            groups.append({"params": pretrained, "lr": lr * getattr(self.config, "encoder_lr_scale", 1.0)})
        return groups

    def ddp_modules(self) -> list[str]:
        """Names of the submodules to wrap in DistributedDataParallel."""
        return [name for name, _ in self.named_children()]

    @classmethod
    def config_from_dict(cls, data: dict):
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        unknown = set(data) - fields
        if unknown:
            raise ColorizerError(f"model card config has unknown fields for {cls.__name__}: "
                                 f"{', '.join(sorted(unknown))}")
        return cls.Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    @classmethod
    def load(cls, name: str, weights: str | None = None):
        """Build from a weights file (or the one shipped for ``name``) and its card."""
        path = Path(weights) if weights else packaged_weights(name)
        if weights is None and not path.exists():
            raise ColorizerError(f"model {name!r} has no weights shipped in this install; train one "
                                 f"with `colorize train --model {name}` and pass --weights FILE")
        state, card = load_weights(path)
        if card.get("architecture", cls.__name__) != cls.__name__:
            raise ColorizerError(f"{path}: weights are for {card['architecture']}, not {cls.__name__}")
        config = card.get("config", {})
        if "encoder" in {f.name for f in dataclasses.fields(cls.Config)}:
            config = {"encoder": "none", **config}  # cards from before encoders existed
        model = cls(cls.config_from_dict(config))
        load_into(model, state, str(path))
        model.card = card
        model.chroma_gain = float(card.get("chroma_gain", 1.0))
        return model


def register_trainable(name: str, summary: str, kind: str = "colorizer"):
    """Class decorator: register a TrainableColorizer under ``name``, loading its weights
    (``kind``: see :func:`colorizer.interface.register`)."""

    def deco(cls):
        register(name, summary, build=cls, kind=kind)(lambda weights=None: cls.load(name, weights))
        return cls

    return deco
