"""Reading and writing video: raw YUV 4:2:0, y4m, PNG frames and anything PyAV decodes.

Every reader yields :class:`~hyco.video.color.YUVFrame` (8-bit 4:2:0), the one form the video
codecs, metrics and classical anchors share; conversion to R'G'B' happens in
:mod:`hyco.video.color` with a stated :class:`~hyco.video.color.ColorSpec`.

- ``.yuv``: raw planar I420, needs ``size`` (W, H) and takes ``fps`` (default 25);
- ``.y4m``: YUV4MPEG2 with 4:2:0 (any siting tag, treated as centre-sited), 4:4:4 (chroma
  averaged down) or mono; ``XCOLORRANGE=FULL`` marks full range;
- anything else: decoded with PyAV (mp4, avi, mkv, ...); yuv420p frames are taken as they are,
  other pixel formats through R'G'B' and the given ColorSpec.
Writers: ``.y4m``, ``.yuv``, ``.mp4``/``.mkv`` (lossless H.264, qp 0, for viewing), or a folder
of PNG frames (a path without a suffix). Outputs are written atomically.
"""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from hyco.errors import HycoError, UnsupportedInput
from hyco.files import atomic_output
from hyco.video.color import (
    ColorSpec,
    YUVFrame,
    chroma_size,
    downsample_chroma,
    rgb_to_yuv420,
    yuv420_to_rgb,
)

DEFAULT_FPS = Fraction(25)
MAX_SIDE = 1 << 14
_Y4M_MAGIC = b"YUV4MPEG2"


@dataclass(frozen=True)
class VideoInfo:
    """What a reader knows before decoding: size, frame rate, frame count (None: unknown)."""

    width: int
    height: int
    fps: Fraction = DEFAULT_FPS
    frames: int | None = None
    color: ColorSpec = ColorSpec()


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (W, H)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m or not all(0 < int(v) <= MAX_SIDE for v in m.groups()):
        raise HycoError(f"bad size {text!r}: expected WIDTHxHEIGHT, e.g. 320x192")
    return int(m.group(1)), int(m.group(2))


def parse_fps(text: str | float | Fraction) -> Fraction:
    try:
        fps = Fraction(str(text)).limit_denominator(1_000_000)
    except (ValueError, ZeroDivisionError):
        fps = Fraction(0)
    if not 0 < fps <= 1000:
        raise HycoError(f"bad frame rate {text!r}")
    return fps


def _check_size(width: int, height: int, what: str) -> None:
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise UnsupportedInput(f"{what}: unsupported frame size {width}x{height}")


def _frame_bytes(width: int, height: int) -> int:
    ch, cw = chroma_size(height, width)
    return width * height + 2 * ch * cw


class VideoReader:
    """Iterate the frames of a video file as YUVFrames; ``info`` says what is known upfront.

    ``start`` skips frames, ``frames`` limits how many are read.
    """

    def __init__(self, path: str | Path, size: tuple[int, int] | None = None,
                 fps: Fraction | None = None, color: ColorSpec | None = None,
                 start: int = 0, frames: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise HycoError(f"{path}: no such file")
        if start < 0 or (frames is not None and frames < 1):
            raise HycoError("start must be >= 0 and frames >= 1")
        self.start, self.limit = start, frames
        suffix = self.path.suffix.lower()
        color = color or ColorSpec()
        if suffix == ".yuv":
            if size is None:
                raise HycoError(f"{path}: raw .yuv needs the frame size (--size WxH)")
            w, h = size
            _check_size(w, h, str(path))
            total, rest = divmod(self.path.stat().st_size, _frame_bytes(w, h))
            if total == 0 or rest:
                raise UnsupportedInput(f"{path}: {self.path.stat().st_size} bytes is not a whole "
                                       f"number of {w}x{h} 4:2:0 frames")
            self.info = VideoInfo(w, h, fps or DEFAULT_FPS, total, color)
            self._frames = self._raw
        elif suffix == ".y4m":
            self.info = self._y4m_header(fps, color)
            self._frames = self._y4m
        else:
            self.info = self._av_probe(fps, color)
            self._frames = self._av
        if self.info.frames is not None:
            n = max(self.info.frames - start, 0)
            self.info = replace(self.info, frames=min(n, frames) if frames else n)

    def __iter__(self) -> Iterator[YUVFrame]:
        for count, frame in enumerate(self._frames(self.start)):
            if self.limit is not None and count >= self.limit:
                return
            yield frame

    def read(self) -> list[YUVFrame]:
        return list(self)

    # -- raw -------------------------------------------------------------------------------
    def _raw(self, skip: int) -> Iterator[YUVFrame]:
        w, h = self.info.width, self.info.height
        n = _frame_bytes(w, h)
        with open(self.path, "rb") as f:
            f.seek(n * skip)
            while chunk := f.read(n):
                yield YUVFrame.frombytes(chunk, h, w)

    # -- y4m -------------------------------------------------------------------------------
    def _y4m_header(self, fps: Fraction | None, color: ColorSpec) -> VideoInfo:
        with open(self.path, "rb") as f:
            line = f.readline(4096)
        if not line.startswith(_Y4M_MAGIC) or not line.endswith(b"\n"):
            raise UnsupportedInput(f"{self.path}: not a YUV4MPEG2 (.y4m) file")
        tags = {t[:1]: t[1:] for t in line[len(_Y4M_MAGIC):].decode("ascii", "replace").split()}
        try:
            w, h = int(tags["W"]), int(tags["H"])
            rate = Fraction(*map(int, tags.get("F", "25:1").split(":")))
        except (KeyError, ValueError, ZeroDivisionError):
            raise UnsupportedInput(f"{self.path}: corrupt y4m header") from None
        _check_size(w, h, str(self.path))
        chroma = tags.get("C", "420jpeg")
        self._y4m_chroma = chroma
        if self._y4m_chroma not in ("420jpeg", "420", "420mpeg2", "420paldv", "444", "mono"):
            raise UnsupportedInput(f"{self.path}: y4m colour space C{chroma} is not supported "
                                   "(4:2:0, 4:4:4 or mono, 8-bit)")
        if "XCOLORRANGE=FULL" in line.decode("ascii", "replace"):
            color = replace(color, full_range=True)
        self._y4m_offset = len(line)
        if self._y4m_chroma == "444":
            self._y4m_frame = 3 * w * h
        elif self._y4m_chroma == "mono":
            self._y4m_frame = w * h
        else:
            self._y4m_frame = _frame_bytes(w, h)
        return VideoInfo(w, h, fps or rate, None, color)

    def _y4m(self, skip: int) -> Iterator[YUVFrame]:
        w, h = self.info.width, self.info.height
        ch, cw = chroma_size(h, w)
        with open(self.path, "rb") as f:
            f.seek(self._y4m_offset)
            for index in itertools.count():
                marker = f.readline(4096)
                if not marker:
                    return
                if not marker.startswith(b"FRAME"):
                    raise UnsupportedInput(f"{self.path}: corrupt y4m frame marker")
                data = f.read(self._y4m_frame)
                if len(data) < self._y4m_frame:
                    raise UnsupportedInput(f"{self.path}: truncated y4m frame")
                if index < skip:
                    continue
                buf = np.frombuffer(data, np.uint8)
                if self._y4m_chroma == "444":
                    planes = buf.reshape(3, h, w)
                    yield YUVFrame(planes[0].copy(), downsample_chroma(planes[1].astype(float)),
                                   downsample_chroma(planes[2].astype(float)))
                elif self._y4m_chroma == "mono":
                    gray = np.full((ch, cw), 128, np.uint8)
                    yield YUVFrame(buf.reshape(h, w).copy(), gray, gray.copy())
                else:
                    yield YUVFrame.frombytes(data, h, w)

    # -- PyAV ------------------------------------------------------------------------------
    def _open_av(self):
        import av

        try:
            return av.open(str(self.path))
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise UnsupportedInput(f"{self.path}: not a readable video ({exc})") from None

    def _av_probe(self, fps: Fraction | None, color: ColorSpec) -> VideoInfo:
        with self._open_av() as c:
            if not c.streams.video:
                raise UnsupportedInput(f"{self.path}: no video stream")
            s = c.streams.video[0]
            w, h = s.codec_context.width, s.codec_context.height
            _check_size(w, h, str(self.path))
            rate = s.guessed_rate or s.average_rate or DEFAULT_FPS
            rate = Fraction(rate).limit_denominator(1001)
            return VideoInfo(w, h, fps or rate, None, color)

    def _av(self, skip: int) -> Iterator[YUVFrame]:
        import av

        w, h = self.info.width, self.info.height
        with self._open_av() as c:
            try:
                for index, frame in enumerate(c.decode(video=0)):
                    if index < skip:
                        continue
                    if frame.format.name == "yuv420p" and (frame.width, frame.height) == (w, h):
                        planes = frame.to_ndarray(format="yuv420p")
                        yield YUVFrame.frombytes(planes.tobytes(), h, w) if h % 2 == 0 and \
                            w % 2 == 0 else _yuv420p_odd(frame, h, w)
                    else:
                        rgb = frame.to_ndarray(format="rgb24", width=w, height=h)
                        yield rgb_to_yuv420(rgb, self.info.color)
            except av.FFmpegError as exc:
                raise UnsupportedInput(f"{self.path}: decoding failed ({exc})") from None


def _yuv420p_odd(frame, h: int, w: int) -> YUVFrame:
    ch, cw = chroma_size(h, w)
    planes = [np.frombuffer(p, np.uint8).reshape(-1, p.line_size) for p in frame.planes]
    return YUVFrame(planes[0][:h, :w].copy(), planes[1][:ch, :cw].copy(),
                    planes[2][:ch, :cw].copy())


def read_video(path: str | Path, size: tuple[int, int] | None = None,
               fps: Fraction | None = None, color: ColorSpec | None = None, start: int = 0,
               frames: int | None = None) -> tuple[VideoInfo, list[YUVFrame]]:
    """Read (a range of) a video's frames into memory; ``info.frames`` is then exact."""
    reader = VideoReader(path, size, fps, color, start, frames)
    out = reader.read()
    if not out:
        raise UnsupportedInput(f"{path}: no frames to read")
    return replace(reader.info, frames=len(out)), out


# -- writing ---------------------------------------------------------------------------------
def _y4m_header(info: VideoInfo) -> bytes:
    rng = " XCOLORRANGE=FULL" if info.color.full_range else ""
    return (f"YUV4MPEG2 W{info.width} H{info.height} F{info.fps.numerator}:"
            f"{info.fps.denominator} Ip A1:1 C420jpeg{rng}\n").encode()


Frame = YUVFrame | np.ndarray  # a 4:2:0 frame, or an H x W x 3 uint8 R'G'B' frame


def _as_yuv(frames: Iterable[Frame], color: ColorSpec) -> Iterator[YUVFrame]:
    for f in frames:
        yield f if isinstance(f, YUVFrame) else rgb_to_yuv420(f, color)


def write_video(path: str | Path, frames: Iterable[Frame], info: VideoInfo,
                force: bool = False) -> int:
    """Write frames to ``path`` by its suffix (see the module doc); returns the frame count.

    Frames are 4:2:0 or R'G'B'; R'G'B' goes to PNG as it is and to the Y'CbCr formats through
    ``info.color``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == "":
        return _write_pngs(path, frames, info, force)
    if suffix not in (".y4m", ".yuv", ".mp4", ".mkv"):
        raise HycoError(f"{path}: cannot write video as {suffix!r} "
                        "(use .y4m, .yuv, .mp4, .mkv or a folder for PNG frames)")
    frames = _as_yuv(frames, info.color)
    if suffix in (".mp4", ".mkv"):
        return _write_lossless(path, frames, info, force)
    with atomic_output(path, force) as tmp, open(tmp, "wb") as f:
        if suffix == ".y4m":
            f.write(_y4m_header(info))
        n = 0
        for frame in frames:
            if suffix == ".y4m":
                f.write(b"FRAME\n")
            f.write(frame.tobytes())
            n += 1
    return n


def _write_lossless(path: Path, frames: Iterable[YUVFrame], info: VideoInfo,
                    force: bool) -> int:
    """Lossless H.264 (qp 0) of the 4:2:0 frames; odd sizes are padded by one edge pixel."""
    import av

    w2, h2 = info.width + info.width % 2, info.height + info.height % 2
    fmt = "matroska" if path.suffix.lower() == ".mkv" else "mp4"
    with atomic_output(path, force) as tmp, av.open(str(tmp), "w", format=fmt) as c:
        s = c.add_stream("libx264", rate=info.fps)
        s.width, s.height, s.pix_fmt = w2, h2, "yuv420p"
        s.options = {"qp": "0", "preset": "medium"}
        n = 0
        for frame in frames:
            y = np.pad(frame.y, ((0, h2 - info.height), (0, w2 - info.width)), mode="edge")
            planes = np.concatenate([y.reshape(-1), frame.u.reshape(-1), frame.v.reshape(-1)])
            vf = av.VideoFrame.from_ndarray(planes.reshape(h2 * 3 // 2, w2), format="yuv420p")
            vf.pts = n
            for packet in s.encode(vf):
                c.mux(packet)
            n += 1
        for packet in s.encode():
            c.mux(packet)
    return n


def _write_pngs(folder: Path, frames: Iterable[Frame], info: VideoInfo, force: bool) -> int:
    """PNG frames ``frame00000.png`` ... in a new folder (built aside, then renamed)."""
    if folder.exists():
        if not force:
            raise HycoError(f"{folder} exists (use --force to overwrite)")
        if not folder.is_dir():
            raise HycoError(f"{folder} exists and is not a folder")
    parent = folder.parent if str(folder.parent) else Path(".")
    if not parent.is_dir():
        raise HycoError(f"{parent}: no such folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=parent))
    try:
        n = 0
        for n, frame in enumerate(frames, 1):
            rgb = yuv420_to_rgb(frame, info.color) if isinstance(frame, YUVFrame) else frame
            Image.fromarray(rgb).save(tmp / f"frame{n - 1:05d}.png")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return n
