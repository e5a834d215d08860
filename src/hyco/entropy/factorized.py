"""Non-parametric factorized density (Ballé et al. 2018, appendix 6.1), one per channel.

The cumulative is a monotone function of x built from K layers per channel: matrices kept
positive by softplus, biases, and ``x + tanh(a) * tanh(x)`` factors between layers; the last
layer's sigmoid is the CDF. Likelihoods of integers are CDF differences. Three learned
quantiles per channel (tail, median, tail) bound the integer tables; they are trained by
:meth:`aux_loss`, which the training loop adds for the user.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyco.entropy.coder import TableSet, decode, encode, quantize_pmf
from hyco.entropy.gaussian import LIKELIHOOD_BOUND
from hyco.nn.derived import Derived
from hyco.nn.ops import lower_bound

_MAX_HALF_RANGE = 1 << 14  # no table spans more than this either side of the median


class FactorizedDensity(nn.Module):
    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3),
                 init_scale: float = 10.0, tail_mass: float = 1e-9):
        super().__init__()
        self.channels = channels
        self.tail_mass = tail_mass
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        target = math.log(2 / tail_mass - 1)
        self.quantiles = nn.Parameter(
            torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        self.register_buffer("_target", torch.tensor([-target, 0.0, target]), persistent=False)
        self._tables: Derived[tuple[TableSet, Tensor]] = Derived(FactorizedDensity._build_tables)

    # -- density ---------------------------------------------------------------------------
    def _logits_cdf(self, x: Tensor, detach: bool = False) -> Tensor:
        """x: (C, 1, N) -> logits of the CDF, (C, 1, N)."""
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases, strict=True)):
            m, b = (matrix.detach(), bias.detach()) if detach else (matrix, bias)
            x = torch.matmul(F.softplus(m).to(x.dtype), x) + b.to(x.dtype)
            if i < len(self.factors):
                f = self.factors[i].detach() if detach else self.factors[i]
                x = x + torch.tanh(f).to(x.dtype) * torch.tanh(x)
        return x

    @property
    def medians(self) -> Tensor:
        return self.quantiles[:, 0, 1].detach()

    def likelihood(self, x: Tensor) -> Tensor:
        """P(integer bin around x) for x of shape (B, C, H, W); always in float32 or wider."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._likelihood(x if x.dtype == torch.float64 else x.float())

    def _likelihood(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        v = x.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower = self._logits_cdf(v - 0.5)
        upper = self._logits_cdf(v + 0.5)
        sign = -torch.sign(lower + upper).detach()  # evaluate in the flatter tail
        lik = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        lik = lower_bound(lik, LIKELIHOOD_BOUND)
        return lik.reshape(c, b, h, w).permute(1, 0, 2, 3)

    def quantize(self, x: Tensor, noise: bool) -> Tensor:
        if noise:
            return x + torch.empty_like(x).uniform_(-0.5, 0.5)
        m = self.medians.view(1, -1, 1, 1).to(x.dtype)
        return torch.round(x - m) + m

    def aux_loss(self) -> Tensor:
        """Pulls the quantiles to the tails and median of the density (detached from it)."""
        with torch.autocast(device_type=self.quantiles.device.type, enabled=False):
            logits = self._logits_cdf(self.quantiles, detach=True)
        return torch.abs(logits - self._target.view(1, 1, 3)).sum()

    # -- coding ----------------------------------------------------------------------------
    def _build_tables(self) -> tuple[TableSet, Tensor]:
        with torch.no_grad():
            q = self.quantiles.detach().double()[:, 0, :]
            med = q[:, 1]
            lo = torch.floor(q[:, 0] - med).clamp(-_MAX_HALF_RANGE, 0).to(torch.int64)
            hi = torch.ceil(q[:, 2] - med).clamp(0, _MAX_HALF_RANGE).to(torch.int64)
            width = int((hi - lo).max()) + 1
            v = torch.arange(width, dtype=torch.float64).view(1, 1, -1)
            pts = med.view(-1, 1, 1) + lo.view(-1, 1, 1).double() + v
            cdf_lo = torch.sigmoid(self._logits_cdf(pts - 0.5, detach=True))[:, 0]
            cdf_hi = torch.sigmoid(self._logits_cdf(pts + 0.5, detach=True))[:, 0]
            pmf = (cdf_hi - cdf_lo).clamp_min(0).numpy()
            n = (hi - lo + 1).numpy()
            freqs = []
            for c in range(self.channels):
                tail = float(cdf_lo[c, 0]) + (1.0 - float(cdf_hi[c, n[c] - 1]))
                freqs.append(quantize_pmf(np.append(pmf[c, : n[c]], max(tail, 0.0))))
        return TableSet(freqs, (-lo).numpy()), self.quantiles.detach()[:, 0, 1].clone()

    def tables(self) -> tuple[TableSet, Tensor]:
        """Integer tables and the medians they are centred on (cached until weights change)."""
        return self._tables.get(self)

    def compress(self, x: Tensor) -> tuple[bytes, Tensor]:
        """Code x (B, C, H, W) rounded around the medians; returns stream and dequantised x."""
        tables, med = self.tables()
        x = x.cpu()
        m = med.cpu().view(1, -1, 1, 1).to(x.dtype)
        symbols = torch.round(x - m)
        idx = torch.arange(self.channels).view(1, -1, 1, 1).expand_as(x)
        data = encode(symbols.to(torch.int64).numpy(), idx.numpy(), tables)
        return data, symbols + m

    def decompress(self, data: bytes, shape: tuple[int, int, int, int]) -> Tensor:
        tables, med = self.tables()
        idx = torch.arange(self.channels).view(1, -1, 1, 1).expand(shape)
        symbols = torch.from_numpy(decode(data, idx.numpy(), tables)).to(torch.float32)
        return symbols + med.cpu().view(1, -1, 1, 1)
