import dataclasses

import numpy as np
import pytest
import torch

from colorizer.errors import ColorizerError
from colorizer.models.gan import GANColorizer, GANConfig
from colorizer.models.vae import VAEColorizer, VAEConfig
from colorizer.registry import build_untrained, get_colorizer

TINY_GAN = GANConfig(encoder="none", channels=(4, 8, 8, 8), disc_channels=4)
TINY_VAE = VAEConfig(encoder="none", channels=(4, 8, 8, 8), latent=4)


def batch(n=2, s=32):
    torch.manual_seed(0)
    return torch.rand(n, 1, s, s) * 100, torch.randn(n, 2, s, s) * 30


def test_generator_receives_the_discriminators_gradient():
    """The seed's bug: an MSE-only generator loss. Here the adversarial term reaches G."""
    model = GANColorizer(GANConfig(encoder="none", channels=(4, 8, 8, 8), disc_channels=4, lambda_mse=0.0,
                                   lambda_adv=1.0))
    opts = model.configure_optimizers(1e-3)
    L, ab = batch()
    before = [p.detach().clone() for p in model.gen.parameters()]
    model.training_step(L, ab, opts, step=0)
    changed = sum(not torch.equal(b, p) for b, p in zip(before, model.gen.parameters(), strict=True))
    assert changed > 0  # with lambda_mse = 0 only D's gradient can move G
    # and that gradient really flows through D into G
    x = (L - 50) / 100
    model.zero_grad()
    model.disc(x, model.gen(x)).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.gen.out.parameters())


def test_gan_warmup_is_mse_only():
    model = GANColorizer(GANConfig(encoder="none", channels=(4, 8, 8, 8), disc_channels=4, warmup_steps=5))
    logs = model.training_step(*batch(), model.configure_optimizers(1e-3), step=0)
    assert "loss_adv" not in logs and "loss_d" not in logs
    logs = model.training_step(*batch(), model.configure_optimizers(1e-3), step=5)
    assert "loss_adv" in logs and "loss_d" in logs


def test_hint_branch_starts_as_the_model_without_it_and_learns_from_revealed_points():
    """A gan with hint channels, fine-tuned from weights without them (--init), computes exactly
    what they did until trained; training on points revealed from the truth moves its answer
    near a hint towards the hint's colour."""
    from colorizer.interface import Hints
    from colorizer.weights import load_into

    small = dict(decoder_channels=(16, 16, 8, 8), disc_channels=4, warmup_steps=10**6)
    torch.manual_seed(0)
    plain = GANColorizer(GANConfig(**small)).eval()
    model = GANColorizer(GANConfig(**small, hint_channels=3))
    assert model.uses_hints and not plain.uses_hints
    with pytest.raises(ColorizerError, match="missing keys"):
        load_into(model, plain.state_dict(), "plain")
    load_into(model, plain.state_dict(), "plain", optional=model.new_parts)
    model.eval()
    L = torch.rand(1, 1, 64, 64) * 100
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 28:33, 28:33] = 1
    hints = Hints(torch.tensor([60.0, 40.0])[None, :, None, None].expand(1, 2, 64, 64), mask)
    with torch.no_grad():
        assert torch.equal(model.predict_ab(L, hints), plain.predict_ab(L))
    # photos of one random colour each: revealed points tell the colour of the whole photo
    torch.manual_seed(1)
    model.train()
    opts = model.configure_optimizers(1e-3)

    def photos():
        return torch.rand(8, 1, 64, 64) * 100, (torch.randn(8, 2, 1, 1) * 40).expand(-1, -1, 64, 64)

    for _ in range(100):
        model.training_step(*photos(), opts, step=0)
    model.eval()
    L, ab = torch.rand(32, 1, 64, 64) * 100, (torch.randn(32, 2, 1, 1) * 40).expand(-1, -1, 64, 64)
    dots = torch.zeros(32, 1, 64, 64)
    for y, x in ((10, 12), (40, 20), (24, 44), (50, 52)):  # four 3-pixel dots of the true colour
        dots[..., y:y + 3, x:x + 3] = 1
    with torch.no_grad():
        hinted = (model.predict_ab(L, Hints(ab, dots)) - ab).abs().mean()
        alone = (model.predict_ab(L) - ab).abs().mean()
    assert hinted < 0.85 * alone, (hinted, alone)  # 27.4 against 35.2; equal if ignored


def test_rebalanced_mse_weighs_rare_colours_more_and_averages_one():
    model = GANColorizer(dataclasses.replace(TINY_GAN, rebalance_mix=0.5))
    ab = torch.zeros(1, 2, 10, 10)
    ab[0, :, 0, 0] = torch.tensor([60.0, 40.0])  # one saturated pixel among 99 grey ones
    w = model.colour_weights(ab)
    assert w[0, 0, 0, 0] > 2.5 * w[0, 0, 5, 5]  # 1 / (0.005 + 0.25) against 1 / (0.495 + 0.25)
    assert float(w.mean()) == pytest.approx(1.0)  # the batch is the prior so far
    plain = GANColorizer(TINY_GAN)
    assert plain.config.rebalance_mix == 1.0 and "ab_counts" not in plain.state_dict()
    logs = model.training_step(*batch(), model.configure_optimizers(1e-3), step=0)
    assert np.isfinite(logs["loss_mse"])


def test_global_discriminator_gives_one_score_per_image():
    model = GANColorizer(GANConfig(encoder="none", channels=(4, 8, 8, 8), disc_channels=4, disc="global"))
    L, ab = batch(3)
    assert model.disc((L - 50) / 100, ab / 110).shape == (3, 1)


def test_vae_kl_and_diverse_samples():
    model = VAEColorizer(TINY_VAE)
    logs = model.training_step(*batch(), model.configure_optimizers(1e-3), step=0)
    assert logs["kl"] >= 0 and np.isclose(logs["loss"], logs["loss_mse"] + 1e-3 * logs["kl"], rtol=1e-4)
    model.eval()
    L, _ = batch(1)
    with torch.no_grad():
        a = model.sample_ab(L, 1)
        b = model.sample_ab(L, 2)
        assert torch.equal(model.sample_ab(L, 2), b)  # the same index, the same colorization
        z0 = model.predict_ab(L)
    assert a.shape == (1, 2, 32, 32) and not torch.allclose(a, b)
    assert torch.allclose(model.predict_ab(L), z0)  # z = 0: deterministic


def test_vae_free_bits_leave_a_small_kl_unpenalised():
    model = VAEColorizer(dataclasses.replace(TINY_VAE, free_bits=1.0))
    logs = model.training_step(*batch(), model.configure_optimizers(1e-3), step=0)
    assert 0 <= logs["kl"] < model.config.latent  # a fresh encoder: every dimension under 1 nat
    penalty = 1e-3 * model.config.latent * 1.0  # each dimension costs its free nat, no more
    assert np.isclose(logs["loss"], logs["loss_mse"] + penalty, rtol=1e-4)


def test_vae_samples_ab_orders_once():
    model = VAEColorizer(TINY_VAE).eval()
    L, _ = batch(1)
    with torch.no_grad():
        three = model.samples_ab(L, 3)
        assert all(torch.equal(three[k - 1], model.sample_ab(L, k)) for k in (1, 2, 3))


@pytest.mark.parametrize("z_dropout", [0.0, 1.0])
def test_vae_z_dropout_trains_the_decoder_on_z0(z_dropout):
    model = VAEColorizer(dataclasses.replace(TINY_VAE, z_dropout=z_dropout))
    seen = []
    model.decoder.register_forward_hook(lambda mod, args, out: seen.append(args[1].detach().clone()))
    model.training_step(*batch(), model.configure_optimizers(1e-3), step=0)
    assert (seen[0].abs().sum() == 0) == (z_dropout == 1.0)


def test_untrained_builds_and_missing_weights_error(tmp_path):
    assert isinstance(build_untrained("gan"), GANColorizer)
    with pytest.raises(ColorizerError, match="not trainable"):
        build_untrained("gray")
    with pytest.raises(ColorizerError, match="not found"):
        get_colorizer("vae", weights=str(tmp_path / "nope.safetensors"))


def test_weights_round_trip_through_registry(tmp_path):
    from colorizer.weights import save_weights

    model = VAEColorizer(TINY_VAE)
    path = save_weights(model, tmp_path / "v.safetensors",
                        {"architecture": "VAEColorizer", "config": {"channels": [4, 8, 8, 8], "latent": 4}})
    loaded = get_colorizer("vae", weights=str(path))
    L, _ = batch(1)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(loaded.predict_ab(L), model.predict_ab(L))
    save_weights(model, tmp_path / "g.safetensors", {"architecture": "VAEColorizer"})
    with pytest.raises(ColorizerError, match="not GANColorizer"):
        get_colorizer("gan", weights=str(tmp_path / "g.safetensors"))


def _synthetic_scene(h=96, w=128):
    """A grey scene with known structure: a sky gradient, a dark field and a mid-grey box."""
    L = torch.linspace(85, 60, h)[:, None].expand(h, w).clone()
    L[h // 2:] = 35.0
    L[h // 4:3 * h // 4, w // 3:2 * w // 3] = 55.0
    return L[None, None]


@pytest.mark.slow
def test_shipped_vae_samples_differ():
    """With the shipped weights, four samples of a synthetic scene differ visibly (mean pairwise
    ab distance, Lab units) and none strays far from the most likely colorization."""
    import itertools

    from colorizer.registry import get_colorizer

    model = get_colorizer("vae", device="cpu")
    L = _synthetic_scene()
    with torch.inference_mode():
        assert model.config.sampling == "directions"
        samples = model.samples_ab(L, 4)
        likely = model.predict_ab(L)
    pairwise = np.mean([float((a - b).norm(dim=1).mean()) for a, b in itertools.combinations(samples, 2)])
    assert pairwise >= 6.0
    for s in samples:  # each about sample_spread from the most likely colours, not a wild cast
        assert float((s - likely).norm(dim=1).mean()) <= 2 * model.config.sample_spread
