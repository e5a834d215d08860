"""Linear interpolation with integer taps: the same function in float (training) and fixed point.

Grids sampled at a frame time and feature maps upsampled by an integer factor both place
output position ``i`` (of ``n_out``) at source position ``(i + 0.5) * n_src / n_out - 0.5``
(``align_corners=False``), clamped to the source (border replicate). :func:`taps` computes the
two source indices and the weight of the second as integers in the fixed point of
:mod:`hyco.nn.exact_layers` (``ONE`` = 1.0), with integer arithmetic only. The float path
uses ``weight / ONE``, the exact path the integer itself, so both compute one function and a
decoder reproduces the encoder's fixed-point result bit for bit.

Positions are *global* (frame coordinates): a patch of a frame is upsampled from a patch of
the source with exactly the values the whole frame would have, which is what lets a network
train on patches and render in tiles of any size with identical results.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hyco.nn.exact_layers import ONE, clamp, div_round


def taps(out_idx: Tensor, n_src: int, n_out: int) -> tuple[Tensor, Tensor, Tensor]:
    """(i0, i1, w1) for global output indices (int64, any shape; clamped into ``n_out``).

    The value at an output is ``((ONE - w1) * src[i0] + w1 * src[i1]) / ONE``.
    """
    i = out_idx.to(torch.int64).clamp(0, n_out - 1)
    num = (2 * i + 1) * n_src - n_out  # the source position times 2 * n_out
    den = 2 * n_out
    i0 = torch.div(num, den, rounding_mode="floor")
    w1 = div_round((num - i0 * den) * ONE, den)
    below, above = i0 < 0, i0 >= n_src - 1
    i0 = i0.clamp(0, n_src - 1)
    w1 = torch.where(below | above, torch.zeros_like(w1), w1)
    i1 = torch.where(below | above, i0, i0 + 1)
    return i0, i1, w1


def source_span(out_start: int, out_end: int, scale: int) -> tuple[int, int]:
    """[start, end) of the source indices that upsampling by ``scale`` reads for outputs
    ``out_start .. out_end - 1`` (unclamped: a span past the border is a superset of the
    clamped reads, and depends only on the offsets, so patches share their shapes)."""
    first = (2 * out_start + 1 - scale) // (2 * scale)
    last = (2 * (out_end - 1) + 1 - scale) // (2 * scale)
    return first, last + 2


def lerp(src: Tensor, i0: Tensor, i1: Tensor, w1: Tensor, dim: int) -> Tensor:
    """Float interpolation of ``src`` along ``dim`` (taps index that dim; ``w1`` broadcast)."""
    w = w1.to(src.dtype) / ONE
    return src.index_select(dim, i0) * (1 - w) + src.index_select(dim, i1) * w


def lerp_exact(src: Tensor, i0: Tensor, i1: Tensor, w1: Tensor, dim: int) -> Tensor:
    """:func:`lerp` on int64 fixed point: one rounding division."""
    acc = src.index_select(dim, i0) * (ONE - w1) + src.index_select(dim, i1) * w1
    return div_round(acc, ONE)


def _gather(x: Tensor, idx: Tensor, dim: int) -> Tensor:
    """Per-sample gather along ``dim`` (2 or 3) of (B, C, H, W) with (B, n) indices."""
    b, c, h, w = x.shape
    if dim == 2:
        return x.gather(2, idx.view(b, 1, -1, 1).expand(b, c, idx.shape[1], w))
    return x.gather(3, idx.view(b, 1, 1, -1).expand(b, c, h, idx.shape[1]))


def _axis_weights(w1: Tensor, dim: int) -> Tensor:
    b, n = w1.shape
    return w1.view(b, 1, n, 1) if dim == 2 else w1.view(b, 1, 1, n)


def upsample(x: Tensor, rows: tuple[Tensor, Tensor, Tensor],
             cols: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """Bilinear resampling of a batch of patches (B, C, h, w) at per-sample taps.

    ``rows``/``cols`` are (i0, i1, w1) of shape (B, n): indices local to each patch.
    """
    for dim, (i0, i1, w1) in ((2, rows), (3, cols)):
        w = _axis_weights(w1, dim).to(x.dtype) / ONE
        x = _gather(x, i0, dim) * (1 - w) + _gather(x, i1, dim) * w
    return x


def upsample_exact(a: Tensor, rows: tuple[Tensor, Tensor, Tensor],
                   cols: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """:func:`upsample` on int64 fixed point: both passes accumulate, one rounding at the end
    (values below 2**24 times ``ONE**2`` = 2**24 stay below 2**48)."""
    for dim, (i0, i1, w1) in ((2, rows), (3, cols)):
        w = _axis_weights(w1, dim)
        a = _gather(a, i0, dim) * (ONE - w) + _gather(a, i1, dim) * w
    return clamp(div_round(a, ONE * ONE))
