import pytest

from hyco.entropy.bits import BitReader, BitWriter
from hyco.errors import CorruptStream


def test_fields_round_trip_with_their_exact_lengths():
    w = BitWriter()
    w.uint(5, 3)
    w.uint(0, 0)
    for v in (1, 2, 7, 1000, 2**40):
        w.gamma(v)
    for v in (0, -1, 1, -300, 12345):
        w.sgamma(v)
    data = w.getvalue()
    bits = 3 + sum(2 * v.bit_length() - 1 for v in (1, 2, 7, 1000, 2**40)) + sum(
        2 * v.bit_length() - 1 for v in (1, 2, 3, 600, 24691))
    assert len(data) == -(-bits // 8)
    r = BitReader(data)
    assert r.uint(3) == 5 and r.uint(0) == 0
    assert [r.gamma() for _ in range(5)] == [1, 2, 7, 1000, 2**40]
    assert [r.sgamma() for _ in range(5)] == [0, -1, 1, -300, 12345]
    r.finish()


def test_bad_values_and_corrupt_streams():
    w = BitWriter()
    for bad in (lambda: w.uint(8, 3), lambda: w.gamma(0), lambda: w.uint(-1, 4)):
        with pytest.raises(ValueError):
            bad()
    assert BitWriter().getvalue() == b""
    with pytest.raises(CorruptStream, match="cut short"):
        BitReader(b"\x00").gamma()
    with pytest.raises(CorruptStream, match="cut short"):
        BitReader(b"\xff").uint(9)
    with pytest.raises(CorruptStream, match="oversized"):
        BitReader(bytes(9)).gamma()
    w.gamma(3)
    r = BitReader(w.getvalue() + b"\x01")
    assert r.gamma() == 3
    with pytest.raises(CorruptStream, match="left over"):
        r.finish()
