"""Generalized divisive normalization (Ballé et al. 2016), and its inverse for synthesis."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyco.nn.ops import lower_bound

_PEDESTAL = 2.0**-18


class GDN(nn.Module):
    """y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)  (or times, when ``inverse``).

    beta and gamma are kept non-negative by a squared reparametrisation with a small
    pedestal, which keeps gradients alive near zero (as in Ballé's implementation).
    """

    def __init__(self, channels: int, inverse: bool = False,
                 beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self._beta_bound = (beta_min + _PEDESTAL) ** 0.5
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + _PEDESTAL))
        gamma = gamma_init * torch.eye(channels)
        self.gamma = nn.Parameter(torch.sqrt(gamma + _PEDESTAL))

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        beta = lower_bound(self.beta, self._beta_bound) ** 2 - _PEDESTAL
        gamma = lower_bound(self.gamma, _PEDESTAL**0.5) ** 2 - _PEDESTAL
        norm = F.conv2d(x * x, gamma.view(c, c, 1, 1), beta)
        norm = torch.sqrt(norm)
        return x * norm if self.inverse else x / norm
