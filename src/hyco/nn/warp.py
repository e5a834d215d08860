"""Backward warping by an optical flow, in float (training) and in exact integers (coding).

``warp(x, flow)[..., i, j] = x[..., i + flow_y, j + flow_x]`` with bilinear interpolation and
positions clamped to the image (border replicate). In a video decoder the warped reference
feeds the entropy model of the next frame, so the coding path must reproduce it bit for bit:
:func:`exact_warp` computes the same function on fixed-point activations and flows
(:mod:`hyco.nn.exact_layers` units) with integer arithmetic only: integer sample positions,
fixed-point fractions, int64 products, one rounding division.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from hyco.nn.exact_layers import ONE, clamp, div_round


def _base_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    gy, gx = torch.meshgrid(torch.arange(h, device=device, dtype=dtype),
                            torch.arange(w, device=device, dtype=dtype), indexing="ij")
    return gy, gx


def warp(x: Tensor, flow: Tensor) -> Tensor:
    """Bilinear backward warp of ``x`` (N, C, H, W) by ``flow`` (N, 2, H, W), (dx, dy) pixels."""
    n, _, h, w = x.shape
    flow = flow.float()
    gy, gx = _base_grid(h, w, x.device, flow.dtype)
    px = (gx + flow[:, 0]).clamp(0, w - 1)
    py = (gy + flow[:, 1]).clamp(0, h - 1)
    grid = torch.stack([2 * px / max(w - 1, 1) - 1, 2 * py / max(h - 1, 1) - 1], dim=-1)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border",
                         align_corners=True)


def exact_warp(a: Tensor, flow: Tensor) -> Tensor:
    """:func:`warp` on int64 fixed-point activations ``a`` and flow (units of 1/ONE pixel)."""
    n, c, h, w = a.shape
    gy, gx = _base_grid(h, w, a.device, torch.int64)
    px = (gx * ONE + flow[:, 0]).clamp(0, (w - 1) * ONE)
    py = (gy * ONE + flow[:, 1]).clamp(0, (h - 1) * ONE)
    x0, y0 = torch.div(px, ONE, rounding_mode="floor"), torch.div(py, ONE, rounding_mode="floor")
    fx, fy = px - x0 * ONE, py - y0 * ONE
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    flat = a.reshape(n, c, h * w)

    def sample(yy: Tensor, xx: Tensor) -> Tensor:
        idx = (yy * w + xx).reshape(n, 1, h * w).expand(n, c, h * w)
        return flat.gather(2, idx).reshape(n, c, h, w)

    fx, fy = fx.unsqueeze(1), fy.unsqueeze(1)
    acc = (sample(y0, x0) * ((ONE - fx) * (ONE - fy)) + sample(y0, x1) * (fx * (ONE - fy))
           + sample(y1, x0) * ((ONE - fx) * fy) + sample(y1, x1) * (fx * fy))
    return clamp(div_round(acc, ONE * ONE))
