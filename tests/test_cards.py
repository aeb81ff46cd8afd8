"""colorizer.cards and `colorize models`: short, plain-worded model descriptions built from the
shipped cards' own figures."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import load_script

from colorizer import cards
from colorizer.cli import cli
from colorizer.registry import list_colorizers, list_denoisers

ROOT = Path(__file__).resolve().parents[1]
ALL = list_colorizers() + list_denoisers()


def run(*args):
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.output


def test_history_words_are_whole_words_in_prose_only():
    assert cards.history_words("the Seed's GAN, below the issue's colour BARS, the eighth stage") == \
        ["Seed's", "issue's", "BARS", "stage"]
    assert cards.history_words("a sidebar, seedless, issued, staged, --seed 0, `train --seed 1`") == []
    assert cards.history_words("issues and stages") == ["issues", "stages"]


def test_models_lists_every_model_in_a_few_plain_lines():
    code, out = run("models")
    assert code == 0, out
    lines = out.rstrip("\n").split("\n")
    assert len(lines) <= 30, out
    assert cards.history_words(out) == [], out
    blocks = out.strip().split("\n\n")[1:]
    assert [b.split(":")[0].split(" ")[0] for b in blocks] == ALL
    for block in blocks:
        assert len(block.split("\n")) <= 4, block
        assert all(len(line) <= 100 for line in block.split("\n")), block
    assert "(default)" in blocks[ALL.index("gan")].split("\n")[0]


def test_models_figures_are_the_cards_own():
    _, out = run("models")
    for name in ("gan", "vae", "zhang"):
        card = cards.packaged_card(name)
        if not card:
            continue
        ev = card["evaluation"]
        block = next(b for b in out.split("\n\n") if b.startswith(name))
        assert f"AuC) {ev['scores']['auc']['mean']:.2f} against {ev['gray_baseline']['auc']['mean']:.2f}" \
            in block, block
        if "speed" in card:
            assert f"{card['speed']['seconds']:.2g} s for a" in block, block
        assert "not for commercial use" in block and "licence:" in block


@pytest.mark.parametrize("name", [*ALL, "default"])
def test_models_name_prints_the_full_card_in_plain_words(name):
    code, out = run("models", name)
    assert code == 0, out
    assert cards.history_words(out) == [], out
    card = cards.packaged_card("gan" if name == "default" else name)
    if card:
        assert "architecture:" in out and "licence:" in out and "docs/models/" in out
        if card.get("weaknesses"):
            assert "weaknesses:" in out
    assert "{'" not in out and "': " not in out  # no raw Python dicts


def test_models_unknown_name_is_one_error_line():
    code, out = run("models", "nosuch")
    assert code == 1 and out.count("\n") == 1 and out.startswith("error: unknown model 'nosuch'")


def test_card_lines_read_like_text():
    card = {"architecture": "Net", "parameters": 1234567, "steps": 10, "hardware": "CPU",
            "data": {"train": 90, "val": 10, "sources": "photos/", "note": "research only"},
            "chroma_gain": 1.5, "weaknesses": "grass is olive",
            "speed": {"seconds": 0.0421, "photo": "1024x768", "backend": "onnxruntime", "threads": 1},
            "evaluation": {"images_scored": 31, "scores": {"auc": {"mean": 83.456, "ci95": [1, 2]}},
                           "gray_baseline": {"auc": {"mean": 82.0}}}}
    lines = dict(cards.card_lines(card))
    assert lines["architecture"] == "Net, 1,234,567 parameters"
    assert lines["data"] == "90 training, 10 validation photos; photos/"
    assert lines["licence"] == "research only"
    assert lines["scores"] == "AuC 83.46 on 31 photos (gray baseline: AuC 82.00)"
    assert lines["quality"] == "colour accuracy (AuC) 83.46 against 82.00 for plain grey, on 31 test photos"
    assert lines["speed"] == "0.042 s for a 1024x768 photo (onnxruntime, 1 CPU thread)"
    assert cards.card_lines({}) == []
    assert cards.short_block("x", "does x", {})[1].startswith("  no trained weights")


def test_public_card_keeps_what_users_read_and_no_training_record():
    for name in ALL:
        card = cards.packaged_card(name)
        public = cards.public_card(name, card)
        text = json.dumps(public)
        assert cards.history_words(text) == [], (name, text)
        assert "/work/" not in text and "training" not in public and "earlier_stages" not in text
        if card:
            assert public["quality"] == cards.quality(card) and public["history"] == f"docs/models/{name}.md"


def test_shipped_cards_and_their_markdown_are_in_plain_words():
    for name in ALL:
        card = cards.packaged_card(name)
        for field in cards.USER_FIELDS:
            assert cards.history_words(str(card.get(field, ""))) == [], (name, field)
        md = ROOT / "docs" / "models" / f"{name}.md"
        if md.exists():
            assert cards.history_words(md.read_text()) == [], md
    assert (resources.files("colorizer") / "assets" / "gan.json").is_file()


def test_ship_scripts_refuse_history_words(tmp_path):
    ship = load_script("scripts/ship_model.py")
    card = json.loads((resources.files("colorizer") / "assets" / "gan.json").read_text())
    ship.check_plain(card, ship.markdown("gan", card))  # the shipped card passes
    with pytest.raises(SystemExit, match=r"--notes uses project-history words \(bar\)"):
        ship.check_plain({**card, "weaknesses": "just under the bar"}, "")
    with pytest.raises(SystemExit, match="the Markdown card"):
        ship.check_plain(card, "the seed's GAN")


def test_ship_script_keeps_the_speed_figure_of_the_same_network(tmp_path):
    ship = load_script("scripts/ship_model.py")
    old = {"architecture": "A", "config": {"w": 1}, "speed": {"seconds": 0.1}}
    shipped = tmp_path / "m.json"
    shipped.write_text(json.dumps(old))
    card = {"architecture": "A", "config": {"w": 1}}
    ship.keep_speed(card, shipped)
    assert card["speed"] == {"seconds": 0.1}
    wider = {"architecture": "A", "config": {"w": 2}}
    ship.keep_speed(wider, shipped)
    assert "speed" not in wider


def test_speed_figures_come_from_the_benchmark_script():
    script = (ROOT / "benchmarks" / "bench_card_speed.py").read_text()
    for name in ALL:
        speed = cards.packaged_card(name).get("speed")
        if speed:
            assert speed["command"].split()[1] == "benchmarks/bench_card_speed.py" and "--write" in script
            assert re.fullmatch(r"\d+x\d+", speed["photo"])
