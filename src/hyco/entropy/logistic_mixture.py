"""Discretised logistic mixture likelihood, with probability tables in exact integer arithmetic.

Each latent element has K logistic components (weight logit, mean, scale) predicted by the
hyperprior; its probability of an integer v is

    P(v) = sum_k softmax(logits)_k * (sigmoid((v + 1/2 - mean_k) / scale_k)
                                      - sigmoid((v - 1/2 - mean_k) / scale_k)).

A Gaussian conditional needs one table per *scale*, chosen from a fixed ladder; a mixture has
too many parameters for a ladder, so every element gets its own table, built from the
fixed-point parameters of the exact hyper-synthesis (:mod:`hyco.nn.exact`) by integer
arithmetic only: sigmoid and exp are read from tables computed once with Python's
``decimal`` module (correctly rounded, so the same integers on every platform), arguments
are formed by integer division, and the mixture is an integer sum. Encoder and decoder
therefore derive bit-identical tables on any machine and thread count.

Coding: an element's table covers a window ``lo .. lo + W - 1`` around its components
(``TAIL`` scales beyond the outermost, at most ``MAX_WINDOW`` values) plus an escape entry
holding the mass outside it; values outside are coded exactly after the escape (as in
:mod:`hyco.entropy.coder`). Elements are grouped by window size (power-of-two buckets) and
coded with constriction's categorical model, one row of integer-valued probabilities per
symbol; the decoder forms the same groups from the same parameters.
"""

from __future__ import annotations

import decimal
import functools

import constriction
import numpy as np
import torch
from torch import Tensor, nn

from hyco.entropy.coder import _pop_escapes, _push_escapes
from hyco.entropy.gaussian import LIKELIHOOD_BOUND
from hyco.errors import CorruptStream
from hyco.nn.exact import FRAC_BITS
from hyco.nn.ops import lower_bound

SCALE_MIN, SCALE_MAX = 0.11, 32.0
TAIL = 10  # window half-width in scales beyond the outermost component (mass ~1e-4 outside)
MAX_WINDOW = 1023  # values per table; a table has one more entry, the escape
_T_RANGE, _T_FRAC = 16, 8  # sigmoid table: t in [-16, 16] at steps of 2**-8
_CDF_BITS = 32  # sigmoid values in units of 2**-32
_E_RANGE, _E_FRAC = 16, 6  # exp(-d) table: d in [0, 16] at steps of 2**-6
_W_BITS = 16  # mixture weights in units of 2**-16 of the largest component's
_CHUNK = 1 << 22  # table entries built at once (memory bound: 32 MiB of float64)
_ONE = 1 << FRAC_BITS


def _decimal_table(values: range, fn) -> np.ndarray:
    ctx = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)
    return np.array([int(fn(ctx, i).to_integral_value(context=ctx)) for i in values],
                    dtype=np.int64)


@functools.lru_cache(maxsize=1)
def sigmoid_table() -> np.ndarray:
    """round(2**32 * sigmoid(i / 2**8)) for i = -16 * 2**8 .. 16 * 2**8 (index + 4096)."""
    n = _T_RANGE << _T_FRAC
    scale = decimal.Decimal(1 << _CDF_BITS)

    def upper(ctx, i):  # sigmoid(t) for t >= 0
        t = ctx.divide(decimal.Decimal(i), decimal.Decimal(1 << _T_FRAC))
        return ctx.multiply(ctx.divide(1, ctx.add(1, ctx.exp(-t))), scale)

    half = _decimal_table(range(n + 1), upper)
    return np.concatenate([(1 << _CDF_BITS) - half[:0:-1], half])  # sigmoid(-t) = 1 - ...


@functools.lru_cache(maxsize=1)
def exp_table() -> np.ndarray:
    """round(2**16 * exp(-i / 2**6)) for i = 0 .. 16 * 2**6."""
    scale = decimal.Decimal(1 << _W_BITS)

    def fn(ctx, i):
        return ctx.multiply(ctx.exp(ctx.divide(decimal.Decimal(-i), decimal.Decimal(1 << _E_FRAC))),
                            scale)

    return _decimal_table(range((_E_RANGE << _E_FRAC) + 1), fn)


def split_parameters(params: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """(B, 3 K M, H, W) hyper output -> logits, means, raw scales, each (B, K, M, H, W)."""
    b, c, h, w = params.shape
    p = params.reshape(b, 3, k, c // (3 * k), h, w)
    return p[:, 0], p[:, 1], p[:, 2]


def _windows(means: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Window start and size per element from (n, K) fixed-point means and scales."""
    lo = np.floor_divide((means - TAIL * scales).min(axis=1), _ONE)
    hi = -np.floor_divide(-(means + TAIL * scales).max(axis=1), _ONE)
    return lo, np.clip(hi - lo + 1, 1, MAX_WINDOW)


def _cdf(edges_q: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """2**32 * sigmoid((edge - mean) / scale), all in fixed point, by table."""
    t = np.floor_divide((edges_q - mean) << _T_FRAC, scale)
    offset = _T_RANGE << _T_FRAC
    return sigmoid_table()[np.clip(t + offset, 0, 2 * offset)]


def _rows(lo, size, width, logits, means, scales) -> np.ndarray:
    """Integer-valued probability rows (n, width): the window's values, then the escape."""
    n, k = logits.shape
    cols = np.arange(width - 1)
    v = lo[:, None] + cols[None]
    inside_window = cols[None] < size[:, None]
    gap = np.max(logits, axis=1, keepdims=True) - logits  # >= 0, fixed point
    weights = exp_table()[np.minimum(gap >> (FRAC_BITS - _E_FRAC), _E_RANGE << _E_FRAC)]
    rows = np.zeros((n, width), dtype=np.int64)
    inside = np.zeros(n, dtype=np.int64)
    first = (2 * lo - 1) * (_ONE // 2)  # lower edge of the window, fixed point
    last = (2 * (lo + size - 1) + 1) * (_ONE // 2)
    for j in range(k):
        mu, s, w = means[:, j, None], scales[:, j, None], weights[:, j, None]
        upper = _cdf((2 * v + 1) * (_ONE // 2), mu, s)
        lower = _cdf((2 * v - 1) * (_ONE // 2), mu, s)
        rows[:, :-1] += w * np.where(inside_window, upper - lower, 0)
        inside += weights[:, j] * (_cdf(last[:, None], mu, s) - _cdf(first[:, None], mu, s))[:, 0]
    total = weights.sum(axis=1) << _CDF_BITS
    rows[np.arange(n), size] = total - inside  # the escape: mass outside the window
    return rows


def _plan(logits_q: Tensor, means_q: Tensor, scales_q: Tensor):
    """Per element (flattened): fixed-point parameters (n, K), window start and size, and
    the coding order: grouped by power-of-two table width, in chunks."""
    k = logits_q.shape[1]

    def flat(t: Tensor) -> np.ndarray:  # (B, K, M, H, W) -> (n, K)
        return t.movedim(1, -1).reshape(-1, k).numpy().astype(np.int64)

    logits, means = flat(logits_q), flat(means_q)
    scales = np.clip(flat(scales_q), round(SCALE_MIN * _ONE), round(SCALE_MAX * _ONE))
    lo, size = _windows(means, scales)
    width = 1 << np.ceil(np.log2(size + 1)).astype(np.int64)  # values + escape, rounded up
    order = np.argsort(width, kind="stable")
    chunks = []
    for wd in np.unique(width):
        members = order[width[order] == wd]
        step = max(1, _CHUNK // int(wd))
        chunks += [(int(wd), members[i:i + step]) for i in range(0, members.size, step)]
    return logits, means, scales, lo, size, chunks


class LogisticMixtureConditional(nn.Module):
    """Likelihoods for training and exact coding for inference, K components per element."""

    def __init__(self, components: int = 3):
        super().__init__()
        self.k = components

    @staticmethod
    def quantize(y: Tensor, noise: bool) -> Tensor:
        if noise:
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        return torch.round(y)

    def likelihood(self, y_hat: Tensor, params: Tensor) -> Tensor:
        """P(integer bin around y_hat) under the mixture, float32 even under autocast."""
        logits, means, scales = split_parameters(params.float(), self.k)
        scales = lower_bound(scales, SCALE_MIN).clamp_max(SCALE_MAX)
        v = y_hat.float().unsqueeze(1)
        upper = torch.sigmoid((v + 0.5 - means) / scales)
        lower = torch.sigmoid((v - 0.5 - means) / scales)
        p = (torch.softmax(logits, dim=1) * (upper - lower)).sum(dim=1)
        return lower_bound(p, LIKELIHOOD_BOUND)

    def compress(self, y: Tensor, params_fixed: Tensor) -> tuple[bytes, Tensor]:
        """Code round(y) with the tables of the fixed-point parameters; (stream, y_hat)."""
        y_hat = torch.round(y.detach().cpu().float())
        logits, means, scales, lo, size, chunks = _plan(*split_parameters(params_fixed, self.k))
        symbols = y_hat.numpy().astype(np.int64).ravel()
        family = constriction.stream.model.Categorical(perfect=False)
        coder = constriction.stream.stack.AnsCoder()
        for width, idx in reversed(chunks):  # a stack: the decoder pops the first chunk first
            rows = _rows(lo[idx], size[idx], width, logits[idx], means[idx], scales[idx])
            entry = symbols[idx] - lo[idx]  # window-relative: 0 is always inside it
            escaped = (entry < 0) | (entry >= size[idx])
            if escaped.any():
                _push_escapes(coder, entry[escaped], np.zeros(int(escaped.sum()), np.int64),
                              size[idx][escaped])
            entry = np.where(escaped, size[idx], entry).astype(np.int32)
            coder.encode_reverse(entry, family, rows.astype(np.float64))
        return coder.get_compressed().tobytes(), y_hat

    def decompress(self, data: bytes, params_fixed: Tensor) -> Tensor:
        b, _, m, h, w = split_parameters(params_fixed, self.k)[0].shape
        if len(data) % 4:
            raise CorruptStream("corrupt stream: length is not a whole number of words")
        logits, means, scales, lo, size, chunks = _plan(*split_parameters(params_fixed, self.k))
        symbols = np.empty(lo.size, dtype=np.int64)
        family = constriction.stream.model.Categorical(perfect=False)
        try:
            coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, np.uint32).copy())
            for width, idx in chunks:
                rows = _rows(lo[idx], size[idx], width, logits[idx], means[idx], scales[idx])
                entry = coder.decode(family, rows.astype(np.float64)).astype(np.int64)
                escaped = entry == size[idx]
                if escaped.any():
                    entry[escaped] = _pop_escapes(coder, np.zeros(int(escaped.sum()), np.int64),
                                                  size[idx][escaped])
                symbols[idx] = lo[idx] + entry
        except (ValueError, RuntimeError, OverflowError) as exc:
            raise CorruptStream(f"corrupt stream: {exc}") from None
        if not coder.is_empty():
            raise CorruptStream("corrupt stream: data left over after the last symbol")
        return torch.from_numpy(symbols).float().reshape(b, m, h, w)
