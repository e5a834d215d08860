"""Residual blocks for wide, low-resolution generator trunks (HiFiC's G)."""

from __future__ import annotations

from torch import Tensor, nn

from hyco.nn.exact_convs import ExactConv
from hyco.nn.exact_layers import clamp
from hyco.nn.norm import ChannelNorm2d


class ResidualBlock(nn.Module):
    """x + norm(conv(relu(norm(conv(x))))), 3x3 'same' convolutions, width preserved.

    The identity path lets a stack of blocks start as (almost) the identity, so a deep
    trunk at 1/16 resolution trains as easily as a shallow one.
    """

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, kernel, padding=pad), ChannelNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel, padding=pad), ChannelNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)

    def exact(self, a: Tensor, convs: dict[str, ExactConv], prefix: str) -> Tensor:
        """Integer-exact twin on int64 fixed point; ``convs`` holds the quantised convs by
        name (:func:`hyco.nn.exact_convs.quantize_all` of an enclosing module)."""
        t = convs[f"{prefix}.body.0"](a)
        t = self.body[1].exact(t).clamp_min(0)
        t = self.body[4].exact(convs[f"{prefix}.body.3"](t))
        return clamp(a + t)
