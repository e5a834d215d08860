"""Scale hyperprior (Ballé 2018) and mean-scale hyperprior (Minnen 2018).

z = h_a(y) is coded with a factorized density; h_s(z_hat) predicts the Gaussian scales
(and means) of y. At inference h_s runs integer-exact (:mod:`hyco.nn.exact`) so the
decoder selects the same tables as the encoder on any machine and thread count; eval-mode
``forward`` uses that same path, so its likelihoods and reconstruction are what is coded.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hyco.entropy.factorized import FactorizedDensity
from hyco.entropy.gaussian import GaussianConditional
from hyco.image.base import ImageCodec
from hyco.image.transforms import (
    analysis,
    hyper_analysis,
    mean_scale_synthesis,
    scale_synthesis,
    synthesis,
)
from hyco.nn.derived import Derived
from hyco.nn.exact import exact_forward, from_fixed, quantize_layers
from hyco.nn.ops import round_through
from hyco.payload import Payload


class ScaleHyperprior(ImageCodec):
    name = "hyperprior"
    stride = 64
    encoder_parts = ("g_a", "h_a", "density", "h_s")
    decoder_parts = ("density", "h_s", "g_s")
    n_streams = 2
    predicts_means = False
    # Training only: what the transforms see of the latents. False: the noisy values the rate
    # is measured on (Balle et al.). True ("mixed" quantisation, Minnen & Singh 2020): the
    # rounded values the decoder will hold, with straight-through gradients, while the rate
    # keeps the noise. Why: trained on noise, the synthesis never sees the rounding it gets
    # at test time (round 17, validation quality 3: 30.84 dB from rounded latents, 33.27 dB
    # from unrounded ones). Set by `hyco train --quantizer ste`.
    round_for_synthesis: bool = False

    def __init__(self, n: int = 128, m: int = 192):
        super().__init__()
        self.n, self.m = n, m
        self.g_a, self.g_s = self._main_transforms(n, m)
        self.h_a, self.h_s = self._hyper_transforms(n, m)
        self.density = FactorizedDensity(n)
        self.gaussian = GaussianConditional()
        self._program: Derived[list] = Derived(lambda mod: quantize_layers(mod))

    def _main_transforms(self, n: int, m: int) -> tuple[nn.Module, nn.Module]:
        """(g_a, g_s). A family with other image transforms (HiFiC) overrides only this
        and keeps the hyperprior, its exact table selection and the coding path."""
        return analysis(n, m), synthesis(n, m)

    def _hyper_transforms(self, n: int, m: int) -> tuple[nn.Sequential, nn.Sequential]:
        return hyper_analysis(n, m), scale_synthesis(n, m)

    def _analyse_hyper(self, y: Tensor) -> Tensor:
        return self.h_a(y.abs())

    def gaussian_parameters(self, z_hat: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """(scales, means, fixed-point scales and means) from z_hat.

        Training: plain float h_s with gradients. Inference: integer-exact h_s, returning
        also the fixed-point output that selects tables.
        """
        if self.training:
            out, fixed = self.h_s(z_hat).float(), None
        else:
            fixed = exact_forward(self._program.get(self.h_s), z_hat)
            out = from_fixed(fixed).to(z_hat.device)
        if self.predicts_means:
            scales, means = out.chunk(2, dim=1)
        else:
            scales, means = out, None
        return scales, means, fixed

    def _forward(self, x: Tensor) -> dict:
        y = self.g_a(x).float()  # latents stay float32 under bf16 autocast (noise precision)
        z = self._analyse_hyper(y).float()
        z_hat = self.density.quantize(z, noise=self.training)
        scales, means, _ = self.gaussian_parameters(self._seen_hyper(z, z_hat))
        y_hat = self.gaussian.quantize(y, means, noise=self.training)
        return {
            "x_hat": self.g_s(self._seen(y, y_hat, means)),
            "likelihoods": {"y": self.gaussian.likelihood(y_hat, scales, means),
                            "z": self.density.likelihood(z_hat)},
        }

    def _seen(self, y: Tensor, y_hat: Tensor, means: Tensor | None) -> Tensor:
        """The latent the synthesis sees: ``y_hat`` (noisy when training), or when training
        with :attr:`round_for_synthesis` the rounded ``y`` (straight-through)."""
        if not (self.training and self.round_for_synthesis):
            return y_hat
        return round_through(y, torch.zeros_like(y) if means is None else means)

    def _seen_hyper(self, z: Tensor, z_hat: Tensor) -> Tensor:
        """:meth:`_seen` for the hyper-latent the hyper-synthesis sees (rounded about the
        density's medians, as coding rounds it)."""
        if not (self.training and self.round_for_synthesis):
            return z_hat
        return round_through(z, self.density.medians.view(1, -1, 1, 1))

    def _split_fixed(self, fixed: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.predicts_means:
            s, mu = fixed.chunk(2, dim=1)
            return s, from_fixed(mu)
        return fixed, None

    def _compress(self, x: Tensor) -> list[bytes]:
        y = self.g_a(x)
        z_data, z_hat = self.density.compress(self._analyse_hyper(y))
        fixed = exact_forward(self._program.get(self.h_s), z_hat)
        scales_fixed, means = self._split_fixed(fixed)
        y_data, _ = self.gaussian.compress(y, scales_fixed, means)
        return [z_data, y_data]  # (entropy side on the CPU; see hyco.nn.exact)

    def _decompress(self, payload: Payload) -> Tensor:
        z_shape = self.latent_shape(payload.size, self.n, 64)
        z_hat = self.density.decompress(payload.streams[0], z_shape)
        fixed = exact_forward(self._program.get(self.h_s), z_hat)
        scales_fixed, means = self._split_fixed(fixed)
        y_hat = self.gaussian.decompress(payload.streams[1], scales_fixed, means)
        return self.g_s(y_hat.to(self.device))


class MeanScaleHyperprior(ScaleHyperprior):
    name = "mean-scale"
    predicts_means = True

    def _hyper_transforms(self, n: int, m: int) -> tuple[nn.Sequential, nn.Sequential]:
        return hyper_analysis(n, m, nn.LeakyReLU), mean_scale_synthesis(n, m)

    def _analyse_hyper(self, y: Tensor) -> Tensor:
        return self.h_a(y)
