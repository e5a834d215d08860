"""The .hyco file format: a self-describing header, the streams, and a CRC-32.

Layout (all integers little-endian)::

    magic     4  b"HYCO"
    version   1  FORMAT_VERSION
    codec     1+n  length-prefixed ASCII name, e.g. "mean-scale"
    quality   1+n  length-prefixed ASCII, e.g. "3"
    digest    8  first 8 bytes of the sha256 of the weights used
    height    4
    width     4
    channels  1  3 = RGB, 1 = grayscale (coded as RGB, decoded back to gray)
    n_params  1, then n_params x int64   codec-specific integers
    n_streams 1, then n_streams x uint32 stream lengths
    streams   the entropy-coded bytes
    crc32     4  over everything before it

The reader checks every field before trusting it, so a foreign, truncated, flipped or
absurd file fails with one clear :class:`~hyco.errors.CorruptStream` line.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from hyco.errors import CorruptStream
from hyco.payload import Payload

MAGIC = b"HYCO"
FORMAT_VERSION = 1
MAX_SIDE = 1 << 16
MAX_PIXELS = 1 << 26  # 67 megapixels: beyond this the decoder's memory is not sensible
MAX_STREAMS = 16
MAX_PARAMS = 16
_NAME_MAX = 64


@dataclass(frozen=True)
class Header:
    codec: str
    quality: str
    digest: str  # 16 hex digits
    channels: int = 3


def check_size(height: int, width: int) -> None:
    """Shared by reader and writer so no file is written that could not be read."""
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE) or height * width > MAX_PIXELS:
        raise CorruptStream(f"absurd image size {width}x{height} in header")


def _name(value: str) -> bytes:
    raw = value.encode("ascii")
    if not 1 <= len(raw) <= _NAME_MAX:
        raise ValueError(f"name {value!r} must be 1..{_NAME_MAX} ASCII characters")
    return bytes([len(raw)]) + raw


def pack(header: Header, payload: Payload) -> bytes:
    h, w = payload.size
    check_size(h, w)
    if header.channels not in (1, 3):
        raise ValueError("channels must be 1 or 3")
    if len(payload.streams) > MAX_STREAMS or len(payload.params) > MAX_PARAMS:
        raise ValueError("too many streams or params")
    parts = [
        MAGIC, bytes([FORMAT_VERSION]), _name(header.codec), _name(header.quality),
        bytes.fromhex(header.digest)[:8].ljust(8, b"\0"),
        struct.pack("<IIB", h, w, header.channels),
        struct.pack(f"<B{len(payload.params)}q", len(payload.params), *payload.params),
        struct.pack(f"<B{len(payload.streams)}I", len(payload.streams),
                    *(len(s) for s in payload.streams)),
        *payload.streams,
    ]
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CorruptStream("truncated .hyco file (header cut short)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def name(self, what: str) -> str:
        (n,) = self.unpack("<B")
        raw = self.take(n)
        if not 1 <= n <= _NAME_MAX or not raw.isascii() or not raw.decode().isprintable():
            raise CorruptStream(f"corrupt .hyco header: bad {what} name")
        return raw.decode()


def unpack(data: bytes) -> tuple[Header, Payload]:
    """Parse and verify a .hyco file (bytes); raises CorruptStream with one line."""
    data = bytes(data)
    if not data:
        raise CorruptStream("empty file, not a .hyco file")
    if not data.startswith(MAGIC[: len(data)]) or len(data) < len(MAGIC):
        raise CorruptStream("not a .hyco file (bad magic)" if not data.startswith(
            MAGIC[: len(data)]) else "truncated .hyco file")
    r = _Reader(data)
    r.take(len(MAGIC))
    (version,) = r.unpack("<B")
    if version != FORMAT_VERSION:
        raise CorruptStream(
            f"unsupported .hyco format version {version} (this hyco reads {FORMAT_VERSION})")
    codec = r.name("codec")
    quality = r.name("quality")
    digest = r.take(8).hex()
    height, width, channels = r.unpack("<IIB")
    check_size(height, width)
    if channels not in (1, 3):
        raise CorruptStream(f"corrupt .hyco header: {channels} channels")
    (n_params,) = r.unpack("<B")
    if n_params > MAX_PARAMS:
        raise CorruptStream(f"corrupt .hyco header: {n_params} params")
    params = r.unpack(f"<{n_params}q")
    (n_streams,) = r.unpack("<B")
    if n_streams > MAX_STREAMS:
        raise CorruptStream(f"corrupt .hyco header: {n_streams} streams")
    lengths = r.unpack(f"<{n_streams}I")
    expected = r.pos + sum(lengths) + 4
    if len(data) < expected:
        raise CorruptStream(f"truncated .hyco file: {len(data)} of {expected} bytes")
    if len(data) > expected:
        raise CorruptStream(f"corrupt .hyco file: {len(data) - expected} bytes of trailing data")
    (crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise CorruptStream("corrupt .hyco file: checksum mismatch")
    streams = []
    for n in lengths:
        streams.append(r.take(n))
    header = Header(codec=codec, quality=quality, digest=digest, channels=channels)
    return header, Payload(streams=tuple(streams), size=(height, width), params=tuple(params))


def overhead_bytes(header: Header, payload: Payload) -> int:
    """Bytes of a file that are not stream data (header and checksum)."""
    return len(pack(header, payload)) - sum(len(s) for s in payload.streams)
