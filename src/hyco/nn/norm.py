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
