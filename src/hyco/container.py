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


def unpack(data: bytes, prefix: bool = False) -> tuple[Header, Payload]:
    """Parse and verify a .hyco file (bytes); raises CorruptStream with one line.

    ``prefix=True`` also accepts a file cut short, for progressive decoding: its header must
    be whole, and the streams that are complete come back (unverified: the checksum is at
    the end). A whole file is verified as always.
    """
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
    if len(data) < expected and not prefix:
        raise CorruptStream(f"truncated .hyco file: {len(data)} of {expected} bytes")
    if len(data) > expected:
        raise CorruptStream(f"corrupt .hyco file: {len(data) - expected} bytes of trailing data")
    if len(data) == expected:
        (crc,) = struct.unpack("<I", data[-4:])
        if zlib.crc32(data[:-4]) != crc:
            raise CorruptStream("corrupt .hyco file: checksum mismatch")
    streams = []
    for n in lengths:
        if r.pos + n > len(data):  # a prefix: the complete streams only
            break
        streams.append(r.take(n))
    header = Header(codec=codec, quality=quality, digest=digest, channels=channels)
    return header, Payload(streams=tuple(streams), size=(height, width), params=tuple(params))


def overhead_bytes(header: Header, payload: Payload) -> int:
    """Bytes of a file that are not stream data (header and checksum)."""
    return len(pack(header, payload)) - sum(len(s) for s in payload.streams)


# -- the video form ----------------------------------------------------------------------------
#
#   magic     4  b"HYCV"
#   version   1  FORMAT_VERSION
#   codec     1+n, variant 1+n, quality 1+n, intra 1+n   length-prefixed ASCII (intra: the
#             image codec of the I-frames)
#   digest    8  weights digest (first 8 bytes of the sha256)
#   height, width, fps_num, fps_den, frames   5 x uint32
#   gop       2  uint16, frames per group (I-frame period); 0 = only the first frame is intra
#   matrix    1  0 = BT.709, 1 = BT.601;  range 1  0 = limited, 1 = full
#   n_params  1, then n_params x int64
#   crc32     4  over the sequence header
# then one packet per frame, in display order:
#   type      1  b"I" or b"P" (or b"W": see below)
#   index     4  uint32 frame number
#   n_streams 1, then n_streams x uint32 lengths
#   crc32     4  over the packet header (so a damaged length is corruption, not a cut)
#   streams
#   crc32     4  over the whole packet
# A packet carries everything its frame needs beyond the reference frame, so a decoder can
# start at any I packet, and a file cut short still yields every packet before the cut.
# A "W" packet (whole sequence) stands for every frame: a codec whose bitstream is a network
# that renders any frame (HiNeRV) writes it as the one and only packet.

VIDEO_MAGIC = b"HYCV"
MAX_FRAMES = 1 << 24
_MATRICES = ("bt709", "bt601")


@dataclass(frozen=True)
class VideoHeader:
    codec: str
    variant: str
    quality: str
    intra: str
    digest: str  # of every weight the decoder needs (I-frame and P-frame models)
    height: int
    width: int
    fps: tuple[int, int]  # numerator, denominator
    frames: int
    gop: int
    matrix: str = "bt709"
    full_range: bool = False
    params: tuple[int, ...] = ()


@dataclass(frozen=True)
class Packet:
    kind: str  # "I", "P", or "W" (one packet for the whole sequence)
    index: int
    streams: tuple[bytes, ...]


@dataclass(frozen=True)
class VideoFile:
    """A parsed video file: the packets before any cut; ``truncated`` says whether one was."""

    header: VideoHeader
    packets: tuple[Packet, ...]
    truncated: bool

    @property
    def frames(self) -> int:
        """Frames the packets decode to: one per packet, or all from a "W" packet."""
        return self.header.frames if self.packets[0].kind == "W" else len(self.packets)


def _check_video_header(h: VideoHeader) -> None:
    check_size(h.height, h.width)
    if not (1 <= h.frames <= MAX_FRAMES and 0 <= h.gop < 1 << 16):
        raise CorruptStream(f"corrupt .hyco video header: {h.frames} frames, gop {h.gop}")
    if not (0 < h.fps[0] < 1 << 32 and 0 < h.fps[1] < 1 << 32):
        raise CorruptStream(f"corrupt .hyco video header: frame rate {h.fps[0]}/{h.fps[1]}")
    if h.matrix not in _MATRICES or len(h.params) > MAX_PARAMS:
        raise CorruptStream("corrupt .hyco video header: colour matrix or params")


def pack_video_header(h: VideoHeader) -> bytes:
    _check_video_header(h)
    body = b"".join([
        VIDEO_MAGIC, bytes([FORMAT_VERSION]), _name(h.codec), _name(h.variant),
        _name(h.quality), _name(h.intra), bytes.fromhex(h.digest)[:8].ljust(8, b"\0"),
        struct.pack("<IIIIIHBB", h.height, h.width, h.fps[0], h.fps[1], h.frames, h.gop,
                    _MATRICES.index(h.matrix), int(h.full_range)),
        struct.pack(f"<B{len(h.params)}q", len(h.params), *h.params),
    ])
    return body + struct.pack("<I", zlib.crc32(body))


def pack_packet(p: Packet) -> bytes:
    if p.kind not in ("I", "P", "W") or len(p.streams) > MAX_STREAMS:
        raise ValueError("a packet is I, P or W with at most MAX_STREAMS streams")
    head = b"".join([p.kind.encode(), struct.pack("<I", p.index),
                     struct.pack(f"<B{len(p.streams)}I", len(p.streams),
                                 *(len(s) for s in p.streams))])
    body = head + struct.pack("<I", zlib.crc32(head)) + b"".join(p.streams)
    return body + struct.pack("<I", zlib.crc32(body))


def is_video(data: bytes) -> bool:
    return bytes(data[:4]) == VIDEO_MAGIC


def unpack_video(data: bytes) -> VideoFile:
    """Parse a video file: header (must be whole and intact), then packets up to any cut.

    A cut (file shorter than its packets) is not an error: the complete packets before it are
    returned with ``truncated=True``. A complete packet with a wrong checksum, a packet out of
    order, or a first packet that is not intra is corruption and raises CorruptStream.
    """
    data = bytes(data)
    if not data:
        raise CorruptStream("empty file, not a .hyco file")
    if not data.startswith(VIDEO_MAGIC[: len(data)]) or len(data) < len(VIDEO_MAGIC):
        raise CorruptStream("not a .hyco video file (bad magic)" if not data.startswith(
            VIDEO_MAGIC[: len(data)]) else "truncated .hyco video file")
    r = _Reader(data)
    r.take(len(VIDEO_MAGIC))
    (version,) = r.unpack("<B")
    if version != FORMAT_VERSION:
        raise CorruptStream(
            f"unsupported .hyco format version {version} (this hyco reads {FORMAT_VERSION})")
    codec, variant, quality = r.name("codec"), r.name("variant"), r.name("quality")
    intra = r.name("intra codec")
    digest = r.take(8).hex()
    height, width, num, den, frames, gop, matrix, full = r.unpack("<IIIIIHBB")
    (n_params,) = r.unpack("<B")
    if n_params > MAX_PARAMS:
        raise CorruptStream(f"corrupt .hyco video header: {n_params} params")
    params = r.unpack(f"<{n_params}q")
    (crc,) = r.unpack("<I")
    if zlib.crc32(data[: r.pos - 4]) != crc:
        raise CorruptStream("corrupt .hyco video file: header checksum mismatch")
    if matrix >= len(_MATRICES) or full > 1:
        raise CorruptStream("corrupt .hyco video header: colour description")
    header = VideoHeader(codec, variant, quality, intra, digest, height, width, (num, den), frames,
                         gop, _MATRICES[matrix], bool(full), tuple(params))
    _check_video_header(header)
    packets: list[Packet] = []
    truncated = False
    while r.pos < len(data):
        start = r.pos
        try:
            kind, index, n_streams = r.unpack("<cIB")
            lengths = r.unpack(f"<{n_streams}I")
            (head_crc,) = r.unpack("<I")
        except CorruptStream:  # the cut falls inside a packet header
            truncated = True
            break
        if zlib.crc32(data[start : r.pos - 4]) != head_crc:
            raise CorruptStream(f"corrupt .hyco video file: packet {len(packets)} header "
                                "checksum mismatch")
        if r.pos + sum(lengths) + 4 > len(data):
            truncated = True
            break
        streams = tuple(r.take(n) for n in lengths)
        (crc,) = r.unpack("<I")
        if zlib.crc32(data[start : r.pos - 4]) != crc:
            raise CorruptStream(f"corrupt .hyco video file: packet {len(packets)} checksum "
                                "mismatch")
        kind_s = kind.decode("latin-1")
        whole = bool(packets) and packets[0].kind == "W"  # a W packet is the only one
        if kind_s not in ("I", "P", "W") or index != len(packets) or index >= frames or (
                index == 0 and kind_s == "P") or (index > 0 and kind_s == "W") or whole:
            raise CorruptStream(f"corrupt .hyco video file: bad packet {len(packets)}")
        packets.append(Packet(kind_s, index, streams))
    if len(packets) < frames and not (packets and packets[0].kind == "W"):
        truncated = True
    if not packets:
        raise CorruptStream("truncated .hyco video file: no complete frame")
    return VideoFile(header, tuple(packets), truncated)
