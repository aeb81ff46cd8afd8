"""The seed's GAN colorizer: a U-Net generator L -> ab against a discriminator conditioned on L.

The generator is a U-Net decoder on an ImageNet-pretrained MobileNetV2 (``encoder =
"mobilenet_v2"``, DeOldify's recipe: the encoder is frozen for ``freeze_encoder_steps``, then
fine-tuned at ``encoder_lr_scale`` times the rate); ``encoder = "none"`` is the seed's small
from-scratch U-Net, kept for comparison.

Losses, as the seed meant them: the discriminator minimises binary cross-entropy (real target
smoothed to ``real_label``); the generator minimises ``lambda_mse * MSE(ab) + lambda_adv *
BCE(D(L, G(L)), real)``, so it does receive the discriminator's gradient (the seed's code used
MSE alone). ``warmup_steps`` of MSE-only training first is DeOldify's "NoGAN" idea.
``rebalance_mix`` below 1 weights the MSE by the rarity of each pixel's true colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from colorizer.color import denormalize_ab, normalize_ab, normalize_l
from colorizer.interface import Hints
from colorizer.models.base import TrainableColorizer, register_trainable
from colorizer.models.blocks import EncoderUNet, UNet

#: Bins for ``rebalance_mix``: AB_BINS x AB_BINS squares of AB_BIN Lab units around ab = 0.
AB_BIN = 10.0
AB_BINS = 22


@dataclass
class GANConfig:
    encoder: str = "mobilenet_v2"  # or "none": the seed's from-scratch U-Net (``channels``)
    encoder_weights: str = ""  # converted ImageNet weights to start from (training only)
    freeze_encoder_steps: int = 0
    encoder_lr_scale: float = 0.1
    decoder_channels: tuple = (128, 64, 48, 24)
    channels: tuple = (24, 48, 96, 192)
    disc: str = "patch"  # "patch" (PatchGAN) or "global" (the seed's single real/fake score)
    disc_channels: int = 32
    lambda_mse: float = 1.0
    lambda_adv: float = 0.01
    real_label: float = 0.9
    warmup_steps: int = 0
    # Class rebalancing of the MSE (Zhang et al. 2016, eq. 4, on a regression): each pixel is
    # weighted by 1 / ((1 - mix) * p(bin of its true ab) + mix / bins), p counted over the
    # training batches so far, weights normalised to mean 1 under p. 1.0 is plain MSE; Zhang et
    # al. use 0.5. Rare (saturated) colours then weigh more, so a decided colour costs less.
    rebalance_mix: float = 1.0
    # Colour hints (Zhang et al. 2017's user points): 3 takes them as input channels (ab / 110
    # where hinted, and the mask), 0 does not. Trained on points revealed from the true colours
    # at random: per image a count drawn from a geometric distribution of mean ``hint_points``
    # (zero included), each a square of 1 to ``hint_size`` pixels given its mean true colour.
    hint_channels: int = 0
    hint_points: float = 8.0
    hint_size: int = 5
    hint_lr_scale: float = 10.0  # the hint branch (new, from zero) learns at this times the rate


class Discriminator(nn.Module):
    """Scores (L, ab) pairs: a map of patch logits, or one logit per image ("global")."""

    def __init__(self, channels: int = 32, kind: str = "patch"):
        super().__init__()
        c = channels
        layers = [nn.Conv2d(3, c, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for cin, cout in ((c, 2 * c), (2 * c, 4 * c)):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout),
                       nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(4 * c, 1, 3, 1, 1)]
        self.net = nn.Sequential(*layers)
        self.kind = kind

    def forward(self, L_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
        logits = self.net(torch.cat([L_norm, ab_norm], dim=1))
        return logits.mean(dim=(2, 3)) if self.kind == "global" else logits


@register_trainable("gan", "colours a photo on its own; natural, rather muted colours")
class GANColorizer(TrainableColorizer):
    Config = GANConfig
    name = "gan"

    def __init__(self, config: GANConfig | None = None):
        super().__init__(config)
        cfg = self.config
        self.pretrained = cfg.encoder != "none"
        if cfg.hint_channels and not self.pretrained:
            raise ValueError("hint_channels needs a pretrained encoder (encoder=mobilenet_v2)")
        self.gen = (EncoderUNet(cfg.encoder, cfg.decoder_channels, hint_channels=cfg.hint_channels)
                    if self.pretrained else UNet(cfg.channels))
        self.uses_hints = bool(cfg.hint_channels)
        #: fine-tuning from weights without hint channels (--init) starts these at zero
        self.new_parts = ("gen.hint_",) if cfg.hint_channels else ()
        if self.pretrained:
            self.multiple = 32
        self.disc = Discriminator(self.config.disc_channels, self.config.disc)
        # ab bin counts seen in training (not saved with the weights: a statistic of the data)
        self.register_buffer("ab_counts", torch.zeros(AB_BINS * AB_BINS), persistent=False)

    def colour_weights(self, ab: torch.Tensor) -> torch.Tensor:
        """Per-pixel MSE weights (N, 1, H, W) from the rarity of the true ``ab`` (Lab units),
        counting this batch's colours into the running prior first."""
        mix = self.config.rebalance_mix
        edge = AB_BINS * AB_BIN / 2
        idx = ((ab.detach() + edge) / AB_BIN).floor().clamp(0, AB_BINS - 1).long()
        codes = idx[:, 0] * AB_BINS + idx[:, 1]
        self.ab_counts += torch.bincount(codes.flatten(), minlength=AB_BINS * AB_BINS).to(
            self.ab_counts.dtype)
        p = self.ab_counts / self.ab_counts.sum()
        seen = (self.ab_counts > 0).sum().clamp(min=1)
        w = 1.0 / ((1 - mix) * p + mix / seen)
        w = w / (p * w).sum()
        return w[codes].unsqueeze(1)

    def generate(self, L: torch.Tensor, frozen_encoder: bool = False,
                 hints: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised ab (N, 2, H, W) in [-1, 1] from L in Lab units (and hint channels)."""
        if not self.pretrained:
            return self.gen(normalize_l(L))
        return self.gen.normalized_ab(L, frozen_encoder=frozen_encoder, hints=hints)

    @staticmethod
    def hint_input(ab: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The hint channels (N, 3, H, W): ab / 110 where hinted (0 elsewhere), and the mask."""
        mask = (mask > 0).to(ab.dtype)
        return torch.cat([normalize_ab(ab) * mask, mask], dim=1)

    def simulated_hints(self, ab: torch.Tensor) -> torch.Tensor:
        """Hint channels for a training batch: points revealed from the true ``ab`` (Lab units)."""
        cfg = self.config
        n, _, h, w = ab.shape
        hint_ab, mask = torch.zeros_like(ab), torch.zeros_like(ab[:, :1])
        counts = torch.distributions.Geometric(probs=torch.tensor(1.0 / (cfg.hint_points + 1))).sample((n,))
        for i in range(n):
            for _ in range(min(int(counts[i]), 64)):
                size = int(torch.randint(1, cfg.hint_size + 1, ()))
                y, x = int(torch.randint(0, h - size + 1, ())), int(torch.randint(0, w - size + 1, ()))
                hint_ab[i, :, y:y + size, x:x + size] = ab[i, :, y:y + size, x:x + size].mean((1, 2),
                                                                                              keepdim=True)
                mask[i, :, y:y + size, x:x + size] = 1
        return self.hint_input(hint_ab, mask)

    def predict_ab(self, L: torch.Tensor, hints: Hints | None = None) -> torch.Tensor:
        self.check_input(L)
        x = None
        if hints is not None and self.uses_hints and bool(hints.mask.any()):
            x = self.hint_input(hints.ab.to(L.dtype), hints.mask.to(L.dtype))
        return denormalize_ab(self.generate(L, hints=x))

    def configure_optimizers(self, lr: float) -> dict:
        groups = self.param_groups(self.gen, lr)
        if self.config.hint_channels:
            branch = {id(p) for n, p in self.gen.named_parameters() if n.startswith("hint_")}
            for g in groups:
                g["params"] = [p for p in g["params"] if id(p) not in branch]
            groups.append({"params": [p for p in self.gen.parameters() if id(p) in branch],
                           "lr": lr * self.config.hint_lr_scale})
        return {"gen": torch.optim.Adam(groups, lr, betas=(0.5, 0.999)),
                "disc": torch.optim.Adam(self.disc.parameters(), lr, betas=(0.5, 0.999))}

    def ddp_modules(self) -> list[str]:
        return ["gen", "disc"]

    def training_step(self, L, ab, optimizers, step):
        cfg = self.config
        x, y = normalize_l(L), normalize_ab(ab)
        hints = self.simulated_hints(ab) if cfg.hint_channels else None
        fake = self.generate(L, frozen_encoder=self.encoder_frozen(step), hints=hints)
        adversarial = step >= cfg.warmup_steps and cfg.lambda_adv > 0
        logs = {}
        if adversarial:
            # real and generated pairs in one forward pass (one DDP forward per backward)
            logits = self.disc(torch.cat([x, x]), torch.cat([y, fake.detach()]))
            real_logits, fake_logits = logits.chunk(2)
            loss_d = (F.binary_cross_entropy_with_logits(
                real_logits, torch.full_like(real_logits, cfg.real_label))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
            optimizers["disc"].zero_grad(set_to_none=True)
            loss_d.backward()
            optimizers["disc"].step()
            logs["loss_d"] = loss_d.item()
        if cfg.rebalance_mix < 1:
            loss_mse = (self.colour_weights(ab) * (fake.float() - y.float()) ** 2).mean()
        else:
            loss_mse = F.mse_loss(fake.float(), y.float())
        loss_g = cfg.lambda_mse * loss_mse
        if adversarial:
            gen_logits = self.disc(x, fake)
            loss_adv = F.binary_cross_entropy_with_logits(gen_logits, torch.ones_like(gen_logits))
            loss_g = loss_g + cfg.lambda_adv * loss_adv
            logs["loss_adv"] = loss_adv.item()
        optimizers["gen"].zero_grad(set_to_none=True)
        loss_g.backward()
        optimizers["gen"].step()
        logs.update(loss_mse=loss_mse.item(), loss_g=loss_g.item())
        return logs
