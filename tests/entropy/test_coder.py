import numpy as np
import pytest

from hyco.entropy.coder import (
    PRECISION,
    Decoder,
    Encoder,
    TableSet,
    decode,
    encode,
    quantize_pmf,
)
from hyco.entropy.gaussian import gaussian_tables
from hyco.errors import CorruptStream


def test_quantize_pmf_sums_and_keeps_every_symbol():
    rng = np.random.default_rng(0)
    for n in [2, 5, 100, 3000]:
        p = rng.random(n) ** 8  # many tiny entries
        p[rng.integers(0, n, n // 3)] = 0.0
        f = quantize_pmf(p)
        assert f.sum() == 1 << PRECISION
        assert f.min() >= 1
        assert np.array_equal(f, quantize_pmf(p.copy()))


def test_quantize_pmf_is_close_to_the_distribution():
    p = np.array([0.5, 0.25, 0.125, 0.125])
    f = quantize_pmf(p)
    assert np.allclose(f / (1 << PRECISION), p, atol=1e-6)


def _random_tables(rng, n_tables):
    freqs, offsets = [], []
    for _ in range(n_tables):
        n = int(rng.integers(1, 40))
        freqs.append(quantize_pmf(np.append(rng.random(n), 1e-4)))
        offsets.append(int(rng.integers(0, n)))
    return TableSet(freqs, np.array(offsets))


@pytest.mark.parametrize("seed", range(3))
def test_random_tables_round_trip_with_outliers(seed):
    rng = np.random.default_rng(seed)
    tables = _random_tables(rng, 7)
    idx = rng.integers(0, 7, size=(3, 50, 41))
    sym = rng.integers(-5, 40, size=idx.shape)
    flat = sym.reshape(-1)
    flat[rng.integers(0, flat.size, 40)] = rng.integers(-(2**39), 2**39, 40)
    flat[:4] = [2**40 - 1, -(2**40) + 1, 0, -1]
    data = encode(sym, idx, tables)
    out = decode(data, idx, tables)
    assert out.shape == sym.shape
    assert np.array_equal(out, sym)


def test_gaussian_tables_round_trip_every_scale_and_tails():
    tables = gaussian_tables()
    rng = np.random.default_rng(1)
    idx = np.repeat(np.arange(len(tables)), 64)
    scales = np.exp(np.linspace(np.log(0.11), np.log(256), len(tables)))[idx]
    sym = np.round(rng.normal(0, scales * 3)).astype(np.int64)  # many escapes
    data = encode(sym, idx, tables)
    assert np.array_equal(decode(data, idx, tables), sym)


def test_empty_input():
    tables = gaussian_tables()
    idx = np.zeros((0,), dtype=np.int64)
    data = encode(np.zeros(0, dtype=np.int64), idx, tables)
    assert decode(data, idx, tables).size == 0


def test_coded_size_matches_table_bits():
    tables = gaussian_tables()
    rng = np.random.default_rng(2)
    idx = rng.integers(40, 200, size=200_000)
    scales = np.exp(np.linspace(np.log(0.11), np.log(256), len(tables)))[idx]
    sym = np.round(rng.normal(0, scales)).astype(np.int64)
    sym = np.clip(sym, -tables.offsets[idx], tables.offsets[idx])  # no escapes here
    ideal = tables.bits(sym, idx)
    coded = 8 * len(encode(sym, idx, tables))
    assert ideal <= coded <= ideal * 1.0005 + 64


def test_corrupt_stream_is_an_error():
    tables = gaussian_tables()
    idx = np.full(100, 50)
    data = encode(np.zeros(100, dtype=np.int64), idx, tables)
    with pytest.raises(CorruptStream):
        decode(data[:-1], idx, tables)
    with pytest.raises(CorruptStream):
        decode(data + bytes(4 * 50) + b"\x01\x02\x03\x04", idx, tables)


def test_chunks_decode_in_order_with_escapes_in_each():
    """A chunk's tables may depend on earlier chunks' symbols (as in context models)."""
    tables = gaussian_tables()
    rng = np.random.default_rng(3)
    first = rng.integers(0, 256, 300)
    chunks, idx = [], first
    enc = Encoder(tables)
    for _ in range(5):
        sym = rng.integers(-3, 4, 300)
        sym[rng.integers(0, 300, 3)] = rng.integers(10**5, 10**6, 3)  # escapes in every chunk
        enc.add(sym, idx)
        chunks.append(sym)
        idx = (np.abs(sym) * 7 + idx) % 256  # next tables depend on these symbols
    data = enc.finish()
    dec = Decoder(data, tables)
    idx = first
    for sym in chunks:
        out = dec.read(idx)
        assert np.array_equal(out, sym)
        idx = (np.abs(out) * 7 + idx) % 256
    dec.finish()
