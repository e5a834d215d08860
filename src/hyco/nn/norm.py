"""ChannelNorm (Mentzer et al. 2020): normalise each pixel over its channels.

HiFiC's encoder and generator normalise every spatial position by the mean and variance
of its channels, with a learned per-channel scale and offset. Unlike instance norm it uses
no statistics over the image, so a 256-px training crop and a 4K image are normalised the
same way (the paper traces InstanceNorm's darkening artefacts on large images to exactly
that mismatch), and unlike batch norm it needs no running statistics.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hyco.nn.exact_layers import FRAC_BITS, ONE, clamp, div_round, isqrt

_EXTRA_BITS = 5  # extra precision of the exact standard deviation (var << 10 < 2**62)


class ChannelNorm2d(nn.Module):
    """y = (x - mean_c(x)) / sqrt(var_c(x) + eps) * gamma + beta, per pixel.

    The variance is the unbiased one (divide by C - 1), as in the reference implementation.
    Computed in float32 even under bf16 autocast: a variance over a few hundred channels
    in bfloat16 would lose most of its bits.
    """

    def __init__(self, channels: int, eps: float = 1e-3):
        super().__init__()
        if channels < 2:
            raise ValueError("ChannelNorm needs at least two channels")
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        x = x.float()
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, keepdim=True, unbiased=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.gamma + self.beta

    def exact(self, a: Tensor) -> Tensor:
        """The same function on int64 fixed point (:mod:`hyco.nn.exact_layers`), in integer
        arithmetic only: identical on every machine and thread count."""
        c = a.shape[1]
        d = a - div_round(a.sum(1, keepdim=True), c)
        var = div_round((d * d).sum(1, keepdim=True), c - 1) + round(self.eps * ONE * ONE)
        std = isqrt(var << (2 * _EXTRA_BITS))  # units 2**-(FRAC_BITS + _EXTRA_BITS)
        normed = div_round(d << (FRAC_BITS + _EXTRA_BITS), std)
        gamma = torch.round(self.gamma.detach().cpu().double() * ONE).to(torch.int64)
        beta = torch.round(self.beta.detach().cpu().double() * ONE).to(torch.int64)
        return clamp(div_round(normed * gamma, ONE) + beta)
