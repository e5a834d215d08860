"""Hierarchical VAE codecs: QRes-VAE (Duan et al., WACV 2023) and QARV (Duan et al., 2023).

A bottom-up encoder turns the image into a feature pyramid (1/4 .. 1/64 resolution). A
top-down decoder starts from a learned constant at 1/64 and refines it coarse to fine
through *latent blocks*: each predicts a prior N(mean, scale) for its latent z_i from the
features so far, the encoder's posterior picks z_i = round(q_i - mean) + mean (uniform noise
while training), and z_i is added back into the features. Latent i is one entropy-coded
stream, coded with the prior as a Gaussian conditional, so the file is a sequence of streams
from coarse to fine. Decoding only the first K streams and taking the prior means for the
rest gives a coarser picture from a prefix of the streams (progressive decoding).

Both models share this implementation; they differ in their blocks (:class:`Layout`):

- QRes-VAE: ConvNeXt blocks with affine layer norm; prior, posterior and the latent
  projection are VDVAE-style bottlenecks. One model per rate (lambda ladder 16..2048).
- QARV: one model for every lambda in [16, 2048]. lambda is embedded (see
  :mod:`hyco.nn.rate_embedding`) and modulates every block through AdaLN; the posterior
  work is in ConvNeXt blocks only the encoder runs, the prior and the latent projection
  are single 1x1 convolutions, and the last (1/4) stage has no latents, so decoding is
  cheap. One addition to the paper: every latent has lambda-dependent gains (gain units,
  :class:`~hyco.nn.rate_embedding.RateGain`) that set its quantisation step. QARV learns
  its rates through AdaLN alone over 2M iterations; in a CPU budget of thousands of steps
  a model trained that way still codes every lambda at the same rate, while with gains
  the rate follows lambda from the first steps.

Determinism: the prior of latent i depends on every earlier latent through the top-down
network, and it selects tables, so the whole top-down path up to the last latent runs in
the integer arithmetic of :mod:`hyco.nn.exact_layers` at inference (eval ``forward``,
``compress`` and ``decompress`` alike): the decoder reproduces means and table indices bit
for bit on any machine and thread count. The encoder's posterior and the synthesis after
the last latent run in ordinary float, like the other codecs' transforms.

Losses follow lossy-vae: rate in nats per dimension + lambda * MSE on images in [-1, 1],
which is ``bpp + hyco_lambda(lambda) * 255**2 * MSE`` in hyco's convention.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyco.entropy.coder import decode, encode
from hyco.entropy.gaussian import SCALE_MAX, GaussianConditional, gaussian_tables, scale_table
from hyco.errors import CorruptStream, HycoError
from hyco.image.base import DECODE_THREADS, ImageCodec
from hyco.nn.convnext import ConvNeXtBlock, PatchDown
from hyco.nn.exact_layers import (
    ONE,
    ExactConv2d,
    ExactSequential,
    HardGELU,
    PatchUp,
    clamp,
    div_round,
    from_fixed,
    mul_fixed,
    to_fixed,
)
from hyco.nn.ops import pinned_threads
from hyco.nn.rate_embedding import LogLambdaEmbedding, RateGain, lmbda_code
from hyco.payload import Payload

IM_SHIFT, IM_SCALE = -0.4546259594901961, 3.67572653978347  # lossy-vae's input whitening
LOG2_LMBDA = (4, 11)  # QARV's lambda range, 16 .. 2048, in lossy-vae's convention
N_QUALITIES = 8  # quality q <-> lambda = 16 * 2**(q - 1): the published ladder at integers
LOGSCALE_FLOOR = 2.3  # prior log-scales are bounded below by softplus(v + 2.3) - 2.3
_GAUSSIAN = GaussianConditional()


def hyco_lambda(lmbda: float) -> float:
    """lossy-vae's lambda (nats/dim + lambda * MSE in [-1, 1]) in hyco's convention.

    nats per dimension = bpp * ln 2 / 3 and MSE in [-1, 1] = 4 * MSE in [0, 1]; scaling the
    loss by 3 / ln 2 gives bpp + (12 / ln 2) * lambda * MSE = bpp + L * 255**2 * MSE.
    """
    return lmbda * 12.0 / (math.log(2.0) * 255.0**2)


def lmbda_for_quality(q: float) -> float:
    lo, hi = LOG2_LMBDA
    return 2.0 ** (lo + (hi - lo) * (q - 1) / (N_QUALITIES - 1))


def quality_for_lmbda(lmbda: float) -> float:
    lo, hi = LOG2_LMBDA
    return 1 + (N_QUALITIES - 1) * (math.log2(lmbda) - lo) / (hi - lo)


LAMBDA_LADDER = {q: hyco_lambda(lmbda_for_quality(q)) for q in range(1, N_QUALITIES + 1)}
"""hyco-convention training lambdas of the integer qualities (QRes-VAE's fixed-rate models)."""


# -- prior scales -> tables --------------------------------------------------------------------
def bounded_scales(log_scale: Tensor) -> Tensor:
    """Prior scale from the raw log-scale output: a soft floor, then exp (float paths)."""
    bounded = F.softplus(log_scale + LOGSCALE_FLOOR) - LOGSCALE_FLOOR
    return torch.exp(bounded.clamp(max=math.log(SCALE_MAX)))


@functools.lru_cache(maxsize=1)
def log_scale_thresholds() -> Tensor:
    """Fixed-point raw log-scales at which the table index steps up.

    The Gaussian tables are indexed by scale; the boundary between table i and i+1 is
    mapped back through the floor and the log, so a decoder selects tables by comparing
    integers, never by evaluating softplus or exp.
    """
    scales, _ = scale_table()
    log_mids = 0.5 * (np.log(scales[:-1]) + np.log(scales[1:]))
    raw = np.log(np.expm1(log_mids + LOGSCALE_FLOOR)) - LOGSCALE_FLOOR
    return torch.from_numpy(np.ceil(raw * ONE).astype(np.int64))


def table_indices(log_scale_fixed: Tensor) -> Tensor:
    return torch.bucketize(log_scale_fixed, log_scale_thresholds(), right=True)


# -- architecture ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """One resolution of the pyramid (1/64, 1/32, 1/16, 1/8, 1/4)."""

    width: int  # top-down feature channels
    enc_width: int  # bottom-up feature channels
    enc_blocks: int
    latents: int
    z_dim: int
    kernel: int
    mlp_ratio: float = 2.0
    pre: int = 0  # ConvNeXt blocks before the latents (QARV)
    post: int = 0  # and after them


@dataclass(frozen=True)
class Layout:
    stages: tuple[Stage, ...]  # coarse (1/64) to fine (1/4)
    style: str  # "qres": bottleneck prior/posterior; "qarv": ConvNeXt posterior, 1x1 prior
    embed_dim: int | None = None  # lambda embedding width; None: a fixed-rate model
    posterior_blocks: bool = False  # QARV-base: a ConvNeXt block on each posterior input


def _stages(width, enc_width, enc_blocks, latents, z_dim, kernel, mlp_ratio=(2.0,) * 5,
            pre=(0,) * 5, post=(0,) * 5) -> tuple[Stage, ...]:
    return tuple(Stage(*row) for row in zip(width, enc_width, enc_blocks, latents, z_dim,
                                            kernel, mlp_ratio, pre, post, strict=True))


def _zero_bias(module: nn.Module) -> nn.Module:
    for m in module.modules():
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            nn.init.zeros_(m.bias)
    return module


def bottleneck(cin: int, hidden: int, cout: int, kernel: int) -> ExactSequential:
    """VDVAE's residual-branch bottleneck (GELU, 1x1, k x k, k x k, 1x1), HardGELU here."""
    pad = kernel // 2
    return _zero_bias(ExactSequential(
        HardGELU(), ExactConv2d(cin, hidden, 1), HardGELU(),
        ExactConv2d(hidden, hidden, kernel, padding=pad), HardGELU(),
        ExactConv2d(hidden, hidden, kernel, padding=pad), HardGELU(),
        ExactConv2d(hidden, cout, 1)))


# (block, fixed features, fixed mean, fixed log-scale, fixed gain or None) -> int64 symbols
SymbolFn = Callable[["LatentBlock", Tensor, Tensor, Tensor, "Tensor | None"], Tensor]


class LatentBlock(nn.Module):
    """Prior p(z_i | z_<i) and the fusion of z_i; its posterior lives with the encoder."""

    def __init__(self, stage: Stage, layout: Layout, index: int, stage_index: int):
        super().__init__()
        w, z, k = stage.width, stage.z_dim, stage.kernel
        self.index, self.stage = index, stage_index
        self.front = ConvNeXtBlock(w, k, stage.mlp_ratio, layout.embed_dim)
        self.end = ConvNeXtBlock(w, k, stage.mlp_ratio, layout.embed_dim)
        if layout.style == "qres":
            hidden, kk = max(w, stage.enc_width) // 4, (3 if k >= 3 else 1)
            self.prior = bottleneck(w, hidden, 2 * z, kk)
            nn.init.zeros_(self.prior[-1].weight)  # start from the standard prior
            self.z_proj = _zero_bias(ExactSequential(
                ExactConv2d(z, hidden // 2, kk, padding=kk // 2), HardGELU(),
                ExactConv2d(hidden // 2, w, 1)))
        else:
            self.prior = _zero_bias(ExactSequential(ExactConv2d(w, 2 * z, 1)))
            self.z_proj = _zero_bias(ExactSequential(ExactConv2d(z, w, 1)))
        # lambda-conditioned models: the latent's quantisation step follows lambda
        self.gain = RateGain(z, *LOG2_LMBDA) if layout.embed_dim else None

    def forward(self, h: Tensor, enc: Tensor, emb: Tensor | None, posterior: nn.Module,
                basis: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Training: z = posterior mean + uniform noise; returns features and likelihoods.
        ``basis`` is the lambda hat basis (lambda-conditioned models)."""
        h = self.front(h, emb)
        mean, log_scale = self.prior(h).float().chunk(2, dim=1)
        q = posterior(h, enc, emb).float()
        if self.gain is not None:  # code g * z on the integer grid
            g, log_g = self.gain(basis)
            q, mean, log_scale = q * g, mean * g, log_scale + log_g
        z = q + torch.empty_like(q).uniform_(-0.5, 0.5)
        lik = _GAUSSIAN.likelihood(z, bounded_scales(log_scale), mean)
        if self.gain is not None:
            z = z / g
        h = h + self.z_proj(z.to(h.dtype))
        return self.end(h, emb), lik

    def exact(self, a: Tensor, emb: Tensor | None, symbols: SymbolFn,
              basis: Tensor | None = None) -> Tensor:
        """Inference in fixed point; ``symbols(block, a, mean, log_scale, gain)`` gives
        round(g * z - mean) (from the posterior when encoding, from the stream when
        decoding), mean and log-scale being those of the gained latent."""
        a = self.front.exact(a, emb)
        mean, log_scale = self.prior.exact(a).chunk(2, dim=1)
        g = None
        if self.gain is not None:
            g, log_g = self.gain.exact(basis)
            mean, log_scale = mul_fixed(mean, g), log_scale + log_g
        z = clamp(symbols(self, a, mean, log_scale, g) * ONE + mean)
        if g is not None:
            z = clamp(div_round(z * ONE, g))
        a = clamp(a + self.z_proj.exact(z))
        return self.end.exact(a, emb)


class QResPosterior(nn.Module):
    """q(z_i | x, z_<i): a bottleneck over [top-down features, encoder features]."""

    def __init__(self, stage: Stage, layout: Layout):
        super().__init__()
        hidden = max(stage.width, stage.enc_width) // 4
        self.net = bottleneck(stage.width + stage.enc_width, hidden, stage.z_dim,
                              3 if stage.kernel >= 3 else 1)

    def forward(self, h: Tensor, enc: Tensor, emb: Tensor | None) -> Tensor:
        return self.net(torch.cat([h, enc], dim=1))


class QarvPosterior(nn.Module):
    """QARV's posterior: (ConvNeXt on each input,) merge, ConvNeXt, 3x3 to the latent."""

    def __init__(self, stage: Stage, layout: Layout):
        super().__init__()
        w, e, k = stage.width, stage.enc_width, stage.kernel
        self.enc_block = ConvNeXtBlock(e, k, 2.0, layout.embed_dim) \
            if layout.posterior_blocks else None
        self.dec_block = ConvNeXtBlock(w, k, 2.0, layout.embed_dim) \
            if layout.posterior_blocks else None
        self.merge = _zero_bias(nn.Conv2d(w + e, w, 1))
        self.block = ConvNeXtBlock(w, k, 2.0, layout.embed_dim)
        self.out = _zero_bias(nn.Conv2d(w, stage.z_dim, 3, padding=1))

    def forward(self, h: Tensor, enc: Tensor, emb: Tensor | None) -> Tensor:
        if self.enc_block is not None:
            enc, h = self.enc_block(enc, emb), self.dec_block(h, emb)
        return self.out(self.block(self.merge(torch.cat([h, enc], dim=1)), emb))


class BottomUp(nn.Module):
    """Encoder: 4x4 patch stem, ConvNeXt stages, patch-merging downsamples; returns the
    last feature of every resolution, coarse to fine (the order of the stages)."""

    def __init__(self, layout: Layout):
        super().__init__()
        fine = list(reversed(layout.stages))
        emb = layout.embed_dim
        self.stem = _zero_bias(nn.Conv2d(3, fine[0].enc_width, 4, stride=4))
        self.stages = nn.ModuleList(
            nn.ModuleList(ConvNeXtBlock(s.enc_width, s.kernel, 2.0, emb)
                          for _ in range(s.enc_blocks)) for s in fine)
        self.downs = nn.ModuleList(PatchDown(a.enc_width, b.enc_width, emb)
                                   for a, b in zip(fine[:-1], fine[1:], strict=True))

    def forward(self, x: Tensor, emb: Tensor | None) -> list[Tensor]:
        feats = []
        h = self.stem(x)
        for i, blocks in enumerate(self.stages):
            for block in blocks:
                h = block(h, emb)
            feats.append(h)
            if i < len(self.downs):
                h = self.downs[i](h, emb)
        return feats[::-1]


class TopDown(nn.Module):
    """Decoder: learned constant at 1/64, then per stage pre blocks, latent blocks, post
    blocks and a 2x patch upsample; a final 4x patch upsample to RGB."""

    def __init__(self, layout: Layout):
        super().__init__()
        emb = layout.embed_dim
        self.bias = nn.Parameter(torch.zeros(1, layout.stages[0].width, 1, 1))
        steps: list[nn.Module] = []
        n_latents = 0
        for i, s in enumerate(layout.stages):
            steps += [ConvNeXtBlock(s.width, s.kernel, s.mlp_ratio, emb) for _ in range(s.pre)]
            for _ in range(s.latents):
                steps.append(LatentBlock(s, layout, n_latents, i))
                n_latents += 1
            steps += [ConvNeXtBlock(s.width, s.kernel, s.mlp_ratio, emb) for _ in range(s.post)]
            last = i == len(layout.stages) - 1
            steps.append(PatchUp(s.width, 3 if last else layout.stages[i + 1].width,
                                 4 if last else 2))
        self.steps = nn.ModuleList(steps)
        self.n_latents = n_latents
        self.last_latent = max(j for j, m in enumerate(steps) if isinstance(m, LatentBlock))
        for step in self.latent_blocks():  # VDVAE's residual scaling for deep hierarchies
            with torch.no_grad():
                step.z_proj[-1].weight.mul_(math.sqrt(1.0 / n_latents))

    def latent_blocks(self) -> list[LatentBlock]:
        return [m for m in self.steps if isinstance(m, LatentBlock)]


# -- the codec ---------------------------------------------------------------------------------


class HierarchicalVAE(ImageCodec):
    """The shared codec; subclasses choose the :class:`Layout` from (N, M)."""

    stride = 64

    @classmethod
    def layout(cls, n: int, m: int) -> Layout:
        raise NotImplementedError

    def __init__(self, n: int, m: int):
        super().__init__()
        self.n, self.m = n, m
        layout = self.layout(n, m)
        self.embedding = (LogLambdaEmbedding(*LOG2_LMBDA, layout.embed_dim)
                          if layout.embed_dim else None)
        self.encoder = BottomUp(layout)
        self.decoder = TopDown(layout)
        posterior = QResPosterior if layout.style == "qres" else QarvPosterior
        self.posteriors = nn.ModuleList(posterior(layout.stages[b.stage], layout)
                                        for b in self.decoder.latent_blocks())
        self.n_streams = self.decoder.n_latents
        rate = ("embedding",) if self.embedding is not None else ()
        self.encoder_parts = (*rate, "encoder", "posteriors", "decoder")
        self.decoder_parts = (*rate, "decoder")
        self._code = lmbda_code(LOG2_LMBDA[1])  # lambda-conditioned models: the rate code
        self._drawn: Tensor | None = None  # per-image log2(lambda) drawn for a training step

    @property
    def latent_layers(self) -> int:
        """How many latent streams a file has; progressive decoding takes 1 .. this many."""
        return self.n_streams

    # -- float path (training) ---------------------------------------------------------------
    @staticmethod
    def _whiten(x: Tensor) -> Tensor:
        return (x + IM_SHIFT) * IM_SCALE

    def _forward(self, x: Tensor) -> dict:
        if not self.training:
            return self._forward_exact(x)
        b = x.shape[0]
        emb = basis = None
        if self.embedding is not None:
            log2 = self._drawn if self._drawn is not None and self._drawn.numel() == b \
                else torch.full((b,), self._code / ONE)
            self._drawn = None
            basis = self.embedding.basis(log2.to(x.device))
            emb = self.embedding(log2.to(x.device))
        feats = self.encoder(self._whiten(x), emb)
        h = self.decoder.bias.expand(b, -1, *feats[0].shape[-2:])
        likelihoods = {}
        for step in self.decoder.steps:
            if isinstance(step, LatentBlock):
                h, likelihoods[f"z{step.index + 1}"] = step(
                    h, feats[step.stage], emb, self.posteriors[step.index], basis)
            else:
                h = step(h, emb)
        return {"x_hat": h.float() * 0.5 + 0.5, "likelihoods": likelihoods}

    # -- exact path (eval forward, compress, decompress) -------------------------------------
    def _rate_inputs(self, code: int | None,
                     batch: int) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        """Fixed-point embedding, its float value (for the float parts) and the fixed-point
        hat basis (for the gains) of a rate code; Nones for a fixed-rate model."""
        if self.embedding is None:
            return None, None, None
        codes = torch.full((batch,), code, dtype=torch.int64)
        fixed = self.embedding.exact(codes)
        return fixed, from_fixed(fixed).to(self.device), self.embedding.basis_exact(codes)

    def _top_down(self, shape: tuple[int, int, int], emb: Tensor | None, basis: Tensor | None,
                  symbols: SymbolFn) -> Tensor:
        """Fixed-point features after the last latent; shape is (batch, H/64, W/64)."""
        b, h, w = shape
        a = to_fixed(self.decoder.bias).expand(b, -1, h, w)
        for step in self.decoder.steps[: self.decoder.last_latent + 1]:
            a = step.exact(a, emb, symbols, basis) if isinstance(step, LatentBlock) \
                else step.exact(a, emb)
        return a

    def _synthesise(self, a: Tensor, emb: Tensor | None) -> Tensor:
        h = from_fixed(a).to(self.device)
        for step in self.decoder.steps[self.decoder.last_latent + 1:]:
            h = step(h, emb)
        return h.float() * 0.5 + 0.5

    def _encode_latents(self, x: Tensor,
                        on_layer: Callable[[LatentBlock, Tensor, Tensor, Tensor], None]) -> Tensor:
        """The encoder's pass: posterior symbols at every layer; returns the reconstruction.

        ``on_layer(block, symbols, mean_fixed, log_scale_fixed)`` sees each layer (to code
        it or to measure its likelihood).
        """
        emb_fixed, emb, basis = self._rate_inputs(self._code, x.shape[0])
        feats = self.encoder(self._whiten(x), emb)

        def symbols(block: LatentBlock, a: Tensor, mean: Tensor, log_scale: Tensor,
                    gain: Tensor | None) -> Tensor:
            q = self.posteriors[block.index](from_fixed(a).to(self.device),
                                             feats[block.stage], emb)
            q = q.detach().cpu().double()
            if gain is not None:
                q = q * (gain.double() / ONE)  # exact: a float32 times a dyadic number
            sym = torch.round(q - mean.double() / ONE).to(torch.int64)
            on_layer(block, sym, mean, log_scale)
            return sym

        a = self._top_down((x.shape[0], *feats[0].shape[-2:]), emb_fixed, basis, symbols)
        return self._synthesise(a, emb)

    def _forward_exact(self, x: Tensor) -> dict:
        likelihoods = {}

        def measure(block: LatentBlock, sym: Tensor, mean: Tensor, log_scale: Tensor) -> None:
            m = from_fixed(mean)
            lik = _GAUSSIAN.likelihood(sym.float() + m, bounded_scales(from_fixed(log_scale)), m)
            likelihoods[f"z{block.index + 1}"] = lik.to(x.device)

        x_hat = self._encode_latents(x, measure)
        return {"x_hat": x_hat, "likelihoods": likelihoods}

    def _compress(self, x: Tensor) -> list[bytes]:
        streams: list[bytes] = []

        def code(block: LatentBlock, sym: Tensor, mean: Tensor, log_scale: Tensor) -> None:
            streams.append(encode(sym.numpy(), table_indices(log_scale).numpy(),
                                  gaussian_tables()))

        self._encode_latents(x, code)
        return streams

    @torch.no_grad()
    def compress(self, x: Tensor) -> Payload:
        """Streams in coarse-to-fine order; ``params`` holds the rate code (QARV)."""
        payload = super().compress(x)
        return replace(payload, params=(self._code,) if self.embedding is not None else ())

    def _rate_code(self, params: tuple[int, ...]) -> int | None:
        if self.embedding is None:
            if params:
                raise CorruptStream(f"corrupt file: {self.name} files carry no parameters")
            return None
        lo, hi = (v * ONE for v in LOG2_LMBDA)
        if len(params) != 1 or not lo <= params[0] <= hi:
            raise CorruptStream(f"corrupt file: bad lambda code {params} for {self.name}")
        return int(params[0])

    @torch.no_grad()
    def decompress(self, payload: Payload, layers: int | None = None) -> Tensor:
        """Decode; with ``layers=K`` only the first K latent streams are read (the payload
        may hold just those) and later latents take their prior means."""
        n = self.n_streams
        if layers is None:
            self.check_payload(payload)
            layers = n
        elif (isinstance(layers, bool) or not isinstance(layers, numbers.Integral)
              or not 1 <= layers <= n):
            raise HycoError(f"layers must be from 1 to {n} ({self.name} has {n} latent "
                            f"layers), not {layers}")
        elif not layers <= len(payload.streams) <= n:
            raise CorruptStream(f"corrupt or cut file: {len(payload.streams)} complete streams "
                                f"of {self.name}'s {n}, decoding {layers} layers needs {layers}")
        layers = int(layers)
        code = self._rate_code(payload.params)
        h, w = payload.size
        hp, wp = -(-h // self.stride), -(-w // self.stride)
        emb_fixed, emb, basis = self._rate_inputs(code, 1)

        def symbols(block: LatentBlock, a: Tensor, mean: Tensor, log_scale: Tensor,
                    gain: Tensor | None) -> Tensor:
            if block.index >= layers:
                return torch.zeros_like(mean)  # z = the prior mean
            idx = table_indices(log_scale)
            return torch.from_numpy(decode(payload.streams[block.index], idx.numpy(),
                                           gaussian_tables()))

        a = self._top_down((1, hp, wp), emb_fixed, basis, symbols)
        with pinned_threads(DECODE_THREADS):  # as the eval forward (see ImageCodec.forward)
            return self._synthesise(a, emb)[..., :h, :w]


class LambdaConditionedVAE(HierarchicalVAE):
    """A hierarchical VAE with lambda as an input (QARV): any rate from one set of weights.

    ``lmbda`` (or ``quality``, 1 .. 8 for lambda 16 .. 2048, log-linear) sets the rate it
    codes at; the trainer calls :meth:`draw_rate` for a lambda per image and step.
    """

    @property
    def lmbda(self) -> float:
        """The rate-distortion lambda (lossy-vae's convention) coding happens at."""
        return 2.0 ** (self._code / ONE)

    @lmbda.setter
    def lmbda(self, value: float) -> None:
        lo, hi = 2.0**LOG2_LMBDA[0], 2.0**LOG2_LMBDA[1]
        if not lo <= float(value) <= hi:
            raise HycoError(f"{self.name} takes lmbda from {lo:g} to {hi:g}, not {value}")
        self._code = lmbda_code(math.log2(float(value)))

    @property
    def quality(self) -> float:
        return quality_for_lmbda(self.lmbda)

    @quality.setter
    def quality(self, q: float) -> None:
        self.lmbda = lmbda_for_quality(min(max(float(q), 1.0), float(N_QUALITIES)))

    def draw_rate(self, rng: np.random.Generator, batch: int) -> Tensor:
        """Draw log-uniform lambdas for the next training batch (QARV's scheme); returns
        their hyco-convention lambdas, one per image, for the trainer's loss. Call it before
        the forward pass: that pass consumes them (later passes use ``lmbda`` again)."""
        log2 = rng.uniform(*LOG2_LMBDA, size=batch)
        self._drawn = torch.from_numpy(log2).float()
        return torch.tensor([hyco_lambda(2.0**v) for v in log2], dtype=torch.float32)


# -- the models --------------------------------------------------------------------------------
class QResVAE(HierarchicalVAE):
    """QRes-VAE at a CPU-trainable size (N = 1/4-stage width, M = the coarser stages')."""

    name = "qres-vae"

    @classmethod
    def layout(cls, n: int = 64, m: int = 128) -> Layout:
        z = (m // 8, 7 * m // 64, 3 * m // 32, 5 * m // 64, m // 16)  # 16, 14, 12, 10, 8
        return Layout(_stages(width=(m, m, m, m, n), enc_width=(m, m, m, m, n),
                              enc_blocks=(1, 1, 2, 2, 2), latents=(1, 1, 2, 2, 2), z_dim=z,
                              kernel=(1, 3, 5, 7, 7)), style="qres")


class QResVAEPaper(QResVAE):
    """The published qres34m: 12 latent layers, widths 384 (192 at 1/4)."""

    name = "qres-vae-paper"

    @classmethod
    def layout(cls, n: int = 192, m: int = 384) -> Layout:
        return Layout(_stages(width=(m, m, m, m, n), enc_width=(m, m, m, m, n),
                              enc_blocks=(2, 4, 6, 6, 6), latents=(1, 2, 3, 3, 3),
                              z_dim=(16, 14, 12, 10, 8), kernel=(1, 3, 5, 7, 7)), style="qres")


class QARV(LambdaConditionedVAE):
    """QARV at a CPU-trainable size: 7 latent layers, one model for lambda 16 .. 2048."""

    name = "qarv"

    @classmethod
    def layout(cls, n: int = 48, m: int = 128) -> Layout:
        return Layout(_stages(
            width=(m, m, 3 * m // 4, m // 2, n), enc_width=(m, m, 3 * m // 4, m // 2, n),
            enc_blocks=(1, 1, 2, 2, 2), latents=(1, 2, 2, 2, 0),
            z_dim=(m // 8, m // 8, 3 * m // 16, m // 16, 0), kernel=(1, 3, 5, 7, 7),
            mlp_ratio=(2.0, 2.0, 2.0, 1.75, 1.5), pre=(0, 0, 0, 0, 2)),
            style="qarv", embed_dim=m // 2)


class QARVPaper(QARV):
    """The published qarv_base: 9 latent layers, widths 512 .. 128, embedding 256."""

    name = "qarv-paper"

    @classmethod
    def layout(cls, n: int = 128, m: int = 512) -> Layout:
        return Layout(_stages(
            width=(m, m, 3 * n, 2 * n, n), enc_width=(m, m, m, 3 * n, 3 * n // 2),
            enc_blocks=(4, 4, 6, 6, 6), latents=(1, 2, 3, 3, 0), z_dim=(32, 32, 96, 8, 0),
            kernel=(1, 3, 5, 7, 7), mlp_ratio=(4.0, 3.0, 2.0, 1.75, 1.5),
            pre=(0, 1, 1, 1, 8), post=(1, 1, 1, 1, 0)),
            style="qarv", embed_dim=256, posterior_blocks=True)
