"""HiFiC's rate controller: lambda_a above the target, lambda_b below, relaxed at first."""

import pytest

from hyco.train.rate_control import RATE_WEIGHT_BELOW, RateControl


def test_regimes_targets_and_weights():
    low = RateControl.for_regime("low", total_steps=1000)
    high = RateControl.for_regime("high", total_steps=1000)
    assert (low.target, high.target) == (0.14, 0.45)
    assert low.relax_steps == 50  # the paper's 50k of 1M steps
    step = 500
    assert low.weight(step, 0.30) == 2.0  # above its target: lambda_a
    assert high.weight(step, 0.30) == RATE_WEIGHT_BELOW == 2.0**-4  # below its target
    assert high.weight(step, 0.50) == 0.5
    assert RateControl.for_regime("med", 10).weight(9, 0.31) == 1.0
    with pytest.raises(KeyError):
        RateControl.for_regime("ultra", 10)


def test_early_steps_relax_target_and_halve_weights():
    low = RateControl.for_regime("low", total_steps=1000)
    assert low.target_at(0) == pytest.approx(0.20) and low.target_at(50) == 0.14
    assert low.weight(10, 0.19) == RATE_WEIGHT_BELOW / 2  # below the relaxed target
    assert low.weight(10, 0.25) == 1.0  # above it: lambda_a, halved
    assert RateControl.for_regime("low", 1000, above=3.0).weight(900, 1.0) == 3.0  # --lmbda
