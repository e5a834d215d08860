"""HyCoVC: a hyperprior contextual video codec for P-frames, in three pixel-domain variants
(a fourth, ``latent``, codes in the image codec's latent space: :mod:`hyco.video.latent`).

One model class, three ways to build the *context* a frame is coded against (the I-frames
come from the image codec; ``baseline``, all-intra, needs no model):

- ``context`` (DCVC-style conditional coding, no motion): context features C = F(ref) of the
  previous decoded frame; the encoder sees [x, ref, C], the decoder fuses its features with C,
  and the entropy model adds a *temporal prior* computed from C to the hyperprior;
- ``flow``: optical flow from a PWC-Net-style estimator (:mod:`hyco.nn.flow`, encoder only) is
  coded by its own mean-scale hyperprior codec; the reference is warped in pixels
  (x_bar = warp(ref, flow_hat)) and the frame is coded conditioned on C = F(x_bar), with the
  hyperprior alone as entropy model;
- ``full``: flow + context + hyperprior: the reference's *features* are warped
  (C = warp(F(ref), flow_hat)) and drive encoder, decoder and the temporal prior.
The reconstruction is ``base + G([dec(y_hat), C])`` with base the (warped) reference.

Determinism. A decoded P-frame is the next frame's reference, so everything between the
reference and the reconstruction (motion decoder, warping, context features, temporal prior,
hyper-synthesis, entropy parameters, decoder, generator) runs at inference as an integer
program (:mod:`hyco.nn.exact_layers`, :func:`hyco.nn.warp.exact_warp`); the reference enters
as its 8-bit pixels and the reconstruction leaves as 8-bit pixels. Encoder and decoder then
compute identical table indices and frames on any machine and thread count, so there is no
drift. Eval-mode ``forward`` uses the same integer path, so what it reports is what is coded.

Rates: gain units (as :mod:`hyco.image.variable_rate`): one set of weights serves every
quality 1..8 (fractional too), the latent scaled by a per-level gain before quantisation; the
gains start on the image codec's ladder so the levels differ in rate from the first step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyco.entropy.factorized import FactorizedDensity
from hyco.entropy.gaussian import GaussianConditional, code_gaussian
from hyco.errors import CorruptStream
from hyco.image.base import weights_digest
from hyco.image.variable_rate import gain_ladder
from hyco.nn.derived import Derived
from hyco.nn.exact_layers import (
    ONE,
    ExactConv2d,
    ExactSequential,
    HardGELU,
    clamp,
    div_round,
    from_fixed,
    mul_fixed,
    to_fixed,
)
from hyco.nn.flow import FlowEstimator
from hyco.nn.ops import round_through
from hyco.nn.warp import exact_warp, warp

VARIANT_FLAGS: dict[str, dict[str, bool]] = {
    "context": {"motion": False, "feature_warp": False, "temporal_prior": True},
    "flow": {"motion": True, "feature_warp": False, "temporal_prior": False},
    "full": {"motion": True, "feature_warp": True, "temporal_prior": True},
}
STRIDE = 64  # frames are padded to a multiple of it (hyper-latents at 1/64)
N_LEVELS = 8


@dataclass(frozen=True)
class HyCoVCConfig:
    """Widths: ``ctx`` context features (full resolution), ``n`` transforms, ``m`` latent,
    ``z`` hyper-latent, ``mm``/``mz`` motion latent and hyper-latent."""

    ctx: int = 32
    n: int = 64
    m: int = 96
    z: int = 64
    mm: int = 64
    mz: int = 32


CONFIGS = {"small": HyCoVCConfig(), "large": HyCoVCConfig(64, 128, 128, 96, 128, 64)}


class Up(nn.Module):
    """3x3 conv to 4x the channels, then pixel shuffle: 2x upsampling with an exact twin."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = ExactConv2d(cin, cout * 4, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.conv(x), 2)

    def exact(self, a: Tensor) -> Tensor:
        return F.pixel_shuffle(self.conv.exact(a), 2)


def _exact_down(cin: int, cout: int) -> ExactConv2d:
    return ExactConv2d(cin, cout, 3, stride=2, padding=1)


def _encoder(cin: int, n: int, cout: int) -> nn.Sequential:
    """Four stride-2 5x5 convs (encoder side: ordinary float)."""
    return nn.Sequential(nn.Conv2d(cin, n, 5, 2, 2), nn.GELU(), nn.Conv2d(n, n, 5, 2, 2),
                         nn.GELU(), nn.Conv2d(n, n, 5, 2, 2), nn.GELU(),
                         nn.Conv2d(n, cout, 5, 2, 2))


def _hyper_analysis(m: int, n: int, z: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(m, n, 3, 1, 1), nn.GELU(), nn.Conv2d(n, n, 5, 2, 2),
                         nn.GELU(), nn.Conv2d(n, z, 5, 2, 2))


def _hyper_synthesis(z: int, n: int, cout: int) -> ExactSequential:
    return ExactSequential(Up(z, n), HardGELU(), Up(n, n), HardGELU(),
                           ExactConv2d(n, cout, 3, padding=1))


def _decoder(m: int, n: int, cout: int) -> ExactSequential:
    return ExactSequential(Up(m, n), HardGELU(), Up(n, n), HardGELU(), Up(n, n), HardGELU(),
                           Up(n, cout))


def _u8_to_fixed(ref_u8: Tensor) -> Tensor:
    return div_round(ref_u8.to(torch.int64) * ONE, 255)


def _fixed_to_u8(a: Tensor) -> Tensor:
    return div_round(a * 255, ONE).clamp(0, 255)


class HyCoVC(nn.Module):
    """P-frame codec; ``forward(x, ref)`` trains, ``encode``/``decode`` code (see module doc)."""

    name = "hycovc"
    # `hyco train --quantizer ste`: the syntheses train on rounded latents (see _seen)
    round_for_synthesis: bool = False

    def __init__(self, variant: str = "full", config: HyCoVCConfig = HyCoVCConfig(),
                 levels: int = N_LEVELS):
        super().__init__()
        if variant not in VARIANT_FLAGS:
            raise ValueError(f"unknown HyCoVC variant {variant!r}")
        self.variant, self.config, self.levels = variant, config, levels
        flags = VARIANT_FLAGS[variant]
        self.motion, self.feature_warp = flags["motion"], flags["feature_warp"]
        self.temporal_prior = flags["temporal_prior"]
        c = config
        self.feat = ExactSequential(ExactConv2d(3, c.ctx, 3, padding=1), HardGELU(),
                                    ExactConv2d(c.ctx, c.ctx, 3, padding=1))
        self.enc = _encoder(6 + c.ctx, c.n, c.m)
        self.h_a = _hyper_analysis(c.m, c.n, c.z)
        self.density = FactorizedDensity(c.z)
        self.h_s = _hyper_synthesis(c.z, c.n, c.m)
        ep_in = c.m
        if self.temporal_prior:
            self.t_prior = ExactSequential(
                _exact_down(c.ctx, c.n), HardGELU(), _exact_down(c.n, c.n), HardGELU(),
                _exact_down(c.n, c.n), HardGELU(), _exact_down(c.n, c.m))
            ep_in += c.m
        self.ep = ExactSequential(ExactConv2d(ep_in, 2 * c.m, 1), HardGELU(),
                                  ExactConv2d(2 * c.m, 2 * c.m, 1))
        self.dec = _decoder(c.m, c.n, c.ctx)
        self.gen = ExactSequential(ExactConv2d(2 * c.ctx, c.ctx, 3, padding=1), HardGELU(),
                                   ExactConv2d(c.ctx, c.ctx, 3, padding=1), HardGELU(),
                                   ExactConv2d(c.ctx, 3, 3, padding=1))
        nn.init.zeros_(self.gen[-1].weight)  # start as "copy the (warped) reference"
        nn.init.zeros_(self.gen[-1].bias)
        if self.motion:
            self.flow_net = FlowEstimator()
            self.m_enc = _encoder(2, c.n, c.mm)
            self.m_h_a = _hyper_analysis(c.mm, c.n, c.mz)
            self.m_density = FactorizedDensity(c.mz)
            self.m_h_s = _hyper_synthesis(c.mz, c.n, 2 * c.mm)
            self.m_dec = _decoder(c.mm, c.n, 2)
        # on the ladder, not at one: started equal, the levels still code at one rate after
        # thousands of steps (Adam moves a gain about lr per update; see variable_rate)
        ladder = gain_ladder(levels, c.m)
        self.gain = nn.Parameter(ladder)
        self.inv_gain = nn.Parameter(1.0 / ladder)
        self.gaussian = GaussianConditional()
        self.quality: float = 1.0
        self._digest: Derived[str] = Derived(weights_digest)

    # -- shared ------------------------------------------------------------------------------
    def digest(self) -> str:
        return self._digest.get(self)

    def describe(self) -> dict[str, str]:
        return {"variant": self.variant, **{k: str(v) for k, v in asdict(self.config).items()}}

    @property
    def device(self) -> torch.device:
        return self.gain.device

    def _gains(self, table: Tensor) -> Tensor:
        """Linear interpolation between levels: IEEE products and sums only (exact anywhere)."""
        q = min(max(float(self.quality), 1.0), float(self.levels))
        lo = min(int(math.floor(q)), self.levels - 1)
        a = q - lo
        return (table[lo - 1].abs() * (1.0 - a) + table[lo].abs() * a).view(1, -1, 1, 1)

    @staticmethod
    def pad(x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        return F.pad(x, (0, (-w) % STRIDE, 0, (-h) % STRIDE), mode="replicate")

    # -- training: float, noisy latents --------------------------------------------------------
    def _seen(self, v: Tensor, v_noisy: Tensor, centre: Tensor) -> Tensor:
        """The latent a synthesis sees while training: the noisy one the rate is measured on,
        or with :attr:`round_for_synthesis` (`hyco train --quantizer ste`) ``v`` rounded about
        ``centre`` as the coder rounds it, straight-through: the noise trains a decoder for
        inputs it never gets."""
        return round_through(v, centre) if self.round_for_synthesis else v_noisy

    def forward(self, x: Tensor, ref: Tensor, flow_target: Tensor | None = None) -> dict:
        """Code ``x`` against ``ref`` (both (N, 3, H, W) in [0, 1]); in eval mode this is the
        integer path of :meth:`encode` (the same numbers the decoder will compute)."""
        if not self.training:
            return self._eval_forward(x, ref)
        h, w = x.shape[-2:]
        x, ref = self.pad(x), self.pad(ref)
        lik: dict[str, Tensor] = {}
        out: dict = {}
        base = ref
        flow_hat = None
        if self.motion:
            flow = self.flow_net(x, ref)
            out["flow"] = flow[..., :h, :w]
            ym = self.m_enc(flow / 4.0)
            zm = self.m_h_a(ym)
            zm_hat = self.m_density.quantize(zm, noise=True)
            m_mu, m_sigma = self.m_h_s(self._seen(zm, zm_hat, self.m_density.medians.view(
                1, -1, 1, 1))).float().chunk(2, 1)
            ym_hat = self.gaussian.quantize(ym.float(), m_mu, noise=True)
            lik["motion_y"] = self.gaussian.likelihood(ym_hat, m_sigma, m_mu)
            lik["motion_z"] = self.m_density.likelihood(zm_hat)
            flow_hat = self.m_dec(self._seen(ym.float(), ym_hat, m_mu)) * 4.0
            base = warp(ref, flow_hat)
        ctx = self._context_float(ref, base, flow_hat)
        y = self.enc(torch.cat([x, base, ctx], 1)).float() * self._gains(self.gain)
        z = self.h_a(y).float()
        z_hat = self.density.quantize(z, noise=True)
        mu, sigma = self._params_float(
            self._seen(z, z_hat, self.density.medians.view(1, -1, 1, 1)), ctx)
        y_hat = self.gaussian.quantize(y, mu, noise=True)
        lik["y"] = self.gaussian.likelihood(y_hat, sigma, mu)
        lik["z"] = self.density.likelihood(z_hat)
        latent = self._seen(y, y_hat, mu) * self._gains(self.inv_gain)
        feats = self.dec(latent)
        x_hat = base + self.gen(torch.cat([feats, ctx], 1))
        out.update(x_hat=x_hat[..., :h, :w], likelihoods=lik, y_hat=latent)
        return out

    def _context_float(self, ref: Tensor, base: Tensor, flow_hat: Tensor | None) -> Tensor:
        if not self.motion:
            return self.feat(ref)
        if self.feature_warp:
            return warp(self.feat(ref), flow_hat)
        return self.feat(base)

    def _params_float(self, z_hat: Tensor, ctx: Tensor) -> tuple[Tensor, Tensor]:
        hyper = self.h_s(z_hat)
        if self.temporal_prior:
            hyper = torch.cat([hyper, self.t_prior(ctx)], 1)
        mu, sigma = self.ep(hyper).float().chunk(2, 1)
        return mu, sigma

    # -- coding: integer path -----------------------------------------------------------------
    def _context_exact(self, ref_f: Tensor, base_f: Tensor, flow_f: Tensor | None) -> Tensor:
        if not self.motion:
            return self.feat.exact(ref_f)
        if self.feature_warp:
            return exact_warp(self.feat.exact(ref_f), flow_f)
        return self.feat.exact(base_f)

    def _params_exact(self, z_hat: Tensor, ctx_f: Tensor) -> tuple[Tensor, Tensor]:
        """(means, scales) in fixed point from the dequantised hyper-latent and context."""
        hyper = self.h_s.exact(to_fixed(z_hat))
        if self.temporal_prior:
            hyper = torch.cat([hyper, self.t_prior.exact(ctx_f)], 1)
        mu, sigma = self.ep.exact(hyper).chunk(2, 1)
        return mu, sigma

    def _exact_latent_shapes(self, h: int, w: int) -> tuple[tuple, tuple, tuple, tuple]:
        hp, wp = -(-h // STRIDE) * STRIDE, -(-w // STRIDE) * STRIDE
        c = self.config
        return ((1, c.z, hp // 64, wp // 64), (1, c.m, hp // 16, wp // 16),
                (1, c.mz, hp // 64, wp // 64), (1, c.mm, hp // 16, wp // 16))

    @torch.no_grad()
    def _run(self, x: Tensor | None, ref_u8: Tensor, streams: tuple[bytes, ...] | None
             ) -> tuple[list[bytes], Tensor]:
        """The coding path; encodes when ``x`` is given, decodes ``streams`` otherwise.

        ``ref_u8``: (1, 3, H, W) integer pixels. Returns streams and the reconstruction's
        integer pixels (1, 3, H, W).
        """
        h, w = ref_u8.shape[-2:]
        ref_u8 = self.pad(ref_u8.double().cpu()).to(torch.int64)
        ref_f = _u8_to_fixed(ref_u8)
        encoding = x is not None
        if encoding:
            x = self.pad(x.float()).to(self.device)
        out: list[bytes] = []
        z_shape, _, mz_shape, _ = self._exact_latent_shapes(h, w)
        it = iter(streams or ())
        base_f, flow_f = ref_f, None
        if self.motion:
            if encoding:
                ref_float = from_fixed(ref_f).to(self.device)
                ym = self.m_enc(self.flow_net(x, ref_float) / 4.0)
                zm_data, zm_hat = self.m_density.compress(self.m_h_a(ym))
                out.append(zm_data)
            else:
                zm_hat = self.m_density.decompress(next(it), mz_shape)
            m_mu, m_sigma = self.m_h_s.exact(to_fixed(zm_hat)).chunk(2, 1)
            ym_data, ym_f = code_gaussian(ym if encoding else None,
                                          None if encoding else next(it), m_mu, m_sigma)
            if encoding:
                out.append(ym_data)
            flow_f = clamp(self.m_dec.exact(ym_f) * 4)
            base_f = exact_warp(ref_f, flow_f)
        ctx_f = self._context_exact(ref_f, base_f, flow_f)
        if encoding:
            inp = torch.cat([x, from_fixed(base_f).to(self.device),
                             from_fixed(ctx_f).to(self.device)], 1)
            y = self.enc(inp).float() * self._gains(self.gain)
            z_data, z_hat = self.density.compress(self.h_a(y))
            out.append(z_data)
        else:
            z_hat = self.density.decompress(next(it), z_shape)
        mu, sigma = self._params_exact(z_hat, ctx_f)
        y_data, y_f = code_gaussian(y if encoding else None,
                                    None if encoding else next(it), mu, sigma)
        if encoding:
            out.append(y_data)
        elif next(it, None) is not None:
            raise CorruptStream("corrupt .hyco video packet: too many streams")
        inv = to_fixed(self._gains(self.inv_gain).cpu())
        feats = self.dec.exact(clamp(mul_fixed(y_f, inv)))
        rec_f = clamp(base_f + self.gen.exact(torch.cat([feats, ctx_f], 1)))
        return out, _fixed_to_u8(rec_f)[..., :h, :w]

    def n_streams(self) -> int:
        return 4 if self.motion else 2

    def encode(self, x: Tensor, ref_u8: Tensor) -> tuple[list[bytes], Tensor]:
        """Streams of ``x`` (1, 3, H, W in [0, 1]) given the reference's integer pixels, and
        the reconstruction's integer pixels (what the decoder will produce)."""
        return self._run(x, ref_u8, None)

    def decode(self, streams: tuple[bytes, ...], ref_u8: Tensor) -> Tensor:
        if len(streams) != self.n_streams():
            raise CorruptStream(f"corrupt .hyco video packet: {len(streams)} streams, "
                                f"{self.variant} needs {self.n_streams()}")
        return self._run(None, ref_u8, streams)[1]

    def _eval_forward(self, x: Tensor, ref: Tensor) -> dict:
        """Eval: the integer coding path per image, with its real rate (bits of the streams)."""
        recs, bits = [], []
        for i in range(x.shape[0]):
            ref_u8 = torch.round(ref[i : i + 1].double().cpu() * 255)
            streams, rec = self.encode(x[i : i + 1], ref_u8)
            recs.append(rec.float() / 255.0)
            bits.append(8.0 * sum(len(s) for s in streams))
        h, w = x.shape[-2:]
        return {"x_hat": torch.cat(recs).to(x.device),
                "bpp": torch.tensor(bits).mean() / (h * w)}

    def aux_loss(self) -> Tensor:
        losses = [m.aux_loss() for m in self.modules() if isinstance(m, FactorizedDensity)]
        return torch.stack(losses).sum()
