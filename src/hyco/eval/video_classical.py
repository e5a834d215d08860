"""Classical video anchors: x264 and x265 through ffmpeg, P-frames only, tuned for PSNR.

The learned video codecs are compared with H.264/HEVC coding the *same* decoded 4:2:0 frames:
an I-frame then P-frames only (no B-frames, one GOP unless ``gop`` is given), ``-tune psnr``,
a preset (medium or veryslow) and a CRF. Bits are those of the raw elementary stream (no
container), frames are decoded back with ffmpeg and measured with the same metrics as hyco's
codecs (Y-PSNR on the 4:2:0 luma plane, RGB-PSNR through the clip's ColorSpec).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hyco.errors import HycoError
from hyco.eval.metrics import psnr
from hyco.video.color import YUVFrame, yuv420_to_rgb
from hyco.video.io import VideoInfo

ENCODERS = {"x264": ("libx264", "h264"), "x265": ("libx265", "hevc")}


@dataclass(frozen=True)
class VideoPoint:
    codec: str
    preset: str
    crf: int
    bytes: int
    bpp: float
    y_psnr: float
    rgb_psnr: float
    encode_fps: float
    decode_fps: float


def missing(codec: str) -> str | None:
    """Why ``codec`` cannot run here, or None."""
    if shutil.which("ffmpeg") is None:
        return "ffmpeg is not installed"
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return None if ENCODERS[codec][0] in out.stdout else f"ffmpeg lacks {ENCODERS[codec][0]}"


def code_clip(frames: list[YUVFrame], info: VideoInfo, codec: str = "x265",
              preset: str = "medium", crf: int = 28, gop: int = 0) -> VideoPoint:
    """Encode and decode ``frames`` with x264/x265 (IPPP...); measure bits and distortion."""
    if codec not in ENCODERS:
        raise HycoError(f"unknown video anchor {codec!r} (known: {', '.join(ENCODERS)})")
    why = missing(codec)
    if why:
        raise HycoError(why)
    lib, fmt = ENCODERS[codec]
    h, w = frames[0].size
    keyint = gop if gop > 0 else len(frames) + 1
    raw = b"".join(f.tobytes() for f in frames)
    params = (["-x265-params", f"bframes=0:keyint={keyint}:min-keyint={keyint}:log-level=error"]
              if codec == "x265" else ["-bf", "0", "-g", str(keyint), "-keyint_min",
                                       str(keyint)])
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / f"v.{fmt}"
        t0 = time.perf_counter()
        subprocess.run(["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
                        "-s", f"{w}x{h}", "-r", str(info.fps), "-i", "-", "-c:v", lib,
                        "-preset", preset, "-tune", "psnr", "-crf", str(crf), *params,
                        "-f", fmt, "-y", str(stream)], input=raw, check=True)
        t1 = time.perf_counter()
        dec = subprocess.run(["ffmpeg", "-v", "error", "-i", str(stream), "-f", "rawvideo",
                              "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
        t2 = time.perf_counter()
        nbytes = stream.stat().st_size
    n = len(frames)
    size = len(raw) // n
    if len(dec) != len(raw):
        raise HycoError(f"{codec} decoded {len(dec) // size} frames of {n}")
    y_psnrs, rgb_psnrs = [], []
    for i, src in enumerate(frames):
        out = YUVFrame.frombytes(dec[i * size : (i + 1) * size], h, w)
        y_psnrs.append(psnr(out.y, src.y))
        rgb_psnrs.append(psnr(yuv420_to_rgb(out, info.color), yuv420_to_rgb(src, info.color)))
    return VideoPoint(codec, preset, crf, nbytes, 8 * nbytes / (n * h * w),
                      float(np.mean(y_psnrs)), float(np.mean(rgb_psnrs)),
                      n / (t1 - t0), n / (t2 - t1))
