"""Conditional multi-scale patch discriminator for generative compression (HiFiC's D).

Each scale is a PatchGAN (Isola et al. 2017): strided 4x4 convolutions that end in a map
of real/fake logits, one per overlapping patch, so D judges local texture rather than the
whole image. It is *conditional* (Mentzer et al. 2020): the quantised latent y_hat goes
through a 3x3 convolution to 12 channels, is upsampled (nearest) to the image size and
concatenated with the image, so D asks "is this a plausible image *for this latent*"
instead of "is this a plausible image". Several scales (pix2pixHD, Wang et al. 2018) see
the image average-pooled by 1, 2, 4, ...; the paper's single-scale D is ``scales=1``.
Spectral normalisation on every convolution keeps D Lipschitz, which is what lets the
non-saturating GAN loss train stably from a warm-started generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

_SLOPE = 0.2
_MAX_WIDTH = 512


def _sn_conv(cin: int, cout: int, kernel: int, stride: int, padding: int) -> nn.Module:
    return spectral_norm(nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding))


def _same_conv4(cin: int, cout: int) -> nn.Sequential:
    """4x4 stride-1 'same' convolution: pads 1 before and 2 after, as TensorFlow does
    (explicit, so no padded copy is made behind PyTorch's padding='same')."""
    return nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), _sn_conv(cin, cout, 4, 1, 0))


class PatchDiscriminator(nn.Module):
    """One scale: (image in [0, 1], latent) -> (patch logits, intermediate features)."""

    def __init__(self, latent_channels: int, width: int = 64, layers: int = 3,
                 cond_channels: int = 12):
        super().__init__()
        self.cond = _sn_conv(latent_channels, cond_channels, 3, 1, 1)
        convs = [_sn_conv(3 + cond_channels, width, 4, 2, 1)]
        c = width
        for _ in range(layers - 1):
            convs.append(_sn_conv(c, min(2 * c, _MAX_WIDTH), 4, 2, 1))
            c = min(2 * c, _MAX_WIDTH)
        convs.append(_same_conv4(c, min(2 * c, _MAX_WIDTH)))
        self.convs = nn.ModuleList(convs)
        self.head = _same_conv4(min(2 * c, _MAX_WIDTH), 1)

    def forward(self, x: Tensor, latent: Tensor) -> tuple[Tensor, list[Tensor]]:
        cond = F.leaky_relu(self.cond(latent), _SLOPE)
        cond = F.interpolate(cond, size=x.shape[-2:], mode="nearest")
        h = torch.cat([x * 2 - 1, cond.to(x.dtype)], dim=1)
        features = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), _SLOPE)
            features.append(h)
        return self.head(h).float(), features


class MultiScaleDiscriminator(nn.Module):
    """``scales`` patch discriminators on the image downsampled by 1, 2, 4, ...

    ``forward`` returns one ``(logits, features)`` pair per scale; the latent is shared
    (each scale upsamples it to its own resolution).
    """

    def __init__(self, latent_channels: int, scales: int = 3, width: int = 64,
                 layers: int = 3):
        super().__init__()
        if scales < 1:
            raise ValueError("a discriminator needs at least one scale")
        self.scales = nn.ModuleList(
            PatchDiscriminator(latent_channels, width, layers) for _ in range(scales))

    def forward(self, x: Tensor, latent: Tensor) -> list[tuple[Tensor, list[Tensor]]]:
        outs = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(d(x, latent))
        return outs
