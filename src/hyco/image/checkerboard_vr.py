"""Variable-rate checkerboard: the default model's transforms with a spatial prior on top.

Why. The mean-scale hyperprior codes every latent element from the hyper-latent alone, so
what neighbouring elements share is paid for twice. He et al. (2021) code half of the
latent first (the *anchors*, ``h + w`` even, from the hyperprior) and then the other half
with a context over the decoded anchors: two passes, so decoding stays parallel. Here the
context is learned *on top of a trained* :class:`VariableRateMeanScale`: its analysis,
hyperprior and synthesis stay frozen (training them jointly would take the 28,000+ CPU
steps they already took), and only :class:`SpatialPrior` learns, from the rate alone. So
every rate level gains from the first step, and the anchors decode exactly as the base
model's.

Exact by construction, as every hyco codec: the spatial prior sees only what the decoder
holds (the hyperprior's fixed-point parameters and the anchors' integer symbols) and runs
as an integer program (:mod:`hyco.nn.exact_layers`), so encoder and decoder select the
same tables on any machine and thread count.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hyco.entropy.gaussian import code_gaussian
from hyco.image.base import weights_digest
from hyco.image.variable_rate import N_LEVELS, VariableRateMeanScale
from hyco.nn.exact_layers import ONE, clamp, div_round, from_fixed, mul_fixed
from hyco.nn.ops import round_through
from hyco.nn.refiner import ScaleNormalisedRefiner
from hyco.payload import Payload


def anchor_mask(h: int, w: int) -> Tensor:
    """(1, 1, h, w) bool: the anchors (``h + w`` even), coded first from the hyperprior."""
    hh, ww = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((hh + ww) % 2 == 0).view(1, 1, h, w)


class SpatialPrior(ScaleNormalisedRefiner):
    """(scales, means) of the non-anchor elements from the hyperprior's and the anchors.

    Inputs, in quantisation-step units, normalised by the hyperprior's scale
    (:class:`hyco.nn.refiner.ScaleNormalisedRefiner`, as the video temporal prior's)::

        u = s' / (s' + 1),   v = mu / s',   t = k / s' at anchors, 0 elsewhere

    with ``k`` the anchors' decoded symbols (``y_hat - mu``). Outputs per element a scale
    factor ``a`` and a shift ``c``::

        scales = s' * (1 + a),    means = mu + c * s'

    The end layers start at zero, so the untrained prior is the hyperprior alone (the base
    model's rate). ``forward`` trains in float; ``exact`` is its integer twin.
    """

    def __init__(self, m: int = 192, width: int = 256):
        super().__init__(3 * m, 2 * m, width)

    def forward(self, scales: Tensor, means: Tensor, symbols: Tensor) -> tuple[Tensor, Tensor]:
        mu = means.float()
        s, inp = self.features(scales, mu, symbols)
        a, c = self.head(inp).chunk(2, 1)
        return s * (1 + a), mu + c * s

    def exact(self, scales_f: Tensor, means_f: Tensor, symbols: Tensor) -> tuple[Tensor, Tensor]:
        s, inp = self.features_exact(scales_f, means_f, symbols * ONE)
        a, c = self.head_exact(inp).chunk(2, 1)
        return clamp(mul_fixed(s, ONE + a)), clamp(means_f + mul_fixed(c, s))


class VariableRateCheckerboard(VariableRateMeanScale):
    """:class:`VariableRateMeanScale` (frozen) + :class:`SpatialPrior` over its anchors.

    Streams: hyper-latent, anchors, the rest. Train it with ``--init`` a mean-scale-vr
    weights file: only ``spatial`` learns (its loss is the rate; the distortion does not
    depend on it), so the base's numbers must come from a trained model.
    """

    name = "checkerboard-vr"
    n_streams = 3
    base_model = "mean-scale-vr"  # whose weights file initialises everything but `spatial`
    encoder_parts = (*VariableRateMeanScale.encoder_parts, "spatial")
    decoder_parts = (*VariableRateMeanScale.decoder_parts, "spatial")

    prior_cls: type[torch.nn.Module] = SpatialPrior  # what learns; stored as ``spatial``

    def __init__(self, n: int = 128, m: int = 192, levels: int = N_LEVELS):
        super().__init__(n, m, levels)
        for p in self.parameters():
            p.requires_grad_(False)
        self.spatial = self.prior_cls(m)

    # -- training (float) ------------------------------------------------------------------
    def _forward(self, x: Tensor) -> dict:
        if not self.training:
            return self._forward_exact(x)
        y = self.analysis(x)
        z_hat = self.density.quantize(self.hyper_latent(y), noise=True)
        _, _, scales, means = self._refined(y, z_hat)
        y_tilde = self.gaussian.quantize(y, means, noise=True)
        return {"x_hat": self.synthesis(y_tilde),
                "likelihoods": {"y": self.gaussian.likelihood(y_tilde, scales, means),
                                "z": self.density.likelihood(z_hat)}}

    def _refined(self, y: Tensor, z_hat: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """What the float paths (the training forward, :meth:`prior_loss`, the latent
        search's :meth:`relaxed_rate`) share: the float hyperprior's (scales, means) at
        ``z_hat``, then every element's as coding uses them (the anchors' the hyperprior's,
        the rest the spatial prior's over the anchors' symbols as coding rounds them)."""
        scales, means = self._float_hyper(z_hat)
        anchors = anchor_mask(*y.shape[-2:]).to(y.device)
        s2, m2 = self.spatial(scales, means, torch.round(y - means) * anchors)
        return scales, means, torch.where(anchors, scales, s2), torch.where(anchors, means, m2)

    def _counted(self, y: Tensor) -> Tensor:
        """The elements whose rate the prior changes (what :meth:`prior_loss` weighs):
        here the non-anchors."""
        return ~anchor_mask(*y.shape[-2:]).to(y.device)

    def analysis_digest(self) -> str:
        """What cached training latents depend on (hyco.train.latent_prior)."""
        return weights_digest(self.g_a)

    def prior_loss(self, g: Tensor) -> Tensor:
        """The training loss from un-gained analysis latents ``g`` at ``self.quality``:
        the rate of the elements the prior codes (:meth:`_counted`) relative to the
        hyperprior's, with uniform noise for the rounding and the hyper-latent and the
        context as coding rounds them."""
        y = g * self._gains(self.gain)
        with torch.no_grad():
            z_hat = self.density.quantize(self.hyper_latent(y), noise=False)
        s1, m1, scales, means = self._refined(y, z_hat)
        y_tilde = self.gaussian.quantize(y, m1, noise=True)
        counted = self._counted(y)
        base = -torch.log2(self.gaussian.likelihood(y_tilde, s1, m1)).detach()
        new = -torch.log2(self.gaussian.likelihood(y_tilde, scales, means))
        return (new * counted).sum() / (base * counted).sum()

    # -- exact (eval forward, compress, decompress) ----------------------------------------
    def _code(self, y: Tensor | None, streams: tuple[bytes, ...] | None, z_hat: Tensor
              ) -> tuple[list[bytes], Tensor, Tensor, Tensor]:
        """Anchors, then the rest; encodes ``y`` or decodes ``streams`` (anchors, rest).

        Returns the two streams, the decoded latent (fixed point) and its fixed-point scales
        and means."""
        hyper = self.hyper_layers_fixed(z_hat)
        s_f, mu_f = hyper.chunk(2, 1)
        h, w = s_f.shape[-2:]
        anchors = anchor_mask(h, w).expand_as(s_f)
        rest = ~anchors
        y_f = torch.zeros_like(s_f)
        enc = y is not None
        a_data, y_f[anchors] = code_gaussian(y.double().cpu()[anchors] if enc else None,
                                             None if enc else streams[0],
                                             mu_f[anchors], s_f[anchors])
        symbols = torch.where(anchors, div_round(y_f - mu_f, ONE), 0)
        s2_f, m2_f = self.spatial.exact(s_f, mu_f, symbols)
        r_data, y_f[rest] = code_gaussian(y.double().cpu()[rest] if enc else None,
                                          None if enc else streams[1], m2_f[rest], s2_f[rest])
        scales = torch.where(anchors, s_f, s2_f)
        means = torch.where(anchors, mu_f, m2_f)
        return [a_data, r_data], y_f, scales, means

    def _forward_exact(self, x: Tensor) -> dict:
        y = self.analysis(x)
        z_hat = self.density.quantize(self.hyper_latent(y), noise=False)
        _, y_f, scales, means = self._code(y, None, z_hat)
        y_hat = from_fixed(y_f, torch.float64).float().to(y.device)
        dev = y.device
        return {"x_hat": self.synthesis(y_hat),
                "likelihoods": {"y": self.gaussian.likelihood(
                    y_hat, from_fixed(scales).to(dev), from_fixed(means, torch.float64)
                    .float().to(dev)), "z": self.density.likelihood(z_hat)}}

    def compress_latents(self, y: Tensor, z: Tensor) -> list[bytes]:
        z_data, z_hat = self.density.compress(z)
        streams, _, _, _ = self._code(y, None, z_hat)
        return [z_data, *streams]

    def relaxed_rate(self, y: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """As the base model's, with every element's rate under the refined parameters
        and rounded around their means, as :meth:`_code` does."""
        z_hat = round_through(z, self.density.medians.view(1, -1, 1, 1))
        _, _, scales, means = self._refined(y, z_hat)
        bits = -(torch.log2(self.gaussian.likelihood(self._noisy(y), scales, means)).sum()
                 + torch.log2(self.density.likelihood(self._noisy(z))).sum())
        return bits, self.synthesis(round_through(y, means))

    def decode_latent(self, payload: Payload) -> Tensor:
        z_hat = self.density.decompress(payload.streams[0],
                                        self.latent_shape(payload.size, self.n, 64))
        _, y_f, _, _ = self._code(None, payload.streams[1:], z_hat)
        return from_fixed(y_f, torch.float64).float()

    def _decompress(self, payload: Payload) -> Tensor:
        return self.synthesis(self.decode_latent(payload))
