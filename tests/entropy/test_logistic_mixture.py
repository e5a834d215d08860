"""Discretised logistic mixture: exact integer tables, round trips with escapes, real rates."""

import numpy as np
import pytest
import torch

from hyco.entropy.logistic_mixture import (
    LogisticMixtureConditional,
    exp_table,
    sigmoid_table,
    split_parameters,
)
from hyco.errors import CorruptStream

K, M = 3, 8


def _params(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Fixed-point (2**-10) hyper outputs: logits, means, scales for K components."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(1, K * M, h, w, generator=g) * 2
    means = torch.randn(1, K * M, h, w, generator=g) * 4
    scales = torch.rand(1, K * M, h, w, generator=g) * 3 + 0.05
    return torch.round(torch.cat([logits, means, scales], 1) * 1024).to(torch.int64)


def _sample(params: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """Latents drawn from the mixture itself (so the coded rate can be checked)."""
    logits, means, scales = (p.double() / 1024 for p in split_parameters(params, K))
    g = torch.Generator().manual_seed(seed)
    comp = torch.distributions.Categorical(logits=logits.movedim(1, -1)).sample()
    mu = means.gather(1, comp.unsqueeze(1)).squeeze(1)
    s = scales.clamp(0.11, 32).gather(1, comp.unsqueeze(1)).squeeze(1)
    u = torch.rand(mu.shape, generator=g, dtype=torch.float64).clamp(1e-9, 1 - 1e-9)
    return (mu + s * torch.log(u / (1 - u))).float()


def test_tables_are_exact_integer_functions():
    s = sigmoid_table()
    assert s.dtype == np.int64 and s.size == 2 * 16 * 256 + 1
    assert s[4096] == 2**31  # sigmoid(0) = 1/2
    assert np.all(np.diff(s) >= 0) and np.array_equal(s + s[::-1], np.full(s.size, 2**32))
    t = np.arange(-4096, 4097) / 256
    assert np.abs(s / 2**32 - 1 / (1 + np.exp(-t))).max() < 2**-32
    e = exp_table()
    assert e[0] == 2**16 and np.abs(e / 2**16 - np.exp(-np.arange(e.size) / 64)).max() < 2**-16


def test_round_trip_with_escapes_and_rate_close_to_the_estimate():
    params = _params(12, 16)
    y = _sample(params)
    y[0, 0, 0, 0] = 900.0  # far outside every window: escaped, coded exactly
    y[0, 1, 2, 3] = -3000.0
    lm = LogisticMixtureConditional(K)
    data, y_hat = lm.compress(y, params)
    assert torch.equal(y_hat, torch.round(y))
    assert torch.equal(lm.decompress(data, params), y_hat)
    lik = lm.likelihood(y_hat, params.float() / 1024)
    inlier = torch.ones_like(y_hat, dtype=torch.bool)
    inlier[0, 0, 0, 0] = inlier[0, 1, 2, 3] = False
    est = float(-torch.log2(lik[inlier]).sum())
    assert est > 2000
    assert 8 * len(data) < est * 1.03 + 200  # table rounding + two escapes + word padding


def test_corrupt_streams_fail_cleanly():
    params = _params(4, 4)
    lm = LogisticMixtureConditional(K)
    data, _ = lm.compress(_sample(params), params)
    with pytest.raises(CorruptStream):
        lm.decompress(data[:-1], params)
    with pytest.raises(CorruptStream):
        lm.decompress(data + b"\0\0\0\1", params)


def test_training_likelihood_is_a_distribution():
    lm = LogisticMixtureConditional(K)
    params = _params(2, 3).float() / 1024
    v = torch.arange(-200, 201).float().view(-1, 1, 1, 1)
    total = sum(lm.likelihood(x.expand(1, M, 2, 3), params) for x in v)
    assert torch.allclose(total, torch.ones_like(total), atol=1e-3)


def test_escapes_from_windows_that_exclude_zero():
    """Windows far from 0 (here 35..45 and -45..-35): values escaping on either side of
    them, with either sign, still come back exactly."""
    params = _params(2, 2)
    logits, means, scales = split_parameters(params, K)
    means[:, :, :4] = 40 * 1024
    means[:, :, 4:] = -40 * 1024
    scales[:] = 512  # 0.5: windows of about 11 values
    y = torch.tensor([2.0, 100.0, -7.0, 41.0, -2.0, 7.0, -100.0, -40.0]).view(1, 8, 1, 1)
    y = y.expand(1, M, 2, 2).contiguous()
    lm = LogisticMixtureConditional(K)
    data, y_hat = lm.compress(y, params)
    assert torch.equal(lm.decompress(data, params), y_hat)
