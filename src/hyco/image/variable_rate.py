"""Variable-rate mean-scale hyperprior: one set of weights for every quality.

Gain units (Cui et al. 2021): a learned per-channel gain vector for each of the L rate
levels scales the latent before quantisation, and an inverse gain scales it back before
synthesis (likewise for the hyper-latent). Training draws a level per step and uses its
lambda, so the levels learn the ladder's trade-offs. Between integer qualities the gains
are interpolated *linearly*: only IEEE multiplications and additions, which every machine
rounds identically, so a fractional quality decodes exactly everywhere (exponential
interpolation would need pow/exp, whose last bit differs between math libraries).

The latent gains start on a ladder, not at one: at level l the quantisation step is
``1 / gain_l``, and for a lambda ladder that doubles (about) per level the step that balances
rate against MSE scales as lambda^-1/2, so ``gain_l = LEVEL_RATIO ** (l - REF_LEVEL)``. Started
at one, the levels code at (nearly) the same rate for thousands of steps: each level sees 1/L
of the updates and Adam moves a gain by about the learning rate per update (measured: after
3,500 steps qualities 1 and 8 differed by 18 % in rate); on the ladder the rates follow the
quality from the first step.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from hyco.entropy.gaussian import TABLE_SHIFT, log2_bin
from hyco.image.hyperprior import MeanScaleHyperprior
from hyco.image.transforms import hyper_analysis, mean_scale_synthesis
from hyco.nn.exact import exact_forward
from hyco.nn.ops import round_through
from hyco.payload import Payload

N_LEVELS = 8
LEVEL_RATIO = 2 ** 0.475  # sqrt of the zoo's lambda ratio per level (0.0018 .. 0.18 over 7)
REF_LEVEL = 4.5  # the geometric middle of the ladder keeps gain 1
MIN_QUALITY = 0.0  # one extrapolated step below level 1 (VariableRateMeanScale._gains)
EXTRAPOLATION_LIMIT = 2.0  # the most a channel's gain may move in that step, either way
HYPER_HIDDEN = 192  # the hyper-synthesis' hidden width at most (and 1.5x it), whatever M


def gain_ladder(levels: int, channels: int) -> Tensor:
    """(levels, channels) initial latent gains: LEVEL_RATIO ** (level - REF_LEVEL)."""
    ratio = torch.tensor([LEVEL_RATIO ** (lv + 1 - REF_LEVEL) for lv in range(levels)])
    return ratio[:, None].repeat(1, channels)


class VariableRateMeanScale(MeanScaleHyperprior):
    name = "mean-scale-vr"
    encoder_parts = ("g_a", "h_a", "density", "h_s")
    decoder_parts = ("density", "h_s", "g_s")

    min_quality = MIN_QUALITY  # zoo.ModelSpec.quality_range: qualities from this up

    def __init__(self, n: int = 128, m: int = 192, levels: int = N_LEVELS):
        super().__init__(n, m)
        self.levels = levels
        self.gain = nn.Parameter(gain_ladder(levels, m))
        self.inv_gain = nn.Parameter(1.0 / gain_ladder(levels, m))
        self.hyper_gain = nn.Parameter(torch.ones(levels, n))
        self.hyper_inv_gain = nn.Parameter(torch.ones(levels, n))
        self.quality: float = 1.0  # MIN_QUALITY .. levels, fractional allowed

    def _hyper_transforms(self, n: int, m: int) -> tuple[nn.Sequential, nn.Sequential]:
        """As the mean-scale hyperprior's, but the hyper-synthesis' hidden layers stay at
        :data:`HYPER_HIDDEN` (192, 288) for a wider latent: what they carry comes from the
        N = 128 hyper-latent channels, and at M = 320 CompressAI's widths (320, 480) would
        make it 7.6 M of the model's parameters instead of 3.6 M (hyco.image.widen)."""
        return hyper_analysis(n, m, nn.LeakyReLU), mean_scale_synthesis(
            n, m, min(m, HYPER_HIDDEN))

    def _gains(self, table: Tensor) -> Tensor:
        """The (1, C, 1, 1) gain of ``self.quality``: linear between neighbouring levels.

        Below level 1 (qualities 0 .. 1, :data:`MIN_QUALITY`) the ladder goes on by one more
        step of each channel's own learned ratio, ``g0 = g1 * g1 / g2``, linearly to it: the
        rates below the lowest trained lambda (Kodak: q1 0.18 bpp, q0 about 0.12) at no cost
        in weights. Why not further: measured on four Kodak pictures (round-12 weights), the
        step from q1 to q0 cut the rate 27-35 % for 1.1-1.4 dB (1.9-2.9 dB per halving of the
        rate; the trained step from q2 to q1: 2.4-3.4), but a half step more (q -0.5) bought
        only 7-18 % less rate for 0.6-0.7 dB (2.1-7.0 dB per halving), the hyper-latent and
        header being most of what is left. Only products, quotients and sums: the gains,
        which select the probability tables, are the same bits on every machine.

        Each channel's ratio ``g1 / g2`` is clipped to [1/2, 2] (:data:`EXTRAPOLATION_LIMIT`):
        the channels a model leaves unused keep gains of about 1e-3 that wander freely
        between levels, and one whose level-2 gain had fallen to 1e-6 (session 25's model,
        ratio 1,674) came alive at quality 0 and made it cost *more* than quality 1 (Kodak:
        0.227 against 0.205 bpp). Clipped, that model's step from q1 to q0 is -30 % rate for
        -1.1 dB on six Kodak pictures, as round 17's was unclipped.
        """
        q = min(max(float(self.quality), MIN_QUALITY), float(self.levels))
        t = table.abs()
        if q < 1.0:
            a = q - MIN_QUALITY  # 0 .. 1
            ratio = (t[0] / t[1]).clamp(1 / EXTRAPOLATION_LIMIT, EXTRAPOLATION_LIMIT)
            g = t[0] * ratio * (1.0 - a) + t[0] * a
        else:
            lo = min(int(math.floor(q)), self.levels - 1)
            a = q - lo  # 0 .. 1 (exactly 1 at the top level)
            g = t[lo - 1] * (1.0 - a) + t[lo] * a
        return g.view(1, -1, 1, 1)

    def analysis(self, x: Tensor) -> Tensor:
        """The latent at ``self.quality``, before quantisation: its step is 1 in these units."""
        return self.g_a(x).float() * self._gains(self.gain)

    def synthesis(self, y_hat: Tensor) -> Tensor:
        """The picture from a (quantised, or for diagnosis unquantised) latent of ``analysis``."""
        return self.g_s(y_hat.to(self.device) * self._gains(self.inv_gain))

    def hyper_fixed(self, z_hat: Tensor) -> Tensor:
        """The exact hyper-synthesis output (fixed point, scales then means) of a decoded
        hyper-latent: what selects the latent's tables, on any machine."""
        return exact_forward(self._program.get(self.h_s),
                             z_hat * self._gains(self.hyper_inv_gain).cpu())

    def hyper_layers_fixed(self, z_hat: Tensor) -> Tensor:
        """:meth:`hyper_fixed` in :mod:`hyco.nn.exact_layers` units (int64), the arithmetic of
        the priors that refine these parameters (spatial: checkerboard-vr; temporal:
        HyCoVC latent)."""
        return self.hyper_fixed(z_hat).to(torch.int64) << TABLE_SHIFT

    def hyper_latent(self, y: Tensor) -> Tensor:
        """The hyper-latent of a latent of ``analysis``, before quantisation."""
        return self.h_a(y).float() * self._gains(self.hyper_gain)

    def encode_hyper(self, y: Tensor) -> tuple[bytes, Tensor]:
        """The hyper-latent's stream and its decoded value, from the latent of ``analysis``."""
        return self.density.compress(self.hyper_latent(y))

    def decode_latent(self, payload: Payload) -> Tensor:
        """The decoded (padded) latent of a payload, before synthesis: the numbers a codec
        conditioned on this picture's latent (hyco.video.latent) starts from."""
        z_hat = self.density.decompress(payload.streams[0],
                                        self.latent_shape(payload.size, self.n, 64))
        scales_fixed, means = self._split_fixed(self.hyper_fixed(z_hat))
        return self.gaussian.decompress(payload.streams[1], scales_fixed, means)

    def _forward(self, x: Tensor) -> dict:
        y = self.analysis(x)
        z = self.hyper_latent(y)
        z_hat = self.density.quantize(z, noise=self.training)
        scales, means, _ = self.gaussian_parameters(
            self._seen_hyper(z, z_hat) * self._gains(self.hyper_inv_gain))
        y_hat = self.gaussian.quantize(y, means, noise=self.training)
        return {
            "x_hat": self.synthesis(self._seen(y, y_hat, means)),
            "likelihoods": {"y": self.gaussian.likelihood(y_hat, scales, means),
                            "z": self.density.likelihood(z_hat)},
        }

    def _compress(self, x: Tensor) -> list[bytes]:
        return self.compress_latents(*self.initial_latents(x))

    # -- the encoder-side latent search (hyco.image.latent_search) ---------------------------
    def initial_latents(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(latent, hyper-latent) of a padded picture, unquantised, as the analysis gives
        them: what plain coding rounds, and where a search starts."""
        y = self.analysis(x)
        return y, self.hyper_latent(y)

    def compress_latents(self, y: Tensor, z: Tensor) -> list[bytes]:
        """The streams of given (unquantised) latents: the decoder cannot tell who chose them."""
        z_data, z_hat = self.density.compress(z)
        scales_fixed, means = self._split_fixed(self.hyper_fixed(z_hat))
        y_data, _ = self.gaussian.compress(y, scales_fixed, means)
        return [z_data, y_data]

    def relaxed_rate(self, y: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """(bits, padded picture) of latents ``(y, z)``, differentiable in both: the rate
        with uniform noise for the rounding, the picture and the hyperprior from the values
        coding will round to (straight-through)."""
        z_hat = round_through(z, self.density.medians.view(1, -1, 1, 1))
        scales, means = self._float_hyper(z_hat)
        y_hat = round_through(y, means)
        bits = -(torch.log2(self.gaussian.likelihood(self._noisy(y), scales, means)).sum()
                 + torch.log2(self.density.likelihood(self._noisy(z))).sum())
        return bits, self.synthesis(y_hat)

    def hyper_rate(self, y: Tensor, z: Tensor) -> Tensor:
        """Bits of a fixed latent ``y`` under the hyperprior of hyper-latent ``z``, plus
        ``z``'s own, differentiable in ``z``: what the hyper-latent search lowers.

        The latent's rate is its rounded residual's under the hyperprior alone (the context
        priors refine those parameters, but cost a pass per slice), in the log domain
        (:func:`hyco.entropy.gaussian.log2_bin`); ``z`` is rounded straight-through for
        the hyper-synthesis, and its rate takes the noise, as in training."""
        scales, means = self._float_hyper(round_through(z, self.density.medians.view(1, -1, 1, 1)))
        residual = round_through(y, means) - means  # the coded integer, gradient to means
        return -(log2_bin(residual, scales).sum()
                 + torch.log2(self.density.likelihood(self._noisy(z))).sum())

    def _float_hyper(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        """(scales, means) of the float hyper-synthesis, with gradients (any mode)."""
        scales, means = self.h_s(z_hat * self._gains(self.hyper_inv_gain)).float().chunk(2, 1)
        return scales, means

    @staticmethod
    def _noisy(v: Tensor) -> Tensor:
        return v + torch.empty_like(v).uniform_(-0.5, 0.5)

    def _decompress(self, payload: Payload) -> Tensor:
        return self.synthesis(self.decode_latent(payload))
