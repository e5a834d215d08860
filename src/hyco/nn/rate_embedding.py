"""Embedding of the rate-distortion trade-off (log2 lambda) that a decoder computes exactly.

QARV feeds lambda to every block through an embedding: sinusoids of log-lambda, then an MLP.
Sines differ in their last bit between math libraries, and this embedding selects
probability tables (through the prior), so here the sinusoids are replaced by a *hat basis*:
``knots`` triangular functions of log2(lambda) evenly spaced over the range. Any piecewise
linear function of log-lambda is a linear map of it, and in fixed point it is exact integer
arithmetic. The file stores the rate as an integer code, ``round(log2(lambda) * 2**12)``, so
the decoder needs nothing else.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hyco.nn.exact_layers import (
    ONE,
    ExactConv2d,
    ExactSequential,
    HardGELU,
    div_round,
    to_fixed,
)
from hyco.nn.ops import lower_bound

KNOTS = 16


def lmbda_code(log2_lmbda: float) -> int:
    """The integer a file stores for a rate: log2(lambda) in units of 2**-FRAC_BITS."""
    return round(log2_lmbda * ONE)


class LogLambdaEmbedding(nn.Module):
    """log2(lambda) in [lo, hi] (integers) -> (B, dim, 1, 1) through hat basis and an MLP."""

    def __init__(self, lo: int, hi: int, dim: int, knots: int = KNOTS):
        super().__init__()
        self.lo, self.hi, self.knots = lo, hi, knots
        self.mlp = ExactSequential(ExactConv2d(knots, dim, 1), HardGELU(),
                                   ExactConv2d(dim, dim, 1))

    def basis(self, log2_lmbda: Tensor) -> Tensor:
        """(B,) float -> (B, knots, 1, 1): hat functions of the position along the range."""
        s = (self.knots - 1) * (log2_lmbda.float() - self.lo) / (self.hi - self.lo)
        j = torch.arange(self.knots, device=s.device, dtype=s.dtype)
        return torch.relu(1 - (s.view(-1, 1) - j).abs()).view(-1, self.knots, 1, 1)

    def basis_exact(self, codes: Tensor) -> Tensor:
        """(B,) int64 codes -> the same basis in fixed point, by integer arithmetic."""
        s = div_round((self.knots - 1) * (codes.view(-1, 1) - self.lo * ONE), self.hi - self.lo)
        j = torch.arange(self.knots, dtype=torch.int64) * ONE
        return (ONE - (s - j).abs()).clamp_min(0).view(-1, self.knots, 1, 1)

    def forward(self, log2_lmbda: Tensor) -> Tensor:
        return self.mlp(self.basis(log2_lmbda).to(self.mlp[0].weight.device))

    def exact(self, codes: Tensor) -> Tensor:
        return self.mlp.exact(self.basis_exact(codes.cpu().to(torch.int64)))


class RateGain(nn.Module):
    """A latent's per-channel gain and log-scale offset as functions of lambda (gain units).

    Rate follows the quantisation step: a gain g scales the posterior and the prior mean
    before rounding (the decoder divides it back out), an offset shifts the prior's
    log-scale to match. Both are linear in the hat basis, so each lambda bin owns its
    values, learnt from its own images from the first step, and a decoder computes them
    with integer multiply-adds. Initialised to g = sqrt(lambda / lambda_mid): the step
    size that balances MSE against rate for a uniform quantiser.
    """

    MIN_GAIN = 1 / 64

    def __init__(self, channels: int, lo: int, hi: int, knots: int = KNOTS):
        super().__init__()
        log2 = lo + (hi - lo) * torch.arange(knots, dtype=torch.float64) / (knots - 1)
        g0 = torch.pow(2.0, (log2 - (lo + hi) / 2) / 2).float()
        self.gain = nn.Parameter(g0.view(-1, 1).repeat(1, channels))
        self.log_gain = nn.Parameter(torch.log(g0).view(-1, 1).repeat(1, channels))

    def forward(self, basis: Tensor) -> tuple[Tensor, Tensor]:
        """(B, knots, 1, 1) float basis -> gain and log-scale offset, (B, C, 1, 1) each."""
        b = basis.flatten(1).float()
        shape = (b.shape[0], -1, 1, 1)
        with torch.autocast(b.device.type, enabled=False):  # the step size stays float32
            gain = lower_bound(b @ self.gain.float(), self.MIN_GAIN)
            return gain.view(shape), (b @ self.log_gain.float()).view(shape)

    def exact(self, basis: Tensor) -> tuple[Tensor, Tensor]:
        """The same from the fixed-point basis, in fixed point (integer matmuls)."""
        b = basis.flatten(1)
        shape = (b.shape[0], -1, 1, 1)
        g = div_round(b @ to_fixed(self.gain), ONE).clamp_min(round(self.MIN_GAIN * ONE))
        return g.view(shape), div_round(b @ to_fixed(self.log_gain), ONE).view(shape)
