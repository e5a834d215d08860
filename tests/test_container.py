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


# -- the video form ----------------------------------------------------------------------------
from hyco.container import (  # noqa: E402
    Packet,
    VideoHeader,
    is_video,
    pack_packet,
    pack_video_header,
    unpack_video,
)

VHEADER = VideoHeader(codec="hycovc", variant="full", quality="3", intra="mean-scale",
                      digest="0123456789abcdef", height=17, width=33, fps=(30000, 1001),
                      frames=3, gop=2,
                      matrix="bt601", full_range=False, params=(5,))
PACKETS = (Packet("I", 0, (b"ab" * 7, b"c")), Packet("P", 1, (b"", b"xyz")),
           Packet("I", 2, (b"q" * 9,)))


def video_bytes(packets=PACKETS):
    return pack_video_header(VHEADER) + b"".join(pack_packet(p) for p in packets)


def test_video_round_trip():
    data = video_bytes()
    assert is_video(data) and not is_video(pack(HEADER, PAYLOAD))
    v = unpack_video(data)
    assert v.header == VHEADER and v.packets == PACKETS and not v.truncated


def test_video_cut_anywhere_keeps_complete_frames():
    data = video_bytes()
    head = len(pack_video_header(VHEADER))
    ends = [head + sum(len(pack_packet(p)) for p in PACKETS[:k]) for k in (1, 2, 3)]
    for n in range(len(data)):
        if n < ends[0]:
            with pytest.raises(CorruptStream):
                unpack_video(data[:n])
            continue
        v = unpack_video(data[:n])
        assert v.truncated
        assert v.packets == PACKETS[: sum(n >= e for e in ends)]


def test_video_flipped_bytes_never_decode_silently():
    data = bytearray(video_bytes())
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x10
        try:
            v = unpack_video(bytes(bad))
        except CorruptStream:
            continue
        # a flip in a length field can only look like a cut: fewer packets, flagged truncated
        assert v.truncated and v.packets == PACKETS[: len(v.packets)]


def test_video_structure_errors():
    with pytest.raises(CorruptStream, match="bad packet"):
        unpack_video(pack_video_header(VHEADER) + pack_packet(Packet("P", 0, ())))
    with pytest.raises(CorruptStream, match="bad packet"):
        unpack_video(pack_video_header(VHEADER) + pack_packet(PACKETS[0])
                     + pack_packet(Packet("P", 5, ())))
    with pytest.raises(CorruptStream, match="not a .hyco video"):
        unpack_video(pack(HEADER, PAYLOAD))
    v = unpack_video(video_bytes(PACKETS[:2]))
    assert v.truncated and len(v.packets) == 2  # header promised 3 frames


def test_a_whole_sequence_packet_stands_for_every_frame():
    whole = Packet("W", 0, (b"net", b"tables", b"weights"))
    data = video_bytes((whole,))
    v = unpack_video(data)
    assert v.packets == (whole,) and not v.truncated and v.frames == 3
    assert unpack_video(video_bytes()).frames == 3 and unpack_video(video_bytes(PACKETS[:1])
                                                                    ).frames == 1
    for packets in ((whole, Packet("P", 1, ())), (PACKETS[0], Packet("W", 1, ()))):
        with pytest.raises(CorruptStream, match="bad packet"):  # W is the one packet, first
            unpack_video(video_bytes(packets))
    with pytest.raises(CorruptStream, match="no complete frame"):
        unpack_video(data[:-1])
