import numpy as np
import pytest
import torch

from colorizer import color
from colorizer.errors import ColorizerError
from colorizer.models import zhang


@pytest.fixture(scope="module")
def bins():
    return zhang.gamut_bins()


def test_bins_cover_the_gamut(bins):
    assert len(bins) == 261 and (bins % 10 == 0).all()
    rgb = np.random.default_rng(0).integers(0, 256, (200_000, 3), dtype=np.uint8)
    rgb[:8] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0],
               [0, 255, 255], [255, 0, 255]]
    ab = color.rgb2lab(rgb)[:, 1:]
    nearest = np.sqrt(((ab[:, None, :] - bins[None]) ** 2).sum(-1)).min(1)
    assert nearest.max() <= 10


def test_rebalancing_weights_have_expectation_one(bins):
    p = np.random.default_rng(1).random(len(bins)) ** 4
    w = zhang.rebalancing_weights(p, bins)
    d2 = ((bins[:, None] - bins[None]) ** 2).sum(-1)
    smooth = np.exp(-d2 / 50) @ (p / p.sum())
    smooth /= smooth.sum()
    assert np.isclose((smooth * w).sum(), 1.0, atol=1e-5)
    assert w[np.argmin(smooth)] > w[np.argmax(smooth)]  # rare colours weigh more


def test_annealed_mean_limits():
    bins = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 20.0]])
    probs = torch.tensor([0.2, 0.5, 0.3]).view(1, 3, 1, 1)
    mean = (probs[0, :, 0, 0, None] * bins).sum(0)
    assert torch.allclose(zhang.annealed_mean(probs, bins, T=1.0)[0, :, 0, 0], mean, atol=1e-5)
    assert torch.allclose(zhang.annealed_mean(probs, bins, T=1e-4)[0, :, 0, 0], bins[1], atol=1e-3)


def test_confidence_extremes():
    sure = torch.zeros(1, 4, 1, 1)
    sure[0, 2] = 1
    assert torch.allclose(zhang.confidence(sure), torch.ones(1, 1, 1, 1), atol=1e-5)
    assert torch.allclose(zhang.confidence(torch.full((1, 4, 1, 1), 0.25)), torch.zeros(1, 1, 1, 1),
                          atol=1e-5)


@pytest.mark.parametrize("encoder", ["none", "mobilenet_v2"])
def test_gradient_flows_through_the_loss(encoder):
    model = zhang.ZhangColorizer(zhang.ZhangConfig(encoder=encoder))
    L, ab = torch.rand(2, 1, 32, 32) * 100, torch.randn(2, 2, 32, 32) * 30
    loss = model.loss(L, ab)
    loss.backward()
    assert torch.isfinite(loss)
    trained = [p for p in model.parameters() if p.requires_grad]
    assert trained[0].grad.abs().sum() > 0 and trained[-1].grad.abs().sum() > 0  # first and last layer
    assert model.predict_ab(L).shape == (2, 2, 32, 32)
    assert model.predict_confidence(L).shape == (2, 1, 32, 32)


def _authors_like_state(seed=0):
    g = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(*shape, generator=g) * 0.01 for k, shape in zhang.authors_eccv16_shapes().items()}
    for k in state:
        if k.endswith("running_var"):
            state[k] = state[k].abs() + 1
    return state


def test_authors_state_dict_round_trip(tmp_path):
    state = _authors_like_state()
    model = zhang.from_authors_state_dict(state)
    assert model.config.size == "full" and model.ab_bins.shape == (313, 2)
    assert 25e6 < sum(p.numel() for p in model.parameters()) < 40e6  # the paper's ~32 M
    ours = model.state_dict()
    for k, v in state.items():
        assert torch.equal(ours[k], v), k
    torch.save(state, tmp_path / "eccv16.pth")
    loaded = zhang.load_authors_file(str(tmp_path / "eccv16.pth"))
    assert torch.equal(loaded.model5[0].weight, state["model5.0.weight"])
    from colorizer.registry import get_colorizer

    assert get_colorizer("zhang", weights=str(tmp_path / "eccv16.pth")).ab_bins.shape == (313, 2)


def test_wrong_state_dict_names_the_keys(tmp_path):
    state = _authors_like_state()
    del state["model3.2.weight"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ColorizerError, match="missing keys: model3.2.weight.*unexpected keys: extra.weight"):
        zhang.from_authors_state_dict(state)
    (tmp_path / "bad.pth").write_bytes(b"not a torch file")
    with pytest.raises(ColorizerError, match="not a plain PyTorch state dict"):
        zhang.load_authors_file(str(tmp_path / "bad.pth"))


def test_cli_confidence_map(tmp_path):
    from click.testing import CliRunner
    from helpers import smooth_photo
    from PIL import Image

    from colorizer.cli import cli
    from colorizer.weights import save_weights

    model = zhang.ZhangColorizer(zhang.ZhangConfig(encoder="none"))
    weights = save_weights(model, tmp_path / "z.safetensors",
                           {"architecture": "ZhangColorizer", "config": {"size": "compact", "n_bins": 261}})
    Image.fromarray(smooth_photo(40, 56)).save(tmp_path / "x.png")
    r = CliRunner().invoke(cli, ["image", str(tmp_path / "x.png"), "--model", "zhang", "--weights",
                                 str(weights), "--confidence", str(tmp_path / "conf.png")])
    assert r.exit_code == 0, r.output
    conf = np.asarray(Image.open(tmp_path / "conf.png"))
    assert conf.shape[:2] == (40, 56) and (tmp_path / "x_color.png").exists()
    r = CliRunner().invoke(cli, ["image", str(tmp_path / "x.png"), "--model", "gray", "--confidence",
                                 str(tmp_path / "c2.png")])
    assert r.exit_code == 1 and "no confidence map" in r.output
    # the map named as the colorized photo's own path: refused before any work, nothing written
    (tmp_path / "x_color.png").unlink()
    r = CliRunner().invoke(cli, ["image", str(tmp_path / "x.png"), "--model", "zhang", "--weights",
                                 str(weights), "--confidence", str(tmp_path / "x_color.png")])
    assert r.exit_code == 2 and "is where the colorized photo goes" in r.output, r.output
    assert not (tmp_path / "x_color.png").exists()


def test_authors_siggraph17_round_trip_and_hints(tmp_path):
    g = torch.Generator().manual_seed(1)
    state = {k: torch.randn(*shape, generator=g) * 0.05
             for k, shape in zhang.authors_siggraph17_shapes().items()}
    for k in state:
        if k.endswith("running_var"):
            state[k] = state[k].abs() + 1
    torch.save(state, tmp_path / "siggraph17.pth")
    from colorizer.registry import get_colorizer

    model = get_colorizer("zhang", weights=str(tmp_path / "siggraph17.pth"))
    assert isinstance(model, zhang.Siggraph17Colorizer) and model.uses_hints
    assert 30e6 < sum(p.numel() for p in model.parameters()) < 40e6
    ours = model.state_dict()
    for k, v in state.items():
        assert torch.equal(ours[k], v), k
    L = torch.rand(1, 1, 32, 48) * 100
    with torch.no_grad():
        plain = model.predict_ab(L)
        mask = torch.zeros(1, 1, 32, 48)
        mask[..., 10:14, 20:24] = 1
        hinted = model.predict_ab(L, zhang.Hints(torch.full((1, 2, 32, 48), 60.0), mask))
    assert plain.shape == (1, 2, 32, 48) and plain.abs().max() <= 110
    assert (hinted - plain).abs().max() > 1e-3  # the hints reach the output
    from colorizer.api import colorize_scribbles
    from colorizer.io import Picture

    pic = Picture(np.full((32, 48, 3), 120, np.uint8))
    hint_ab, hint_mask = np.zeros((32, 48, 2), np.float32), np.zeros((32, 48), bool)
    hint_ab[10:14, 20:24], hint_mask[10:14, 20:24] = 60.0, True
    out = colorize_scribbles(pic, hint_ab, hint_mask, model).pixels
    assert out.shape == (32, 48, 3) and out[12, 22, 0] > out[12, 22, 2]  # red-yellow where hinted
    del state["model10.1.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ColorizerError, match="missing keys: model10.1.weight"):
        zhang.load_authors_file(str(tmp_path / "broken.pth"))


def _noisy_two_region_probs(bins, blue, green, noise_bins, h=32, w=64, share=0.6, seed=0):
    """Bin distributions on a photo of two surfaces (left dark, right light): on the left each
    pixel is sure of blue or (wrongly, 40%) of orange, on the right of green or (40%) magenta."""
    rng = np.random.default_rng(seed)
    probs = np.full((len(bins), h, w), 1e-4, np.float32)
    wrong = rng.random((h, w)) > share
    for y in range(h):
        for x in range(w):
            right = x >= w // 2
            k = noise_bins[right] if wrong[y, x] else (green if right else blue)
            probs[k, y, x] = 1.0
    probs /= probs.sum(0, keepdims=True)
    L = torch.full((1, 1, 4 * h, 4 * w), 30.0)
    L[..., 4 * w // 2:] = 70.0
    return torch.from_numpy(probs)[None], L


def _bin(bins, a, b):
    return int(np.argmin(((bins - np.array([a, b])) ** 2).sum(1)))


def test_agreement_gives_one_colour_family_per_surface(bins):
    probs, L = _noisy_two_region_probs(bins, _bin(bins, 10, -50), _bin(bins, -50, 40),
                                       (_bin(bins, 30, 60), _bin(bins, 60, -30)))
    tb = torch.from_numpy(bins)
    raw = zhang.annealed_mean(probs, tb)[0].numpy()
    cfg = zhang.ZhangConfig()
    agreed = zhang.annealed_mean(zhang.agree_distributions(probs, L, cfg.agree_radius, cfg.agree_eps), tb)
    agreed = agreed[0].numpy()

    def hue_spread(ab):  # degrees between the most distant hues on a surface
        hue = np.degrees(np.arctan2(ab[1], ab[0]))
        return float(hue.max() - hue.min())

    left, right = agreed[:, :, :32], agreed[:, :, 32:]
    assert hue_spread(raw[:, :, :32]) > 90 and hue_spread(raw[:, :, 32:]) > 90  # raw: two colours
    assert hue_spread(left) < 25 and hue_spread(right) < 25
    assert (left[1] < -10).all()  # blue (b < 0) everywhere on the left
    assert (right[0] < -10).all()  # green (a < 0) everywhere on the right: no blue across the edge
    off = zhang.agree_distributions(probs, L, radius=0)
    assert torch.equal(off, probs)


def test_agreement_is_the_model_default_and_can_be_turned_off(bins, monkeypatch):
    probs, L = _noisy_two_region_probs(bins, _bin(bins, 10, -50), _bin(bins, -50, 40),
                                       (_bin(bins, 30, 60), _bin(bins, 60, -30)))
    assert zhang.ZhangConfig().agree_radius > 0
    model = zhang.ZhangColorizer(zhang.ZhangConfig(encoder="none")).eval()
    monkeypatch.setattr(model, "probabilities", lambda L_: probs)
    smooth = model.predict_ab(L)
    model.config.agree_radius = 0
    raw = model.predict_ab(L)
    assert smooth.shape == raw.shape == (1, 2, *L.shape[-2:])
    half = L.shape[-1] // 2

    def within(ab):  # ab spread inside each surface
        return float(ab[0, :, :, :half].std((1, 2)).sum() + ab[0, :, :, half:].std((1, 2)).sum())

    assert within(smooth) < 0.5 * within(raw)
