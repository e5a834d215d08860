"""Classical codecs measured beside hyco: JPEG (4:2:0, 4:4:4), WebP, AVIF, JPEG 2000,
JPEG XL (pillow-jxl-plugin) and HEVC intra (ffmpeg + libx265, 4:4:4).

Each codec maps an integer quality knob to bytes and back; the default sweeps cover about
0.1-2 bpp on Kodak. Everything is real files: the bytes counted are what would be stored.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, features


@dataclass(frozen=True)
class ClassicalCodec:
    name: str
    description: str
    qualities: tuple[int, ...]
    encode: Callable[[np.ndarray, int], bytes]
    decode: Callable[[bytes], np.ndarray]
    missing: Callable[[], str | None]  # why it cannot run here, or None


def _pil_encode(fmt: str, plugin: str | None = None, **fixed) -> Callable[[np.ndarray, int], bytes]:
    def encode(arr: np.ndarray, q: int) -> bytes:
        if plugin:
            __import__(plugin)  # registers the format with Pillow
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format=fmt, quality=q, **fixed)
        return buf.getvalue()

    return encode


def _pil_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _jp2_encode(arr: np.ndarray, q: int) -> bytes:
    """``q`` is the target in 1/100 bpp (e.g. 50 = 0.5 bpp) as a compression ratio."""
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG2000", quality_mode="rates",
                              quality_layers=[24.0 / (q / 100.0)], irreversible=True, mct=1)
    return buf.getvalue()


def _jxl_missing() -> str | None:
    try:
        import pillow_jxl  # noqa: F401
    except ImportError:
        return "pillow-jxl-plugin is not installed (pip install pillow-jxl-plugin)"
    return None


def _x265_missing() -> str | None:
    if shutil.which("ffmpeg") is None:
        return "ffmpeg is not on PATH (Debian: apt-get install ffmpeg)"
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return None if "libx265" in out.stdout else "this ffmpeg has no libx265"


def _x265_encode(arr: np.ndarray, crf: int) -> bytes:
    h, w = arr.shape[:2]
    # HEVC needs even sizes in 4:4:4 too for some builds: pad by edge replication
    ph, pw = h % 2, w % 2
    if ph or pw:
        arr = np.pad(arr, ((0, ph), (0, pw), (0, 0)), mode="edge")
    cmd = ["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
           f"{arr.shape[1]}x{arr.shape[0]}", "-i", "-", "-c:v", "libx265", "-preset", "medium",
           "-x265-params",
           # tuned for PSNR (psy-rd/AQ off): -6.8 % BD-rate on kodim01 vs x265's defaults
           f"crf={crf}:keyint=1:psy-rd=0:psy-rdoq=0:aq-mode=0:log-level=error",
           "-pix_fmt", "yuv444p",
           "-f", "hevc", "-"]
    res = subprocess.run(cmd, input=arr.tobytes(), capture_output=True, check=True)
    # remember the true size in 4 bytes (counted: a real container would store it too)
    return h.to_bytes(2, "little") + w.to_bytes(2, "little") + res.stdout


def _x265_decode(data: bytes) -> np.ndarray:
    h, w = int.from_bytes(data[:2], "little"), int.from_bytes(data[2:4], "little")
    cmd = ["ffmpeg", "-v", "error", "-f", "hevc", "-i", "-", "-f", "rawvideo", "-pix_fmt",
           "rgb24", "-"]
    res = subprocess.run(cmd, input=data[4:], capture_output=True, check=True)
    hp, wp = h + h % 2, w + w % 2
    return np.frombuffer(res.stdout, np.uint8).reshape(hp, wp, 3)[:h, :w].copy()


def _pil_missing(feature: str) -> Callable[[], str | None]:
    return lambda: None if features.check(feature) else f"this Pillow lacks {feature} support"


CODECS: dict[str, ClassicalCodec] = {c.name: c for c in [
    ClassicalCodec("jpeg", "JPEG 4:2:0 (Pillow/libjpeg, optimised Huffman)",
                   (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95),
                   _pil_encode("JPEG", subsampling=2, optimize=True), _pil_decode,
                   lambda: None),
    ClassicalCodec("jpeg444", "JPEG 4:4:4 (Pillow/libjpeg, optimised Huffman)",
                   (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95),
                   _pil_encode("JPEG", subsampling=0, optimize=True), _pil_decode,
                   lambda: None),
    ClassicalCodec("webp", "WebP lossy (libwebp, method 6)",
                   (0, 5, 10, 20, 35, 50, 65, 80, 90, 95),
                   _pil_encode("WEBP", method=6), _pil_decode, _pil_missing("webp")),
    ClassicalCodec("avif", "AVIF 4:4:4 (Pillow/libavif, speed 4)",
                   (10, 20, 30, 40, 50, 60, 70, 80),
                   _pil_encode("AVIF", subsampling="4:4:4", speed=4), _pil_decode,
                   _pil_missing("avif")),
    ClassicalCodec("jpeg2000", "JPEG 2000 (OpenJPEG, 9/7 + colour transform, rate targets "
                   "in 1/100 bpp)",
                   (10, 20, 30, 50, 75, 100, 150, 200), _jp2_encode, _pil_decode,
                   _pil_missing("jpg_2000")),
    ClassicalCodec("jxl", "JPEG XL (libjxl via pillow-jxl-plugin, effort 7)",
                   (1, 5, 10, 20, 30, 45, 60, 75, 85, 92),
                   _pil_encode("JXL", plugin="pillow_jxl", effort=7), _pil_decode, _jxl_missing),
    ClassicalCodec("x265", "HEVC intra (ffmpeg libx265, preset medium, tuned for PSNR, 4:4:4, CRF)",
                   (48, 44, 40, 36, 32, 28, 24, 20), _x265_encode, _x265_decode,
                   _x265_missing),
]}
