"""The seed's VAE colorizer, conditional: q(z | L, ab) and a decoder p(ab | z, L).

The encoder sees L and ab and gives mu and log sigma^2 of a small global code z; the decoder is
a U-Net on L with z joined at its bottleneck: by default a decoder on the ImageNet-pretrained
MobileNetV2's features of L (``encoder = "none"``: the seed's from-scratch U-Net).
Loss: MSE(ab) + beta * KL, with
KL = -1/2 sum(1 + log sigma^2 - sigma^2 - mu^2), as in the seed. At inference z = 0 (the most
likely colours); ``sample_ab`` gives alternative colorizations that differ from each other (see
its docstring).

Posterior collapse: with MSE on normalised ab (about 0.01 per pixel) the KL term at beta = 1e-3
outweighs what a global code can save, so the shipped weights' code carries almost nothing (0.04
nats on validation photos, ``benchmarks/bench_vae_diversity.py --code``) and the decoder moves ab
by at most about 2 Lab units when one dimension of z goes to +-2. ``free_bits`` (nats per
dimension that cost no KL) is the training-side fix. For weights trained without it,
``sampling = "directions"`` gets what difference there is at inference: it steps along the few
code directions the decoder does respond to, each sample a set distance (``sample_spread``) from
the most likely colours, instead of drawing codes at random from N(0, I), where they change
almost nothing.

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
    sample_scale: float = 1.0  # sampling "random": the spread of the codes drawn
    sampling: str = "directions"  # or "random" (codes from N(0, sample_scale^2 I), farthest apart)
    sample_spread: float = 6.0  # sampling "directions": each sample's mean ab distance (Lab units)
    max_code: float = 16.0  # sampling "directions": the largest code length used
    z_dropout: float = 0.25
    free_bits: float = 0.0  # nats per code dimension that cost no KL (0: plain beta * KL)


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

        The same index always gives the same colorization, and ``sample_ab(L, k)`` is
        ``samples_ab(L, n)[k - 1]`` for every n >= k. How they are made depends on ``sampling``:

        * ``"directions"`` (default): along the directions of the code that change this photo's
          colours most (:meth:`code_directions`), in pairs of opposite signs (+d1, -d1, +d2, -d2,
          ...), each as far along as gives ``sample_spread`` Lab units of mean ab change from the
          most likely colorization (z = 0) on a 64x64 copy: K samples around the most likely one,
          each the same step away from it, so none is much worse than the others.
        * ``"random"``: ``candidates`` codes z ~ N(0, sample_scale^2 I) from a fixed seed, decoded on
          a 64x64 copy and ordered by farthest-point selection from the one nearest z = 0.
        """
        if index < 1:
            raise ValueError(f"sample index starts at 1, got {index}")
        self.check_input(L)
        return torch.cat([self.decode(item[None], self._codes(item, index, candidates)[-1][None])
                          for item in L])

    def draw_codes(self, n: int) -> torch.Tensor:
        """``n`` codes z ~ N(0, sample_scale^2 I) from a fixed seed (the same every call)."""
        gen = torch.Generator().manual_seed(12345)
        return torch.randn(n, self.config.latent, generator=gen) * self.config.sample_scale

    def code_directions(self, small: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit codes (latent, latent), strongest first, and the mean ab change (Lab units) per unit
        of each, for one small L (1, 1, h, w): the singular vectors of the decoder's response to
        each code dimension (z = e_d against z = 0), so the first direction changes the colours
        most. Each direction's sign puts its first sample on the warm side (b grows)."""
        n = self.config.latent
        z = torch.cat([small.new_zeros(1, n), torch.eye(n, device=small.device)])
        ab = self.decode(small.expand(n + 1, -1, -1, -1), z)
        response = (ab[1:] - ab[:1]).flatten(1)  # (latent, 2 h w)
        u, _, _ = torch.linalg.svd(response.double(), full_matrices=False)
        dirs = u.T.float()  # rows: unit codes, strongest response first
        along = dirs @ response  # (latent, 2 h w): the ab change per unit along each direction
        hw = ab.shape[-1] * ab.shape[-2]
        sign = torch.where(along[:, hw:].mean(1) < 0, -1.0, 1.0)
        dirs, along = dirs * sign[:, None], along * sign[:, None]
        gain = along.reshape(n, 2, -1).norm(dim=1).mean(1)  # mean ab change per unit code
        return dirs, gain

    def _direction_codes(self, small: torch.Tensor, count: int) -> torch.Tensor:
        """The codes of samples 1..count for one small L (1, 1, h, w) (see :meth:`sample_ab`)."""
        dirs, gain = self.code_directions(small)
        ab0 = self.decode(small, small.new_zeros(1, self.config.latent))
        codes = []
        for k in range(count):
            d = (k // 2) % self.config.latent
            target = self.config.sample_spread * (1 + k // (2 * self.config.latent))
            step = min(target / max(float(gain[d]), 1e-6), self.config.max_code)
            # one secant correction: the decoder is not linear in z this far out
            moved = (self.decode(small, (step * dirs[d])[None]) - ab0).norm(dim=1).mean()
            step = min(step * target / max(float(moved), 1e-6), self.config.max_code)
            codes.append(step * dirs[d] * (1.0 if k % 2 == 0 else -1.0))
        return torch.stack(codes)

    def samples_ab(self, L: torch.Tensor, count: int, candidates: int = 16) -> list[torch.Tensor]:
        """The first ``count`` colorizations of :meth:`sample_ab` (index 1 to ``count``), decided
        once per photo."""
        self.check_input(L)
        out = [[] for _ in range(count)]
        for item in L:  # per photo: its own codes
            codes = self._codes(item, count, candidates)
            for k in range(count):
                out[k].append(self.decode(item[None], codes[k][None]))
        return [torch.cat(o) for o in out]

    def _codes(self, item: torch.Tensor, count: int, candidates: int) -> torch.Tensor:
        """The codes (count, latent) of samples 1..count of one photo's L (1, H, W)."""
        if self.config.sampling not in ("directions", "random"):
            raise ValueError(f"vae sampling must be directions or random, got {self.config.sampling!r}")
        small = F.interpolate(item[None], size=(64, 64), mode="area")
        if self.config.sampling == "directions":
            return self._direction_codes(small, count)
        return self._farthest_codes(small, count, candidates)

    def _farthest_codes(self, small: torch.Tensor, count: int, candidates: int) -> torch.Tensor:
        n = max(candidates, count)
        z = self.draw_codes(n).to(small.device)
        feats = self.decode(small.expand(n, -1, -1, -1), z).flatten(1)
        order = [int(z.norm(dim=1).argmin())]
        dist = (feats - feats[order[0]]).norm(dim=1)
        while len(order) < count:
            order.append(int(dist.argmax()))
            dist = torch.minimum(dist, (feats - feats[order[-1]]).norm(dim=1))
        return z[order]

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
        kl_dims = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(0)  # (latent,), batch mean
        kl = kl_dims.sum()
        # free bits (Kingma et al. 2016): a dimension's KL below free_bits is not penalised, so the
        # encoder can put that much information in each dimension without paying for it
        penalised = kl_dims.clamp_min(self.config.free_bits).sum() if self.config.free_bits > 0 else kl
        loss = recon + self.config.beta * penalised
        optimizers["vae"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["vae"].step()
        return {"loss": loss.item(), "loss_mse": recon.item(), "kl": kl.item()}
