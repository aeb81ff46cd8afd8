"""The documentation site builds with warnings as errors (``mkdocs build --strict``).

Strict mode turns every warning into a failure: a page missing from the navigation, a broken
link or anchor, a docstring whose parameters do not match its function, a CLI command the
generated reference cannot read.
"""

import subprocess
import sys

import pytest
from helpers import ROOT

pytest.importorskip("mkdocs", reason="the docs need the docs extra: pip install -e '.[docs]'")
pytest.importorskip("mkdocstrings", reason="the docs need the docs extra: pip install -e '.[docs]'")
pytest.importorskip("mkdocs_click", reason="the docs need the docs extra: pip install -e '.[docs]'")


@pytest.mark.slow
def test_docs_build_strictly_without_warnings(tmp_path):
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
