import pytest
import torch

from colorizer.errors import ColorizerError
from colorizer.weights import card_path, load_into, load_weights, save_weights


def tiny():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))


def test_round_trip(tmp_path):
    a, b = tiny(), tiny()
    path = save_weights(a, tmp_path / "m.safetensors", {"architecture": "tiny", "config": {}})
    state, card = load_weights(path)
    load_into(b, state, str(path))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    assert card["parameters"] == sum(p.numel() for p in a.parameters())
    assert card_path(path).exists()
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_wrong_file_names_keys(tmp_path):
    path = save_weights(torch.nn.Linear(2, 3), tmp_path / "m.safetensors", {})
    state, _ = load_weights(path)
    with pytest.raises(ColorizerError, match="missing keys: 0.bias"):
        load_into(tiny(), state, str(path))


def test_not_safetensors(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"\x80\x04 pickle, not safetensors")
    with pytest.raises(ColorizerError, match="not a readable safetensors"):
        load_weights(tmp_path / "x.safetensors")
    with pytest.raises(ColorizerError, match="not found"):
        load_weights(tmp_path / "nope.safetensors")
