"""ConvNeXt residual block with optional adaptive (rate-conditioned) layer norm.

The block of the lossy-vae models (Duan et al. 2023), built from :mod:`hyco.nn.exact_layers`
so it also runs integer-exact: depthwise k x k conv -> channel norm -> affine modulation ->
1x1 expansion -> HardGELU -> 1x1 projection -> layer scale -> + input.

The modulation is either a learned per-channel affine (fixed-rate models) or AdaLN: a scale
and shift computed from a rate embedding (QARV), which is how one set of weights serves a
continuous range of rate-distortion trade-offs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hyco.nn.derived import Derived
from hyco.nn.exact_layers import (
    ChannelNorm,
    ExactConv2d,
    ExactSequential,
    HardGELU,
    QuantConv,
    clamp,
    mul_fixed,
    quantize,
    to_fixed,
)


class ConvNeXtBlock(nn.Module):
    """``x + gamma * mlp(modulate(norm(dwconv(x))))``; ``embed_dim`` switches on AdaLN."""

    def __init__(self, dim: int, kernel: int = 7, mlp_ratio: float = 2.0,
                 embed_dim: int | None = None, ls_init: float = 1e-6):
        super().__init__()
        self.dw = ExactConv2d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = ChannelNorm()
        self.ada: ExactSequential | None = None
        if embed_dim is None:
            self.affine_weight = nn.Parameter(torch.ones(dim))
            self.affine_bias = nn.Parameter(torch.zeros(dim))
        else:  # AdaLN, initialised to the identity modulation
            self.ada = ExactSequential(HardGELU(), ExactConv2d(embed_dim, 2 * dim, 1))
            nn.init.zeros_(self.ada[1].weight)
            nn.init.zeros_(self.ada[1].bias)
        hidden = round(mlp_ratio * dim)
        self.pw1 = ExactConv2d(dim, hidden, 1)
        self.act = HardGELU()
        self.pw2 = ExactConv2d(hidden, dim, 1)
        for conv in (self.dw, self.pw1, self.pw2):
            nn.init.zeros_(conv.bias)
        self.gamma = nn.Parameter(torch.full((dim,), ls_init))
        # the layer scale folded into the projection, as integers
        self._pw2: Derived[QuantConv] = Derived(lambda b: quantize(b.pw2, b.gamma))

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        h = self.norm(self.dw(x)).to(x.dtype)
        if self.ada is not None:
            scale, shift = self.ada(emb).chunk(2, dim=1)
            h = h * (1 + scale) + shift
        else:
            h = h * self.affine_weight.view(1, -1, 1, 1) + self.affine_bias.view(1, -1, 1, 1)
        h = self.pw2(self.act(self.pw1(h)))
        return x + h * self.gamma.view(1, -1, 1, 1)

    def exact(self, a: Tensor, emb: Tensor | None = None) -> Tensor:
        """Integer twin of :meth:`forward`; ``emb`` is the fixed-point embedding."""
        h = ChannelNorm.exact(self.dw.exact(a))
        if self.ada is not None:
            scale, shift = self.ada.exact(emb).chunk(2, dim=1)
            h = h + mul_fixed(h, scale) + shift
        else:
            w = to_fixed(self.affine_weight).view(1, -1, 1, 1)
            b = to_fixed(self.affine_bias).view(1, -1, 1, 1)
            h = mul_fixed(h, w) + b
        h = self._pw2.get(self)(HardGELU.exact(self.pw1.exact(clamp(h))))
        return clamp(a + h)


class PatchDown(nn.Module):
    """A ConvNeXt block, then a 2x2 stride-2 conv to ``cout`` channels (encoder only)."""

    def __init__(self, cin: int, cout: int, embed_dim: int | None = None):
        super().__init__()
        self.block = ConvNeXtBlock(cin, 7, 2.0, embed_dim)
        self.down = nn.Conv2d(cin, cout, 2, stride=2)
        nn.init.zeros_(self.down.bias)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        return self.down(self.block(x, emb))

