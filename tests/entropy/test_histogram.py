import numpy as np
import pytest

from hyco.entropy import coder
from hyco.entropy.bits import BitReader, BitWriter
from hyco.entropy.histogram import HistogramTable, table_set
from hyco.errors import CorruptStream


def laplace_ints(n, scale, seed=0):
    return np.rint(np.random.default_rng(seed).laplace(0, scale, n)).astype(np.int64)


def test_tables_code_their_symbols_near_the_entropy_and_round_trip():
    parts = [laplace_ints(20000, 4.0), laplace_ints(50, 1.0, 1), np.zeros(300, np.int64),
             np.array([-7], np.int64)]
    tables = [HistogramTable.fit(p) for p in parts]
    w = BitWriter()
    for t in tables:
        t.write(w)
    side = w.getvalue()
    assert 8 * len(side) - sum(t.table_bits() for t in tables) < 8
    r = BitReader(side)
    back = [HistogramTable.read(r) for _ in tables]
    r.finish()
    for a, b in zip(tables, back, strict=True):
        assert (a.lo, a.precision) == (b.lo, b.precision) and np.array_equal(a.freqs, b.freqs)
    sym = np.concatenate(parts)
    idx = np.repeat(np.arange(len(parts)), [p.size for p in parts])
    data = coder.encode(sym, idx, table_set(tables))
    assert np.array_equal(coder.decode(data, idx, table_set(back)), sym)
    _, counts = np.unique(parts[0], return_counts=True)
    entropy = -(counts * np.log2(counts / counts.sum())).sum()
    big = 8 * len(coder.encode(parts[0], np.zeros(parts[0].size, np.int64),
                               table_set(tables[:1])))
    assert big < 1.01 * entropy + 64  # the table is fine enough for 20000 symbols
    assert tables[0].precision > tables[1].precision  # few symbols: a coarser, cheaper table
    assert tables[2].freqs.size == 1  # a constant tensor costs (almost) nothing


def test_precision_is_chosen_by_total_cost():
    sym = laplace_ints(400, 3.0, 2)
    best = HistogramTable.fit(sym)
    _, counts = np.unique(sym, return_counts=True)

    def total(t):
        c = np.bincount(sym - t.lo, minlength=t.freqs.size)
        return t.table_bits() + float(np.sum(c * (t.precision - np.log2(t.freqs))))

    from hyco.entropy.coder import quantize_pmf

    c = np.bincount(sym - sym.min())
    for p in range(best.precision - 2, best.precision + 3):
        if (c.size - 1).bit_length() + 1 <= p <= 16:
            other = HistogramTable(int(sym.min()), p, quantize_pmf(c.astype(float), p))
            assert total(best) <= total(other) + 1e-9


@pytest.mark.parametrize("mutate", ["range", "sum", "cut"])
def test_corrupt_tables_are_rejected(mutate):
    w = BitWriter()
    if mutate == "range":  # more entries than the precision allows
        w.sgamma(0), w.gamma(9), w.uint(3, 5)
    elif mutate == "sum":  # frequencies beyond their total
        w.sgamma(0), w.gamma(2), w.uint(2, 5), w.gamma(4)
    else:
        HistogramTable.fit(laplace_ints(100, 2.0)).write(w)
    data = w.getvalue()
    with pytest.raises(CorruptStream):
        HistogramTable.read(BitReader(data[: len(data) // 2] if mutate == "cut" else data))
