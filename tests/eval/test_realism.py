"""Realism statistics: blur is caught, matching texture is not penalised."""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from hyco.eval.realism import (
    gradient_histogram,
    js_divergence,
    luma,
    radial_power_spectrum,
    realism,
)


def _textured(seed: int, size: int = 128) -> np.ndarray:
    """A smooth layout (the same for every seed) plus seed-dependent fine texture."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = 120 + 60 * np.sin(6 * xx) * np.cos(4 * yy)
    texture = np.random.default_rng(seed).normal(0, 18, (size, size))
    img = np.clip(base + texture, 0, 255)
    return np.repeat(img[..., None], 3, axis=2).round().astype(np.uint8)


def _blur(arr: np.ndarray, radius: float = 2.0) -> np.ndarray:
    return np.asarray(Image.fromarray(arr).filter(ImageFilter.GaussianBlur(radius)))


def test_identical_images_score_zero():
    a = _textured(0)
    r = realism(a, a)
    assert r["spectrum_gap_db"] == pytest.approx(0.0, abs=1e-9)
    assert r["gradient_js"] == pytest.approx(0.0, abs=1e-12)


def test_blur_is_penalised_but_other_texture_of_the_same_kind_is_not():
    orig = _textured(0)
    blurred = realism(_blur(orig), orig)
    regenerated = realism(_textured(1), orig)  # different pixels, same statistics
    assert blurred["spectrum_gap_db"] < -10
    assert abs(regenerated["spectrum_gap_db"]) < 1
    assert blurred["gradient_js"] > 0.3
    assert regenerated["gradient_js"] < 0.02


def test_building_blocks():
    f, p = radial_power_spectrum(np.zeros((16, 16)))
    assert len(f) == len(p) == 64 and f[0] > 0 and f[-1] < 0.5 and not p.any()
    with pytest.raises(ValueError):
        radial_power_spectrum(np.zeros((4, 4)))
    h = gradient_histogram(luma(_textured(2)))
    assert h.sum() == pytest.approx(1.0) and (h >= 0).all()
    assert js_divergence(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        realism(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))
