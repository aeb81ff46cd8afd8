"""ONNX export and the onnxruntime backend: agreement with torch, metadata, staleness, the choice
of backend, and an image path that never imports torch."""

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from clirun import NO_TORCH
from helpers import smooth_photo
from PIL import Image

from colorizer import onnx_backend
from colorizer.api import colorize_picture
from colorizer.cli import cli
from colorizer.errors import ColorizerError
from colorizer.export import export_model
from colorizer.io import Picture, read_image
from colorizer.models.gan import GANColorizer, GANConfig
from colorizer.registry import get_colorizer
from colorizer.resize import downscale_l, working_shape
from colorizer.weights import packaged_weights, save_weights

SAMPLE = Path(str(resources.files("colorizer") / "assets" / "sample_grey.jpg"))
TOLERANCE = 1e-3  # ab units


def torch_ab(model, L: np.ndarray) -> np.ndarray:
    """What the library gives at saturation 1: predict_ab times the chroma gain."""
    with torch.inference_mode():
        return (model.predict_ab(torch.from_numpy(L)) * model.chroma_gain).numpy()


@pytest.fixture
def tiny_gan(tmp_path):
    """A small from-scratch GAN saved with a card (chroma gain 0.9), like a trained run's."""
    torch.manual_seed(0)
    config = GANConfig(encoder="none", channels=(4, 8, 8, 8), disc_channels=4)
    card = {"architecture": "GANColorizer", "chroma_gain": 0.9,
            "config": {"encoder": "none", "channels": [4, 8, 8, 8], "disc_channels": 4}}
    return save_weights(GANColorizer(config), tmp_path / "tiny.safetensors", card)


def test_export_is_checked_compared_and_carries_gain_and_card(tiny_gan, tmp_path):
    out = tmp_path / "tiny.onnx"
    report = export_model("gan", out, weights=tiny_gan, dynamic=True)
    assert report["max_abs_diff"] <= TOLERANCE and out.is_file()
    net = onnx_backend.load(out, source=tiny_gan)
    assert net.name == "gan" and net.chroma_gain == pytest.approx(0.9) and net.multiple == 16
    assert net.card["config"]["channels"] == [4, 8, 8, 8] and net.static_shape is None
    model = get_colorizer("gan", weights=str(tiny_gan), device="cpu")
    L = np.random.default_rng(0).uniform(0, 100, (3, 1, 48, 80)).astype(np.float32)  # any N, H, W
    got = net.predict_ab(L)
    assert got.shape == (3, 2, 48, 80)
    assert np.abs(got - torch_ab(model, L)).max() <= TOLERANCE
    with pytest.raises(ValueError, match="multiples of 16"):
        net.predict_ab(L[..., :40, :70])
    with pytest.raises(FileExistsError):
        export_model("gan", out, weights=tiny_gan)


def test_fixed_shape_export(tiny_gan, tmp_path):
    export_model("gan", tmp_path / "fixed.onnx", weights=tiny_gan, size=64, opset=18)
    net = onnx_backend.load(tmp_path / "fixed.onnx")
    assert net.static_shape == (64, 64)
    with pytest.raises(ValueError, match="exported without --dynamic"):
        net.predict_ab(np.zeros((1, 1, 32, 64), np.float32))
    out = onnx_backend.colorize_picture(Picture.from_array(smooth_photo(50, 90)), net)
    assert out.pixels.shape == (50, 90, 3)  # resized to 64x64 for the model, back to full size


def test_stale_export_is_refused_or_replaced_by_torch(tiny_gan, tmp_path):
    out = tiny_gan.with_suffix(".onnx")  # beside the weights: what --backend auto looks for
    export_model("gan", out, weights=tiny_gan, dynamic=True)
    assert onnx_backend.load_for_job("auto", "gan", tiny_gan) is not None
    card = json.loads(tiny_gan.with_suffix(".json").read_text())
    tiny_gan.with_suffix(".json").write_text(json.dumps({**card, "chroma_gain": 1.2}))  # recalibrated
    with pytest.raises(ColorizerError, match="chroma_gain differs"):
        onnx_backend.load(out, source=tiny_gan)
    warnings = []
    assert onnx_backend.load_for_job("auto", "gan", tiny_gan, warn=warnings.append) is None
    assert "export it again" in warnings[0]
    with pytest.raises(ColorizerError, match="chroma_gain differs"):
        onnx_backend.load_for_job("onnx", "gan", tiny_gan)
    tiny_gan.with_suffix(".json").write_text(json.dumps(card))
    save_weights(GANColorizer(GANConfig(encoder="none", channels=(4, 8, 8, 8), disc_channels=4)),
                 tiny_gan, card)  # retrained
    with pytest.raises(ColorizerError, match="other weights"):
        onnx_backend.load(out, source=tiny_gan)


def test_choice_of_backend(tiny_gan, tmp_path):
    choose = onnx_backend.choose_backend
    assert choose("auto", "default")[0] == "onnx"  # the default model ships its ONNX export
    assert choose("auto", "default", device="cuda")[0] == "torch"
    assert choose("auto", "default", torch_only="--samples")[0] == "torch"
    assert choose("auto", "gray")[0] == "torch"  # no ONNX file for it
    assert choose("auto", "gan", tiny_gan)[0] == "torch"  # no FILE.onnx beside these weights
    assert choose("torch", "default")[0] == "torch"
    with pytest.raises(ColorizerError, match="no ONNX file for model 'vae'"):
        choose("onnx", "vae")
    with pytest.raises(ColorizerError, match="--samples needs the torch backend"):
        choose("onnx", "default", torch_only="--samples")
    with pytest.raises(ColorizerError, match="runs with --backend onnx"):
        choose("torch", "gan", tmp_path / "x.onnx")


def test_shipped_onnx_is_the_shipped_safetensors():
    """The packaged gan.onnx was exported from the packaged weights and card, and agrees with
    them in onnxruntime: rerun `colorize export --model gan --dynamic --overwrite --out
    src/colorizer/assets/gan.onnx` (or scripts/ship_model.py) whenever they change."""
    name = onnx_backend.resolve_default("default")
    onnx_file = onnx_backend.packaged_onnx(name)
    assert onnx_file.is_file(), "the default model's ONNX export is missing from the package"
    assert onnx_file.stat().st_size <= 15e6
    net = onnx_backend.load(onnx_file, source=packaged_weights(name))  # raises if stale
    model = get_colorizer(name, device="cpu")
    L = read_image(SAMPLE).lightness()
    for shape in (working_shape(*L.shape, 256, net.multiple), (224, 224)):
        small = downscale_l(L, shape)[None, None]
        assert np.abs(net.predict_ab(small) - torch_ab(model, small)).max() <= TOLERANCE


def test_onnx_path_gives_the_torch_path_picture():
    pic = read_image(SAMPLE)
    net = onnx_backend.load(onnx_backend.packaged_onnx("gan"))
    model = get_colorizer("gan", device="cpu")
    for saturation in (1.0, 0.6):
        fast = onnx_backend.colorize_picture(pic, net, saturation=saturation).pixels.astype(int)
        slow = colorize_picture(pic, model, saturation=saturation).pixels.astype(int)
        assert np.abs(fast - slow).max() <= 1 and (fast == slow).mean() > 0.999


@pytest.mark.slow
def test_onnx_matches_torch_on_the_eval_photos(shared_data):
    files = sorted((shared_data / "photos" / "eval").rglob("*.png"))[::7][:4]
    net = onnx_backend.load(onnx_backend.packaged_onnx("gan"))
    model = get_colorizer("gan", device="cpu")
    for f in files:
        L = read_image(f).lightness()
        small = downscale_l(L, working_shape(*L.shape, 256, net.multiple))[None, None]
        assert np.abs(net.predict_ab(small) - torch_ab(model, small)).max() <= TOLERANCE, f.name




def test_image_path_never_imports_torch(tmp_path):
    """`colorize image` with the default model and backend runs in onnxruntime: torch is never
    imported, not even tried (an install without torch would work), on 8-bit JPEG and PNG."""
    Image.fromarray(smooth_photo(60, 80)).save(tmp_path / "b.png")
    args = ["image", str(SAMPLE), str(tmp_path / "b.png"), "--out-dir", str(tmp_path / "out"),
            "--saturation", "1.2"]
    r = subprocess.run([sys.executable, "-c", NO_TORCH, *args], capture_output=True, text=True,
                       timeout=300)
    assert r.stdout.split("\n")[0] == "0 [] False", r.stdout + r.stderr
    assert "done 2" in r.stderr
    out = np.asarray(Image.open(tmp_path / "out" / "sample_grey.jpg"))
    assert out.shape == (400, 600, 3) and np.ptp(out.astype(int), axis=2).mean() > 3  # coloured


def test_export_command(tmp_path):
    r = CliRunner().invoke(cli, ["export", "--model", "gray", "--dynamic", "--out", str(tmp_path / "g.onnx")])
    assert r.exit_code == 0, r.output
    assert "onnx.checker passed" in r.output and (tmp_path / "g.onnx").is_file()
    r = CliRunner().invoke(cli, ["export", "--model", "levin", "--out", str(tmp_path / "l.onnx")])
    assert r.exit_code == 1 and "takes colour hints" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["image", str(SAMPLE), "--model", "vae", "--backend", "onnx",
                                 "-o", str(tmp_path / "v.png")])
    assert r.exit_code == 1 and "colorize export --model vae" in r.output


# --- the denoiser ------------------------------------------------------------------------------


def _noisy_grey(shape, sigma=20.0, seed=0) -> np.ndarray:
    from colorizer.damage import add_gaussian_noise

    grey = smooth_photo(*shape)[..., 1]
    return add_gaussian_noise(grey, sigma, np.random.default_rng(seed))


def test_shipped_denoiser_onnx_is_the_shipped_safetensors():
    """The packaged denoise.onnx was exported from the packaged denoiser (rerun `colorize export
    --model denoise --dynamic --overwrite --out src/colorizer/assets/denoise.onnx` when it changes),
    and through onnxruntime gives the torch denoiser's picture, for any size (padded to the net's
    multiple and cropped alike), grey or colour, at any strength."""
    from colorizer.api import denoise_picture
    from colorizer.registry import get_denoiser

    onnx_file = onnx_backend.packaged_onnx("denoise")
    net = onnx_backend.load(onnx_file, source=packaged_weights("denoise"))  # raises if stale
    assert isinstance(net, onnx_backend.OnnxDenoiser) and net.name == "denoise"
    model = get_denoiser("denoise", device="cpu")
    colour = smooth_photo(37, 53)
    for pic in (Picture.from_array(_noisy_grey((61, 83))), Picture.from_array(_noisy_grey((9, 5))),
                Picture.from_array(colour)):
        for strength in (1.0, 0.5):
            fast = onnx_backend.denoise_picture(pic, net, strength).pixels.astype(int)
            slow = denoise_picture(pic, model, strength).pixels.astype(int)
            assert fast.shape == slow.shape == pic.pixels.shape
            assert np.abs(fast - slow).max() <= 1 and (fast == slow).mean() > 0.99
    grey_out = onnx_backend.denoise_picture(Picture.from_array(_noisy_grey((61, 83))), net).pixels
    assert (grey_out[..., 0] == grey_out[..., 1]).all() and (grey_out[..., 0] == grey_out[..., 2]).all()
    colour_out = onnx_backend.denoise_picture(Picture.from_array(colour), net).pixels
    assert np.ptp(colour_out.astype(int), axis=2).mean() > 3  # colour kept


def test_denoise_path_never_imports_torch(tmp_path):
    """`colorize denoise` and `colorize image --denoise` run in onnxruntime by default: torch is
    never imported, and the noise really goes down."""
    from colorizer.models.denoise import psnr_u8

    clean = smooth_photo(64, 96)[..., 1]
    noisy = _noisy_grey((64, 96), sigma=25)
    Image.fromarray(noisy).save(tmp_path / "n.png")
    for args in (["denoise", str(tmp_path / "n.png"), "-o", str(tmp_path / "d.png")],
                 ["image", str(tmp_path / "n.png"), "--denoise", "-o", str(tmp_path / "c.png")]):
        r = subprocess.run([sys.executable, "-c", NO_TORCH, *args], capture_output=True, text=True,
                           timeout=300)
        assert r.stdout.split("\n")[0] == "0 [] False", r.stdout + r.stderr
        assert "done 1" in r.stderr
    denoised = np.asarray(Image.open(tmp_path / "d.png"))
    assert denoised.ndim == 2 or (np.ptp(denoised.astype(int), axis=2) == 0).all()
    grey = denoised if denoised.ndim == 2 else denoised[..., 0]
    assert psnr_u8(grey, clean) > psnr_u8(noisy, clean) + 3


def test_denoiser_and_colorizer_files_are_not_mixed_up(tmp_path):
    onnx_file = str(onnx_backend.packaged_onnx("denoise"))
    r = CliRunner().invoke(cli, ["image", str(SAMPLE), "--weights", onnx_file, "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 1 and "holds the denoiser 'denoise', not a colorizer" in r.output
    gan_file = str(onnx_backend.packaged_onnx("gan"))
    r = CliRunner().invoke(cli, ["denoise", str(SAMPLE), "--weights", gan_file,
                                 "-o", str(tmp_path / "y.png")])
    assert r.exit_code == 1 and "holds the colorizer 'gan', not a denoiser" in r.output
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()


def test_export_command_takes_a_denoiser(tmp_path):
    out = tmp_path / "d.onnx"
    r = CliRunner().invoke(cli, ["export", "--model", "denoise", "--dynamic", "--out", str(out)])
    assert r.exit_code == 0 and "onnx.checker passed" in r.output, r.output
    net = onnx_backend.load(out)
    assert isinstance(net, onnx_backend.OnnxDenoiser)
    assert json.loads(net.metadata["colorizer.card"]) == json.loads(
        packaged_weights("denoise").with_suffix(".json").read_text())
