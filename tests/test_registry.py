import pytest
import torch

from colorizer.errors import ColorizerError
from colorizer.registry import Colorizer, Hints, get_colorizer, list_colorizers, resolve_device


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ColorizerError) as info:
        get_colorizer("deoldify")
    for name in list_colorizers():
        assert name in str(info.value)


def test_default_is_clear_when_nothing_ships():
    from colorizer import registry

    if registry.DEFAULT_MODEL is not None:
        assert get_colorizer("default").name == registry.DEFAULT_MODEL
    else:
        with pytest.raises(ColorizerError, match="points at no model"):
            get_colorizer("default")


@pytest.mark.parametrize("name", list_colorizers())
def test_contract(name):
    """Every registered colorizer: (N,1,H,W) L in Lab units -> (N,2,H,W) finite ab."""
    from colorizer.registry import build_untrained, is_trainable
    from colorizer.weights import packaged_weights

    if is_trainable(name) and not packaged_weights(name).exists():
        model = build_untrained(name).eval()  # no weights shipped: check the architecture
    else:
        model = get_colorizer(name, device="cpu")
    assert isinstance(model, Colorizer) and model.name == name
    m = max(model.multiple, 1)
    L = torch.rand(2, 1, 2 * m * 2, 3 * m * 2) * 100
    hints = None
    if model.uses_hints:
        mask = torch.zeros(2, 1, *L.shape[-2:])
        mask[:, :, 1, 1] = 1
        hints = Hints(torch.full((2, 2, *L.shape[-2:]), 20.0), mask)
    with torch.inference_mode():
        ab = model.predict_ab(L, hints)
    assert ab.shape == (2, 2, *L.shape[-2:])
    assert torch.isfinite(ab).all() and ab.abs().max() <= 128
    with pytest.raises(ValueError):
        model.predict_ab(torch.zeros(1, 3, m, m))


def test_gray_takes_no_weights(tmp_path):
    with pytest.raises(ColorizerError, match="has no weights"):
        get_colorizer("gray", weights=str(tmp_path / "w.safetensors"))


def test_cuda_request_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ColorizerError, match="no CUDA"):
        resolve_device("cuda")
    assert resolve_device(None).type == "cpu"
