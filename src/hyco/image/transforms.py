"""The analysis/synthesis transforms of Ballé 2018 / Minnen 2018 (CompressAI's layout)."""

from __future__ import annotations

from torch import nn

from hyco.nn.gdn import GDN
from hyco.nn.ops import conv, deconv


def analysis(n: int, m: int) -> nn.Sequential:
    """x (3 ch) -> y (m ch) at 1/16 resolution: four 5x5 stride-2 convs with GDN."""
    return nn.Sequential(conv(3, n), GDN(n), conv(n, n), GDN(n), conv(n, n), GDN(n), conv(n, m))


def synthesis(n: int, m: int) -> nn.Sequential:
    return nn.Sequential(
        deconv(m, n), GDN(n, inverse=True), deconv(n, n), GDN(n, inverse=True),
        deconv(n, n), GDN(n, inverse=True), deconv(n, 3))


def hyper_analysis(n: int, m: int, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """y (m ch) -> z (n ch) at 1/4 of y's resolution."""
    return nn.Sequential(conv(m, n, 3, 1), act(), conv(n, n), act(), conv(n, n))


def scale_synthesis(n: int, m: int) -> nn.Sequential:
    """z -> scales of y (non-negative through the final ReLU)."""
    return nn.Sequential(deconv(n, n), nn.ReLU(), deconv(n, n), nn.ReLU(),
                         conv(n, m, 3, 1), nn.ReLU())


def mean_scale_synthesis(n: int, m: int, hidden: int | None = None) -> nn.Sequential:
    """z -> (scales, means) of y, 2m channels; hidden widths ``hidden`` and 1.5x it
    (default: m, CompressAI's layout)."""
    h = hidden or m
    return nn.Sequential(deconv(n, h), nn.LeakyReLU(), deconv(h, h * 3 // 2), nn.LeakyReLU(),
                         conv(h * 3 // 2, m * 2, 3, 1))
