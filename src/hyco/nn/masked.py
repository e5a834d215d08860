"""Masked convolutions for spatial context models."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def context_mask(kind: str, k: int) -> Tensor:
    """``causal``: taps before the centre in raster order (PixelCNN mask A, Minnen 2018);
    ``checkerboard``: taps at odd offsets, i.e. the anchors around a non-anchor (He 2021)."""
    dy, dx = torch.meshgrid(torch.arange(k) - k // 2, torch.arange(k) - k // 2, indexing="ij")
    if kind == "causal":
        mask = (dy < 0) | ((dy == 0) & (dx < 0))
    elif kind == "checkerboard":
        mask = (dy + dx) % 2 != 0
    else:
        raise ValueError(f"unknown mask {kind!r}")
    return mask.float()


class MaskedConv2d(nn.Conv2d):
    """A 'same' convolution that only sees the taps its mask allows."""

    def __init__(self, cin: int, cout: int, kernel: int = 5, kind: str = "causal"):
        super().__init__(cin, cout, kernel, padding=kernel // 2)
        self.kind = kind
        self.register_buffer("mask", context_mask(kind, kernel).view(1, 1, kernel, kernel),
                             persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)

    def taps(self) -> list[tuple[int, int]]:
        """(dy, dx) offsets the mask keeps, in raster order."""
        k = self.kernel_size[0]
        idx = torch.nonzero(self.mask[0, 0])
        return [(int(i) - k // 2, int(j) - k // 2) for i, j in idx]
