"""Layers that train in float and infer in exact integer arithmetic, for deep networks.

A hierarchical VAE's prior for latent layer i is the output of a deep top-down network fed
with every earlier layer, and it selects probability tables: the decoder must compute it
bit-identically to the encoder on any machine and thread count. :mod:`hyco.nn.exact` does
this for a short plain-conv hyper-synthesis; this module extends the idea to what a
ConvNeXt-style top-down path needs: depthwise and dense convolutions, a channel layer norm,
a GELU-like activation, per-channel affine and adaptive modulation, residual additions and
pixel shuffles.

Representation: activations are int64 tensors holding ``value * 2**FRAC_BITS``, clamped to
``2**(FRAC_BITS + ACT_RANGE_BITS)`` in magnitude. Elementwise work (norm, activation,
modulation) is integer arithmetic, exact by definition. Convolutions run in float64 on
integer-valued tensors with per-output-channel power-of-two weight scales: every product
and partial sum is an integer below 2**53, so float64 holds it exactly whatever the
summation order, BLAS or thread count (bound: 14-bit weights x 24-bit activations x fan-in
<= 2**13 < 2**51; a larger fan-in is split into chunks within it, summed in int64).
Rescaling multiplies by a power of two and rounds: exact too.

Every layer here has a float ``forward`` (training, with gradients) that computes the same
function the integer ``exact`` evaluates, so a network trained in float runs exactly with
only fixed-point rounding between the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyco.nn.derived import Derived

FRAC_BITS = 12
ACT_RANGE_BITS = 12
WEIGHT_BITS = 14
MAX_FAN_IN = 1 << 13
ONE = 1 << FRAC_BITS
LIMIT = 1 << (FRAC_BITS + ACT_RANGE_BITS)
_MAX_EXPONENT = 24  # finest weight scale: tiny weights keep 2**-24 absolute precision
_BIAS_BITS = 51  # quantised biases stay below 2**51 so accumulators stay below 2**53
_NORM_EXTRA_BITS = 6  # extra precision of the norm's standard deviation
_NORM_MAX_CHANNELS = 2048  # sum of squares of 2**25-bounded deviations stays below 2**63


# -- fixed-point helpers -----------------------------------------------------------------------
def to_fixed(x: Tensor) -> Tensor:
    """Float -> int64 fixed point on the CPU (exact arithmetic always runs there)."""
    a = torch.round(x.detach().cpu().double() * float(ONE)).clamp_(-LIMIT, LIMIT)
    return a.to(torch.int64)


def from_fixed(a: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Fixed point -> float; exact in float32 for |value| < 2**(24 - FRAC_BITS)."""
    return a.to(dtype) * (1.0 / ONE)


def clamp(a: Tensor) -> Tensor:
    return a.clamp(-LIMIT, LIMIT)


def div_round(num: Tensor, den: Tensor | int) -> Tensor:
    """Integer division rounding halves up (``den > 0``), on int64."""
    half = den // 2
    return torch.div(num + half, den, rounding_mode="floor")


def mul_fixed(a: Tensor, m: Tensor) -> Tensor:
    """Product of two fixed-point tensors, back in fixed point."""
    return div_round(a * m, ONE)


def isqrt(v: Tensor) -> Tensor:
    """floor(sqrt(v)) of non-negative int64 below 2**62, exactly.

    The float64 square root lands within one of the answer; integer checks settle it.
    """
    r = torch.sqrt(v.double()).floor().to(torch.int64)
    for _ in range(2):
        r = torch.where(r * r > v, r - 1, r)
        r = torch.where((r + 1) * (r + 1) <= v, r + 1, r)
    return r


# -- convolution -------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantConv:
    """A convolution as integers: weight (float64, integer-valued), bias in accumulator
    units, and the per-output-channel scale 2**-e that brings accumulators back."""

    weight: Tensor
    bias: Tensor | None
    scale: Tensor  # (1, C_out, 1, 1) float64 powers of two
    stride: tuple[int, int]
    padding: tuple[int, int]
    groups: int

    def __call__(self, a: Tensor) -> Tensor:
        if self.weight[0].numel() > MAX_FAN_IN:
            return self._split(a)
        acc = F.conv2d(a.double(), self.weight, self.bias, self.stride, self.padding, 1,
                       self.groups)
        return torch.floor(acc * self.scale + 0.5).clamp_(-LIMIT, LIMIT).to(torch.int64)

    def _split(self, a: Tensor) -> Tensor:
        """A fan-in above :data:`MAX_FAN_IN` (e.g. a context prior over a 320-channel
        latent): float64 convolutions over input-channel chunks that each stay within the
        2**53 bound, summed and rescaled in int64, where any sum of them is exact."""
        per = MAX_FAN_IN // self.weight[0, 0].numel()
        acc = sum(F.conv2d(a[:, i:i + per].double(), self.weight[:, i:i + per], None,
                           self.stride, self.padding).to(torch.int64)
                  for i in range(0, a.shape[1], per))
        if self.bias is not None:
            acc = acc + self.bias.to(torch.int64).view(1, -1, 1, 1)
        shift = (-torch.log2(self.scale)).round().to(torch.int64)  # scale = 2**-shift
        down = torch.bitwise_right_shift(acc + (1 << (shift - 1).clamp(min=0)), shift.clamp(min=0))
        out = torch.where(shift > 0, down, torch.bitwise_left_shift(acc, (-shift).clamp(min=0)))
        return out.clamp_(-LIMIT, LIMIT)


def _exponent(x: Tensor) -> Tensor:
    """e with x = m * 2**e, 0.5 <= m < 1 (0 for x = 0); frexp is exact."""
    return torch.frexp(x)[1].to(torch.int64)


def quantize(conv: nn.Conv2d, gain: Tensor | None = None) -> QuantConv:
    """The integer form of ``conv``, its output channels optionally scaled by ``gain``.

    Folding a gain (e.g. ConvNeXt's layer scale) into the weights happens in float64,
    where the product of two float32 numbers is exact.
    """
    if conv.dilation != (1, 1) or conv.padding_mode != "zeros":
        raise ValueError("exact convolution supports plain (undilated, zero-padded) convs")
    fan_in = conv.weight[0].numel()
    if fan_in > MAX_FAN_IN and (conv.groups != 1 or conv.weight[0, 0].numel() > MAX_FAN_IN):
        raise ValueError(f"fan-in {fan_in} too large for exact inference")
    w = conv.weight.detach().cpu().double()
    b = conv.bias.detach().cpu().double() if conv.bias is not None else None
    if gain is not None:
        g = gain.detach().cpu().double().view(-1)
        w = w * g.view(-1, 1, 1, 1)
        b = b * g if b is not None else None
    e = (WEIGHT_BITS - _exponent(w.abs().flatten(1).amax(1))).clamp(max=_MAX_EXPONENT)
    if b is not None:  # keep |b| * 2**(e + FRAC_BITS) below 2**_BIAS_BITS
        e = torch.minimum(e, _BIAS_BITS - FRAC_BITS - _exponent(b.abs()))
    pow_e = torch.tensor([math.ldexp(1.0, int(k)) for k in e], dtype=torch.float64)  # exact
    w_int = torch.round(w * pow_e.view(-1, 1, 1, 1))
    b_int = torch.round(b * pow_e * ONE) if b is not None else None
    return QuantConv(w_int, b_int, (1.0 / pow_e).view(1, -1, 1, 1), conv.stride,
                     conv.padding, conv.groups)


class ExactConv2d(nn.Conv2d):
    """``nn.Conv2d`` with an integer-exact twin, ``exact(a)``, cached until weights change."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._quant: Derived[QuantConv] = Derived(quantize)

    def exact(self, a: Tensor) -> Tensor:
        return self._quant.get(self)(a)


# -- activation and normalisation ------------------------------------------------------------
class HardGELU(nn.Module):
    """``x * clamp(x / 2.5 + 0.5, 0, 1)``: GELU's shape (slope 1/2 at 0, identity for large
    x, zero for very negative x) from one clamp and one product, so its fixed-point twin is
    exact integer arithmetic where GELU's erf would differ between math libraries."""

    HALF_WIDTH = 1.25

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.clamp(x / (2 * self.HALF_WIDTH) + 0.5, 0.0, 1.0)

    @classmethod
    def exact(cls, a: Tensor) -> Tensor:
        h = round(cls.HALF_WIDTH * ONE)
        c = (a + h).clamp(0, 2 * h)  # clamp(x / 2.5 + 0.5) in units of 1 / (2h)
        return div_round(a * c, 2 * h)


class ChannelNorm(nn.Module):
    """Layer norm over channels at every position (no affine; callers modulate)."""

    EPS = 1e-6

    def forward(self, x: Tensor) -> Tensor:
        x = x.float()  # statistics in float32 even under bf16 autocast
        mu = x.mean(1, keepdim=True)
        d = x - mu
        return d * torch.rsqrt((d * d).mean(1, keepdim=True) + self.EPS)

    @classmethod
    def exact(cls, a: Tensor) -> Tensor:
        c = a.shape[1]
        if c > _NORM_MAX_CHANNELS:
            raise ValueError(f"exact channel norm supports up to {_NORM_MAX_CHANNELS} channels")
        d = a - div_round(a.sum(1, keepdim=True), c)
        var = div_round((d * d).sum(1, keepdim=True), c) + round(cls.EPS * ONE * ONE)
        std = isqrt(var << (2 * _NORM_EXTRA_BITS))  # units 2**-(FRAC_BITS + extra)
        return clamp(div_round(d << (FRAC_BITS + _NORM_EXTRA_BITS), std))


class ExactSequential(nn.Sequential):
    """A chain of exact-capable layers (convs, HardGELU)."""

    def exact(self, a: Tensor) -> Tensor:
        for layer in self:
            a = layer.exact(a)
        return a


class PatchUp(nn.Module):
    """1x1 conv to ``rate**2`` times the channels, then pixel shuffle: upsample by ``rate``."""

    def __init__(self, cin: int, cout: int, rate: int = 2):
        super().__init__()
        self.conv = ExactConv2d(cin, cout * rate * rate, 1)
        nn.init.zeros_(self.conv.bias)
        self.rate = rate

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        return F.pixel_shuffle(self.conv(x), self.rate)

    def exact(self, a: Tensor, emb: Tensor | None = None) -> Tensor:
        return F.pixel_shuffle(self.conv.exact(a), self.rate)
