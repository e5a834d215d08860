"""Gaussian conditional: symbols coded with a scale (and mean) predicted per element.

Scales select one of ``len(SCALES)`` integer tables by comparing fixed-point scales with
integer thresholds, so encoder and decoder agree exactly (see :mod:`hyco.nn.exact`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor, nn

from hyco.entropy.coder import TableSet, decode, encode, quantize_pmf
from hyco.nn.exact import FRAC_BITS
from hyco.nn.exact_layers import FRAC_BITS as LAYER_FRAC_BITS
from hyco.nn.exact_layers import ONE, clamp, from_fixed
from hyco.nn.ops import lower_bound

SCALE_MIN, SCALE_MAX, N_SCALES = 0.11, 256.0, 256
TAIL_SIGMAS = 5.0  # table range; values beyond it are escaped (probability ~1e-6)
LIKELIHOOD_BOUND = 1e-9
# hyco.nn.exact_layers' fractional bits -> the tables' (hyco.nn.exact's, as the image codecs')
TABLE_SHIFT = LAYER_FRAC_BITS - FRAC_BITS


def _std_cdf(x):
    return 0.5 * torch.erfc(-x * (2**-0.5))


def log2_bin(residual: Tensor, scales: Tensor) -> Tensor:
    """log2 P(the integer bin of ``residual``) under N(0, scale^2), in the log domain, the
    scale floor (:data:`SCALE_MIN`) passed straight through.

    Why not ``log2`` of :meth:`GaussianConditional.likelihood`: that probability underflows
    about 13 scales out and is bounded below, so where a hyper-synthesis has put a scale on
    the floor under a residual of 1.5 or more the rate is flat (about 30 bits, what the
    coder's escape costs too) and no gradient says "raise this scale". Here the far tail
    keeps its slope and the floor lets it through, so a search can leave such a collapse
    (:func:`hyco.image.latent_search.search_hyper`).
    """
    r = residual.float().abs()
    s = scales.float()
    s = s + (s.clamp_min(SCALE_MIN) - s).detach()
    upper = torch.special.log_ndtr((0.5 - r) / s)
    lower = torch.special.log_ndtr((-0.5 - r) / s)
    # log(Phi(u) - Phi(l)) = log Phi(u) + log(1 - Phi(l) / Phi(u)); l < u always
    return (upper + torch.log1p(-torch.exp(lower - upper).clamp_max(1.0 - 1e-7))) / math.log(2)


@functools.lru_cache(maxsize=1)
def scale_table() -> tuple[np.ndarray, np.ndarray]:
    """Table scales (log-spaced) and the fixed-point thresholds between neighbours."""
    scales = np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), N_SCALES))
    mids = np.sqrt(scales[:-1] * scales[1:])
    thresholds = np.ceil(mids * 2**FRAC_BITS).astype(np.int64)
    return scales, thresholds


@functools.lru_cache(maxsize=1)
def gaussian_tables() -> TableSet:
    """One integer table per table scale over ``-L..L`` plus escape (built once)."""
    scales, _ = scale_table()
    freqs, offsets = [], []
    for s in scales:
        half = int(math.ceil(s * TAIL_SIGMAS))
        v = torch.arange(-half, half + 1, dtype=torch.float64)
        upper = _std_cdf((v + 0.5) / s)
        lower = _std_cdf((v - 0.5) / s)
        pmf = (upper - lower).numpy()
        tail = 2.0 * float(_std_cdf(torch.tensor(-(half + 0.5) / s, dtype=torch.float64)))
        freqs.append(quantize_pmf(np.append(pmf, tail)))
        offsets.append(half)
    return TableSet(freqs, np.array(offsets))


def scale_indices(scales_fixed: Tensor) -> Tensor:
    """Table index per element from fixed-point scales (integer comparisons only)."""
    _, thresholds = scale_table()
    return torch.bucketize(scales_fixed.to(torch.int64).cpu(), torch.from_numpy(thresholds),
                           right=True)


class GaussianConditional(nn.Module):
    """Likelihoods for training and exact coding for inference of N(mean, scale^2) latents."""

    def quantize(self, y: Tensor, means: Tensor | None, noise: bool) -> Tensor:
        """Uniform noise while training; rounding around the mean at inference."""
        if noise:
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        if means is None:
            return torch.round(y)
        return torch.round(y - means) + means

    def likelihood(self, y_hat: Tensor, scales: Tensor, means: Tensor | None = None) -> Tensor:
        """P(integer bin) of every element, in float32 even under bf16 autocast."""
        y_hat, scales = y_hat.float(), scales.float()
        values = y_hat - means.float() if means is not None else y_hat
        scales = lower_bound(scales, SCALE_MIN)
        values = values.abs()  # symmetric: use the lower tail for precision
        upper = _std_cdf((0.5 - values) / scales)
        lower = _std_cdf((-0.5 - values) / scales)
        return lower_bound(upper - lower, LIKELIHOOD_BOUND)

    @staticmethod
    def compress(y: Tensor, scales_fixed: Tensor, means: Tensor | None) -> tuple[bytes, Tensor]:
        """Code ``y`` rounded around ``means``; returns the stream and the dequantised y."""
        y = y.cpu()
        symbols = torch.round(y - means) if means is not None else torch.round(y)
        idx = scale_indices(scales_fixed)
        data = encode(symbols.to(torch.int64).numpy(), idx.numpy(), gaussian_tables())
        y_hat = symbols + means if means is not None else symbols
        return data, y_hat

    @staticmethod
    def decompress(data: bytes, scales_fixed: Tensor, means: Tensor | None) -> Tensor:
        idx = scale_indices(scales_fixed)
        symbols = torch.from_numpy(decode(data, idx.numpy(), gaussian_tables()))
        symbols = symbols.to(means.dtype if means is not None else torch.float32)
        return symbols + means if means is not None else symbols


def code_gaussian(y: Tensor | None, data: bytes | None, mu_f: Tensor, sigma_f: Tensor
                  ) -> tuple[bytes | None, Tensor]:
    """Encode (``y`` given) or decode (``data`` given) a latent around fixed-point means and
    scales (:mod:`hyco.nn.exact_layers` units: the priors that refine the hyperprior's
    parameters compute in them); returns the stream and the dequantised latent in fixed
    point (symbols * ONE + mean, integers)."""
    idx_scales = torch.div(sigma_f, 1 << TABLE_SHIFT, rounding_mode="floor")
    means = from_fixed(mu_f, torch.float64)  # exact: 12 fractional bits in float64
    if y is not None:
        data, y_hat = GaussianConditional.compress(y.double().cpu(), idx_scales, means)
    else:
        y_hat = GaussianConditional.decompress(data, idx_scales, means)
    return data, round_fixed(y_hat, mu_f)


def round_fixed(y: Tensor, mu_f: Tensor) -> Tensor:
    """The latent :func:`code_gaussian` codes ``y`` as (fixed point), without coding it:
    what an encoder weighing choices (the video skip map) needs before it writes bits."""
    means = from_fixed(mu_f, torch.float64)  # exact: 12 fractional bits in float64
    symbols = torch.round(y.double().cpu() - means).to(torch.int64)  # exact: small integers
    return clamp(symbols * ONE + mu_f)
