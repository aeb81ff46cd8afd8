"""The pretrained encoder: TF padding, grey input, feature strides, the weight conversion, and its
use in the trainable models (freezing, learning rates, loading)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import load_script

from colorizer.models import mobilenet
from colorizer.models.gan import GANColorizer, GANConfig

TFLITE = Path(__file__).resolve().parents[2] / "shared" / "weights" / "mobilenet_v2_1.0_224_ptq.tflite"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "convert_mobilenet_v2.py"


def test_same_padding_pads_right_and_bottom_on_even_sizes():
    conv = mobilenet.SameConv2d(1, 1, 3, stride=2)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    # 4x4 of ones, stride 2: TF pads one row/column at the bottom/right only, so the first window
    # is all inside (9) and the last one overlaps the padding (6 at the edges, 4 in the corner)
    out = conv(torch.ones(1, 1, 4, 4))
    assert out[0, 0].tolist() == [[9.0, 6.0], [6.0, 4.0]]
    # odd size: one on each side, as PyTorch's symmetric padding
    assert conv(torch.ones(1, 1, 5, 5))[0, 0].tolist() == [[4.0, 6.0, 4.0], [6.0, 9.0, 6.0], [4.0, 6.0, 4.0]]


def test_constant_padding_is_same_padding_when_sides_are_multiples_of_32():
    """What colorize export sets (divisible_input) changes nothing for the sizes it promises."""
    torch.manual_seed(0)
    encoder = mobilenet.MobileNetV2Encoder().eval()
    L = torch.rand(1, 1, 64, 96) * 100
    with torch.no_grad():
        want = encoder(L)
        for module in encoder.modules():
            if isinstance(module, mobilenet.SameConv2d):
                module.divisible_input = True
        got = encoder(L)
    assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))


def test_grey_input_range():
    L = torch.tensor([0.0, 50.0, 100.0]).view(1, 1, 1, 3)
    x = mobilenet.grey_rgb_input(L)
    assert x.shape == (1, 3, 1, 3) and torch.equal(x[:, 0], x[:, 2])
    # L 50 is sRGB 0.466 (119/255): what a grey photo of that lightness stores
    assert x[0, 0, 0].tolist() == pytest.approx([-1.0, 2 * 0.4663 - 1, 1.0], abs=2e-3)


@pytest.mark.parametrize("size", [(64, 64), (50, 70)])
def test_encoder_features_at_five_strides(size):
    enc = mobilenet.MobileNetV2Encoder().eval()
    with torch.no_grad():
        feats = enc(torch.rand(2, 1, *size) * 100)
    assert [f.shape[1] for f in feats] == list(mobilenet.FEATURE_CHANNELS)
    for f, stride in zip(feats, (2, 4, 8, 16, 32), strict=True):
        assert f.shape[-2:] == tuple(-(-s // stride) for s in size)


def test_pretrained_generator_output_and_frozen_encoder():
    torch.manual_seed(0)
    model = GANColorizer(GANConfig(freeze_encoder_steps=2, disc_channels=4, encoder_lr_scale=0.1))
    opts = model.configure_optimizers(1e-3)
    assert [g["lr"] for g in opts["gen"].param_groups] == pytest.approx([1e-3, 1e-4])
    L, ab = torch.rand(2, 1, 64, 64) * 100, torch.randn(2, 2, 64, 64) * 30
    enc = [p.detach().clone() for p in model.gen.encoder.parameters()]
    dec = [p.detach().clone() for p in model.gen.ups.parameters()]
    model.training_step(L, ab, opts, step=0)  # frozen: only the decoder moves
    assert all(torch.equal(a, b) for a, b in zip(enc, model.gen.encoder.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(dec, model.gen.ups.parameters(), strict=True))
    model.training_step(L, ab, opts, step=2)  # then fine-tuned
    assert not all(torch.equal(a, b) for a, b in zip(enc, model.gen.encoder.parameters(), strict=True))
    model.eval()
    with torch.no_grad():
        out = model.predict_ab(torch.rand(1, 1, 48, 80) * 100)
    assert out.shape == (1, 2, 48, 80) and out.abs().max() <= 110


def test_from_scratch_configuration_stays_available():
    model = GANColorizer(GANConfig(encoder="none", channels=(4, 8, 8, 8), disc_channels=4))
    assert not any(isinstance(m, mobilenet.MobileNetV2Encoder) for m in model.modules())
    with pytest.raises(Exception, match="unknown encoder"):
        GANColorizer(GANConfig(encoder="resnet"))


def _convert(tmp_path):
    if not TFLITE.exists():
        pytest.skip(f"{TFLITE} is absent (../shared/weights)")
    if importlib.util.find_spec("tflite") is None:
        pytest.skip("the tflite reader is not installed (pip install -e '.[test]')")
    module = load_script("scripts/convert_mobilenet_v2.py")
    out = tmp_path / "mobilenet_v2.safetensors"
    assert module.main([str(TFLITE), "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_converted_weights_classify_imagenet_photos(tmp_path, shared_data):
    """The conversion is right when the float network classifies ImageNet photos in colour:
    the n-th of the 1000 sample photos (sorted by name) is class n (+1 for background)."""
    from PIL import Image

    from colorizer.weights import load_weights

    net = mobilenet.MobileNetV2(classifier=True)
    net.load_state_dict(load_weights(_convert(tmp_path))[0])
    net.eval()
    files = sorted((shared_data / "photos" / "train" / "imagenet").iterdir())
    assert len(files) == 1000
    correct = 0
    with torch.no_grad():
        for start in range(0, len(files), 50):
            batch = []
            for f in files[start:start + 50]:
                im = Image.open(f).convert("RGB")
                scale = 256 / min(im.size)
                im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR)
                left, top = (im.width - 224) // 2, (im.height - 224) // 2
                im = im.crop((left, top, left + 224, top + 224))
                batch.append(torch.from_numpy(np.array(im)).permute(2, 0, 1).float() / 127.5 - 1)
            pred = net(torch.stack(batch)).argmax(1) - 1
            correct += int((pred == torch.arange(start, start + len(batch))).sum())
    assert correct / len(files) >= 0.85, correct


@pytest.mark.slow
def test_models_start_from_the_converted_encoder(tmp_path):
    from colorizer.train import TrainConfig, build_model

    path = _convert(tmp_path)
    for name in ("gan", "zhang", "vae"):
        model = build_model(TrainConfig(model=name, model_config={"encoder_weights": str(path)}))
        model.load_pretrained()
        enc = next(m for m in model.modules() if isinstance(m, mobilenet.MobileNetV2Encoder))
        from colorizer.weights import load_weights

        ref = load_weights(path)[0]
        assert torch.equal(enc.net.stem[0].weight, ref["stem.0.weight"]), name
    bad = build_model(TrainConfig(model="gan", model_config={"encoder_weights": str(tmp_path / "no")}))
    with pytest.raises(Exception, match="convert_mobilenet_v2"):
        bad.load_pretrained()


def test_conversion_script_has_a_help():
    import subprocess

    r = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--out" in r.stdout
