"""The integer-exact body shared by the priors that refine a hyperprior's (scales, means).

Why one body. The checkerboard spatial prior (:mod:`hyco.image.checkerboard_vr`) and the video
temporal prior (:mod:`hyco.video.latent`) both sharpen the hyperprior's Gaussian parameters
from something only the decoder holds (the anchors' symbols, the previous frame's latent), and
both need the same two things to train and to decode exactly:

* inputs normalised by the hyperprior's scale ``s' = max(s, 0.11)`` (the smallest table's
  scale), so they are of order one at every rate level: fed raw values, which grow with the
  level, one Adam step at lr 1e-3 made a test clip's rate 2.5x the I-frame's::

      u = s' / (s' + 1),   v / s' for each further input v (clipped to +-16)

* a deep path (3x3, 3x3, 1x1) beside a 1x1 ``skip``, both ending in zero weights, so the
  untrained refiner outputs zero (what each prior maps to "the hyperprior alone").

Each has a float form (training) and an integer twin (coding): integer products and
divisions, rounded, so encoder and decoder select the same tables on any machine.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hyco.entropy.gaussian import SCALE_MIN
from hyco.nn.exact_layers import ONE, ExactConv2d, ExactSequential, HardGELU, clamp, div_round

CLIP = 16  # the normalised inputs' range


class ScaleNormalisedRefiner(nn.Module):
    """``inputs`` normalised channels in, ``outputs`` channels out; zero at initialisation."""

    def __init__(self, inputs: int, outputs: int, width: int):
        super().__init__()
        self.net = ExactSequential(
            ExactConv2d(inputs, width, 3, padding=1), HardGELU(),
            ExactConv2d(width, width, 3, padding=1), HardGELU(),
            ExactConv2d(width, outputs, 1))
        self.skip = ExactConv2d(inputs, outputs, 1)
        for layer in (self.net[-1], self.skip):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @staticmethod
    def features(scales: Tensor, *values: Tensor) -> tuple[Tensor, Tensor]:
        """(s', the normalised inputs ``[u, v1 / s', ...]``), in float."""
        s = scales.float().clamp_min(SCALE_MIN)
        return s, torch.cat([s / (s + 1), *((v / s).clamp(-CLIP, CLIP) for v in values)], 1)

    @staticmethod
    def features_exact(scales_f: Tensor, *values_f: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`features` in fixed point (``ONE`` = 1.0): inputs and outputs integers."""
        s = scales_f.clamp_min(round(SCALE_MIN * ONE))
        lim = CLIP * ONE
        return s, torch.cat([div_round(s * ONE, s + ONE),
                             *(div_round(v * ONE, s).clamp(-lim, lim) for v in values_f)], 1)

    def head(self, inp: Tensor) -> Tensor:
        """The refiner's outputs from :meth:`features`' inputs, in float."""
        return (self.net(inp) + self.skip(inp)).float()

    def head_exact(self, inp: Tensor) -> Tensor:
        """:meth:`head`'s integer twin, from :meth:`features_exact`' inputs."""
        return clamp(self.net.exact(inp) + self.skip.exact(inp))
