"""Zhang, Isola & Efros (2016), "Colorful Image Colorization": classification over ab bins.

By default the bin logits come from a U-Net decoder on the ImageNet-pretrained MobileNetV2
(``encoder = "mobilenet_v2"``); ``encoder = "none"`` gives the paper's own layout (below).

Instead of regressing one (desaturating) mean, the network predicts a distribution over quantised
ab for each pixel (at a quarter of the input resolution):

* bins on a grid of 10 Lab units, the ones sRGB colours fall into (:func:`gamut_bins`);
* a multinomial cross-entropy on soft-encoded targets (5 nearest bins, Gaussian sigma 5), each
  pixel weighted by class rebalancing: the inverse of the empirical bin distribution smoothed
  with a Gaussian (sigma 5) and mixed with uniform (lambda 0.5), normalised to expectation 1
  (:func:`rebalancing_weights`), computed from the training data by ``colorize train`` and
  stored with the weights;
* decoding by the annealed mean at T = 0.38 (:func:`annealed_mean`);
* a per-pixel confidence, 1 - the normalised entropy of the distribution (:func:`confidence`).

Two sizes: ``full`` has the paper's layout (8 conv blocks, batch norm, dilation in blocks 5-6,
about 32 M parameters) with the module names of the authors' PyTorch release, so their ECCV16
state dict loads with ``--weights colorization_release_v2.pth`` (:func:`from_authors_state_dict`;
their 313 bins come from their output layer); their SIGGRAPH17 state dict (user hints, a
regression head) loads into :class:`Siggraph17Colorizer`. ``compact`` has the same layout at a quarter of the
widths, small enough to train on a CPU.

Note: the sRGB gamut gives 261 occupied bins at grid 10 (the ab of every 8-bit colour, rounded
to the nearest grid point), not the paper's 313, which came from the ab values of ImageNet in the
authors' own pipeline; models trained here use the gamut bins.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from colorizer.color import normalize_l
from colorizer.errors import ColorizerError
from colorizer.interface import Colorizer, Hints
from colorizer.models.base import TrainableColorizer, register_trainable
from colorizer.models.blocks import EncoderUNet

WIDTHS = {"full": (64, 128, 256, 512, 256), "compact": (16, 32, 64, 128, 64)}


@functools.lru_cache(maxsize=4)
def gamut_bins(grid: int = 10) -> np.ndarray:
    """ab grid points (K, 2) that some 8-bit sRGB colour rounds to, sorted by (a, b)."""
    from colorizer.color import rgb2lab

    v = np.arange(256, dtype=np.uint8)
    occupied = set()
    for r in range(0, 256, 16):  # in slices of 16 red levels: 1 M colours at a time
        rgb = np.stack(np.meshgrid(v[r:r + 16], v, v, indexing="ij"), -1).reshape(-1, 3)
        q = np.round(rgb2lab(rgb)[:, 1:] / grid).astype(np.int64)
        occupied |= set(map(tuple, np.unique(q, axis=0)))
    return np.array(sorted(occupied), np.float32) * grid


def soft_encode(ab: torch.Tensor, bins: torch.Tensor, k: int = 5, sigma: float = 5.0) -> torch.Tensor:
    """(N, 2, H, W) ab -> (N, Q, H, W) weights on the k nearest bins (Gaussian, sums to 1)."""
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    d2 = torch.cdist(flat, bins) ** 2
    near, idx = d2.topk(k, dim=1, largest=False)
    w = torch.exp(-near / (2 * sigma**2))
    w = w / w.sum(1, keepdim=True)
    out = torch.zeros(flat.shape[0], bins.shape[0], device=ab.device, dtype=w.dtype)
    out.scatter_(1, idx, w)
    n, _, h, wd = ab.shape
    return out.reshape(n, h, wd, -1).permute(0, 3, 1, 2)


def rebalancing_weights(p: np.ndarray, bins: np.ndarray, sigma: float = 5.0, lam: float = 0.5) -> np.ndarray:
    """Zhang's class weights: w ~ ((1 - lam) * smooth(p) + lam / Q)^-1, with E_smooth(p)[w] = 1.

    ``p`` is the empirical bin distribution (Q,), ``bins`` the centres (Q, 2).
    """
    p = np.asarray(p, np.float64)
    p = p / p.sum()
    d2 = ((bins[:, None, :] - bins[None, :, :]) ** 2).sum(-1)
    kernel = np.exp(-d2 / (2 * sigma**2))
    smooth = kernel @ p
    smooth = smooth / smooth.sum()
    w = 1.0 / ((1 - lam) * smooth + lam / len(p))
    return (w / (smooth * w).sum()).astype(np.float32)


def annealed_mean(probs: torch.Tensor, bins: torch.Tensor, T: float = 0.38) -> torch.Tensor:
    """(N, Q, H, W) probabilities -> (N, 2, H, W) ab: the mean of p^(1/T), renormalised.

    T = 1 gives the mean, T -> 0 the mode.
    """
    logits = torch.log(probs.clamp_min(1e-12)) / max(T, 1e-6)
    sharp = torch.softmax(logits, dim=1)
    return torch.einsum("nqhw,qc->nchw", sharp, bins)


def _box_1d(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Sum over a window of 2r+1 along ``dim`` (clipped at the borders), by cumulative sums."""
    n = x.shape[dim]
    c = torch.cumsum(x, dim)
    shape = list(c.shape)
    shape[dim] = radius + 1
    last = c.narrow(dim, n - 1, 1).expand(*[s if d != dim else radius for d, s in enumerate(c.shape)])
    c = torch.cat([c.new_zeros(shape), c, last], dim)  # c[radius + 1 + i] = sum of x[:i + 1]
    return c.narrow(dim, 2 * radius + 1, n) - c.narrow(dim, 0, n)


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, over the pixels inside the image (no padding bias); the cost
    does not grow with the radius."""
    h, w = x.shape[-2:]
    ones = x.new_ones(1, 1, h, w)
    count = _box_1d(_box_1d(ones, radius, 2), radius, 3)
    return _box_1d(_box_1d(x, radius, 2), radius, 3) / count


def agree_distributions(probs: torch.Tensor, L: torch.Tensor, radius: int = 6, eps: float = 0.01,
                        log: bool = True) -> torch.Tensor:
    """Make the bin distributions of one surface agree: a guided filter on them, guided by L.

    He, Sun & Tang's guided filter (2010) fits, in each (2r+1)^2 window, every channel as a linear
    function of the guide (L / 100) and averages the fits: where L is flat the distributions are
    averaged over the window, across an edge of L they are not mixed. ``probs`` (N, Q, h, w) at
    the logits' resolution, ``L`` (N, 1, H, W) in Lab units (area-resized to h x w here). With
    ``log`` the log-probabilities are filtered and renormalised (a geometric mean: the pixels of
    a region vote for the colours they all find likely, so one surface keeps one colour family
    instead of an average of two); otherwise the probabilities. ``eps`` is the L variance (in
    (L/100)^2) below which a window counts as flat: 0.01 is a standard deviation of 10 L units.
    ``radius`` is in logits pixels (4 image pixels each for the shipped model).
    """
    if radius <= 0:
        return probs
    guide = F.adaptive_avg_pool2d(L.float() / 100.0, probs.shape[-2:])
    # only the bins some pixel of the photo finds possible (most of the 261 are not): the rest
    # keep their (negligible) probabilities, and the filter costs a fraction
    used = probs.amax(dim=(0, 2, 3)) > 1e-3
    if not used.all():
        out = probs.clone()
        out[:, used] = agree_distributions(probs[:, used], L, radius, eps, log) \
            * probs[:, used].sum(1, keepdim=True)
        return out
    x = torch.log(probs.clamp_min(1e-8)) if log else probs
    mean_i, mean_x = _box(guide, radius), _box(x, radius)
    var_i = _box(guide * guide, radius) - mean_i * mean_i
    a = (_box(guide * x, radius) - mean_i * mean_x) / (var_i + eps)
    b = mean_x - a * mean_i
    out = _box(a, radius) * guide + _box(b, radius)
    if log:
        return torch.softmax(out, dim=1)
    out = out.clamp_min(0)
    return out / out.sum(1, keepdim=True).clamp_min(1e-12)


def confidence(probs: torch.Tensor) -> torch.Tensor:
    """(N, Q, H, W) -> (N, 1, H, W) in [0, 1]: 1 - entropy / log Q (1 = one bin for sure)."""
    entropy = -(probs * torch.log(probs.clamp_min(1e-12))).sum(1, keepdim=True)
    return 1 - entropy / np.log(probs.shape[1])


def _block(cin: int, cout: int, n: int, stride_last: int = 1, dilation: int = 1) -> nn.Sequential:
    layers = []
    for i in range(n):
        stride = stride_last if i == n - 1 else 1
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, stride, dilation, dilation=dilation),
                   nn.ReLU(True)]
    return nn.Sequential(*layers, nn.BatchNorm2d(cout))


@dataclass
class ZhangConfig:
    encoder: str = "mobilenet_v2"  # or "none": the paper's own layout at ``size``
    encoder_weights: str = ""  # converted ImageNet weights to start from (training only)
    freeze_encoder_steps: int = 0
    encoder_lr_scale: float = 0.1
    decoder_channels: tuple = (128, 96, 96, 0)  # strides 16, 8, 4 (the logits' resolution)
    size: str = "compact"  # "compact" or "full" (encoder "none" only)
    n_bins: int = 0  # 0: the sRGB gamut bins (gamut_bins)
    temperature: float = 0.38
    rebalance_lambda: float = 0.5
    rebalance_sigma: float = 5.0
    rebalance_images: int = 500
    agree_radius: int = 12  # the guided filter that makes one surface one colour (0: off)
    agree_eps: float = 0.01
    agree_log: bool = True


@register_trainable("zhang", "colours a photo on its own; one colour per surface, and a map of its "
                    "guesses (--confidence)")
class ZhangColorizer(TrainableColorizer):
    Config = ZhangConfig
    name = "zhang"
    multiple = 8

    def __init__(self, config: ZhangConfig | None = None):
        super().__init__(config)
        if self.config.size not in WIDTHS:
            raise ColorizerError(f"zhang size must be one of {sorted(WIDTHS)}, got {self.config.size!r}")
        # with n_bins set (a card, the authors' 313) the bins come from the state dict
        bins = gamut_bins() if self.config.n_bins == 0 else np.zeros((self.config.n_bins, 2), np.float32)
        self.config.n_bins = len(bins)
        self.pretrained = self.config.encoder != "none"
        if self.pretrained:  # a U-Net decoder to bin logits at 1/4 resolution on the encoder
            self.net = EncoderUNet(self.config.encoder, self.config.decoder_channels,
                                   out_channels=len(bins), out_stride=4, out_kernel=1)
            self.multiple = 32
        else:
            self._paper_layout(len(bins))
        self.register_buffer("ab_bins", torch.from_numpy(np.asarray(bins)))
        self.register_buffer("class_weights", torch.ones(len(bins)))
        if not self.pretrained:
            with torch.no_grad():
                self.model_out.weight.copy_(self.ab_bins.T[:, :, None, None] / 110.0)

    def _paper_layout(self, n_bins: int) -> None:
        w1, w2, w3, w4, w8 = WIDTHS[self.config.size]
        self.model1 = _block(1, w1, 2, stride_last=2)
        self.model2 = _block(w1, w2, 2, stride_last=2)
        self.model3 = _block(w2, w3, 3, stride_last=2)
        self.model4 = _block(w3, w4, 3)
        self.model5 = _block(w4, w4, 3, dilation=2)
        self.model6 = _block(w4, w4, 3, dilation=2)
        self.model7 = _block(w4, w4, 3)
        self.model8 = nn.Sequential(nn.ConvTranspose2d(w4, w8, 4, 2, 1), nn.ReLU(True),
                                    nn.Conv2d(w8, w8, 3, 1, 1), nn.ReLU(True),
                                    nn.Conv2d(w8, w8, 3, 1, 1), nn.ReLU(True),
                                    nn.Conv2d(w8, n_bins, 1))
        # the authors' fixed 313 -> 2 decoding layer, kept so that their state dict loads
        self.model_out = nn.Conv2d(n_bins, 2, 1, bias=False)
        self.model_out.weight.requires_grad_(False)

    @classmethod
    def load(cls, name: str, weights: str | None = None):
        """Our safetensors weights, or the authors' ECCV16 ``.pth`` (mapped, loaded safely)."""
        if weights is not None and str(weights).endswith((".pth", ".pt")):
            return load_authors_file(str(weights))
        return super().load(name, weights)

    def logits(self, L: torch.Tensor, frozen_encoder: bool = False) -> torch.Tensor:
        if self.pretrained:
            return self.net(L, frozen_encoder=frozen_encoder)
        x = normalize_l(L)
        for block in (self.model1, self.model2, self.model3, self.model4, self.model5, self.model6,
                      self.model7, self.model8):
            x = block(x)
        return x

    def probabilities(self, L: torch.Tensor) -> torch.Tensor:
        """(N, Q, H/4, W/4) bin distribution per pixel."""
        self.check_input(L)
        return torch.softmax(self.logits(L).float(), dim=1)

    def agreed_probabilities(self, L: torch.Tensor) -> torch.Tensor:
        """:meth:`probabilities` made to agree across surfaces (:func:`agree_distributions`,
        ``agree_radius`` 0: unchanged)."""
        cfg = self.config
        return agree_distributions(self.probabilities(L), L, cfg.agree_radius, cfg.agree_eps, cfg.agree_log)

    def predict_ab(self, L: torch.Tensor, hints: Hints | None = None) -> torch.Tensor:
        ab = annealed_mean(self.agreed_probabilities(L), self.ab_bins, self.config.temperature)
        return F.interpolate(ab, size=L.shape[-2:], mode="bilinear", align_corners=False)

    def predict_confidence(self, L: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) confidence in [0, 1] (see :func:`confidence`)."""
        conf = confidence(self.probabilities(L))
        return F.interpolate(conf, size=L.shape[-2:], mode="bilinear", align_corners=False)

    def fit_data(self, dataset) -> None:
        """Class-rebalancing weights from up to ``rebalance_images`` training images."""
        counts = np.zeros(len(self.ab_bins))
        bins = self.ab_bins.cpu()
        step = max(1, len(dataset) // self.config.rebalance_images)
        for i in range(0, len(dataset), step):
            ab = F.avg_pool2d(dataset[i][1][None], 4)
            idx = torch.cdist(ab.permute(0, 2, 3, 1).reshape(-1, 2), bins).argmin(1)
            counts += np.bincount(idx.numpy(), minlength=len(bins))
        w = rebalancing_weights(counts, bins.numpy(), self.config.rebalance_sigma,
                                self.config.rebalance_lambda)
        self.class_weights.copy_(torch.from_numpy(w))

    def configure_optimizers(self, lr: float) -> dict:
        groups = self.param_groups(self, lr)
        groups[0]["weight_decay"] = 1e-3  # the paper's; not on the pretrained encoder
        return {"zhang": torch.optim.Adam(groups, lr, betas=(0.9, 0.99), weight_decay=0.0)}

    def training_step(self, L, ab, optimizers, step):
        loss = self.loss(L, ab, frozen_encoder=self.encoder_frozen(step))
        optimizers["zhang"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["zhang"].step()
        return {"loss": loss.item()}

    def loss(self, L: torch.Tensor, ab: torch.Tensor, frozen_encoder: bool = False) -> torch.Tensor:
        """Rebalanced multinomial cross-entropy against soft-encoded targets."""
        logits = self.logits(L, frozen_encoder).float()
        target = soft_encode(F.adaptive_avg_pool2d(ab.float(), logits.shape[-2:]), self.ab_bins)
        weight = self.class_weights[target.argmax(1)]  # (N, h, w)
        ce = -(target * F.log_softmax(logits, dim=1)).sum(1)
        return (weight * ce).mean()


def _conv_block_shapes(in_channels: int) -> dict[str, tuple]:
    """Names and shapes of blocks model1-7 in both of the authors' releases (conv + ReLU pairs,
    batch norm last); only model1's input channels differ (1 for ECCV16; 4 for SIGGRAPH17)."""
    shapes = {}
    convs = {1: [(64, in_channels), (64, 64)], 2: [(128, 64), (128, 128)],
             3: [(256, 128), (256, 256), (256, 256)], 4: [(512, 256), (512, 512), (512, 512)],
             5: [(512, 512)] * 3, 6: [(512, 512)] * 3, 7: [(512, 512)] * 3}
    for block, layers in convs.items():
        for i, (cout, cin) in enumerate(layers):
            shapes[f"model{block}.{2 * i}.weight"] = (cout, cin, 3, 3)
            shapes[f"model{block}.{2 * i}.bias"] = (cout,)
        shapes.update(_batch_norm_shapes(f"model{block}.{2 * len(layers)}", layers[-1][0]))
    return shapes


def _batch_norm_shapes(prefix: str, channels: int) -> dict[str, tuple]:
    return {f"{prefix}.{p}": (channels,) for p in ("weight", "bias", "running_mean", "running_var")}


def _load_authors(model: nn.Module, state: dict, source: str) -> None:
    """Load the authors' tensors strictly; batch-norm counters are optional (ours are kept)."""
    from colorizer.weights import load_into

    own = model.state_dict()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    state.update({k: own[k] for k in own if k.endswith("num_batches_tracked")})
    load_into(model, state, source)


#: Parameter names and shapes of the authors' ECCV16 PyTorch release (facts from their code).
def authors_eccv16_shapes() -> dict[str, tuple]:
    shapes = _conv_block_shapes(1)
    shapes.update({"model8.0.weight": (512, 256, 4, 4), "model8.0.bias": (256,),
                   "model8.2.weight": (256, 256, 3, 3), "model8.2.bias": (256,),
                   "model8.4.weight": (256, 256, 3, 3), "model8.4.bias": (256,),
                   "model8.6.weight": (313, 256, 1, 1), "model8.6.bias": (313,),
                   "model_out.weight": (2, 313, 1, 1)})
    return shapes


def from_authors_state_dict(state: dict, source: str = "weights") -> ZhangColorizer:
    """A ``full`` ZhangColorizer holding the authors' ECCV16 weights.

    Their module names are ours; their bins (in their output order) are read back from their
    fixed decoding layer ``model_out`` (bin centres / 110). Batch-norm counters are optional.
    """
    if "model_out.weight" not in state:
        raise ColorizerError(f"{source}: not an ECCV16 state dict (no model_out.weight)")
    bins = state["model_out.weight"][:, :, 0, 0].T.float() * 110.0
    model = ZhangColorizer(ZhangConfig(encoder="none", size="full", n_bins=bins.shape[0]))
    _load_authors(model, {**state, "ab_bins": bins, "class_weights": torch.ones(bins.shape[0])}, source)
    model.card = {"architecture": "ZhangColorizer", "config": {"encoder": "none", "size": "full"},
                  "source": f"authors' ECCV16 release, loaded from {source}"}
    return model


#: Parameter names and shapes of the authors' SIGGRAPH17 PyTorch release (facts from their code):
#: conv blocks model1-7 (ReLU, batch norm last, 4 input channels: L, hint ab, hint mask), a
#: decoder with shortcuts (model8up + model3short8, model9up + model2short9, model10up +
#: model1short10), an unused 529-way model_class and the regression head model_out (tanh).
def authors_siggraph17_shapes() -> dict[str, tuple]:
    shapes = _conv_block_shapes(4)
    decoder = {"model8up.0": (512, 256, 4, 4), "model3short8.0": (256, 256, 3, 3),
               "model8.1": (256, 256, 3, 3), "model8.3": (256, 256, 3, 3),
               "model9up.0": (256, 128, 4, 4), "model2short9.0": (128, 128, 3, 3),
               "model9.1": (128, 128, 3, 3), "model10up.0": (128, 128, 4, 4),
               "model1short10.0": (128, 64, 3, 3), "model10.1": (128, 128, 3, 3),
               "model_class.0": (529, 256, 1, 1), "model_out.0": (2, 128, 1, 1)}
    for name, shape in decoder.items():
        shapes[f"{name}.weight"] = shape
        shapes[f"{name}.bias"] = (shape[1] if "up." in name else shape[0],)
    shapes.update(_batch_norm_shapes("model8.5", 256))
    shapes.update(_batch_norm_shapes("model9.3", 128))
    return shapes


class Siggraph17Colorizer(Colorizer):
    """The authors' SIGGRAPH17 network (Zhang et al. 2017), for users who hold its released
    weights: regression to ab with optional user hints (ab and a 0/1 mask, as in their release).
    It is not trained here; ``--weights siggraph17.pth`` builds it (:func:`load_authors_file`)."""

    name = "zhang"
    multiple = 8
    preferred_size = 256
    uses_hints = True

    def __init__(self):
        super().__init__()
        self.model1 = _block(4, 64, 2)
        self.model2 = _block(64, 128, 2)
        self.model3 = _block(128, 256, 3)
        self.model4 = _block(256, 512, 3)
        self.model5 = _block(512, 512, 3, dilation=2)
        self.model6 = _block(512, 512, 3, dilation=2)
        self.model7 = _block(512, 512, 3)
        self.model8up = nn.Sequential(nn.ConvTranspose2d(512, 256, 4, 2, 1))
        self.model3short8 = nn.Sequential(nn.Conv2d(256, 256, 3, 1, 1))
        self.model8 = nn.Sequential(nn.ReLU(True), nn.Conv2d(256, 256, 3, 1, 1), nn.ReLU(True),
                                    nn.Conv2d(256, 256, 3, 1, 1), nn.ReLU(True), nn.BatchNorm2d(256))
        self.model9up = nn.Sequential(nn.ConvTranspose2d(256, 128, 4, 2, 1))
        self.model2short9 = nn.Sequential(nn.Conv2d(128, 128, 3, 1, 1))
        self.model9 = nn.Sequential(nn.ReLU(True), nn.Conv2d(128, 128, 3, 1, 1), nn.ReLU(True),
                                    nn.BatchNorm2d(128))
        self.model10up = nn.Sequential(nn.ConvTranspose2d(128, 128, 4, 2, 1))
        self.model1short10 = nn.Sequential(nn.Conv2d(64, 128, 3, 1, 1))
        self.model10 = nn.Sequential(nn.ReLU(True), nn.Conv2d(128, 128, 3, 1, 1), nn.LeakyReLU(0.2))
        self.model_class = nn.Sequential(nn.Conv2d(256, 529, 1))  # in their file, not used for colour
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, 1), nn.Tanh())

    def predict_ab(self, L: torch.Tensor, hints: Hints | None = None) -> torch.Tensor:
        from colorizer.color import normalize_ab

        self.check_input(L)
        if hints is None:
            ab, mask = L.new_zeros(L.shape[0], 2, *L.shape[-2:]), torch.zeros_like(L)
        else:
            mask = hints.mask.to(L.dtype)
            ab = normalize_ab(hints.ab.to(L.dtype)) * mask
        c1 = self.model1(torch.cat([normalize_l(L), ab, mask], 1))
        c2 = self.model2(c1[:, :, ::2, ::2])
        c3 = self.model3(c2[:, :, ::2, ::2])
        c7 = self.model7(self.model6(self.model5(self.model4(c3[:, :, ::2, ::2]))))
        c8 = self.model8(self.model8up(c7) + self.model3short8(c3))
        c9 = self.model9(self.model9up(c8) + self.model2short9(c2))
        c10 = self.model10(self.model10up(c9) + self.model1short10(c1))
        return self.model_out(c10) * 110.0


def from_authors_siggraph17(state: dict, source: str = "weights") -> Siggraph17Colorizer:
    """A :class:`Siggraph17Colorizer` holding the authors' SIGGRAPH17 weights (names are theirs)."""
    model = Siggraph17Colorizer()
    _load_authors(model, state, source)
    model.card = {"architecture": "Siggraph17Colorizer",
                  "source": f"authors' SIGGRAPH17 release, loaded from {source}"}
    return model


def load_authors_file(path: str) -> Colorizer:
    """Load the authors' ECCV16 or SIGGRAPH17 .pth safely (tensors only:
    ``torch.load(weights_only=True)``); which one is told by its keys."""
    import warnings

    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: the error says enough
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle content that is not plain tensors, or not a torch file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ColorizerError(f"{path}: not a plain PyTorch state dict; only tensors are loaded, "
                             f"never code ({first})") from None
    if not isinstance(state, dict):
        raise ColorizerError(f"{path}: expected a state dict, got {type(state).__name__}")
    if "model_class.0.weight" in state or "model10.1.weight" in state:
        return from_authors_siggraph17(state, path)
    return from_authors_state_dict(state, path)
