"""Integer arrays coded with probability tables made from their own histograms.

An overfitted codec (a network whose weights are the bitstream) has no trained entropy model:
each array (a weight tensor's integers) is coded with a table built from its own histogram,
and the table travels in the file. Its cost is part of the rate, so the encoder chooses, per
array, the table that minimises table bits plus data bits:

- *bins*: values are grouped in bins of ``2**shift`` consecutive integers; the table gives
  each bin a frequency and the value's position inside its bin is sent in ``shift`` raw bits.
  A million weights get one entry per value (``shift = 0``); eight biases spread over a
  thousand values get a handful of bins (a table of a few bits, about ``log2(range)`` bits a
  value), where one entry per value would cost far more than the data;
- *precision*: the frequencies sum to ``2**precision``, no finer than the counts warrant.

Stored per array: ``lo`` (the first value), the number of bins, ``shift``, ``precision`` and
the frequencies but the last (Elias-gamma coded; the last is implied by the sum). Everything
the decoder derives (the coder's 20-bit tables) is integer arithmetic on these numbers, so
both sides build identical tables on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyco.entropy import coder
from hyco.entropy.bits import BitReader, BitWriter
from hyco.entropy.coder import PRECISION, TableSet, quantize_pmf
from hyco.errors import CorruptStream

MAX_PRECISION = 16
MAX_BINS = 1 << 15
MAX_SHIFT = 16
_FIELD = 5  # bits of the shift and precision fields
_MAX_LO = 1 << 40


def _gamma_bits(v: np.ndarray) -> np.ndarray:
    """Length of the Elias gamma codes of positive integers (below 2**53)."""
    return 2 * np.frexp(np.asarray(v, np.float64))[1].astype(np.int64) - 1


def _sgamma_bits(v: int) -> int:
    return int(_gamma_bits(np.array([(2 * v if v >= 0 else -2 * v - 1) + 1]))[0])


@dataclass(frozen=True, eq=False)
class HistogramTable:
    """Frequencies (summing to ``2**precision``) of the bins ``lo + k * 2**shift ..``."""

    lo: int
    shift: int
    precision: int
    freqs: np.ndarray  # int64, every entry >= 1

    @classmethod
    def fit(cls, values: np.ndarray) -> HistogramTable:
        """The table that codes ``values`` in the fewest bits, its own included."""
        v = np.asarray(values, dtype=np.int64).ravel()
        if v.size == 0:
            return cls(0, 0, 1, np.array([2], dtype=np.int64))
        lo, hi = int(v.min()), int(v.max())
        if max(abs(lo), abs(hi)) >= _MAX_LO:
            raise ValueError("values too large for a histogram table")
        best: tuple[float, HistogramTable] | None = None
        for shift in range(MAX_SHIFT + 1):
            counts = np.bincount((v - lo) >> shift)
            if counts.size > MAX_BINS:
                continue
            for p in range((counts.size - 1).bit_length() + 1, MAX_PRECISION + 1):
                table = cls(lo, shift, p, quantize_pmf(counts.astype(np.float64), p))
                bits = (table.table_bits() + v.size * shift
                        + float(np.sum(counts * (p - np.log2(table.freqs)))))
                if best is None or bits < best[0]:
                    best = (bits, table)
            if counts.size == 1:
                break
        if best is None:
            raise ValueError(f"values span more than {MAX_BINS} << {MAX_SHIFT}")
        return best[1]

    def table_bits(self) -> int:
        """Exact length in bits of :meth:`write`'s output."""
        return (_sgamma_bits(self.lo) + int(_gamma_bits(np.array([self.freqs.size]))[0])
                + 2 * _FIELD + int(_gamma_bits(self.freqs[:-1]).sum()))

    def write(self, w: BitWriter) -> None:
        w.sgamma(self.lo)
        w.gamma(int(self.freqs.size))
        w.uint(self.shift, _FIELD)
        w.uint(self.precision, _FIELD)
        for f in self.freqs[:-1]:
            w.gamma(int(f))

    @classmethod
    def read(cls, r: BitReader) -> HistogramTable:
        lo = r.sgamma()
        n = r.gamma()
        shift, precision = r.uint(_FIELD), r.uint(_FIELD)
        if (abs(lo) >= _MAX_LO or shift > MAX_SHIFT or not 1 <= precision <= MAX_PRECISION
                or n > MAX_BINS or n > 1 << (precision - 1)):
            raise CorruptStream("corrupt probability table: bad range, bins or precision")
        freqs = [r.gamma() for _ in range(n - 1)]
        last = (1 << precision) - sum(freqs)
        if last < 1:
            raise CorruptStream("corrupt probability table: frequencies exceed their total")
        return cls(lo, shift, precision, np.array([*freqs, last], dtype=np.int64))

    @property
    def hi(self) -> int:
        """The largest value the table can code."""
        return self.lo + (self.freqs.size << self.shift) - 1


def _coder_table(freqs: np.ndarray, precision: int) -> np.ndarray:
    """Frequencies scaled to the coder's precision plus its escape entry (never used: the
    range covers every symbol), which takes one unit from the largest entry (the first one
    on ties), so the sum stays exactly ``2**PRECISION``."""
    f = freqs << (PRECISION - precision)
    f[int(np.argmax(f))] -= 1
    return np.append(f, 1)


def _table_set(tables: list[HistogramTable]) -> TableSet:
    """One table per array (its bins), then uniform tables for ``shift`` raw bits, 1..MAX."""
    bins = [_coder_table(t.freqs, t.precision) for t in tables]
    raw = [_coder_table(np.ones(1 << k, dtype=np.int64), k) for k in range(1, MAX_SHIFT + 1)]
    return TableSet(bins + raw, np.zeros(len(bins) + len(raw), dtype=np.int64))


def _layout(tables: list[HistogramTable], sizes: list[int]) -> np.ndarray:
    """Table index of every symbol: per array its bins, then its low bits (if any)."""
    n = len(tables)
    parts = []
    for i, (t, size) in enumerate(zip(tables, sizes, strict=True)):
        parts.append(np.full(size, i, dtype=np.int64))
        if t.shift:
            parts.append(np.full(size, n + t.shift - 1, dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def encode_arrays(arrays: list[np.ndarray], side: BitWriter) -> bytes:
    """Write each array's table to ``side`` and return one ANS stream of all their values."""
    flat = [np.asarray(a, dtype=np.int64).ravel() for a in arrays]
    tables = [HistogramTable.fit(a) for a in flat]
    symbols = []
    for t, a in zip(tables, flat, strict=True):
        t.write(side)
        symbols.append((a - t.lo) >> t.shift)
        if t.shift:
            symbols.append((a - t.lo) & ((1 << t.shift) - 1))
    if not flat:
        return b""
    return coder.encode(np.concatenate(symbols), _layout(tables, [a.size for a in flat]),
                        _table_set(tables))


def decode_arrays(sizes: list[int], side: BitReader, data: bytes) -> list[np.ndarray]:
    """Inverse of :func:`encode_arrays` for arrays of the given sizes (flat int64)."""
    tables = [HistogramTable.read(side) for _ in sizes]
    if not sizes:
        if data:
            raise CorruptStream("corrupt stream: data without arrays")
        return []
    symbols = coder.decode(data, _layout(tables, sizes), _table_set(tables))
    out, pos = [], 0
    for t, size in zip(tables, sizes, strict=True):
        bins = symbols[pos : pos + size]
        pos += size
        low = symbols[pos : pos + size] if t.shift else np.zeros(size, dtype=np.int64)
        pos += size if t.shift else 0
        if size and (bins.min() < 0 or bins.max() >= t.freqs.size or low.min() < 0
                     or low.max() >> t.shift):  # only escapes in a corrupt stream get here
            raise CorruptStream("corrupt stream: a value outside its table")
        out.append(t.lo + (bins << t.shift) + low)
    return out
