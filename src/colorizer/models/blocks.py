"""Building blocks shared by the trainable models: the seed's small from-scratch U-Net, and a
U-Net decoder on a pretrained encoder (:class:`EncoderUNet`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_block(cin: int, cout: int, stride: int = 1, padding_mode: str = "zeros") -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False, padding_mode=padding_mode),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


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


def masked_pool(values: torch.Tensor, mask: torch.Tensor, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """``values`` (N, C, H, W) averaged down to ``shape`` over the pixels where ``mask`` (N, 1, H,
    W, 0/1) is set, and the 0/1 mask of the cells that hold any such pixel. A plain average would
    shrink a 5-pixel hint dot to a few hundredths in a cell of 32x32 pixels."""
    mask = mask.to(values.dtype)
    cover = F.adaptive_avg_pool2d(mask, shape)
    mean = F.adaptive_avg_pool2d(values * mask, shape) / cover.clamp_min(1e-6)
    return mean, (cover > 0).to(values.dtype)


def pooled_hints(hints: torch.Tensor, shape) -> torch.Tensor:
    """Hint channels (N, C, H, W: C-1 colour channels, then the 0/1 mask) at a coarser ``shape``:
    each cell gets the mean colour of the hinted pixels under it and a 1 if it holds any
    (:func:`masked_pool`), so that a dot stays as strong as the layers it joins need."""
    return torch.cat(masked_pool(hints[:, :-1], hints[:, -1:], shape), dim=1)


class EncoderUNet(nn.Module):
    """A U-Net decoder on a pretrained encoder (``colorizer.models.mobilenet``).

    L (N, 1, H, W) in Lab units goes into the encoder; its features at strides 32 ... 2 are
    decoded by bilinear 2x upsampling, concatenation with the skip and two 3x3 conv blocks per
    stride. Bilinear + conv (not transposed convolutions) and reflect padding in the decoder keep
    checkerboards and border bands out. The output (``out_channels``) is at 1/``out_stride`` of
    the input size (2: ab at half resolution; 4: Zhang's bin logits). ``extra`` channels (a VAE
    code, (N, extra)) join at the bottleneck. Any H and W work; multiples of 32 waste nothing.

    ``hint_channels`` > 0 adds a way in for colour hints (N, hint_channels, H, W) at full size: a
    3x3 convolution into the encoder's stem output and a 1x1 convolution into each feature map
    (the hints averaged down to its size), all starting at zero, so that a model trained without
    hints computes the same until it learns to use them; without hints they are skipped.
    """

    def __init__(self, encoder: str = "mobilenet_v2", widths=(128, 64, 48, 24), out_channels: int = 2,
                 out_stride: int = 2, extra: int = 0, out_kernel: int = 3, hint_channels: int = 0):
        super().__init__()
        from colorizer.models.mobilenet import build_encoder

        if out_stride not in (2, 4):
            raise ValueError(f"out_stride must be 2 or 4, got {out_stride}")
        self.encoder = build_encoder(encoder)
        c2, c4, c8, c16, c32 = self.encoder.channels
        w16, w8, w4, w2 = widths
        self.out_stride = out_stride
        self.bottom = nn.Sequential(nn.Conv2d(c32 + extra, w16, 1, bias=False), nn.BatchNorm2d(w16),
                                    nn.ReLU(inplace=True))
        ups = [(w16, c16, w16), (w16, c8, w8), (w8, c4, w4)] + ([(w4, c2, w2)] if out_stride == 2 else [])
        self.ups = nn.ModuleList(
            nn.Sequential(conv_block(cin + skip, cout, padding_mode="reflect"),
                          conv_block(cout, cout, padding_mode="reflect")) for cin, skip, cout in ups)
        self.out = nn.Conv2d(ups[-1][2], out_channels, out_kernel, 1, out_kernel // 2, padding_mode="reflect")
        self.hint_channels = hint_channels
        if hint_channels:
            self.hint_stem = nn.Conv2d(hint_channels, self.encoder.stem_channels, 3, 2, 1)
            self.hint_skips = nn.ModuleList(nn.Conv2d(hint_channels, c, 1) for c in self.encoder.channels)
            for conv in (self.hint_stem, *self.hint_skips):
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)

    def features(self, L: torch.Tensor, frozen: bool = False,
                 hints: torch.Tensor | None = None) -> list[torch.Tensor]:
        if hints is None or not self.hint_channels:
            if frozen:  # no graph through the encoder: its weights are not trained at this step
                with torch.no_grad():
                    return self.encoder(L)
            return self.encoder(L)
        add = self.hint_stem(hints)
        feats = self.encoder(L, stem_add=add)
        return [f + conv(pooled_hints(hints, f.shape[-2:]))
                for f, conv in zip(feats, self.hint_skips, strict=True)]

    def normalized_ab(self, L: torch.Tensor, extra: torch.Tensor | None = None,
                      frozen_encoder: bool = False, hints: torch.Tensor | None = None) -> torch.Tensor:
        """For a 2-channel decoder: ab in [-1, 1] (tanh), bilinearly upsampled to L's size."""
        ab = torch.tanh(self(L, extra, frozen_encoder=frozen_encoder, hints=hints))
        return F.interpolate(ab, size=L.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, L: torch.Tensor, extra: torch.Tensor | None = None,
                frozen_encoder: bool = False, hints: torch.Tensor | None = None) -> torch.Tensor:
        f2, f4, f8, f16, f32 = self.features(L, frozen_encoder, hints)
        if extra is not None:
            f32 = torch.cat([f32, extra[:, :, None, None].expand(-1, -1, *f32.shape[-2:])], dim=1)
        x = self.bottom(f32)
        for up, skip in zip(self.ups, (f16, f8, f4, f2), strict=False):
            x = up(_up_cat(x, skip))
        return self.out(x)
