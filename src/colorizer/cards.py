"""Model cards in words a user reads: the short block of `colorize models`, the full card of
`colorize models NAME`, and the card the web page gets from ``/api/models``.

A shipped card (``assets/NAME.json``) holds everything recorded about a model, its training
history included; people see only what this module makes of it, built from the card's fields
(so a model retrained and shipped again by ``scripts/ship_model.py`` gets its new figures)::

    >>> card = {"evaluation": {"images_scored": 31, "scores": {"auc": {"mean": 84.76}},
    ...                        "gray_baseline": {"auc": {"mean": 82.66}}}}
    >>> quality(card)
    'colour accuracy (AuC) 84.76 against 82.66 for plain grey, on 31 test photos'

No torch here: ``colorize models`` reads the JSON cards without building a model.
"""

from __future__ import annotations

import json
import re
from importlib import resources

#: Words from the project's own history that mean nothing to a user ("the seed's GAN", "the
#: issue's bars", "the eighth stage"); never in what a user reads (`colorize models`, the web
#: page, the cards' user-facing fields). Whole words, any case, plurals too.
HISTORY_WORDS = ("seed", "issue", "bar", "stage")
_HISTORY = re.compile(r"(?<![-\w])(" + "|".join(HISTORY_WORDS) + r")(s|'s)?\b", re.IGNORECASE)

#: Card fields a user reads; the ship scripts refuse history words in them.
USER_FIELDS = ("weaknesses", "history")

#: The scores shown on the web page, in this order.
SHOWN_SCORES = ("auc", "auc_rebalanced", "max_channel", "colourfulness", "psnr", "ssim", "ciede2000")


def history_words(text: str) -> list[str]:
    """The project-history words in ``text`` (see :data:`HISTORY_WORDS`), as written there;
    an option name (``--seed``) and text in Markdown code spans (a command line) are not words.

    >>> history_words("the seed's GAN, below the issue's colour bars")
    ["seed's", "issue's", 'bars']
    >>> history_words("a sidebar, seedless, --seed 0, `colorize evaluate --seed 0`")
    []
    """
    return [m.group(0) for m in _HISTORY.finditer(re.sub(r"`[^`\n]*`", "", text))]


def packaged_card(name: str) -> dict:
    """The card shipped with model ``name`` (``assets/NAME.json``), or ``{}`` when none ships."""
    path = resources.files("colorizer") / "assets" / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _mean(scores: dict, key: str) -> float | None:
    value = scores.get(key) if isinstance(scores, dict) else None
    value = value.get("mean") if isinstance(value, dict) else value
    return float(value) if isinstance(value, (int, float)) else None


def quality(card: dict) -> str | None:
    """Quality in one figure against the do-nothing baseline: a colorizer's AuC against plain
    grey's on the test photos; a denoiser's PSNR against the noisy photo's, at noise sigma 25."""
    ev = card.get("evaluation") if isinstance(card.get("evaluation"), dict) else {}
    auc, gray = _mean(ev.get("scores") or {}, "auc"), _mean(ev.get("gray_baseline") or {}, "auc")
    if auc is not None and gray is not None:
        photos = f", on {ev['images_scored']} test photos" if ev.get("images_scored") else ""
        return f"colour accuracy (AuC) {auc:.2f} against {gray:.2f} for plain grey{photos}"
    bench = card.get("benchmark") if isinstance(card.get("benchmark"), dict) else {}
    rows = bench.get("psnr_ssim") or {}
    level = "25.0" if "25.0" in rows else next(iter(rows), None)
    if level is not None and {"ours", "noisy"} <= set(rows[level]):
        photos = f" on {bench['photos']} test photos" if bench.get("photos") else ""
        return (f"{rows[level]['ours']['psnr']:.2f} dB PSNR{photos} at noise sigma "
                f"{float(level):g}, against {rows[level]['noisy']['psnr']:.2f} dB for the noisy photo")
    return None


def speed(card: dict) -> str | None:
    """The measured time for one photo (``benchmarks/bench_card_speed.py --write``)."""
    s = card.get("speed") if isinstance(card.get("speed"), dict) else {}
    if not isinstance(s.get("seconds"), (int, float)):
        return None
    threads = s.get("threads", 1)
    return (f"{s['seconds']:.2g} s for a {s.get('photo', '1024x768')} photo "
            f"({s.get('backend', 'torch')}, {threads} CPU thread{'s' if threads != 1 else ''})")


def licence(card: dict, short: bool = True) -> str | None:
    """What the weights may be used for (the data note), and the starting weights' licence."""
    data = card.get("data") if isinstance(card.get("data"), dict) else {}
    note = str(data.get("note") or "").strip()
    notice = str(card.get("licence_notice") or "").strip()
    if not short:
        return " ".join(x for x in (note, notice) if x) or None
    parts = []
    if note:
        parts.append("not for commercial use (trained on research-licensed photos)"
                     if "not for commercial use" in note.lower() else note.rstrip("."))
    if notice:
        parts.append("encoder Apache 2.0 (Google)" if "Apache" in notice else notice)
    return "; ".join(parts) or None


def short_block(name: str, summary: str, card: dict, *, default: bool = False,
                denoiser: bool = False) -> list[str]:
    """At most four lines for `colorize models`: what the model is for, its quality against the
    do-nothing baseline, its speed and its licence note."""
    tag = " (default)" if default else ""
    lines = [f"{name}{tag}: {summary}"]
    for label, text in (("quality", quality(card)), ("speed", speed(card)), ("licence", licence(card))):
        if text:
            lines.append(f"  {label + ':':9s}{text}")
    if not card:
        lines.append("  no trained weights; nothing to download, MIT like the rest of the package")
    return lines[:4]


def card_lines(card: dict) -> list[tuple[str, str]]:
    """A model card as (label, text) lines a person can read; fields a card lacks are left out."""
    lines = []
    for label, text in (("quality", quality(card)), ("speed", speed(card)),
                        ("licence", licence(card, short=False))):
        if text:
            lines.append((label, text))
    arch = card.get("architecture")
    if arch or card.get("parameters"):
        params = f"{card['parameters']:,} parameters" if isinstance(card.get("parameters"), int) else ""
        lines.append(("architecture", ", ".join(x for x in (arch, params) if x)))
    trained = []
    if card.get("steps"):
        trained.append(f"{card['steps']} steps")
    if card.get("epochs_completed"):
        trained.append(f"{card['epochs_completed']} epochs")
    if isinstance(card.get("training_seconds"), (int, float)):
        trained.append(f"{card['training_seconds'] / 60:.0f} min")
    if trained or card.get("hardware"):
        where = f" on {card['hardware']}" if card.get("hardware") else ""
        lines.append(("trained", ", ".join(trained) + where))
    data = card.get("data")
    if isinstance(data, dict):
        counts = f"{data['train']} training, {data.get('val', 0)} validation photos" \
            if "train" in data else ""
        lines.append(("data", "; ".join(x for x in (counts, data.get("sources", "")) if x)))
    elif data:
        lines.append(("data", str(data)))
    if card.get("chroma_gain"):
        lines.append(("chroma gain", f"{card['chroma_gain']} (--saturation scales it)"))
    ev = card.get("evaluation") if isinstance(card.get("evaluation"), dict) else {}
    scores = ev.get("scores") or card.get("scores")
    if isinstance(scores, dict):
        shown = [(label, _mean(scores, key)) for label, key in
                 (("AuC", "auc"), ("max-channel", "max_channel"), ("colourfulness", "colourfulness"),
                  ("PSNR", "psnr"), ("CIEDE2000", "ciede2000"))]
        text = ", ".join(f"{label} {v:.2f}" for label, v in shown if v is not None)
        if ev.get("images_scored"):
            text += f" on {ev['images_scored']} photos"
        gray = _mean(ev.get("gray_baseline") or {}, "auc")
        if gray is not None:
            text += f" (gray baseline: AuC {gray:.2f})"
        lines.append(("scores", text))
    if card.get("weaknesses"):
        lines.append(("weaknesses", str(card["weaknesses"])))
    return lines


def public_card(name: str, card: dict) -> dict:
    """The card as the web page shows it (``/api/models``): the figures and notes a user reads,
    not the training record (paths, run settings, history; those are in ``docs/models``)."""
    if not card:
        return {}
    out = {key: card[key] for key in ("architecture", "parameters", "chroma_gain", "train_images",
                                      "weaknesses") if card.get(key) is not None}
    for key, fn in (("quality", quality), ("speed", speed), ("licence", licence)):
        if (text := fn(card)) is not None:
            out[key] = text
    ev = card.get("evaluation") if isinstance(card.get("evaluation"), dict) else {}
    if isinstance(ev.get("scores"), dict):
        out["evaluation"] = {
            "images_scored": ev.get("images_scored"),
            **{part: {k: {"mean": _mean(ev[part], k)} for k in SHOWN_SCORES if _mean(ev[part], k) is not None}
               for part in ("scores", "gray_baseline") if isinstance(ev.get(part), dict)}}
    out["history"] = f"docs/models/{name}.md"
    return out
