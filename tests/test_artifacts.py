"""No invented stripes, bands or borders: the shipped default's chroma must not change sharply
where lightness is flat (:func:`colorizer.metrics.flat_chroma_edges`), on the bundled sample and
on a few eval photos. The from-scratch gan of v0.1 fails this on its own demo picture
(test_metrics.py::test_flat_chroma_edges_flags_the_v0_1_demo_stripes)."""

from importlib import resources

import numpy as np
import pytest

from colorizer import metrics

#: Percent of flagged pixels allowed in the worst border strip, and in the whole picture. The v0.1
#: demo picture had 4.3 and 0.41.
MAX_BORDER = 1.0
MAX_SHARE = 0.3

#: The v0.1 gan banded the first two.
EVAL_PHOTOS = ("set14/flowers.png", "set14/pepper.png", "set14/face.png", "val20/001.png")


@pytest.mark.slow
def test_default_demo_and_eval_photos_have_no_bands(shared_data):
    import colorizer

    sample = resources.files("colorizer") / "assets" / "sample_grey.jpg"
    paths = [str(sample)] + [str(shared_data / "photos" / "eval" / p) for p in EVAL_PHOTOS]
    found = {}
    for path in paths:
        out = np.asarray(colorizer.colorize(path).convert("RGB"))
        found[path] = metrics.flat_chroma_edges(out)
    bad = {p: r for p, r in found.items() if r["border"] > MAX_BORDER or r["share"] > MAX_SHARE}
    assert not bad, bad
