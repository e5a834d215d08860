"""Integer-exact inference for the networks whose outputs the decoder must reproduce.

A hyper-synthesis network predicts the scales and means that select probability tables.
If the decoder computed them in ordinary floating point, a different thread count, BLAS or
CPU could move a value across a table boundary and derail the whole stream. So at inference
such networks run in fixed point: weights are rounded to integers (a power-of-two scale per
layer), activations carry ``FRAC_BITS`` fractional bits, and each convolution runs in float64
on integer-valued tensors. Every product and partial sum is then an integer below 2**53,
which float64 represents exactly, so the result does not depend on summation order: the
same integers come out on any machine at any thread count. Rescaling divides by powers of
two and floors, which is exact too.

Bounds: weights use at most ``WEIGHT_BITS`` bits, activations are clamped to
``2**ACT_RANGE_BITS`` in magnitude, so a sum over fan-in F stays below
2**(WEIGHT_BITS + FRAC_BITS + ACT_RANGE_BITS) * F < 2**53 for F <= 2**13.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FRAC_BITS = 10
WEIGHT_BITS = 14
ACT_RANGE_BITS = 14
_MAX_FAN_IN = 1 << 13
_SLOPE_BITS = 16


def _weight_exponent(w: Tensor) -> int:
    """Largest e with max|w| * 2**e < 2**WEIGHT_BITS (frexp is exact)."""
    peak = w.detach().abs().max().double()
    if peak == 0:
        return 0
    _, e = torch.frexp(peak)  # peak = m * 2**e, 0.5 <= m < 1
    return WEIGHT_BITS - int(e)


def quantize_conv(weight: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor | None, int]:
    """Integer weights (float64), bias in accumulator units, and the weight exponent."""
    e = _weight_exponent(weight)
    w = torch.round(weight.detach().cpu().double() * 2.0**e)
    b = (torch.round(bias.detach().cpu().double() * 2.0 ** (e + FRAC_BITS))
         if bias is not None else None)
    return w, b, e


def _fan_in(layer: nn.Module) -> int:
    if isinstance(layer, nn.Conv2d):
        return layer.weight[0].numel()
    return (layer.weight.shape[0] * -(-layer.kernel_size[0] // layer.stride[0])
            * -(-layer.kernel_size[1] // layer.stride[1]))


def quantize_layers(seq: nn.Sequential) -> list[tuple]:
    """The integer program of ``seq``: one entry per layer, all in float64."""
    program: list[tuple] = []
    for layer in seq:
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            if layer.groups != 1 or layer.dilation != (1, 1) or layer.padding_mode != "zeros":
                raise ValueError("exact inference supports plain convolutions only")
            if _fan_in(layer) > _MAX_FAN_IN:
                raise ValueError(f"fan-in {_fan_in(layer)} too large for exact inference")
            weight = layer.weight * layer.mask if hasattr(layer, "mask") else layer.weight
            w, b, e = quantize_conv(weight, layer.bias)
            program.append(("conv", layer, w, b, e))
        elif isinstance(layer, nn.ReLU):
            program.append(("relu",))
        elif isinstance(layer, nn.LeakyReLU):
            slope = round(layer.negative_slope * 2**_SLOPE_BITS)
            program.append(("leaky", float(slope)))
        else:
            raise ValueError(f"exact inference does not support {type(layer).__name__}")
    return program


def to_fixed(x: Tensor) -> Tensor:
    """Float tensor -> integer-valued float64 with FRAC_BITS fractional bits, clamped.

    Exact arithmetic always runs on the CPU: a file encoded on a GPU decodes on a CPU.
    """
    limit = 2.0 ** (FRAC_BITS + ACT_RANGE_BITS)
    return torch.round(x.detach().cpu().double() * 2.0**FRAC_BITS).clamp_(-limit, limit)


def rescale(acc: Tensor, e: int) -> Tensor:
    """Accumulator (units 2**-(e + FRAC_BITS)) -> activation with FRAC_BITS, clamped."""
    limit = 2.0 ** (FRAC_BITS + ACT_RANGE_BITS)
    return torch.floor(acc * 2.0**-e + 0.5).clamp_(-limit, limit)


def _activation(a: Tensor, step: tuple) -> Tensor:
    if step[0] == "relu":
        return a.clamp_min(0)
    neg = torch.floor(a * step[1] * 2.0**-_SLOPE_BITS + 0.5)  # leaky relu, slope fixed point
    return torch.where(a < 0, neg, a)


def exact_forward(program: list[tuple], x: Tensor) -> Tensor:
    """Run a program from :func:`quantize_layers` on ``x``; int64 fixed point, on the CPU."""
    a = to_fixed(x)
    for step in program:
        if step[0] == "conv":
            _, layer, w, b, e = step
            if isinstance(layer, nn.Conv2d):
                acc = F.conv2d(a, w, b, layer.stride, layer.padding)
            else:
                acc = F.conv_transpose2d(a, w, b, layer.stride, layer.padding,
                                         layer.output_padding)
            a = rescale(acc, e)
        else:
            a = _activation(a, step)
    return a.to(torch.int64)


def exact_rows(program: list[tuple], rows: Tensor) -> Tensor:
    """Run a program of 1x1 convolutions on rows (n, C) of fixed-point values (float64).

    The same integers as :func:`exact_forward` on the full map, for just the positions
    a decoder needs (a row per position).
    """
    a = rows
    for step in program:
        if step[0] == "conv":
            _, layer, w, b, e = step
            if w.shape[-2:] != (1, 1):
                raise ValueError("exact_rows runs 1x1 convolutions only")
            acc = a @ w[:, :, 0, 0].T
            a = rescale(acc + b if b is not None else acc, e)
        else:
            a = _activation(a, step)
    return a


def from_fixed(a: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Fixed point -> float; exact for |value| < 2**(24 - FRAC_BITS) in float32."""
    return a.to(dtype) * 2.0**-FRAC_BITS
