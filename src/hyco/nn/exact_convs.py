"""Integer-exact twins of plain and transposed convolutions, for decoders whose output must
not depend on the machine or the thread count (HiFiC's generator).

CPU convolution kernels pick their summation order by shape and thread count, so a float
decoder's pixels can move by a rounding step between two runs of the same file (HiFiC's
1/16-resolution trunk does: measured). Here, as in :mod:`hyco.nn.exact_layers` (whose fixed
point, ``FRAC_BITS`` fractional bits and ``LIMIT`` clamp this shares), weights are integers
with a power-of-two scale per output channel and activations are int64 fixed point; the
convolution runs in float64 on integer-valued tensors, where every product and partial sum
is an integer below 2**53 and so exact in any order. Unlike there, the weight precision
adapts to the fan-in (14 bits up to 8192 inputs, one bit less per doubling), so wide layers
(the paper's 960-channel trunk: fan-in 8640) stay exact too:
|sum| < 2**(bits + 24) * fan_in <= 2**51, and biases are kept below 2**51.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyco.nn.exact_layers import FRAC_BITS, LIMIT

WEIGHT_BITS = 14
_ACC_BITS = 51  # bound on |sum of products| and on |bias|, so their sum is below 2**52
_ACT_BITS = 24  # activations are clamped to LIMIT = 2**(FRAC_BITS + ACT_RANGE_BITS)
_MAX_EXPONENT = 24
_MAX_FAN_IN = 1 << 16


def fan_in(layer: nn.Conv2d | nn.ConvTranspose2d) -> int:
    """Inputs summed into one output value (for a transposed conv: per output phase)."""
    w = layer.weight
    if isinstance(layer, nn.ConvTranspose2d):
        taps = math.prod(-(-k // s) for k, s in zip(layer.kernel_size, layer.stride, strict=True))
        return w.shape[0] * taps
    return w[0].numel()


@dataclass(frozen=True)
class ExactConv:
    """A (transposed) convolution as integers; call it on int64 fixed-point activations."""

    layer: nn.Conv2d | nn.ConvTranspose2d
    weight: Tensor  # float64, integer-valued
    bias: Tensor | None  # float64, integer-valued, in accumulator units
    scale: Tensor  # (1, C_out, 1, 1) float64 powers of two: accumulator -> fixed point

    def __call__(self, a: Tensor) -> Tensor:
        x, m = a.double(), self.layer
        if isinstance(m, nn.ConvTranspose2d):
            acc = F.conv_transpose2d(x, self.weight, self.bias, m.stride, m.padding,
                                     m.output_padding, m.groups)
        else:
            acc = F.conv2d(x, self.weight, self.bias, m.stride, m.padding, 1, m.groups)
        return torch.floor(acc * self.scale + 0.5).clamp_(-LIMIT, LIMIT).to(torch.int64)


def quantize(layer: nn.Conv2d | nn.ConvTranspose2d) -> ExactConv:
    """Integer weights with per-output-channel power-of-two scales, bits by fan-in."""
    if layer.dilation != (1, 1) or layer.padding_mode != "zeros" or layer.groups != 1:
        raise ValueError("exact convolution supports plain (undilated, zero-padded) convs")
    if isinstance(layer.padding, str):
        raise ValueError("exact convolution needs numeric padding")
    f = fan_in(layer)
    if f > _MAX_FAN_IN:
        raise ValueError(f"fan-in {f} too large for exact inference")
    bits = min(WEIGHT_BITS, _ACC_BITS - _ACT_BITS - math.ceil(math.log2(f)))
    out_axis = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
    w = layer.weight.detach().cpu().double()
    peak = w.abs().transpose(0, out_axis).flatten(1).amax(1)
    e = (bits - torch.frexp(peak)[1].to(torch.int64)).clamp(max=_MAX_EXPONENT)
    e = torch.where(peak > 0, e, torch.full_like(e, _MAX_EXPONENT))
    b = layer.bias.detach().cpu().double() if layer.bias is not None else None
    if b is not None:  # |b| * 2**(e + FRAC_BITS) < 2**_ACC_BITS
        b_exp = torch.frexp(b.abs())[1].to(torch.int64)
        e = torch.minimum(e, _ACC_BITS - FRAC_BITS - b_exp)
    pow_e = torch.tensor([math.ldexp(1.0, int(k)) for k in e], dtype=torch.float64)  # exact
    shape = [1] * w.dim()
    shape[out_axis] = -1
    w_int = torch.round(w * pow_e.view(shape))
    b_int = torch.round(b * pow_e * 2.0**FRAC_BITS) if b is not None else None
    return ExactConv(layer, w_int, b_int, (1.0 / pow_e).view(1, -1, 1, 1))


def quantize_all(module: nn.Module) -> dict[str, ExactConv]:
    """Every (transposed) convolution of ``module`` by qualified name."""
    return {name: quantize(m) for name, m in module.named_modules()
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))}
