"""Exact coding of a binary map (e.g. a P-frame's skip flags) with row contexts.

Why a model of its own: the flags of neighbouring blocks agree (a still background is a
region, not a scatter), so each flag is coded with a probability chosen by its three
neighbours in the row above (how many of them are set: 0-3; the first row has a context of
its own). The probabilities are the map's own frequencies per context, rounded to one of
:data:`LEVELS` (denser near 0 and 1, where a still frame's contexts are) and sent in a
nibble each, so a map costs about its conditional entropy plus 7 bytes (the 3-byte
header and the coder's 4-byte word), with no training and nothing to drift. Rows are ANS chunks
(:class:`hyco.entropy.coder.Encoder`): the decoder needs row ``r - 1`` to know row ``r``'s
tables.
"""

from __future__ import annotations

import functools

import numpy as np

from hyco.entropy.coder import Decoder, Encoder, TableSet, quantize_pmf
from hyco.errors import CorruptStream

LEVELS = np.array([0.004, 0.015, 0.04, 0.08, 0.15, 0.25, 0.35, 0.45,
                   0.55, 0.65, 0.75, 0.85, 0.92, 0.96, 0.985, 0.996])  # P(set), a nibble
N_CONTEXTS = 5  # 0-3 set neighbours above; 4: the first row
_HEADER = (N_CONTEXTS * 4 + 7) // 8  # one nibble per context


@functools.lru_cache(maxsize=1)
def _tables() -> TableSet:
    """One table per probability level over {0, 1} (+ the coder's escape entry)."""
    freqs = [quantize_pmf(np.array([1 - p, p, 1e-6])) for p in LEVELS]
    return TableSet(freqs, np.zeros(len(LEVELS), dtype=np.int64))


def _contexts(above: np.ndarray | None, w: int) -> np.ndarray:
    """Each position's context from the row above (None: the first row)."""
    if above is None:
        return np.full(w, N_CONTEXTS - 1, dtype=np.int64)
    padded = np.concatenate([[0], above.astype(np.int64), [0]])
    return padded[:-2] + padded[1:-1] + padded[2:]


def _levels(mask: np.ndarray) -> np.ndarray:
    """Per context, the level that codes its flags in the fewest bits."""
    h, w = mask.shape
    ctx = np.concatenate([_contexts(None if r == 0 else mask[r - 1], w) for r in range(h)])
    flat = mask.reshape(-1).astype(np.int64)
    count = np.bincount(ctx, minlength=N_CONTEXTS)
    ones = np.bincount(ctx, weights=flat, minlength=N_CONTEXTS)
    bits = -(ones[:, None] * np.log2(LEVELS) + (count - ones)[:, None] * np.log2(1 - LEVELS))
    return np.argmin(bits, axis=1).astype(np.int64)


def encode_mask(mask: np.ndarray) -> bytes:
    """A 2-D boolean map -> bytes (its shape is the caller's to know)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError("a mask is 2-D")
    levels = _levels(mask)
    nibbles = int(sum(int(k) << (4 * i) for i, k in enumerate(levels)))
    enc = Encoder(_tables())
    for r in range(mask.shape[0]):
        enc.add(mask[r].astype(np.int64),
                levels[_contexts(None if r == 0 else mask[r - 1], mask.shape[1])])
    return nibbles.to_bytes(_HEADER, "little") + enc.finish()


def decode_mask(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`encode_mask` for a map of ``shape`` (bool)."""
    if len(data) < _HEADER:
        raise CorruptStream("corrupt stream: a mask shorter than its header")
    nibbles = int.from_bytes(data[:_HEADER], "little")
    levels = np.array([(nibbles >> (4 * i)) & 15 for i in range(N_CONTEXTS)], dtype=np.int64)
    dec = Decoder(data[_HEADER:], _tables())
    h, w = shape
    out = np.zeros((h, w), dtype=bool)
    for r in range(h):
        row = dec.read(levels[_contexts(None if r == 0 else out[r - 1], w)])
        if row.size and (row.min() < 0 or row.max() > 1):
            raise CorruptStream("corrupt stream: a mask flag other than 0 or 1")
        out[r] = row.astype(bool)
    dec.finish()
    return out
