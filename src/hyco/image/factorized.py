"""Factorized prior (Ballé et al. 2017/2018): y coded with a learned per-channel density."""

from __future__ import annotations

from torch import Tensor

from hyco.entropy.factorized import FactorizedDensity
from hyco.image.base import ImageCodec
from hyco.image.transforms import analysis, synthesis
from hyco.payload import Payload


class FactorizedPrior(ImageCodec):
    name = "factorized"
    stride = 16
    encoder_parts = ("g_a", "density")
    decoder_parts = ("density", "g_s")
    n_streams = 1

    def __init__(self, n: int = 128, m: int = 192):
        super().__init__()
        self.n, self.m = n, m
        self.g_a = analysis(n, m)
        self.g_s = synthesis(n, m)
        self.density = FactorizedDensity(m)

    def _forward(self, x: Tensor) -> dict:
        y = self.g_a(x).float()  # float32 latents even under bf16 autocast
        y_hat = self.density.quantize(y, noise=self.training)
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": self.density.likelihood(y_hat)}}

    def _compress(self, x: Tensor) -> list[bytes]:
        data, _ = self.density.compress(self.g_a(x))
        return [data]

    def _decompress(self, payload: Payload) -> Tensor:
        shape = self.latent_shape(payload.size, self.m, 16)
        return self.g_s(self.density.decompress(payload.streams[0], shape).to(self.device))
