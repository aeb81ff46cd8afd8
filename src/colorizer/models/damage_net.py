"""DamageNet: a small U-Net that marks scratches, cracks, hairs, dust and tears in a grey photo.

It sees the 8-bit grey and its thin bright and thin dark structures (top-hat and black-hat,
:func:`colorizer.repair.network_input`) and answers, per pixel, the logit of "damage". Three
levels (full, 1/2, 1/4 resolution, the last one dilated) give it about 40 pixels of context:
enough to tell a scratch that runs across the picture from a whisker, a wire or the texture of
grass. It is small (8, 16, 24 channels) because it runs at the photo's full resolution (up to
4 MP; larger photos are searched at that size). Trained by ``scripts/train_restore.py``; used by
:mod:`colorizer.repair`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DamageNetConfig:
    channels: tuple = (8, 16, 24)


class DamageNet(nn.Module):
    """(N, 3, H, W) from :func:`colorizer.repair.network_input` -> (N, 1, H, W) damage logits."""

    def __init__(self, config: DamageNetConfig | None = None):
        super().__init__()
        self.config = config or DamageNetConfig()
        a, b, c = self.config.channels
        self.enc1 = nn.Conv2d(3, a, 3, padding=1)
        self.down1 = nn.Conv2d(a, b, 3, stride=2, padding=1)
        self.enc2 = nn.Conv2d(b, b, 3, padding=1)
        self.down2 = nn.Conv2d(b, c, 3, stride=2, padding=1)
        self.enc3 = nn.Conv2d(c, c, 3, padding=2, dilation=2)
        self.dec2 = nn.Conv2d(c + b, b, 3, padding=1)
        self.dec1 = nn.Conv2d(b + a, a, 3, padding=1)
        self.out = nn.Conv2d(a, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = F.relu(self.enc1(x))
        x2 = F.relu(self.enc2(F.relu(self.down1(x1))))
        x3 = F.relu(self.enc3(F.relu(self.down2(x2))))
        y = F.interpolate(x3, size=x2.shape[-2:], mode="nearest")
        y = F.relu(self.dec2(torch.cat([y, x2], 1)))
        y = F.interpolate(y, size=x1.shape[-2:], mode="nearest")
        y = F.relu(self.dec1(torch.cat([y, x1], 1)))
        return self.out(y)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Binary cross-entropy over the pixels that count (``weight`` 0 beside the damage,
        where either answer is right), damaged pixels weighted up by ``weight`` itself."""
        x, target, weight = batch
        return F.binary_cross_entropy_with_logits(self(x), target, weight=weight, reduction="sum") \
            / weight.sum().clamp_min(1.0)
