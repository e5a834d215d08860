"""Small building blocks shared by the transforms."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn


class _LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still flows when it pushes x up towards the bound.

    A plain clamp would freeze parameters that fall below the bound forever.
    """

    @staticmethod
    def forward(ctx, x: Tensor, bound: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        pass_through = (x >= ctx.bound) | (grad < 0)
        return grad * pass_through.to(grad.dtype), None


def lower_bound(x: Tensor, bound: float) -> Tensor:
    return _LowerBound.apply(x, bound)


def round_through(y: Tensor, means: Tensor) -> Tensor:
    """round(y - means) + means with the identity gradient w.r.t. y (straight-through): the
    value the decoder will hold, for losses that must see it (HiFiC's generator, the latent
    search)."""
    return y + (torch.round(y - means) + means - y).detach()


def conv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.Conv2d:
    """'Same' convolution that downsamples by ``stride``."""
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


def deconv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """Transposed convolution that upsamples by exactly ``stride``."""
    return nn.ConvTranspose2d(cin, cout, kernel, stride=stride, padding=kernel // 2,
                              output_padding=stride - 1)


@contextlib.contextmanager
def pinned_threads(n: int = 1) -> Iterator[None]:
    """Run the block with ``n`` torch threads, then restore the caller's setting.

    Float convolutions on the CPU split their sums differently at different thread counts
    (measured: 23 of 393,216 Kodak pixels moved by one level between 1 and 2 threads), so a
    reconstruction computed in float is pinned to one thread count wherever it must be
    reproduced exactly (decoding, and the eval forward that predicts it).
    """
    before = torch.get_num_threads()
    if before == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
