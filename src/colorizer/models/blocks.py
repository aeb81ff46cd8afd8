"""Building blocks shared by the GAN generator and the VAE decoder: a small CPU-friendly U-Net."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def _up_cat(x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
    return torch.cat([x, skip], dim=1)


class UNet(nn.Module):
    """U-Net from normalised L (N, 1, H, W) to normalised ab (N, 2, H, W) in [-1, 1].

    The first layer halves the resolution and the ab output is upsampled back: colour varies
    slowly, and this keeps inference on a CPU fast. ``extra`` channels (e.g. a VAE code) can be
    added at the bottleneck. H and W must be multiples of 16.
    """

    def __init__(self, channels=(24, 48, 96, 192), extra: int = 0):
        super().__init__()
        c0, c1, c2, c3 = channels
        self.e0 = nn.Sequential(conv_block(1, c0, 2), conv_block(c0, c0))
        self.e1 = nn.Sequential(conv_block(c0, c1, 2), conv_block(c1, c1))
        self.e2 = nn.Sequential(conv_block(c1, c2, 2), conv_block(c2, c2))
        self.e3 = nn.Sequential(conv_block(c2, c3, 2), conv_block(c3, c3))
        self.mid = conv_block(c3 + extra, c3)
        self.d2 = nn.Sequential(conv_block(c3 + c2, c2), conv_block(c2, c2))
        self.d1 = nn.Sequential(conv_block(c2 + c1, c1), conv_block(c1, c1))
        self.d0 = nn.Sequential(conv_block(c1 + c0, c0), conv_block(c0, c0))
        self.out = nn.Conv2d(c0, 2, 3, 1, 1)

    def forward(self, L_norm: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        e0 = self.e0(L_norm)
        e1 = self.e1(e0)
        e2 = self.e2(e1)
        e3 = self.e3(e2)
        if extra is not None:  # (N, extra) broadcast over the bottleneck
            e3 = torch.cat([e3, extra[:, :, None, None].expand(-1, -1, *e3.shape[-2:])], dim=1)
        d = self.mid(e3)
        d = self.d2(_up_cat(d, e2))
        d = self.d1(_up_cat(d, e1))
        d = self.d0(_up_cat(d, e0))
        ab = torch.tanh(self.out(d))
        return F.interpolate(ab, size=L_norm.shape[-2:], mode="bilinear", align_corners=False)
