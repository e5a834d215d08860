"""The shipped default model against its recorded results on the bundled photo.

A weights file that changes by accident (or a change in what the codec computes with it) moves
these figures and fails here. After a training round commits new weights, re-record them with
``python tests/test_shipped.py`` (it prints the lines to paste below) and note the round in
BENCHMARKS.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hyco import api, zoo
from hyco.eval.metrics import psnr

SAMPLE = Path(zoo.__file__).parent / "data" / "sample.png"

# digest of the shipped mean-scale-vr weights, and per quality: (bytes on disk, PSNR dB)
DIGEST = "00c0058270370658"
RECORDED = {2: (9956, 28.87), 6: (33388, 33.93)}


def measure(quality: int) -> tuple[int, float]:
    arr = np.asarray(Image.open(SAMPLE).convert("RGB"))
    data = api.compress(arr, quality=quality)  # the default model, as `hyco compress` uses it
    return len(data), psnr(api.decompress(data), arr)


def test_default_model_is_shipped_and_trained():
    assert zoo.DEFAULT_MODEL == "mean-scale-vr"
    path = zoo.shipped_weights(zoo.DEFAULT_MODEL, zoo.DEFAULT_QUALITY)
    assert path is not None, "the default model has no shipped weights"
    meta = zoo.weights_metadata(path)
    assert meta["digest"] == DIGEST, (
        f"shipped weights changed ({meta['digest']}); re-record: python tests/test_shipped.py")
    assert int(meta["steps"]) > 0


@pytest.mark.parametrize("quality", sorted(RECORDED))
def test_default_model_within_band_of_recorded_figures(quality):
    size, db = measure(quality)
    want_size, want_db = RECORDED[quality]
    assert abs(size - want_size) <= 0.01 * want_size, (size, want_size)
    assert abs(db - want_db) <= 0.05, (db, want_db)


def test_higher_quality_costs_more_and_looks_better():
    (lo_size, lo_db), (hi_size, hi_db) = (RECORDED[q] for q in sorted(RECORDED))
    assert hi_size > 1.5 * lo_size and hi_db > lo_db + 1.0


if __name__ == "__main__":
    path = zoo.shipped_weights(zoo.DEFAULT_MODEL, zoo.DEFAULT_QUALITY)
    print(f'DIGEST = "{zoo.weights_metadata(path)["digest"]}"')
    figures = {q: measure(q) for q in sorted(RECORDED)}
    print("RECORDED = {" + ", ".join(f"{q}: ({n}, {db:.2f})" for q, (n, db) in figures.items())
          + "}")
