"""The denoising autoencoder for old photos: noisy L in, clean L out (blind: no noise level asked).

The seed's second future direction was a denoising autoencoder, "where pure Gaussian noise is
added to the inputs". Here it is a model of its own, run on L before any colorizer
(``colorize denoise``, ``colorize image --denoise``), trained by the one training loop.

Network: a small residual U-Net for speed on a CPU. L is pixel-unshuffled by ``unshuffle``
(4: 16 channels at 1/4 resolution, as FFDNet does by 2), goes through three levels of 3x3
conv + ReLU blocks (``widths`` channels at strides 4, 8 and 16), strided-conv downsampling and
1x1-conv + pixel-shuffle upsampling with additive skips, and the last layer predicts the noise,
which is subtracted (residual learning, DnCNN). Each block is a pre-activation residual unit
(ReLU, 3x3 conv, batch norm whose scale starts at 0.1, so the deep stack starts near the
identity); batch norm speeds up denoiser training (DnCNN) and, in eval mode, uses fixed
statistics, so a photo's result never depends on the others in its batch.

Training: clean photos' L -> their 8-bit grey -> random damage (:mod:`colorizer.damage`:
Gaussian sigma 0-50, film grain, JPEG 20-90, slight blur) -> back to L through the read path;
the loss is Charbonnier (a smooth L1) between the output's grey and the clean 8-bit grey, the
scale on which denoising PSNR is reported; ``loss="mse"`` swaps in squared error, which is what
PSNR measures, for a last fine-tune. Validation: PSNR on the 8-bit grey of the validation
photos with seeded Gaussian noise of ``val_sigma``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from colorizer.color import l_to_grey_srgb, normalize_l, rgb_to_l
from colorizer.models.base import TrainableColorizer, register_trainable
from colorizer.resize import pad_mode


@dataclass
class DenoiseConfig:
    widths: tuple = (40, 80, 160)
    blocks: tuple = (2, 2, 3)  # conv blocks per level (encoder and decoder each; the last: middle)
    unshuffle: int = 4
    sigma_max: float = 50.0  # training Gaussian noise, uniform in [0, sigma_max] (8-bit units)
    p_gaussian: float = 0.9
    p_grain: float = 0.3
    p_jpeg: float = 0.25
    p_blur: float = 0.2
    loss: str = "charbonnier"  # or "mse": squared error, what PSNR scores (for a last fine-tune)
    charbonnier_eps: float = 1e-3
    noise_scale: float = 10.0  # the net's output times this is the noise in L units
    val_sigma: float = 25.0


class _Residual(nn.Module):
    """x + conv3x3(relu(x)): a pre-activation residual unit (trains far faster than a plain stack)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.norm(self.conv(F.relu(x)))


def _convs(channels: int, n: int) -> nn.Sequential:
    return nn.Sequential(*[_Residual(channels) for _ in range(n)])


class DenoiseUNet(nn.Module):
    """Normalised noisy L (N, 1, H, W) -> estimated noise, same shape; H and W multiples of
    :attr:`multiple`."""

    def __init__(self, widths=(40, 80, 160), blocks=(2, 2, 3), unshuffle: int = 4):
        super().__init__()
        if len(widths) != len(blocks) or len(widths) < 2:
            raise ValueError(f"widths and blocks need the same length (>= 2), got {widths}, {blocks}")
        self.unshuffle = unshuffle
        self.multiple = unshuffle * 2 ** (len(widths) - 1)
        self.head = nn.Conv2d(unshuffle**2, widths[0], 3, 1, 1)
        self.enc = nn.ModuleList(_convs(c, n) for c, n in zip(widths[:-1], blocks[:-1], strict=True))
        pairs = list(zip(widths[:-1], widths[1:], strict=True))
        self.down = nn.ModuleList(nn.Conv2d(a, b, 3, 2, 1) for a, b in pairs)
        self.mid = _convs(widths[-1], blocks[-1])
        self.up = nn.ModuleList(nn.Conv2d(b, 4 * a, 1) for a, b in pairs)
        self.dec = nn.ModuleList(_convs(c, n) for c, n in zip(widths[:-1], blocks[:-1], strict=True))
        self.tail = nn.Conv2d(widths[0], unshuffle**2, 3, 1, 1)
        for m in self.modules():  # He init for the ReLU stack (torch's default shrinks the signal)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for m in self.modules():  # residual branches start small (Fixup), so depth does not blow up
            if isinstance(m, _Residual):
                nn.init.constant_(m.norm.weight, 0.1)
        nn.init.zeros_(self.tail.weight)  # starts as the identity: no noise estimated
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(F.pixel_unshuffle(x, self.unshuffle))
        skips = []
        for enc, down in zip(self.enc, self.down, strict=True):
            h = enc(h)
            skips.append(h)
            h = down(F.relu(h))
        h = self.mid(h)
        for i in reversed(range(len(skips))):
            h = self.dec[i](F.pixel_shuffle(self.up[i](h), 2) + skips[i])
        return F.pixel_shuffle(self.tail(F.relu(h)), self.unshuffle)


def grey_to_l_torch(grey: torch.Tensor) -> torch.Tensor:
    """L (N, 1, H, W) of grey sRGB values in [0, 1] (N, 1, H, W), as the read path computes it."""
    return rgb_to_l(grey.expand(-1, 3, -1, -1))


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB, data range 255) between two uint8 images."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@register_trainable("denoise", "cleans grain, noise and JPEG damage out of old scans: "
                    "`colorize denoise`, `--denoise`", kind="denoiser")
class DenoiseAutoencoder(TrainableColorizer):
    Config = DenoiseConfig
    name = "denoise"
    input_damage = "none"  # the training loop hands over clean L; the damage is made here

    def __init__(self, config: DenoiseConfig | None = None):
        super().__init__(config)
        cfg = self.config
        if cfg.loss not in ("charbonnier", "mse"):
            raise ValueError(f"unknown denoise loss {cfg.loss!r}: use 'charbonnier' or 'mse'")
        self.net = DenoiseUNet(cfg.widths, cfg.blocks, cfg.unshuffle)
        self.multiple = self.net.multiple

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        """Denoised L (N, 1, H, W), any H and W (reflect-padded to :attr:`multiple` inside)."""
        self.check_input(L)
        h, w = L.shape[-2:]
        m = self.multiple
        ph, pw = -h % m, -w % m
        if ph or pw:
            L = F.pad(L, (0, pw, 0, ph), mode=pad_mode(h, w, ph, pw))
        return self.clean(L)[..., :h, :w]

    def clean(self, L: torch.Tensor) -> torch.Tensor:
        """Denoised L (N, 1, H, W), not clamped, for H and W multiples of :attr:`multiple`: the
        graph that ``colorize export`` writes for onnxruntime (which pads and crops around it)."""
        return L - self.config.noise_scale * self.net(normalize_l(L))

    @torch.inference_mode()
    def denoise_l(self, L: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        """Denoised L in [0, 100]; ``strength`` scales the removed noise (0: unchanged, 1: as
        trained, between: a lighter touch that keeps more grain)."""
        out = self(L.to(self.device).float())
        if strength != 1.0:
            out = L.to(out.device) + strength * (out - L.to(out.device))
        return out.clamp(0, 100)

    def configure_optimizers(self, lr: float) -> dict:
        return {"net": torch.optim.Adam(self.net.parameters(), lr)}

    def damage_batch(self, L: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(damaged L, clean 8-bit grey in [0, 1]) for a batch of clean L (N, 1, H, W)."""
        from colorizer.damage import DamageConfig, damage_grey

        cfg = self.config
        dcfg = DamageConfig(sigma_max=cfg.sigma_max, p_gaussian=cfg.p_gaussian, p_grain=cfg.p_grain,
                            p_jpeg=cfg.p_jpeg, p_blur=cfg.p_blur)
        clean = torch.round(l_to_grey_srgb(L.float()) * 255.0)
        clean_np = clean.cpu().numpy().astype(np.uint8)
        noisy = np.stack([damage_grey(g[0], rng, dcfg)[None] for g in clean_np])
        noisy = torch.from_numpy(noisy).to(L.device).float() / 255.0
        return grey_to_l_torch(noisy), clean / 255.0

    def training_step(self, L, ab, optimizers, step):
        # drawn from numpy's global generator, which the loop seeds and checkpoints (--resume)
        rng = np.random.default_rng(np.random.randint(0, 2**31))
        noisy_L, clean = self.damage_batch(L, rng)
        out = l_to_grey_srgb(self(noisy_L))
        loss = self._loss(out, clean)
        optimizers["net"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["net"].step()
        mse = float(((out.detach() - clean) ** 2).mean())
        return {"loss": loss.item(), "psnr": 10 * np.log10(1.0 / max(mse, 1e-12))}

    def _loss(self, out: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        if self.config.loss == "mse":
            return ((out - clean) ** 2).mean()
        return torch.sqrt((out - clean) ** 2 + self.config.charbonnier_eps**2).mean()

    @torch.no_grad()
    def validate(self, dataset, device, limit: int, batch_size: int) -> dict:
        """Mean PSNR (8-bit grey) of the noisy and the denoised validation photos, Gaussian noise
        of ``val_sigma`` seeded by item index (the same noise every epoch)."""
        from colorizer.damage import add_gaussian_noise, grey_to_l, grey_u8

        was_training = self.training
        self.eval()
        before, after = [], []
        try:
            for i in range(min(limit, len(dataset))):
                clean = grey_u8(dataset[i][0][0].numpy())
                noisy = add_gaussian_noise(clean, self.config.val_sigma, np.random.default_rng(i))
                out = self.denoise_l(torch.from_numpy(grey_to_l(noisy))[None, None].to(device))
                before.append(psnr_u8(noisy, clean))
                after.append(psnr_u8(grey_u8(out[0, 0].cpu().numpy()), clean))
        finally:
            self.train(was_training)
        return {"val_psnr_noisy": float(np.mean(before)), "val_psnr": float(np.mean(after))}
