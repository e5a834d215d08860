"""Colour: Y'CbCr <-> R'G'B' and 4:2:0 chroma, defined once for every video path.

Video arrives as Y'CbCr 4:2:0 (raw YUV, y4m, decoded mp4/avi) while the learned codecs work on
R'G'B'. Stating the conversion in one place keeps the encoder, the decoder, the metrics and the
classical anchors on the same pixels:

- matrix: BT.709 by default, BT.601 selectable (the Kr, Kb luma weights);
- range: limited ("TV", Y' in 16..235, Cb/Cr in 16..240) by default, as broadcast video and
  ffmpeg's yuv420p are; full range selectable;
- 4:2:0 siting: chroma sits at the centre of each 2x2 luma block (JPEG / y4m ``C420jpeg``).
  Downsampling averages the 2x2 block (edge pixels replicated for odd sizes); upsampling is the
  bilinear interpolation that matches that siting (weights 3/4 and 1/4, edges clamped).
All arithmetic is float64 numpy and rounds half up, so both sides of a codec get the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyco.errors import HycoError

MATRICES: dict[str, tuple[float, float]] = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114)}


@dataclass(frozen=True)
class ColorSpec:
    """How Y'CbCr samples map to R'G'B' (what a video file's pixels mean)."""

    matrix: str = "bt709"
    full_range: bool = False

    def __post_init__(self) -> None:
        if self.matrix not in MATRICES:
            raise HycoError(f"unknown colour matrix {self.matrix!r} "
                            f"(known: {', '.join(MATRICES)})")


@dataclass(frozen=True)
class YUVFrame:
    """One 8-bit 4:2:0 frame: Y (H, W), U and V (ceil(H/2), ceil(W/2)), uint8."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return int(self.y.shape[0]), int(self.y.shape[1])

    def tobytes(self) -> bytes:
        """I420 planar layout (Y, then U, then V), as raw .yuv and y4m store a frame."""
        return self.y.tobytes() + self.u.tobytes() + self.v.tobytes()

    @classmethod
    def frombytes(cls, data: bytes, height: int, width: int) -> YUVFrame:
        ch, cw = chroma_size(height, width)
        n = height * width
        if len(data) != n + 2 * ch * cw:
            raise HycoError(f"a {width}x{height} 4:2:0 frame needs {n + 2 * ch * cw} bytes, "
                            f"got {len(data)}")
        buf = np.frombuffer(data, np.uint8)
        return cls(buf[:n].reshape(height, width).copy(),
                   buf[n : n + ch * cw].reshape(ch, cw).copy(),
                   buf[n + ch * cw :].reshape(ch, cw).copy())


def chroma_size(height: int, width: int) -> tuple[int, int]:
    return (height + 1) // 2, (width + 1) // 2


def _round_u8(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).clip(0, 255).astype(np.uint8)


def _scales(spec: ColorSpec) -> tuple[float, float, float]:
    """(offset of Y', excursion of Y', excursion of Cb/Cr) in 8-bit code values."""
    return (0.0, 255.0, 255.0) if spec.full_range else (16.0, 219.0, 224.0)


def rgb_to_ycbcr(rgb: np.ndarray, spec: ColorSpec = ColorSpec()) -> np.ndarray:
    """(H, W, 3) R'G'B' uint8 -> (H, W, 3) float64 Y'CbCr code values (4:4:4, unrounded)."""
    kr, kb = MATRICES[spec.matrix]
    x = rgb.astype(np.float64) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = kr * r + (1 - kr - kb) * g + kb * b
    pb, pr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    off, ys, cs = _scales(spec)
    return np.stack([off + ys * y, 128.0 + cs * pb, 128.0 + cs * pr], axis=-1)


def ycbcr_to_rgb(ycc: np.ndarray, spec: ColorSpec = ColorSpec()) -> np.ndarray:
    """(H, W, 3) Y'CbCr code values (any float or uint8) -> (H, W, 3) R'G'B' uint8."""
    kr, kb = MATRICES[spec.matrix]
    off, ys, cs = _scales(spec)
    x = ycc.astype(np.float64)
    y = (x[..., 0] - off) / ys
    pb, pr = (x[..., 1] - 128.0) / cs, (x[..., 2] - 128.0) / cs
    r = y + 2 * (1 - kr) * pr
    b = y + 2 * (1 - kb) * pb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return _round_u8(np.stack([r, g, b], axis=-1) * 255.0)


def downsample_chroma(c: np.ndarray) -> np.ndarray:
    """Full-resolution chroma (H, W) float -> centre-sited 4:2:0 (ceil(H/2), ceil(W/2)) uint8."""
    h, w = c.shape
    c = np.pad(c, ((0, h % 2), (0, w % 2)), mode="edge")
    return _round_u8(0.25 * (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]))


def _upsample_axis(c: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Centre-sited 2x bilinear along one axis (3/4 nearest, 1/4 next, edges clamped)."""
    c = np.moveaxis(c, axis, 0)
    prev = np.concatenate([c[:1], c[:-1]])
    nxt = np.concatenate([c[1:], c[-1:]])
    out = np.empty((2 * c.shape[0],) + c.shape[1:])
    out[0::2] = 0.75 * c + 0.25 * prev
    out[1::2] = 0.75 * c + 0.25 * nxt
    return np.moveaxis(out[:n], 0, axis)


def upsample_chroma(c: np.ndarray, height: int, width: int) -> np.ndarray:
    """4:2:0 chroma plane -> (height, width) float64, the inverse siting of the downsampler."""
    return _upsample_axis(_upsample_axis(c.astype(np.float64), height, 0), width, 1)


def rgb_to_yuv420(rgb: np.ndarray, spec: ColorSpec = ColorSpec()) -> YUVFrame:
    """(H, W, 3) uint8 R'G'B' -> a 4:2:0 frame."""
    ycc = rgb_to_ycbcr(rgb, spec)
    return YUVFrame(_round_u8(ycc[..., 0]), downsample_chroma(ycc[..., 1]),
                    downsample_chroma(ycc[..., 2]))


def yuv420_to_rgb(frame: YUVFrame, spec: ColorSpec = ColorSpec()) -> np.ndarray:
    """A 4:2:0 frame -> (H, W, 3) uint8 R'G'B' (chroma upsampled bilinearly)."""
    h, w = frame.size
    ycc = np.stack([frame.y.astype(np.float64), upsample_chroma(frame.u, h, w),
                    upsample_chroma(frame.v, h, w)], axis=-1)
    return ycbcr_to_rgb(ycc, spec)
