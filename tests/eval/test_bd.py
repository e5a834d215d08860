import math

import numpy as np
import pytest

from hyco.eval.bd import bd_quality, bd_rate, pchip

BPP = [0.12, 0.25, 0.5, 0.9, 1.6]
PSNR = [27.0, 29.5, 32.4, 35.1, 38.3]


def test_against_itself_is_zero():
    assert bd_rate(BPP, PSNR, BPP, PSNR) == pytest.approx(0, abs=1e-9)
    assert bd_quality(BPP, PSNR, BPP, PSNR) == pytest.approx(0, abs=1e-9)


def test_rates_scaled_by_09_is_minus_10_percent():
    assert bd_rate(BPP, PSNR, [0.9 * b for b in BPP], PSNR) == pytest.approx(-10, abs=1e-9)
    assert bd_rate(BPP, PSNR, [1.25 * b for b in BPP], PSNR) == pytest.approx(25, abs=1e-9)


def test_hand_computed_linear_case():
    # anchor: log R = 0.2 D - 7 ; test: log R = 0.2 D - 7 + 0.1 + 0.01 (D - 30)
    d_anchor = np.array([26.0, 30.0, 34.0, 38.0])
    d_test = np.array([28.0, 31.0, 34.0, 40.0])
    anchor = np.exp(0.2 * d_anchor - 7)
    test = np.exp(0.2 * d_test - 7 + 0.1 + 0.01 * (d_test - 30))
    # overlap [28, 38]: mean diff = 0.1 + 0.01 * (33 - 30) = 0.13
    assert bd_rate(anchor, d_anchor, test, d_test) == pytest.approx(
        (math.exp(0.13) - 1) * 100, rel=1e-9)


def test_bd_psnr_of_a_constant_shift():
    assert bd_quality(BPP, PSNR, BPP, [p + 0.75 for p in PSNR]) == pytest.approx(0.75)


def test_order_and_no_overlap():
    shuffled = [3, 0, 4, 1, 2]
    assert bd_rate(BPP, PSNR, [BPP[i] * 0.8 for i in shuffled],
                   [PSNR[i] for i in shuffled]) == pytest.approx(-20)
    assert math.isnan(bd_rate(BPP, PSNR, BPP, [p + 50 for p in PSNR]))


def test_pchip_is_monotone_and_interpolates():
    x = np.array([0.0, 1.0, 2.0, 5.0])
    y = np.array([0.0, 0.1, 3.0, 3.1])
    assert np.allclose(pchip(x, y, x), y)
    v = pchip(x, y, np.linspace(0, 5, 500))
    assert np.all(np.diff(v) >= -1e-12)
