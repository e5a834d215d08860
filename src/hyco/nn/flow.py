"""Optical flow estimation: a small PWC-Net-style pyramid (Sun et al. 2018).

Only a video *encoder* estimates motion (the decoder receives the coded flow), so this network
runs in ordinary float. Structure, as in PWC-Net but narrower: a shared feature pyramid of both
frames; from the coarsest level up, the reference's features are warped by the upsampled flow
of the level below, a local cost volume (correlation over a (2r+1)^2 window) is computed, and
a small CNN predicts the flow update from [current features, cost volume, flow]. The finest
estimate (1/4 resolution) is upsampled bilinearly to full resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyco.nn.warp import warp


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.1))


def cost_volume(f1: Tensor, f2: Tensor, radius: int) -> Tensor:
    """Mean-over-channels correlation of f1 with f2 shifted over a (2r+1)^2 window."""
    h, w = f1.shape[-2:]
    padded = F.pad(f2, (radius,) * 4)
    out = [(f1 * padded[..., dy : dy + h, dx : dx + w]).mean(1, keepdim=True)
           for dy in range(2 * radius + 1) for dx in range(2 * radius + 1)]
    return F.leaky_relu(torch.cat(out, 1), 0.1)


class FlowEstimator(nn.Module):
    """Flow from ``x`` (current) to ``ref``: ``warp(ref, flow) ~ x``; inputs (N, 3, H, W)."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 48, 64), radius: int = 3):
        super().__init__()
        self.radius = radius
        self.levels = len(channels)
        pyramid, cin = [], 3
        for c in channels:
            pyramid.append(nn.Sequential(_conv(cin, c, 2), _conv(c, c)))
            cin = c
        self.pyramid = nn.ModuleList(pyramid)
        cost = (2 * radius + 1) ** 2
        self.estimators = nn.ModuleList(
            nn.Sequential(_conv(c + cost + 2, 64), _conv(64, 48), _conv(48, 32),
                          nn.Conv2d(32, 2, 3, 1, 1))
            for c in channels[1:])  # levels 1/4 .. 1/2**len

    def _features(self, x: Tensor) -> list[Tensor]:
        feats = []
        for stage in self.pyramid:
            x = stage(x)
            feats.append(x)
        return feats

    def forward(self, x: Tensor, ref: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        m = 2**self.levels
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
            ref = F.pad(ref, (0, pw, 0, ph), mode="replicate")
        f1s, f2s = self._features(x), self._features(ref)
        flow = None
        for level in range(self.levels - 1, 0, -1):  # coarsest .. 1/4 resolution
            f1, f2 = f1s[level], f2s[level]
            if flow is None:
                flow = torch.zeros_like(f1[:, :2])
            else:
                flow = 2 * F.interpolate(flow, scale_factor=2, mode="bilinear",
                                         align_corners=False)
            cost = cost_volume(f1, warp(f2, flow), self.radius)
            flow = flow + self.estimators[level - 1](torch.cat([f1, cost, flow], 1))
        # the finest estimate is at 1/4 resolution: to full resolution, in full-size pixels
        flow = 4 * F.interpolate(flow, scale_factor=4, mode="bilinear", align_corners=False)
        return flow[..., :h, :w]
