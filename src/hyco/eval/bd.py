"""Bjøntegaard delta metrics, one pinned method.

BD-rate: for each curve, log(bpp) is interpolated as a function of quality (PSNR or any
metric) with piecewise-cubic Hermite (PCHIP, Fritsch-Carlson) through the measured points;
the mean difference of log-rate over the overlapping quality interval gives
``BD-rate = exp(mean(log R_test - log R_anchor)) - 1`` (in %; negative = fewer bits).
BD-quality swaps the roles (quality as a function of log-rate). Integrals use composite
Simpson on 2001 points, far below measurement noise.
"""

from __future__ import annotations

import math

import numpy as np


def _clean(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by x and keep a strictly increasing x (PCHIP needs it)."""
    order = np.argsort(x, kind="stable")
    x, y = np.asarray(x, float)[order], np.asarray(y, float)[order]
    keep = np.concatenate([[True], np.diff(x) > 0])
    return x[keep], y[keep]


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    h = np.diff(x)
    delta = np.diff(y) / h
    n = x.size
    d = np.zeros(n)
    if n == 2:
        return np.full(2, delta[0])
    for k in range(1, n - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    # one-sided, shape-preserving end slopes
    for end, (h0, h1, d0, d1) in ((0, (h[0], h[1], delta[0], delta[1])),
                                  (n - 1, (h[-1], h[-2], delta[-1], delta[-2]))):
        s = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(s) != np.sign(d0):
            s = 0.0
        elif np.sign(d0) != np.sign(d1) and abs(s) > abs(3 * d0):
            s = 3 * d0
        d[end] = s
    return d


def pchip(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Evaluate the PCHIP interpolant of (x, y) at ``at`` (inside [x0, xn])."""
    d = _pchip_slopes(x, y)
    k = np.clip(np.searchsorted(x, at, side="right") - 1, 0, x.size - 2)
    h = x[k + 1] - x[k]
    t = (at - x[k]) / h
    h00, h10 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t
    h01, h11 = -2 * t**3 + 3 * t**2, t**3 - t**2
    return h00 * y[k] + h10 * h * d[k] + h01 * y[k + 1] + h11 * h * d[k + 1]


def _mean_over(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    grid = np.linspace(lo, hi, 2001)
    v = pchip(x, y, grid)
    step = (hi - lo) / 2000
    integral = step / 3 * (v[0] + v[-1] + 4 * v[1:-1:2].sum() + 2 * v[2:-1:2].sum())
    return integral / (hi - lo)


def bd_rate(anchor_bpp, anchor_quality, test_bpp, test_quality) -> float:
    """BD-rate of test vs anchor in percent (NaN when the curves do not overlap)."""
    qa, ra = _clean(np.asarray(anchor_quality), np.log(np.asarray(anchor_bpp, float)))
    qt, rt = _clean(np.asarray(test_quality), np.log(np.asarray(test_bpp, float)))
    if qa.size < 2 or qt.size < 2:
        return math.nan
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    if hi <= lo:
        return math.nan
    diff = _mean_over(qt, rt, lo, hi) - _mean_over(qa, ra, lo, hi)
    return (math.exp(diff) - 1) * 100


def bd_quality(anchor_bpp, anchor_quality, test_bpp, test_quality) -> float:
    """BD-PSNR (or BD of any quality metric): mean quality gain at equal rate."""
    ra, qa = _clean(np.log(np.asarray(anchor_bpp, float)), np.asarray(anchor_quality))
    rt, qt = _clean(np.log(np.asarray(test_bpp, float)), np.asarray(test_quality))
    if ra.size < 2 or rt.size < 2:
        return math.nan
    lo, hi = max(ra[0], rt[0]), min(ra[-1], rt[-1])
    if hi <= lo:
        return math.nan
    return _mean_over(rt, qt, lo, hi) - _mean_over(ra, qa, lo, hi)
