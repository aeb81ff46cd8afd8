"""MobileNetV2 (Sandler et al. 2018), written for our ImageNet-pretrained encoder.

The layout matches TensorFlow's MobileNetV2 1.0, so the converted ImageNet weights in
``../shared/weights`` load unchanged (``scripts/convert_mobilenet_v2.py`` writes them as
safetensors); three details of the original matter for its accuracy and are kept:

* ReLU6 after every expansion and depthwise convolution; projections are linear;
* TensorFlow "SAME" padding: a stride-2 convolution on an even size pads only the right and
  bottom edge (:class:`SameConv2d`);
* RGB input in [-1, 1]. Batch norm is folded into each convolution's bias.

:class:`MobileNetV2Encoder` feeds a colorizer: L (Lab units) goes in, is turned into the grey
sRGB picture it describes (R = G = B) in the encoder's input range, and feature maps come out at
strides 2, 4, 8, 16 and 32 (16, 24, 32, 96 and 320 channels).

    >>> enc = MobileNetV2Encoder()
    >>> [f.shape[1] for f in enc(torch.full((1, 1, 64, 64), 50.0))]
    [16, 24, 32, 96, 320]
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from colorizer.errors import ColorizerError

#: Inverted-residual settings of MobileNetV2 1.0: (expansion t, channels c, repeats n, stride s).
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))

#: Index of the block after which each feature map (strides 2, 4, 8, 16, 32) is taken.
TAPS = (0, 2, 5, 12, 16)

#: Channels of those feature maps.
FEATURE_CHANNELS = (16, 24, 32, 96, 320)


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding (asymmetric when it has to be).

    ``divisible_input``: promise that every input side is a multiple of the stride (true for a
    MobileNetV2 whose input sides are multiples of 32). The padding is then the constant
    ``k - s`` (split as TensorFlow does) rather than a function of the size, which is what
    ``colorize export`` sets so that onnxruntime can fold the padding into the convolution.
    """

    divisible_input = False

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride, padding=0, groups=groups, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if k > 1:
            pads = []
            for size in (x.shape[-1], x.shape[-2]):  # F.pad wants the last dimension first
                total = max(k - s, 0) if self.divisible_input else max((-(-size // s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


def _conv(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True):
    layers = [SameConv2d(cin, cout, kernel, stride, groups)]
    return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if act else layers[0]


class InvertedResidual(nn.Module):
    """Expand (1x1, ReLU6) -> depthwise 3x3 (ReLU6) -> linear projection, with a shortcut when
    the shape is kept."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.expand = _conv(cin, hidden) if expansion != 1 else nn.Identity()
        self.depthwise = _conv(hidden, hidden, 3, stride, groups=hidden)
        self.project = _conv(hidden, cout, act=False)
        self.shortcut = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.shortcut else y


class MobileNetV2(nn.Module):
    """The feature extractor (strides 2-32), and with ``classifier=True`` also the ImageNet
    head (1x1 conv to 1280, global mean, 1001 logits with class 0 = background).

    :meth:`features` takes RGB in [-1, 1], (N, 3, H, W).
    """

    def __init__(self, classifier: bool = False):
        super().__init__()
        self.stem = _conv(3, 32, 3, 2)
        blocks, cin = [], 32
        for t, c, n, s in SETTINGS:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.ModuleList(blocks)
        if classifier:
            self.head = _conv(320, 1280)
            self.classifier = SameConv2d(1280, 1001, 1)

    def features(self, rgb: torch.Tensor, stem_add: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Feature maps at :data:`TAPS`; ``stem_add`` (N, 32, H/2, W/2), optional, is added to the
        stem's output (a hint branch's way in)."""
        x, out = self.stem(rgb), []
        if stem_add is not None:
            x = x + stem_add
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in TAPS:
                out.append(x)
        return out

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (N, 1001); needs ``classifier=True``."""
        x = self.head(self.features(rgb)[-1]).mean(dim=(2, 3), keepdim=True)
        return self.classifier(x).flatten(1)


def grey_rgb_input(L: torch.Tensor) -> torch.Tensor:
    """L (N, 1, H, W) in Lab units -> the grey sRGB picture it describes, in [-1, 1], 3 channels."""
    from colorizer.color import l_to_grey_srgb

    return (l_to_grey_srgb(L) * 2 - 1).expand(-1, 3, -1, -1)


class MobileNetV2Encoder(nn.Module):
    """L (N, 1, H, W) in Lab units -> feature maps at strides 2, 4, 8, 16, 32
    (:data:`FEATURE_CHANNELS`)."""

    channels = FEATURE_CHANNELS
    stem_channels = 32

    def __init__(self):
        super().__init__()
        self.net = MobileNetV2(classifier=False)

    def forward(self, L: torch.Tensor, stem_add: torch.Tensor | None = None) -> list[torch.Tensor]:
        return self.net.features(grey_rgb_input(L), stem_add)

    def load_pretrained(self, path: str | Path) -> None:
        """Load the converted ImageNet weights (``scripts/convert_mobilenet_v2.py``); the
        classifier head in that file is not needed here and is left out."""
        from colorizer.weights import load_into, load_weights

        if not Path(path).is_file():
            raise ColorizerError(
                f"{path}: converted MobileNetV2 weights not found; make them with `python "
                "scripts/convert_mobilenet_v2.py ../shared/weights/mobilenet_v2_1.0_224_ptq.tflite "
                "--out mobilenet_v2.safetensors`")
        state = load_weights(path)[0]
        state = {k: v for k, v in state.items() if not k.startswith(("head.", "classifier."))}
        load_into(self.net, state, str(path))


#: Encoders a trainable model can stand on (``--set encoder=NAME``); "none" is the seed's
#: from-scratch U-Net.
ENCODERS = {"mobilenet_v2": MobileNetV2Encoder}


def build_encoder(name: str) -> MobileNetV2Encoder:
    if name not in ENCODERS:
        raise ColorizerError(f"unknown encoder {name!r}; valid: none, {', '.join(sorted(ENCODERS))}")
    return ENCODERS[name]()
