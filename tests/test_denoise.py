"""The denoiser (issue 17): damage, model contract, blindness, commands, evaluate --noise."""

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers import load_script, smooth_photo
from PIL import Image

from colorizer.cli import cli
from colorizer.color import rgb2lab
from colorizer.damage import DamageConfig, add_gaussian_noise, damage_grey, film_grain, grey_to_l, grey_u8
from colorizer.errors import ColorizerError
from colorizer.models.denoise import DenoiseAutoencoder, DenoiseConfig, psnr_u8
from colorizer.registry import get_colorizer, get_denoiser, list_colorizers, list_denoisers
from colorizer.weights import packaged_weights, save_weights

TINY = DenoiseConfig(widths=(4, 8), blocks=(1, 1), unshuffle=2)
SHIPPED = packaged_weights("denoise").exists()


def tiny(seed=0, identity=False) -> DenoiseAutoencoder:
    torch.manual_seed(seed)
    model = DenoiseAutoencoder(TINY)
    if not identity:  # the tail starts at zero (the identity); make it change L
        torch.nn.init.normal_(model.net.tail.weight, std=0.05)
    return model.eval()


@pytest.fixture
def tiny_weights(tmp_path):
    return save_weights(tiny(), tmp_path / "tiny.safetensors",
                        {"architecture": "DenoiseAutoencoder", "name": "denoise", "config": asdict(TINY)})


def test_gaussian_noise_is_seeded_clipped_uint8():
    grey = np.full((100, 100), 128, np.uint8)
    a = add_gaussian_noise(grey, 25, np.random.default_rng(3))
    assert a.dtype == np.uint8 and np.array_equal(a, add_gaussian_noise(grey, 25, np.random.default_rng(3)))
    assert 24 < a.astype(float).std() < 26
    white = add_gaussian_noise(np.full((50, 50), 250, np.uint8), 25, np.random.default_rng(0))
    assert white.max() == 255 and 230 < white.mean() < 250  # clipped, as a saved scan


def test_film_grain_is_correlated_and_strongest_in_mid_tones():
    rng = np.random.default_rng(0)
    ramp = np.concatenate([np.full((100, 50), 5.0, np.float32), np.full((100, 50), 128.0, np.float32)], 1)
    noise = film_grain(ramp, 20, 1.5, rng) - ramp
    dark, mid = noise[:, :50], noise[:, 50:]
    assert mid.std() > 2.5 * dark.std()
    # neighbouring pixels correlate (grain), unlike white noise
    assert np.corrcoef(mid[:, :-1].ravel(), mid[:, 1:].ravel())[0, 1] > 0.5


def test_damage_grey_types_and_the_clean_case():
    grey = grey_u8(np.linspace(0, 100, 64 * 64, dtype=np.float32).reshape(64, 64))
    out = damage_grey(grey, np.random.default_rng(0))
    assert out.shape == grey.shape and out.dtype == np.uint8
    none = DamageConfig(p_gaussian=0, p_grain=0, p_jpeg=0, p_blur=0)
    assert np.array_equal(damage_grey(grey, np.random.default_rng(0), none), grey)
    assert np.abs(grey_to_l(grey) - np.linspace(0, 100, 64 * 64).reshape(64, 64)).max() < 0.5


def test_model_contract_any_size_and_identity_start():
    model = tiny(identity=True)
    L = torch.rand(2, 1, 37, 53) * 100
    assert torch.allclose(model(L), L, atol=1e-4)  # zero-initialised tail: no noise estimated
    model = tiny()
    out = model.denoise_l(L)
    assert out.shape == L.shape and 0 <= out.min() and out.max() <= 100
    assert torch.allclose(model.denoise_l(L, strength=0), L.clamp(0, 100))
    half = model.denoise_l(L, strength=0.5)
    assert torch.allclose(half, (L + 0.5 * (model(L) - L)).clamp(0, 100), atol=1e-4)


def test_training_step_learns_and_logs():
    model = DenoiseAutoencoder(TINY)
    model.train()
    opt = model.configure_optimizers(1e-2)
    L = torch.from_numpy(np.stack([grey_to_l(smooth_photo(32, 32, s)[..., 0]) for s in range(4)]))[:, None]
    before = [p.detach().clone() for p in model.parameters()]
    np.random.seed(0)
    logs = [model.training_step(L, None, opt, step) for step in range(3)]
    assert set(logs[0]) == {"loss", "psnr"} and all(np.isfinite(v) for v in logs[-1].values())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    noisy, clean = model.damage_batch(L, np.random.default_rng(0))
    assert noisy.shape == L.shape and clean.shape == L.shape and 0 <= clean.min() <= clean.max() <= 1


def test_loss_option_mse_or_charbonnier():
    """loss="mse" is the mean squared error (what PSNR measures); the default is Charbonnier, a
    smooth L1; an unknown name is refused when the model is built, before any training."""
    out, clean = torch.tensor([0.5, 0.7]), torch.tensor([0.4, 0.4])
    mse = DenoiseAutoencoder(DenoiseConfig(widths=(4, 8), blocks=(1, 1), unshuffle=2, loss="mse"))
    assert mse._loss(out, clean).item() == pytest.approx((0.01 + 0.09) / 2)
    assert tiny()._loss(out, clean).item() == pytest.approx((0.1 + 0.3) / 2, abs=1e-5)
    with pytest.raises(ValueError, match="unknown denoise loss 'l3'"):
        DenoiseAutoencoder(DenoiseConfig(widths=(4, 8), blocks=(1, 1), unshuffle=2, loss="l3"))


def test_blind_and_independent_of_the_batch():
    """No noise level goes in, and a photo's result does not depend on what it is batched with
    (no batch statistics): the same photo alone or next to a very noisy one."""
    import inspect

    model = tiny()
    assert list(inspect.signature(model.denoise_l).parameters) == ["L", "strength"]
    rng = np.random.default_rng(0)
    clean = smooth_photo(48, 48, 0)[..., 0]
    a = torch.from_numpy(grey_to_l(add_gaussian_noise(clean, 10, rng)))[None, None]
    b = torch.from_numpy(grey_to_l(add_gaussian_noise(clean, 50, rng)))[None, None]
    assert torch.allclose(model.denoise_l(a), model.denoise_l(torch.cat([a, b]))[:1], atol=1e-5)


def test_registry_keeps_denoisers_apart_from_colorizers(tiny_weights):
    assert "denoise" in list_denoisers() and "denoise" not in list_colorizers()
    with pytest.raises(ColorizerError, match="not a colorizer"):
        get_colorizer("denoise")
    with pytest.raises(ColorizerError, match="unknown denoiser"):
        get_denoiser("gan")
    loaded = get_denoiser(weights=str(tiny_weights))
    L = torch.rand(1, 1, 16, 16) * 100
    assert torch.allclose(loaded.denoise_l(L), tiny().denoise_l(L), atol=1e-5)


def test_train_loop_validates_a_denoiser_without_colour_calibration(tmp_path):
    from colorizer.train import TrainConfig, train

    root = tmp_path / "ds"
    root.mkdir()
    grey = np.stack([smooth_photo(32, 32, s)[..., 0] for s in range(20)])
    np.save(root / "l.npy", np.round(grey_to_l_batch(grey) * 2.55).astype(np.uint8))
    np.save(root / "ab.npy", np.full((20, 32, 32, 2), 128, np.uint8))
    np.save(root / "split.npy", (np.arange(20) % 5 == 0).astype(np.uint8))
    cfg = TrainConfig(model="denoise", data=[str(root)], out=str(tmp_path / "run"), epochs=1, batch_size=4,
                      size=32, threads=1, val_images=3, model_config=asdict(TINY))
    final = train(cfg, progress=False)
    card = json.loads(final.with_suffix(".json").read_text())
    assert card["architecture"] == "DenoiseAutoencoder" and card["steps"] == 4
    assert card["calibration"] == {} and card["config"]["widths"] == [4, 8]
    log = (tmp_path / "run" / "log.csv").read_text()
    assert "val_psnr_noisy" in log and "val_psnr," in log and "val_auc" not in log
    assert get_denoiser(weights=str(final)).config.widths == (4, 8)


def grey_to_l_batch(grey):
    return np.stack([grey_to_l(g) for g in grey])


def test_colour_training_damage_option(tmp_path):
    from colorizer.data import LabDataset

    root = tmp_path / "ds"
    root.mkdir()
    np.save(root / "l.npy", np.full((4, 32, 32), 128, np.uint8))
    np.save(root / "ab.npy", np.full((4, 32, 32, 2), 140, np.uint8))
    np.save(root / "split.npy", np.zeros(4, np.uint8))
    stds = {}
    for damage in ("none", "old"):
        ds = LabDataset([root], "train", augment=True, damage=damage, seed=1)
        stds[damage] = float(np.mean([ds[i][0].std() for i in range(4)]))
        assert torch.allclose(ds[0][1], torch.full((2, 32, 32), 12.0), atol=1e-4)  # colour untouched
    assert stds["none"] < 1e-3 and stds["old"] > 1
    with pytest.raises(ColorizerError, match="damage"):
        LabDataset([root], damage="heavy")


def test_denoise_cli_grey_and_colour(tmp_path, tiny_weights):
    rng = np.random.default_rng(0)
    grey = add_gaussian_noise(smooth_photo(40, 56, 1)[..., 0], 20, rng)
    colour = smooth_photo(40, 56, 2)
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(colour).save(tmp_path / "c.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    runner = CliRunner()
    r = runner.invoke(cli, ["denoise", str(tmp_path / "g.png"), str(tmp_path / "c.png"),
                            str(tmp_path / "bad.png"), "--weights", str(tiny_weights)])
    assert r.exit_code == 1 and "done 2, skipped 0, failed 1" in r.output
    assert [line for line in r.output.splitlines() if line.startswith("error:")][0].count("bad.png") == 1
    assert "Traceback" not in r.output
    g = np.asarray(Image.open(tmp_path / "g_denoised.png").convert("RGB"))
    assert g.shape == (40, 56, 3)
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 0], g[..., 2])
    assert not np.array_equal(g[..., 0], grey)
    c = np.asarray(Image.open(tmp_path / "c_denoised.png").convert("RGB"))
    lab_in, lab_out = rgb2lab(colour), rgb2lab(c)
    assert np.abs(lab_out[..., 0] - lab_in[..., 0]).mean() > 0.05  # L changed
    assert np.median(np.abs(lab_out[..., 1:] - lab_in[..., 1:])) < 1.0  # ab kept (8-bit rounding)
    first = (tmp_path / "g_denoised.png").read_bytes()
    r = runner.invoke(cli, ["denoise", str(tmp_path / "g.png"), "--weights", str(tiny_weights),
                            "--strength", "0.5"])
    assert "exists, not overwritten" in r.output and (tmp_path / "g_denoised.png").read_bytes() == first
    r = runner.invoke(cli, ["denoise", str(tmp_path), "--out-dir", str(tmp_path / "o"), "--weights",
                            str(tiny_weights), "--strength", "0"])
    assert (tmp_path / "o" / "g.png").exists()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o" / "g.png").convert("L")), grey)  # strength 0


@pytest.mark.skipif(not SHIPPED, reason="no shipped denoise weights")
def test_image_denoise_keeps_the_denoised_l(tmp_path):
    from colorizer.api import denoise_l
    from colorizer.io import read_image

    clean = smooth_photo(64, 64, 3)[..., 0]
    noisy = add_gaussian_noise(clean, 25, np.random.default_rng(0))
    Image.fromarray(noisy).save(tmp_path / "n.png")
    r = CliRunner().invoke(cli, ["image", str(tmp_path / "n.png"), "--model", "gray", "--denoise",
                                 "-o", str(tmp_path / "out.png")])
    assert r.exit_code == 0, r.output
    out_l = rgb2lab(np.asarray(Image.open(tmp_path / "out.png").convert("RGB")))[..., 0]
    expected = denoise_l(read_image(tmp_path / "n.png").lightness(), get_denoiser())
    assert np.abs(out_l - expected).max() < 0.6  # 8-bit rounding
    assert psnr_u8(grey_u8(out_l), clean) > psnr_u8(noisy, clean) + 2


def test_evaluate_noise_and_denoise(tmp_path, monkeypatch, tiny_weights):
    src = tmp_path / "photos"
    src.mkdir()
    for i in range(2):
        Image.fromarray(smooth_photo(48, 48, seed=i)).save(src / f"p{i}.png")
    runs = {}
    for label, extra in (("clean", []), ("noisy", ["--noise", "25"]), ("again", ["--noise", "25"])):  # noqa: B007
        out = tmp_path / label
        r = CliRunner().invoke(cli, ["evaluate", "--images", str(src), "--size", "48", "--out", str(out),
                                     "--models", "gray", *extra])
        assert r.exit_code == 0, r.output
        runs[label] = json.loads((out / "summary.json").read_text())
    assert runs["noisy"]["models"] == runs["again"]["models"]  # seeded
    ssim = {k: runs[k]["models"]["gray"]["ssim"]["mean"] for k in ("clean", "noisy")}
    assert ssim["noisy"] < ssim["clean"] - 0.2
    assert "denoise" not in runs["noisy"]
    # --denoise with given weights (EvalConfig.weights["denoise"]); the tiny net changes L a little
    from colorizer.evaluate import EvalConfig, evaluate

    summary = evaluate(EvalConfig(models=["gray"], images=[str(src)], out=str(tmp_path / "d"), size=48,
                                  noise=25, denoise=True, weights={"denoise": str(tiny_weights)}),
                       progress=False, say=lambda line: None)
    d = summary["denoise"]
    assert d["images"] == 2 and d["sigma"] == 25 and 15 < d["psnr_input"] < 25
    assert d["psnr_denoised"] != d["psnr_input"]
    assert "Denoising PSNR" in (tmp_path / "d" / "summary.md").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED, reason="no shipped denoise weights")
def test_shipped_weights_gain_psnr_on_real_photos(shared_data):
    from colorizer.api import denoise_picture
    from colorizer.io import Picture, read_image

    net = get_denoiser()
    photos = sorted((shared_data / "photos" / "eval" / "set14").glob("*.png"))[:3]
    # mean gain in dB over the photos (at sigma 15 the baboon's fur loses a little: see the card)
    for sigma, gain in ((15, 1.0), (25, 3.0), (50, 6.0)):
        gains = []
        for i, path in enumerate(photos):
            clean = grey_u8(read_image(path).lightness())
            noisy = add_gaussian_noise(clean, sigma, np.random.default_rng(i))
            out = denoise_picture(Picture.from_array(noisy), net).to_array(np.uint8)[..., 0]
            gains.append(psnr_u8(out, clean) - psnr_u8(noisy, clean))
        assert np.mean(gains) > gain, (sigma, gains)


def test_denoise_passes_average_shifted_copies_in_place():
    """Each shifted copy is cut back into register: a run that marks its own 4x4 grid shows the
    marks of both passes at half weight, and an identity run gives L back for any count."""
    from colorizer.resize import SPIN_SHIFTS, denoise_passes

    L = np.random.default_rng(0).uniform(10, 90, (13, 18)).astype(np.float32)
    for passes in range(1, len(SPIN_SHIFTS) + 1):
        assert np.allclose(denoise_passes(L, lambda x: x, passes=passes), L, atol=1e-5)

    def grid(x):
        out = x.copy()
        out[::4, ::4] += 8
        return out

    diff = denoise_passes(L, grid, passes=2) - L
    expected = np.zeros_like(L)
    expected[::4, ::4] += 4  # the unshifted copy's grid
    expected[2::4, 2::4] += 4  # the copy shifted by (2, 2): its grid lands 2 px up and left
    assert np.allclose(diff, expected, atol=1e-4)
    assert np.allclose(denoise_passes(L, grid, strength=0.5, passes=1) - L, np.where(
        (np.arange(13)[:, None] % 4 == 0) & (np.arange(18) % 4 == 0), 4, 0), atol=1e-4)
    tiny_l = np.full((1, 2), 50, np.float32)  # too small to mirror: edges repeated, no error
    assert np.allclose(denoise_passes(tiny_l, lambda x: x, passes=8), tiny_l)
    for bad in (0, 9):
        with pytest.raises(ColorizerError, match="passes must be 1 to 8"):
            denoise_passes(L, grid, passes=bad)


def test_passes_reach_the_result(tmp_path):
    """A second shifted pass changes a net's result, and `colorize denoise --passes` reaches the
    same code as the API."""
    from colorizer.api import denoise_l

    model = tiny(seed=3)
    clean = smooth_photo(64, 64, 1)[..., 0]
    noisy = add_gaussian_noise(clean, 25, np.random.default_rng(1))
    one, two = (denoise_l(grey_to_l(noisy), model, passes=p) for p in (1, 2))
    assert not np.allclose(one, two)
    Image.fromarray(noisy).save(tmp_path / "n.png")
    weights = save_weights(model, tmp_path / "t.safetensors",
                           {"architecture": "DenoiseAutoencoder", "name": "denoise", "config": asdict(TINY)})
    for p in (1, 2):
        r = CliRunner().invoke(cli, ["denoise", str(tmp_path / "n.png"), "-o", str(tmp_path / f"p{p}.png"),
                                     "--weights", str(weights), "--backend", "torch", "--passes", str(p)])
        assert r.exit_code == 0, r.output
        got = np.asarray(Image.open(tmp_path / f"p{p}.png").convert("L")).astype(int)
        assert np.abs(got - grey_u8((one, two)[p - 1]).astype(int)).max() <= 1
    r = CliRunner().invoke(cli, ["denoise", str(tmp_path / "n.png"), "--passes", "0"])
    assert r.exit_code == 2 and "passes" in r.output
    from colorizer import cli as cli_module
    from colorizer.resize import DEFAULT_PASSES, SPIN_SHIFTS

    assert (cli_module.PASSES_DEFAULT, cli_module.PASSES_MAX) == (DEFAULT_PASSES, len(SPIN_SHIFTS))


def test_widened_denoiser_computes_the_same_and_its_new_channels_learn(tmp_path, tiny_weights):
    from colorizer.weights import load_weights

    widen = load_script("scripts/widen_denoiser.py")
    out = tmp_path / "wide" / "denoise.safetensors"
    assert widen.main(["--weights", str(tiny_weights), "--widths", "6,11", "--out", str(out)]) == 0
    state, card = load_weights(out)
    assert card["config"]["widths"] == [6, 11] and card["widened_from"]["widths"] == [4, 8]
    wide = DenoiseAutoencoder(DenoiseConfig(**{**asdict(TINY), "widths": (6, 11)}))
    wide.load_state_dict(state)
    wide.eval()
    L = torch.rand(2, 1, 20, 28) * 100
    with torch.no_grad():
        assert torch.allclose(wide(L), tiny()(L), atol=1e-4)
    # the weights by which old channels read new ones start at zero but get gradients, so the
    # new channels take part as soon as training starts
    assert float(wide.net.tail.weight.detach()[:, 4:].abs().max()) == 0.0
    wide.train()
    np.random.seed(0)
    wide.training_step(L, None, wide.configure_optimizers(1e-3), 0)
    assert float(wide.net.tail.weight.detach()[:, 4:].abs().max()) > 0.0
    # a level cannot lose channels
    with pytest.raises(ValueError, match="cannot widen"):
        widen.main(["--weights", str(tiny_weights), "--widths", "3,11",
                    "--out", str(tmp_path / "narrow.safetensors")])
