"""HiFiC: high-fidelity generative image compression (Mentzer et al. 2020).

An encoder E with ChannelNorm, the mean-scale hyperprior of :mod:`hyco.image.hyperprior`
(inherited, so the hyper-synthesis that selects probability tables runs in the same exact
integer arithmetic and the coding path is the same code), and a generator G: a ChannelNorm
head, a trunk of residual blocks at 1/16 resolution with a skip over the whole trunk, and
four transposed-convolution upsamplings. Trained with a conditional discriminator
(:mod:`hyco.nn.discriminator`, stage 2 of :mod:`hyco.train.gan`), G synthesises plausible
texture at low rates instead of the blur an MSE decoder settles on.

Two sizes: ``hific-paper`` is the paper's (base width 60, so 60..960 channels, latent 220,
hyper width 320, 9 residual blocks); ``hific`` is a small configuration that trains on a
CPU (base 16, 256-channel trunk of 4 blocks, latent 128, hyper width 128). The regimes
``low``/``med``/``high`` are rate targets used by training, not architectures.
``hific-mixture`` (:class:`HiFiCMixture`) is the small one with the discretised logistic
mixture likelihood instead of the Gaussian (:mod:`hyco.entropy.logistic_mixture`).

At inference (eval ``forward`` and ``decompress``) G runs in integer arithmetic
(:meth:`Generator.exact`): float convolutions at 1/16 resolution change their summation
order with the thread count and moved decoded pixels by one level in measurements here; the
integer twin makes the reconstruction identical on every machine and thread count, at about
3-4x the float generator's time. Training uses the float G, which computes the same function up
to fixed-point rounding.

Training (``self.training``) uses *mixed* quantisation as HiFiC does: the rate is the
likelihood of ``y`` plus uniform noise, while G sees ``y`` rounded around the predicted
means (straight-through gradient), i.e. exactly the kind of input it gets when decoding.
The likelihoods of the rounded latents are returned as ``q_likelihoods`` (no gradient): the
rate a file would cost, which the rate controller compares with the regime's target.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hyco.entropy.logistic_mixture import LogisticMixtureConditional
from hyco.image.hyperprior import MeanScaleHyperprior
from hyco.image.transforms import hyper_analysis
from hyco.nn.derived import Derived
from hyco.nn.exact import exact_forward
from hyco.nn.exact import from_fixed as hyper_from_fixed
from hyco.nn.exact_convs import quantize_all
from hyco.nn.exact_layers import clamp, from_fixed, to_fixed
from hyco.nn.norm import ChannelNorm2d
from hyco.nn.ops import conv, deconv, round_through
from hyco.nn.residual import ResidualBlock
from hyco.payload import Payload

_STAGES = 4  # E downsamples and G upsamples by 2**4 = 16

REGIMES = {"low": 0.14, "med": 0.30, "high": 0.45}
"""The paper's named qualities and the rate (bpp) training steers each one to."""


def encoder(base: int, m: int) -> nn.Sequential:
    """x -> y (m channels, 1/16 resolution): 7x7 conv, four stride-2 3x3 convs doubling the
    width (base .. 16 base), each with ChannelNorm and ReLU, then a 3x3 conv to m."""
    layers: list[nn.Module] = [nn.Conv2d(3, base, 7, padding=3), ChannelNorm2d(base), nn.ReLU()]
    c = base
    for _ in range(_STAGES):
        layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), ChannelNorm2d(2 * c), nn.ReLU()]
        c *= 2
    layers.append(nn.Conv2d(c, m, 3, padding=1))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """y_hat (m channels) -> image: norm/conv/norm head to 16 base channels, ``blocks``
    residual blocks with a skip over the trunk, four stride-2 transposed 3x3 convs halving
    the width (with ChannelNorm and ReLU), and a 7x7 conv to RGB."""

    def __init__(self, m: int, base: int, blocks: int):
        super().__init__()
        width = base * 2**_STAGES
        self.head = nn.Sequential(ChannelNorm2d(m), nn.Conv2d(m, width, 3, padding=1),
                                  ChannelNorm2d(width))
        self.trunk = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        tail: list[nn.Module] = []
        c = width
        for s in reversed(range(_STAGES)):
            out = base * 2**s
            tail += [nn.ConvTranspose2d(c, out, 3, stride=2, padding=1, output_padding=1),
                     ChannelNorm2d(out), nn.ReLU()]
            c = out
        tail.append(nn.Conv2d(c, 3, 7, padding=3))
        self.tail = nn.Sequential(*tail)
        self._convs: Derived[dict] = Derived(quantize_all)

    def forward(self, y: Tensor) -> Tensor:
        h = self.head(y)
        return self.tail(h + self.trunk(h))

    def exact(self, y: Tensor) -> Tensor:
        """The same network in integer arithmetic (:mod:`hyco.nn.exact_convs`), on the CPU:
        the reconstruction is then identical on every machine and thread count, which float
        convolutions at 1/16 resolution are not (their summation order varies)."""
        convs = self._convs.get(self)
        a = convs["head.1"](self.head[0].exact(to_fixed(y)))
        h = self.head[2].exact(a)
        a = h
        for i, block in enumerate(self.trunk):
            a = block.exact(a, convs, f"trunk.{i}")
        a = clamp(h + a)
        for i, layer in enumerate(self.tail):
            if isinstance(layer, ChannelNorm2d):
                a = layer.exact(a)
            elif isinstance(layer, nn.ReLU):
                a = a.clamp_min(0)
            else:
                a = convs[f"tail.{i}"](a)
        return from_fixed(a)


class HiFiC(MeanScaleHyperprior):
    """The small configuration (``hific``); ``n`` is the hyper width, ``m`` the latent's."""

    name = "hific"
    base: int = 16  # encoder/generator base width (the paper's: 60)
    blocks: int = 4  # residual blocks in G's trunk (the paper's: 9)

    def __init__(self, n: int = 128, m: int = 128, base: int | None = None,
                 blocks: int | None = None):
        # set before the parent builds the transforms through _main_transforms
        self.base = base or type(self).base
        self.blocks = blocks if blocks is not None else type(self).blocks
        super().__init__(n, m)

    def _main_transforms(self, n: int, m: int) -> tuple[nn.Module, nn.Module]:
        return encoder(self.base, m), Generator(m, self.base, self.blocks)

    def _forward(self, x: Tensor) -> dict:
        y = self.g_a(x).float()  # latents stay float32 under bf16 autocast
        z = self.h_a(y).float()
        z_hat = self.density.quantize(z, noise=self.training)
        scales, means, _ = self.gaussian_parameters(z_hat)
        if not self.training:  # exactly what compress() codes and decompress() decodes
            y_hat = self.gaussian.quantize(y, means, noise=False)
            likelihoods = {"y": self.gaussian.likelihood(y_hat, scales, means),
                           "z": self.density.likelihood(z_hat)}
            return {"x_hat": self.g_s.exact(y_hat).to(x.device), "likelihoods": likelihoods,
                    "y_hat": y_hat}
        y_noisy = self.gaussian.quantize(y, means, noise=True)
        y_hat = round_through(y, means)
        likelihoods = {"y": self.gaussian.likelihood(y_noisy, scales, means),
                       "z": self.density.likelihood(z_hat)}
        with torch.no_grad():
            q_likelihoods = {
                "y": self.gaussian.likelihood(y_hat.detach(), scales.detach(), means.detach()),
                "z": self.density.likelihood(self.density.quantize(z.detach(), noise=False))}
        return {"x_hat": self.g_s(y_hat), "likelihoods": likelihoods,
                "q_likelihoods": q_likelihoods, "y_hat": y_hat}


    def _decompress(self, payload: Payload) -> Tensor:
        z_hat = self.density.decompress(payload.streams[0],
                                        self.latent_shape(payload.size, self.n, 64))
        scales_fixed, means = self._split_fixed(exact_forward(self._program.get(self.h_s), z_hat))
        y_hat = self.gaussian.decompress(payload.streams[1], scales_fixed, means)
        return self.g_s.exact(y_hat).to(self.device)


class HiFiCPaper(HiFiC):
    """The paper's configuration (``hific-paper``): 60..960 channels, 9 residual blocks."""

    name = "hific-paper"
    base = 60
    blocks = 9


def mixture_synthesis(n: int, m: int, k: int) -> nn.Sequential:
    """z -> K (weight logit, mean, scale) per latent element: 3 K m channels (the mean-scale
    hyper-synthesis with a wider last layer)."""
    return nn.Sequential(deconv(n, m), nn.LeakyReLU(), deconv(m, m * 3 // 2), nn.LeakyReLU(),
                         conv(m * 3 // 2, 3 * k * m, 3, 1))


class HiFiCMixture(HiFiC):
    """HiFiC with the discretised logistic mixture likelihood (``hific-mixture``): K = 3
    logistics per latent element instead of one Gaussian, tables built exactly from the
    fixed-point hyper output (:mod:`hyco.entropy.logistic_mixture`). Latents are rounded
    to integers (a mixture has no single mean to round around)."""

    name = "hific-mixture"
    components = 3

    def __init__(self, n: int = 128, m: int = 128, base: int | None = None,
                 blocks: int | None = None):
        super().__init__(n, m, base, blocks)
        self.mixture = LogisticMixtureConditional(self.components)

    def _hyper_transforms(self, n: int, m: int) -> tuple[nn.Sequential, nn.Sequential]:
        return hyper_analysis(n, m, nn.LeakyReLU), mixture_synthesis(n, m, self.components)

    def mixture_parameters(self, z_hat: Tensor) -> tuple[Tensor, Tensor | None]:
        """(float parameters, fixed-point parameters at inference) from z_hat."""
        if self.training:
            return self.h_s(z_hat).float(), None
        fixed = exact_forward(self._program.get(self.h_s), z_hat)
        return hyper_from_fixed(fixed).to(z_hat.device), fixed

    def _forward(self, x: Tensor) -> dict:
        y = self.g_a(x).float()
        z = self.h_a(y).float()
        z_hat = self.density.quantize(z, noise=self.training)
        params, _ = self.mixture_parameters(z_hat)
        if not self.training:
            y_hat = self.mixture.quantize(y, noise=False)
            likelihoods = {"y": self.mixture.likelihood(y_hat, params),
                           "z": self.density.likelihood(z_hat)}
            return {"x_hat": self.g_s.exact(y_hat).to(x.device), "likelihoods": likelihoods,
                    "y_hat": y_hat}
        y_hat = y + (torch.round(y) - y).detach()  # straight-through rounding for G
        likelihoods = {"y": self.mixture.likelihood(self.mixture.quantize(y, noise=True), params),
                       "z": self.density.likelihood(z_hat)}
        with torch.no_grad():
            q_likelihoods = {
                "y": self.mixture.likelihood(y_hat.detach(), params.detach()),
                "z": self.density.likelihood(self.density.quantize(z.detach(), noise=False))}
        return {"x_hat": self.g_s(y_hat), "likelihoods": likelihoods,
                "q_likelihoods": q_likelihoods, "y_hat": y_hat}

    def _compress(self, x: Tensor) -> list[bytes]:
        y = self.g_a(x)
        z_data, z_hat = self.density.compress(self.h_a(y))
        fixed = exact_forward(self._program.get(self.h_s), z_hat)
        y_data, _ = self.mixture.compress(y, fixed)
        return [z_data, y_data]

    def _decompress(self, payload: Payload) -> Tensor:
        z_hat = self.density.decompress(payload.streams[0],
                                        self.latent_shape(payload.size, self.n, 64))
        fixed = exact_forward(self._program.get(self.h_s), z_hat)
        y_hat = self.mixture.decompress(payload.streams[1], fixed)
        return self.g_s.exact(y_hat).to(self.device)
