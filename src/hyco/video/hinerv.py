"""HiNeRV (Kwan et al., NeurIPS 2023): a video as a network from frame and patch to pixels.

Architecture (facts from the paper and its public configurations, written for hyco):

- **Base encoding**: multi-resolution feature grids ``(T_j, Hb, Wb, C_j)`` at the coarsest
  spatial resolution (the frame divided by the product of the upsampling factors), level
  ``j`` with half the frames and twice the channels of level ``j - 1``; sampled at a frame's
  time by linear interpolation and concatenated.
- **Stem**: a k x k convolution to ``channels``.
- **Stages** (one per upsampling factor ``s``): channel layer norm, bilinear upsampling by
  ``s``, plus the *hierarchical (local) encoding*: per-frame grids of ``s x s`` feature
  vectors (again multi-resolution in time), mapped by a linear layer and added at every
  pixel according to its position inside its ``s x s`` cell; then ConvNeXt blocks
  (depthwise k x k conv, channel norm, MLP with expansion, residual). Channels halve from
  stage to stage; the last stage is one block without expansion.
- **Head**: a 1x1 conv to R'G'B' (plus 0.5; clamped to [0, 1] when rendered).

Patch-wise: every operation is a function of *global* positions (:mod:`hyco.nn.interp`),
and every convolution is computed "valid" on a region extended by exactly the margin it
needs, with positions outside the frame zeroed before each convolution (the zero padding a
whole frame would see). So a patch comes out exactly as it would inside the whole frame:
training uses random patches of any frame size, rendering uses tiles of any size.

Exact rendering: the forward pass is written once over an *ops* backend. :class:`FloatOps`
runs it in float on the module's parameters (fake-quantised during quantisation-aware
training); :class:`ExactOps` runs it on the coded integer weights in the fixed point of
:mod:`hyco.nn.exact_layers` (float64 convolutions of integer values, integer norm,
HardGELU instead of GELU, integer interpolation), so every machine and thread count renders
the same pixels.

Deviations from the paper. For exactness: HardGELU instead of GELU; the head has no
sigmoid (the output is clamped; its weights start at zero, so the output starts at mid-grey
as a sigmoid head's would); base grids start at uniform(-1, 1) rather than 1e-3, so the
stem's output is far above the fixed-point resolution. For small networks: channels halve
from stage to stage only down to ``min_channels`` (8); measured on 3 frames of the Cisco
clip at 20k parameters, 500 steps: 20.4 dB against 15.3 dB when the last stage had 2.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyco.nn.exact_layers import ONE, ChannelNorm, HardGELU, clamp, div_round
from hyco.nn.interp import lerp, lerp_exact, source_span, taps, upsample, upsample_exact
from hyco.nn.weight_quant import Step, fake_quant, fixed_point, rescale
from hyco.video.hinerv_config import HiNeRVConfig

_LOCAL_GRID_INIT = 1e-3


# -- patch geometry ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Axis:
    """One axis of the regions a patch of ``cells`` base cells needs at every level, as
    (offset from the patch origin at that level, length)."""

    out: tuple[tuple[int, int], ...]  # per level 0..n: block outputs (level 0: stem output)
    stem_in: tuple[int, int]


@functools.lru_cache(maxsize=64)
def _axis(cells: int, scales: tuple[int, ...], depths: tuple[int, ...], kernel: int,
          stem_kernel: int) -> _Axis:
    n = len(scales)
    r = kernel // 2
    out: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    out[n] = (0, cells * math.prod(scales))
    for lvl in range(n, 0, -1):
        start, size = out[lvl]
        m = depths[lvl - 1] * r
        first, end = source_span(start - m, start + size + m, scales[lvl - 1])
        out[lvl - 1] = (first, end - first)
    start, size = out[0]
    rs = stem_kernel // 2
    return _Axis(tuple(out), (start - rs, size + 2 * rs))


# -- ops backends -----------------------------------------------------------------------------
class FloatOps:
    """Float arithmetic on the module's parameters (fake-quantised when ``model.qat`` is on)."""

    def __init__(self, model: HiNeRV):
        self.model = model
        self.norm_layer, self.gelu_layer = ChannelNorm(), HardGELU()

    def param(self, name: str) -> Tensor:
        return self.model.coded(name)

    def grid(self, name: str) -> Tensor:
        return self.param(name)

    def conv(self, x: Tensor, name: str, groups: int = 1) -> Tensor:
        return F.conv2d(x, self.param(f"{name}.weight"), self.param(f"{name}.bias"),
                        groups=groups)

    def linear(self, x: Tensor, name: str) -> Tensor:
        return F.linear(x, self.param(f"{name}.weight"), self.param(f"{name}.bias"))

    def norm(self, x: Tensor) -> Tensor:
        return self.norm_layer(x)

    def gelu(self, x: Tensor) -> Tensor:
        return self.gelu_layer(x)

    lerp = staticmethod(lerp)
    upsample = staticmethod(upsample)

    @staticmethod
    def add(a: Tensor, b: Tensor) -> Tensor:
        return a + b

    @staticmethod
    def mask(x: Tensor, valid: Tensor) -> Tensor:
        return x * valid.to(x.dtype)

    @staticmethod
    def output(x: Tensor) -> Tensor:
        return x + 0.5


class ExactOps:
    """Fixed-point integer arithmetic on coded weights: identical results everywhere."""

    def __init__(self, weights: dict[str, tuple[Tensor, Step]]):
        self.weights = weights
        self._fixed: dict[str, Tensor] = {}
        self._float: dict[str, Tensor] = {}

    def grid(self, name: str) -> Tensor:
        if name not in self._fixed:
            self._fixed[name] = fixed_point(*self.weights[name])
        return self._fixed[name]

    def _affine(self, acc: Tensor, name: str, channel_dim: int) -> Tensor:
        """Accumulator (int64) -> fixed point: the weight's step, then the bias."""
        bias = self.grid(f"{name}.bias")
        if channel_dim == 1:
            bias = bias.view(1, -1, 1, 1)
        return clamp(rescale(acc, self.weights[f"{name}.weight"][1]) + bias)

    def _q(self, name: str) -> Tensor:
        if name not in self._float:
            self._float[name] = self.weights[name][0].to(torch.float64)
        return self._float[name]

    def conv(self, a: Tensor, name: str, groups: int = 1) -> Tensor:
        # integer inputs and weights, sums below 2**53: float64 is exact in any order
        acc = F.conv2d(a.to(torch.float64), self._q(f"{name}.weight"), groups=groups)
        return self._affine(acc.to(torch.int64), name, 1)

    def linear(self, a: Tensor, name: str) -> Tensor:
        acc = a.to(torch.float64) @ self._q(f"{name}.weight").T
        return self._affine(acc.to(torch.int64), name, -1)

    @staticmethod
    def norm(a: Tensor) -> Tensor:
        return ChannelNorm.exact(a)

    @staticmethod
    def gelu(a: Tensor) -> Tensor:
        return HardGELU.exact(a)

    lerp = staticmethod(lerp_exact)
    upsample = staticmethod(upsample_exact)

    @staticmethod
    def add(a: Tensor, b: Tensor) -> Tensor:
        return clamp(a + b)

    @staticmethod
    def mask(a: Tensor, valid: Tensor) -> Tensor:
        return a * valid.to(torch.int64)

    @staticmethod
    def output(a: Tensor) -> Tensor:
        return a + ONE // 2


def run(cfg: HiNeRVConfig, ops: FloatOps | ExactOps, t: Tensor, origin: Tensor,
        cells: tuple[int, int]) -> Tensor:
    """The network on a batch of patches: frame indices ``t`` (B,), patch origins (B, 2) in
    base cells, a common patch size ``cells`` (rows, cols) in base cells.

    Returns (B, 3, rows * stride, cols * stride): float, or fixed point with ExactOps.
    """
    ay = _axis(cells[0], cfg.scales, cfg.depths, cfg.kernel, cfg.stem_kernel)
    ax = _axis(cells[1], cfg.scales, cfg.depths, cfg.kernel, cfg.stem_kernel)
    t = t.to(torch.int64)
    b = t.shape[0]

    def globals_(level: int, ry: tuple[int, int], rx: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Global rows and cols, (B, length) each, of the region ``ry`` x ``rx`` at ``level``."""
        f = math.prod(cfg.scales[:level])
        return (origin[:, :1] * f + torch.arange(ry[0], ry[0] + ry[1]),
                origin[:, 1:] * f + torch.arange(rx[0], rx[0] + rx[1]))

    def valid(level: int, rows: Tensor, cols: Tensor) -> Tensor:
        h, w = cfg.level_size(level)
        vr = (rows >= 0) & (rows < h)
        vc = (cols >= 0) & (cols < w)
        return (vr[:, :, None] & vc[:, None, :]).unsqueeze(1)

    def time_taps(frames: int) -> tuple[Tensor, Tensor, Tensor]:
        return taps(t, frames, cfg.frames)

    # base encoding on the stem's input region, then the stem
    rows, cols = globals_(0, ay.stem_in, ax.stem_in)
    hb, wb = cfg.base_size
    feats = []
    for j in range(cfg.base_levels):
        i0, i1, w1 = time_taps(cfg.base_grid(j)[0])
        feats.append(ops.lerp(ops.grid(f"base.{j}"), i0, i1, w1.view(b, 1, 1, 1), 0))
    grid = torch.cat(feats, dim=-1)  # (B, Hb, Wb, C)
    ri, ci = rows.clamp(0, hb - 1), cols.clamp(0, wb - 1)
    x = grid[torch.arange(b)[:, None, None], ri[:, :, None], ci[:, None, :]].permute(0, 3, 1, 2)
    x = ops.conv(ops.mask(x, valid(0, rows, cols)), "stem")

    for i, s in enumerate(cfg.scales):
        lvl = i + 1
        m = cfg.depths[i] * (cfg.kernel // 2)
        (oy, hy), (ox, wx) = ay.out[lvl], ax.out[lvl]
        pre_y, pre_x = (oy - m, hy + 2 * m), (ox - m, wx + 2 * m)
        rows, cols = globals_(lvl, pre_y, pre_x)
        src_rows, src_cols = globals_(lvl - 1, (ay.out[lvl - 1][0], 1), (ax.out[lvl - 1][0], 1))
        n_src, n_out = cfg.level_size(lvl - 1), cfg.level_size(lvl)
        ty = taps(rows, n_src[0], n_out[0])
        tx = taps(cols, n_src[1], n_out[1])
        ty = (ty[0] - src_rows, ty[1] - src_rows, ty[2])
        tx = (tx[0] - src_cols, tx[1] - src_cols, tx[2])
        x = ops.upsample(ops.norm(x), ty, tx)
        # the local (hierarchical) encoding: per frame, one vector per position in a cell
        cells_enc = []
        for j in range(cfg.enc_levels):
            g, c = cfg.local_grid(i, j)
            i0, i1, w1 = time_taps(g)
            e = ops.lerp(ops.grid(f"stages.{i}.grids.{j}"), i0, i1, w1.view(b, 1), 0)
            cells_enc.append(e.view(b, s, s, c))
        enc = ops.linear(torch.cat(cells_enc, dim=-1), f"stages.{i}.enc")  # (B, s, s, C)
        py, px = torch.remainder(rows, s), torch.remainder(cols, s)
        tile = enc[torch.arange(b)[:, None, None], py[:, :, None], px[:, None, :]]
        x = ops.add(x, tile.permute(0, 3, 1, 2))
        r = cfg.kernel // 2
        for d in range(cfg.depths[i]):
            p = f"stages.{i}.blocks.{d}"
            rows_d, cols_d = globals_(lvl, (pre_y[0] + d * r, pre_y[1] - 2 * d * r),
                                      (pre_x[0] + d * r, pre_x[1] - 2 * d * r))
            h = ops.conv(ops.mask(x, valid(lvl, rows_d, cols_d)), f"{p}.dw",
                         groups=x.shape[1])
            h = ops.conv(ops.gelu(ops.conv(ops.norm(h), f"{p}.fc1")), f"{p}.fc2")
            if h.shape[1] == x.shape[1]:
                h = ops.add(x[:, :, r : x.shape[2] - r, r : x.shape[3] - r], h)
            x = h
    return ops.output(ops.conv(x, "head"))


class HiNeRV(nn.Module):
    """The trainable network. ``qat`` (bits, noise) switches on fake quantisation."""

    def __init__(self, cfg: HiNeRVConfig):
        super().__init__()
        self.cfg = cfg
        shapes = cfg.shapes()
        self.base = nn.ParameterList(
            [nn.Parameter(torch.empty(shapes[f"base.{j}"]).uniform_(-1, 1))
             for j in range(cfg.base_levels)])
        cb = shapes["stem.weight"][1]
        self.stem = nn.Conv2d(cb, cfg.channels, cfg.stem_kernel)
        self.stages = nn.ModuleList()
        for i in range(len(cfg.scales)):
            stage = nn.Module()
            stage.grids = nn.ParameterList(
                [nn.Parameter(torch.empty(shapes[f"stages.{i}.grids.{j}"]).uniform_(
                    -_LOCAL_GRID_INIT, _LOCAL_GRID_INIT)) for j in range(cfg.enc_levels)])
            cin, ce = shapes[f"stages.{i}.enc.weight"]
            stage.enc = nn.Linear(ce, cin)
            stage.blocks = nn.ModuleList()
            for d in range(cfg.depths[i]):
                p = f"stages.{i}.blocks.{d}"
                c1, hidden, cout = shapes[f"{p}.dw.bias"][0], *shapes[f"{p}.fc2.weight"][1::-1]
                block = nn.Module()
                block.dw = nn.Conv2d(c1, c1, cfg.kernel, groups=c1)
                block.fc1 = nn.Conv2d(c1, hidden, 1)
                block.fc2 = nn.Conv2d(hidden, cout, 1)
                stage.blocks.append(block)
            self.stages.append(stage)
        self.head = nn.Conv2d(shapes["head.weight"][1], 3, 1)
        for name, p in self.named_parameters():  # HiNeRV: zero biases
            if name.endswith(".bias"):
                nn.init.zeros_(p)
        # the output starts at mid-grey (as HiNeRV's sigmoid head does at zero); a random
        # head would start far off, unbounded by a sigmoid, and spend epochs coming back
        nn.init.zeros_(self.head.weight)
        self.qat: tuple[int, float] | None = None
        self.noise_generator: torch.Generator | None = None
        self._params = dict(self.named_parameters())

    def coded(self, name: str) -> Tensor:
        """Parameter ``name`` as the forward pass uses it (fake-quantised under ``qat``)."""
        p = self._params[name]
        if self.qat is None:
            return p
        bits, noise = self.qat
        return fake_quant(p, bits, noise if self.training else 1.0,
                          self.noise_generator)

    def forward(self, t: Tensor, origin: Tensor, cells: tuple[int, int]) -> Tensor:
        return run(self.cfg, FloatOps(self), t, origin, cells)


def prunable(name: str) -> bool:
    """Weights that pruning may zero: the convolutions of the stem and the blocks. HiNeRV
    leaves the encodings (grids and their linear maps) unpruned; the head is left too: it is
    a few dozen weights, and starting at zero they would be the first to go early on."""
    return name.endswith(".weight") and ".enc." not in name and not name.startswith("head.")


# -- rendering --------------------------------------------------------------------------------
def tiles(cfg: HiNeRVConfig, max_side: int = 256) -> Iterator[tuple[int, int, int, int]]:
    """(row, col, rows, cols) in base cells covering the canvas with tiles of about
    ``max_side`` pixels (any tiling renders the same pixels)."""
    hb, wb = cfg.base_size
    step = max(1, max_side // cfg.stride)
    for y in range(0, hb, step):
        for x in range(0, wb, step):
            yield y, x, min(step, hb - y), min(step, wb - x)


def to_pixels(a: Tensor) -> np.ndarray:
    """Fixed-point (1, 3, H, W) -> H x W x 3 uint8: round(clamp(v, 0, 1) * 255), exactly."""
    v = div_round(a[0].clamp(0, ONE) * 255, ONE)
    return v.permute(1, 2, 0).to(torch.uint8).contiguous().numpy()


class ExactHiNeRV:
    """A coded network (integer weights and steps) that renders frames bit-exactly."""

    def __init__(self, cfg: HiNeRVConfig, weights: dict[str, tuple[Tensor, Step]]):
        shapes = cfg.shapes()
        if list(weights) != list(shapes) or any(
                tuple(weights[n][0].shape) != s for n, s in shapes.items()):
            raise ValueError("weights do not match the configuration")
        self.cfg = cfg
        self.ops = ExactOps(weights)

    def render(self, t: int, tile_side: int = 256) -> np.ndarray:
        """Frame ``t`` as H x W x 3 uint8 R'G'B', rendered tile by tile."""
        cfg = self.cfg
        canvas = torch.zeros((1, 3, *cfg.level_size(len(cfg.scales))), dtype=torch.int64)
        stride = cfg.stride
        with torch.no_grad():
            for y, x, h, w in tiles(cfg, tile_side):
                out = run(cfg, self.ops, torch.tensor([t]), torch.tensor([[y, x]]), (h, w))
                canvas[:, :, y * stride : (y + h) * stride, x * stride : (x + w) * stride] = out
        return to_pixels(canvas[:, :, : cfg.height, : cfg.width])
