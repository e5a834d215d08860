"""A plain bit writer/reader for the few side numbers a stream needs (table shapes, steps).

The entropy coder codes symbols under tables; the tables themselves, and a network's
quantisation steps, are short lists of integers best written with simple universal codes:
fixed-width fields and Elias-gamma codes (small numbers in few bits, no upper bound). The
reader checks every read, so a truncated or corrupt side stream fails with one
:class:`~hyco.errors.CorruptStream` line.
"""

from __future__ import annotations

from hyco.errors import CorruptStream

_GAMMA_MAX_BITS = 62  # longest gamma code a reader accepts (values below 2**62)


class BitWriter:
    """Appends fields most-significant bit first; :meth:`getvalue` pads the last byte with 0s."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def uint(self, value: int, bits: int) -> None:
        if bits < 0 or not 0 <= value < (1 << bits):
            raise ValueError(f"{value} does not fit in {bits} bits")
        if bits:
            self._parts.append(format(value, f"0{bits}b"))

    def gamma(self, value: int) -> None:
        """Elias gamma code of ``value >= 1``: ``2 * bit_length - 1`` bits."""
        if not 1 <= value < (1 << _GAMMA_MAX_BITS):
            raise ValueError(f"gamma codes 1..2**{_GAMMA_MAX_BITS}-1, not {value}")
        n = value.bit_length()
        self._parts.append("0" * (n - 1) + format(value, "b"))

    def sgamma(self, value: int) -> None:
        """Any integer, zig-zag mapped (0, -1, 1, -2, ...) to 1, 2, 3, ... then gamma coded."""
        self.gamma((2 * value if value >= 0 else -2 * value - 1) + 1)

    def getvalue(self) -> bytes:
        bits = "".join(self._parts)
        if not bits:
            return b""
        bits += "0" * (-len(bits) % 8)
        return int(bits, 2).to_bytes(len(bits) // 8, "big")


class BitReader:
    """Reads what a :class:`BitWriter` wrote; :meth:`finish` checks nothing but padding is left."""

    def __init__(self, data: bytes, what: str = "side stream"):
        self._bits = "".join(format(b, "08b") for b in data)
        self._pos = 0
        self._what = what

    def _fail(self, why: str) -> CorruptStream:
        return CorruptStream(f"corrupt {self._what}: {why}")

    def uint(self, bits: int) -> int:
        if self._pos + bits > len(self._bits):
            raise self._fail("cut short")
        field = self._bits[self._pos : self._pos + bits]
        self._pos += bits
        return int(field, 2) if bits else 0

    def gamma(self) -> int:
        end = self._bits.find("1", self._pos, self._pos + _GAMMA_MAX_BITS)
        if end < 0:
            raise self._fail("cut short" if len(self._bits) - self._pos < _GAMMA_MAX_BITS
                             else "oversized number")
        zeros = end - self._pos
        self._pos = end
        return self.uint(zeros + 1)

    def sgamma(self) -> int:
        z = self.gamma() - 1
        return z // 2 if z % 2 == 0 else -(z + 1) // 2

    def finish(self) -> None:
        rest = self._bits[self._pos :]
        if len(rest) >= 8 or "1" in rest:
            raise self._fail("data left over after the last field")
