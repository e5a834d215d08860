import struct
import zlib

import pytest

from hyco.container import MAX_PIXELS, Header, overhead_bytes, pack, unpack
from hyco.errors import CorruptStream
from hyco.payload import Payload

HEADER = Header(codec="mean-scale", quality="3", digest="0123456789abcdef", channels=3)
PAYLOAD = Payload(streams=(b"abcd" * 5, b"", b"xyz1"), size=(17, 33), params=(7, -2))


def test_round_trip():
    data = pack(HEADER, PAYLOAD)
    h, p = unpack(data)
    assert h == HEADER and p == PAYLOAD
    assert overhead_bytes(HEADER, PAYLOAD) == len(data) - 24


def test_every_truncation_is_detected():
    data = pack(HEADER, PAYLOAD)
    for n in range(len(data)):
        with pytest.raises(CorruptStream):
            unpack(data[:n])


def test_every_flipped_byte_is_detected():
    data = bytearray(pack(HEADER, PAYLOAD))
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x5A
        with pytest.raises(CorruptStream):
            unpack(bytes(bad))


def test_foreign_files_and_trailing_data():
    for junk in [b"\x89PNG\r\n\x1a\n" + bytes(100), b"hello world", b"H"]:
        with pytest.raises(CorruptStream, match="not a .hyco|truncated"):
            unpack(junk)
    with pytest.raises(CorruptStream, match="trailing"):
        unpack(pack(HEADER, PAYLOAD) + b"\0")


def _forge(height: int, width: int, version: int = 1) -> bytes:
    """A file with a valid checksum but an absurd header."""
    body = (b"HYCO" + bytes([version]) + b"\x01a\x011" + bytes(8)
            + struct.pack("<IIB", height, width, 3) + b"\x00\x00")
    return body + struct.pack("<I", zlib.crc32(body))


def test_absurd_sizes_and_versions():
    with pytest.raises(CorruptStream, match="absurd"):
        unpack(_forge(1 << 20, 1 << 20))
    with pytest.raises(CorruptStream, match="absurd"):
        unpack(_forge(0, 5))
    with pytest.raises(CorruptStream, match="absurd"):
        unpack(_forge(MAX_PIXELS // 1000 + 1, 1000 + 1))
    with pytest.raises(CorruptStream, match="version"):
        unpack(_forge(4, 4, version=9))
    assert unpack(_forge(4, 4))[1].size == (4, 4)
