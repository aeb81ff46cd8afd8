"""The documentation: its guide pages speak plainly, and the site builds with warnings as errors
(``mkdocs build --strict``).

Strict mode turns every warning into a failure: a page missing from the navigation, a broken
link or anchor, a docstring whose parameters do not match its function, a CLI command the
generated reference cannot read.
"""

import re
import subprocess
import sys

import pytest
from helpers import ROOT

#: The pages written for users (the model cards, which keep the models' history, are not among them).
GUIDE = [ROOT / "docs" / "index.md", ROOT / "docs" / "getting-started.md",
         *sorted((ROOT / "docs" / "how-to").glob("*.md"))]


def test_guide_pages_speak_plainly():
    """No project-history words in the guide ("seed", "issue", "bar", "stage")."""
    history = re.compile(r"\b(seeds?|issues?|bars?|stages?)\b", re.IGNORECASE)
    found = [f"{page.name}:{n}: {line.strip()}" for page in GUIDE
             for n, line in enumerate(page.read_text().splitlines(), 1) if history.search(line)]
    assert len(GUIDE) >= 7 and not found, "\n".join(found)


@pytest.mark.slow
def test_docs_build_strictly_without_warnings(tmp_path):
    for module in ("mkdocs", "mkdocstrings", "mkdocs_click"):
        pytest.importorskip(module, reason="the docs need the docs extra: pip install -e '.[docs]'")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert proc.returncode == 0 and not warnings, log[-5000:]
    # the generated pages hold what they are generated from
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "colorize image" in cli and "--saturation" in cli and "colorize train" in cli
    api = (site / "reference" / "api" / "index.html").read_text()
    assert "colorizer.api.colorize" in api and "Working resolution" in api
    assert (site / "models" / "gan" / "index.html").exists()
