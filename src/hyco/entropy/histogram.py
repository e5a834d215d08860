"""Probability tables made from a histogram of the very symbols they code, stored beside them.

An overfitted codec (a network whose weights are the bitstream) has no trained entropy model:
each tensor's integers are coded with a table built from their own histogram, and the table
travels in the file. Its cost is part of the rate, so it is stored compactly: the value range
(``lo`` and the entry count) and the frequencies at a *precision* (their sum is
``2**precision``) that the encoder chooses per table to minimise table bits plus data bits;
a tensor of a few dozen numbers gets a coarse table, one of a million a fine one. The
frequencies are Elias-gamma coded, the last one implied by the sum.

Everything the decoder derives (the coder's 20-bit tables) is integer arithmetic on the stored
numbers, so both sides build identical tables on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyco.entropy.bits import BitReader, BitWriter
from hyco.entropy.coder import PRECISION, TableSet, quantize_pmf
from hyco.errors import CorruptStream

MAX_PRECISION = 16
MAX_ENTRIES = 1 << 15
_PRECISION_FIELD = 5  # bits of the precision field
_MAX_LO = 1 << 40


def _gamma_bits(v: np.ndarray) -> np.ndarray:
    """Length of the Elias gamma codes of positive integers (below 2**53)."""
    return 2 * np.frexp(np.asarray(v, np.float64))[1].astype(np.int64) - 1


def _sgamma_bits(v: int) -> int:
    return int(_gamma_bits(np.array([(2 * v if v >= 0 else -2 * v - 1) + 1]))[0])


@dataclass(frozen=True, eq=False)
class HistogramTable:
    """Frequencies of the values ``lo .. lo + len(freqs) - 1``, summing to ``2**precision``."""

    lo: int
    precision: int
    freqs: np.ndarray  # int64, every entry >= 1

    @classmethod
    def fit(cls, symbols: np.ndarray) -> HistogramTable:
        """The table (range and precision) that codes ``symbols`` in the fewest total bits."""
        sym = np.asarray(symbols, dtype=np.int64).ravel()
        if sym.size == 0:
            return cls(0, 1, np.array([2], dtype=np.int64))
        lo = int(sym.min())
        if abs(lo) >= _MAX_LO or abs(int(sym.max())) >= _MAX_LO:
            raise ValueError("symbols too large for a histogram table")
        counts = np.bincount(sym - lo)
        if counts.size > MAX_ENTRIES:
            raise ValueError(f"{counts.size} distinct values exceed {MAX_ENTRIES} table entries")
        best: tuple[float, HistogramTable] | None = None
        for p in range((counts.size - 1).bit_length() + 1, MAX_PRECISION + 1):
            table = cls(lo, p, quantize_pmf(counts.astype(np.float64), p))
            data = float(np.sum(counts * (p - np.log2(table.freqs))))
            total = table.table_bits() + data
            if best is None or total < best[0]:
                best = (total, table)
        assert best is not None
        return best[1]

    def table_bits(self) -> int:
        """Exact length in bits of :meth:`write`'s output."""
        n = self.freqs.size
        return (_sgamma_bits(self.lo) + int(_gamma_bits(np.array([n]))[0]) + _PRECISION_FIELD
                + int(_gamma_bits(self.freqs[:-1]).sum()))

    def write(self, w: BitWriter) -> None:
        w.sgamma(self.lo)
        w.gamma(int(self.freqs.size))
        w.uint(self.precision, _PRECISION_FIELD)
        for f in self.freqs[:-1]:
            w.gamma(int(f))

    @classmethod
    def read(cls, r: BitReader) -> HistogramTable:
        lo = r.sgamma()
        n = r.gamma()
        precision = r.uint(_PRECISION_FIELD)
        if (abs(lo) >= _MAX_LO or not 1 <= precision <= MAX_PRECISION or n > MAX_ENTRIES
                or n > 1 << (precision - 1)):
            raise CorruptStream("corrupt probability table: bad range or precision")
        freqs = [r.gamma() for _ in range(n - 1)]
        last = (1 << precision) - sum(freqs)
        if last < 1:
            raise CorruptStream("corrupt probability table: frequencies exceed their total")
        return cls(lo, precision, np.array([*freqs, last], dtype=np.int64))


def table_set(tables: list[HistogramTable]) -> TableSet:
    """The coder's tables: frequencies scaled to its precision, plus its escape entry.

    The escape (never used: the range covers every symbol) takes one unit from the largest
    entry (the first one on ties), so the sums stay exactly ``2**PRECISION``.
    """
    freqs = []
    for t in tables:
        f = t.freqs << (PRECISION - t.precision)
        f[int(np.argmax(f))] -= 1
        freqs.append(np.append(f, 1))
    return TableSet(freqs, np.array([-t.lo for t in tables], dtype=np.int64))
