"""Weights quantised to N-bit integers with one step per tensor, for networks that are bitstreams.

When a network's weights *are* the coded data (an overfitted video representation), each
tensor is stored as integers ``q`` in ``[-(2**(N-1) - 1), 2**(N-1) - 1]`` and a step. The step
is itself a short binary number, ``mantissa * 2**-exponent`` with a 12-bit mantissa, so that

- ``q * step`` is exact in float32 (at most 23 significant bits), so quantisation-aware
  training sees exactly the weights the decoder will have, and
- a decoder applies the step in exact integer arithmetic (multiply by the mantissa, shift by
  the exponent with rounding): no float rounding can differ between machines.

:func:`fake_quant` is the training-time twin (straight-through gradients, optionally on a
random fraction of the weights: Quant-Noise, Fan et al. 2020, as HiNeRV uses it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from hyco.nn.exact_layers import FRAC_BITS, LIMIT, div_round

MANTISSA_BITS = 12
MIN_BITS, MAX_BITS = 2, 12
MAX_EXPONENT = 62


def qmax(bits: int) -> int:
    """Largest integer magnitude of an N-bit symmetric quantiser."""
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"weights take {MIN_BITS}..{MAX_BITS} bits, not {bits}")
    return (1 << (bits - 1)) - 1


@dataclass(frozen=True)
class Step:
    """``mantissa * 2**-exponent``; mantissa 0 marks an all-zero tensor."""

    mantissa: int
    exponent: int

    def __post_init__(self) -> None:
        ok = self.mantissa == 0 or (1 << (MANTISSA_BITS - 1) <= self.mantissa < 1 << MANTISSA_BITS)
        if not ok or not 0 <= self.exponent <= MAX_EXPONENT:
            raise ValueError(f"bad quantisation step {self.mantissa} * 2**-{self.exponent}")

    @property
    def value(self) -> float:
        return math.ldexp(self.mantissa, -self.exponent)

    @classmethod
    def for_peak(cls, peak: float, bits: int) -> Step:
        """The smallest step (12-bit mantissa) at least ``peak / qmax(bits)``: the largest
        weight lands on the top integer, never beyond it, so nothing is clipped."""
        if not (peak > 0 and math.isfinite(peak)):
            return cls(0, 0)
        m, e = math.frexp(peak / qmax(bits))  # peak / qmax = m * 2**e, 0.5 <= m < 1
        mantissa = math.ceil(math.ldexp(m, MANTISSA_BITS))
        if mantissa == 1 << MANTISSA_BITS:
            mantissa, e = mantissa >> 1, e + 1
        exponent = MANTISSA_BITS - e
        if not 0 <= exponent <= MAX_EXPONENT:
            raise ValueError(f"weights of magnitude {peak:g} cannot be quantised")
        return cls(mantissa, exponent)


def quantize(w: Tensor, bits: int) -> tuple[Tensor, Step]:
    """Integers (int64, shape of ``w``) and step of tensor ``w`` at ``bits`` bits."""
    w = w.detach().cpu()
    step = Step.for_peak(float(w.abs().max()) if w.numel() else 0.0, bits)
    if step.mantissa == 0:
        return torch.zeros(w.shape, dtype=torch.int64), step
    m = qmax(bits)
    q = torch.round(w.double() / step.value).clamp_(-m, m).to(torch.int64)
    return q, step


def dequantize(q: Tensor, step: Step) -> Tensor:
    """``q * step`` as float32, exactly (see the module notes)."""
    return (q.to(torch.float64) * step.value).to(torch.float32)


def fake_quant(w: Tensor, bits: int, noise: float = 1.0,
               generator: torch.Generator | None = None) -> Tensor:
    """``w`` with its quantised value in the forward pass and identity gradients (STE).

    ``noise < 1`` quantises only that random fraction of the entries (Quant-Noise), which
    keeps gradients informative early in quantisation-aware training.
    """
    step = Step.for_peak(float(w.detach().abs().max()) if w.numel() else 0.0, bits).value
    if step == 0:
        return w
    m = qmax(bits)
    scaled = torch.clamp(w / step, -m, m)
    wq = ((torch.round(scaled) - scaled).detach() + scaled) * step
    if noise >= 1:
        return wq
    pick = torch.rand(w.shape, generator=generator, device=w.device) < noise
    return torch.where(pick, wq, w)


def fixed_point(q: Tensor, step: Step) -> Tensor:
    """``q * step`` in the fixed point of :mod:`hyco.nn.exact_layers` (int64, rounded, clamped)."""
    v = q.to(torch.int64) * step.mantissa
    shift = step.exponent - FRAC_BITS
    v = div_round(v, 1 << shift) if shift > 0 else v * (1 << -shift)
    return v.clamp(-LIMIT, LIMIT)


def rescale(acc: Tensor, step: Step) -> Tensor:
    """Accumulator of ``q x fixed-point`` products (int64) -> fixed point: ``acc * step``.

    Bounds: accumulators stay below 2**48 (24-bit activations, 12-bit weights, fan-in up to
    2**13), so ``acc * mantissa`` stays below 2**60 in int64.
    """
    return div_round(acc * step.mantissa, 1 << step.exponent) if step.exponent else \
        acc * step.mantissa
