"""The seed's VAE colorizer, conditional: q(z | L, ab) and a decoder p(ab | z, L).

The encoder sees L and ab and gives mu and log sigma^2 of a small global code z; the decoder is
a U-Net on L with z joined at its bottleneck: by default a decoder on the ImageNet-pretrained
MobileNetV2's features of L (``encoder = "none"``: the seed's from-scratch U-Net).
Loss: MSE(ab) + beta * KL, with
KL = -1/2 sum(1 + log sigma^2 - sigma^2 - mu^2), as in the seed. At inference z = 0 (the most
likely colours); ``sample_ab`` gives alternative colorizations from codes z ~ N(0, I), chosen to
differ from each other (see its docstring).

``z_dropout``: the share of training images whose code is replaced by z = 0, so that the decoder
learns what z = 0 means (the MSE-best colours). Without it z = 0 can fall between the modes of the
codes the decoder was trained on, and decode to a colour cast (seen: yellow-green on every photo).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from colorizer.color import denormalize_ab, normalize_ab, normalize_l
from colorizer.interface import Hints
from colorizer.models.base import TrainableColorizer, register_trainable
from colorizer.models.blocks import EncoderUNet, UNet, conv_block


@dataclass
class VAEConfig:
    encoder: str = "mobilenet_v2"  # the decoder's L encoder; "none": the seed's U-Net (``channels``)
    encoder_weights: str = ""  # converted ImageNet weights to start from (training only)
    freeze_encoder_steps: int = 0
    encoder_lr_scale: float = 0.1
    decoder_channels: tuple = (128, 64, 48, 24)
    channels: tuple = (16, 32, 64, 128)
    latent: int = 16
    beta: float = 1e-3
    sample_scale: float = 1.0
    z_dropout: float = 0.25


class Encoder(nn.Module):
    """(L, ab) -> (mu, logvar), each (N, latent)."""

    def __init__(self, latent: int, c: int = 16):
        super().__init__()
        self.net = nn.Sequential(conv_block(3, c, 2), conv_block(c, 2 * c, 2), conv_block(2 * c, 4 * c, 2),
                                 conv_block(4 * c, 4 * c, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * c, 2 * latent)

    def forward(self, L_norm, ab_norm):
        mu, logvar = self.head(self.net(torch.cat([L_norm, ab_norm], 1))).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)


@register_trainable("vae", "colours a photo on its own; several different colourings with "
                    "--samples K")
class VAEColorizer(TrainableColorizer):
    Config = VAEConfig
    name = "vae"

    def __init__(self, config: VAEConfig | None = None):
        super().__init__(config)
        self.encoder = Encoder(self.config.latent)
        cfg = self.config
        self.pretrained = cfg.encoder != "none"
        if self.pretrained:
            self.decoder = EncoderUNet(cfg.encoder, cfg.decoder_channels, extra=cfg.latent)
            self.multiple = 32
        else:
            self.decoder = UNet(cfg.channels, extra=cfg.latent)

    def decode_normalized(self, L: torch.Tensor, z: torch.Tensor, frozen_encoder: bool = False):
        """Normalised ab (N, 2, H, W) from L in Lab units and codes z (N, latent)."""
        if not self.pretrained:
            return self.decoder(normalize_l(L), z)
        return self.decoder.normalized_ab(L, z, frozen_encoder)

    def decode(self, L: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return denormalize_ab(self.decode_normalized(L, z))

    def predict_ab(self, L: torch.Tensor, hints: Hints | None = None) -> torch.Tensor:
        self.check_input(L)
        return self.decode(L, L.new_zeros(L.shape[0], self.config.latent))

    def sample_ab(self, L: torch.Tensor, index: int = 1, candidates: int = 16) -> torch.Tensor:
        """The ``index``-th (1, 2, ...) of a sequence of colorizations that differ from each other.

        Independent draws of z can land close together, which gives near-identical pictures (the
        code has only a few directions the decoder really uses). So ``candidates`` codes are
        drawn (z ~ N(0, sample_scale^2 I), fixed seed), each is decoded on a 64x64 copy of the
        photo, and they are ordered by farthest-point selection on those small ab maps, starting
        from the one nearest z = 0: the first K samples are then as far apart as this model's
        colours allow. The same index always gives the same colorization.
        """
        self.check_input(L)
        if index < 1:
            raise ValueError(f"sample index starts at 1, got {index}")
        n = max(candidates, index)
        gen = torch.Generator().manual_seed(12345)
        z = torch.randn(n, self.config.latent, generator=gen).to(L.device) * self.config.sample_scale
        out = []
        for item in L:  # per photo: its own ordering
            small = F.interpolate(item[None], size=(64, 64), mode="area")
            feats = self.decode(small.expand(n, -1, -1, -1), z).flatten(1)
            order = [int(z.norm(dim=1).argmin())]
            dist = (feats - feats[order[0]]).norm(dim=1)
            while len(order) < index:
                order.append(int(dist.argmax()))
                dist = torch.minimum(dist, (feats - feats[order[-1]]).norm(dim=1))
            out.append(self.decode(item[None], z[order[index - 1]][None]))
        return torch.cat(out)

    def configure_optimizers(self, lr: float) -> dict:
        return {"vae": torch.optim.Adam(self.param_groups(self, lr), lr)}

    def training_step(self, L, ab, optimizers, step):
        x, y = normalize_l(L), normalize_ab(ab)
        mu, logvar = self.encoder(x, y)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # the reparameterisation trick
        if self.config.z_dropout > 0:
            keep = torch.rand(z.shape[0], 1, device=z.device) >= self.config.z_dropout
            z = z * keep
        recon = F.mse_loss(self.decode_normalized(L, z, self.encoder_frozen(step)).float(), y.float())
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
        loss = recon + self.config.beta * kl
        optimizers["vae"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["vae"].step()
        return {"loss": loss.item(), "loss_mse": recon.item(), "kl": kl.item()}
