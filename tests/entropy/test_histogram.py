import numpy as np
import pytest

from hyco.entropy.bits import BitReader, BitWriter
from hyco.entropy.coder import quantize_pmf
from hyco.entropy.histogram import HistogramTable, decode_arrays, encode_arrays
from hyco.errors import CorruptStream


def laplace_ints(n, scale, seed=0):
    return np.rint(np.random.default_rng(seed).laplace(0, scale, n)).astype(np.int64)


def total_bits(t: HistogramTable, v: np.ndarray) -> float:
    c = np.bincount((v - t.lo) >> t.shift, minlength=t.freqs.size)
    return t.table_bits() + v.size * t.shift + float(np.sum(c * (t.precision
                                                                  - np.log2(t.freqs))))


def test_arrays_round_trip_near_their_entropy():
    arrays = [laplace_ints(20000, 4.0), laplace_ints(50, 1.0, 1), np.zeros(300, np.int64),
              np.array([-7]), laplace_ints(9, 300.0, 2), np.zeros(0, np.int64)]
    w = BitWriter()
    data = encode_arrays(arrays, w)
    side = w.getvalue()
    r = BitReader(side)
    back = decode_arrays([a.size for a in arrays], r, data)
    r.finish()
    assert all(np.array_equal(a, b) for a, b in zip(arrays, back, strict=True))
    tables = [HistogramTable.fit(a) for a in arrays]
    assert 8 * len(side) - sum(t.table_bits() for t in tables) < 8
    _, counts = np.unique(arrays[0], return_counts=True)
    entropy = -(counts * np.log2(counts / counts.sum())).sum()
    alone = encode_arrays(arrays[:1], BitWriter())
    assert 8 * len(alone) < 1.01 * entropy + 64  # a fine table for many values
    assert tables[0].precision > tables[1].precision  # few values: a coarser table
    assert tables[2].freqs.size == 1  # a constant array costs (almost) nothing
    # nine values spread over hundreds: a few wide bins, not hundreds of entries
    assert tables[4].shift >= 5 and total_bits(tables[4], arrays[4]) < 9 * 10 + 40


def test_the_table_is_the_cheapest_of_its_family():
    v = laplace_ints(400, 3.0, 2)
    best = HistogramTable.fit(v)
    for shift in range(4):
        c = np.bincount((v - v.min()) >> shift)
        for p in range((c.size - 1).bit_length() + 1, 17):
            other = HistogramTable(int(v.min()), shift, p, quantize_pmf(c.astype(float), p))
            assert total_bits(best, v) <= total_bits(other, v) + 1e-9


@pytest.mark.parametrize("mutate", ["range", "sum", "cut"])
def test_corrupt_tables_are_rejected(mutate):
    w = BitWriter()
    if mutate == "range":  # more bins than the precision allows
        w.sgamma(0), w.gamma(9), w.uint(0, 5), w.uint(3, 5)
    elif mutate == "sum":  # frequencies beyond their total
        w.sgamma(0), w.gamma(2), w.uint(0, 5), w.uint(2, 5), w.gamma(4)
    else:
        HistogramTable.fit(laplace_ints(100, 2.0)).write(w)
    data = w.getvalue()
    with pytest.raises(CorruptStream):
        HistogramTable.read(BitReader(data[: len(data) // 2] if mutate == "cut" else data))
