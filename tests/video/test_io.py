import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import uint8_image
from hyco.errors import HycoError, UnsupportedInput
from hyco.video.color import ColorSpec, rgb_to_yuv420
from hyco.video.io import VideoInfo, parse_fps, parse_size, read_video, write_video

CISCO = Path(__file__).parents[3] / "shared/data/video/CiscoVT2people_320x192_12fps.yuv"


def clip(n=5, h=36, w=50):
    return [rgb_to_yuv420(uint8_image(h, w, seed=i)) for i in range(n)]


def same(a, b):
    return len(a) == len(b) and all(x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("suffix", [".y4m", ".yuv", ".mp4", ".mkv"])
def test_write_read_round_trip(tmp_path, suffix):
    frames = clip()
    info = VideoInfo(50, 36, Fraction(30000, 1001), len(frames))
    path = tmp_path / f"v{suffix}"
    assert write_video(path, frames, info) == 5
    size = (50, 36) if suffix == ".yuv" else None
    info2, back = read_video(path, size=size, fps=Fraction(30000, 1001))
    assert (info2.width, info2.height, info2.frames) == (50, 36, 5)
    assert same(frames, back)  # mp4/mkv are lossless H.264 of the 4:2:0 planes


def test_odd_size_y4m_and_lossless_mp4(tmp_path):
    frames = clip(3, 17, 23)
    info = VideoInfo(23, 17, Fraction(25), 3)
    write_video(tmp_path / "o.y4m", frames, info)
    assert same(frames, read_video(tmp_path / "o.y4m")[1])
    write_video(tmp_path / "o.mp4", frames, info)  # padded to even size for H.264
    _, back = read_video(tmp_path / "o.mp4")
    assert back[0].y.shape == (18, 24)
    assert np.array_equal(back[0].y[:17, :23], frames[0].y)


def test_png_frames_and_range(tmp_path):
    frames = clip(3)
    info = VideoInfo(50, 36, Fraction(25), 3)
    assert write_video(tmp_path / "pngs", frames, info) == 3
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == [
        "frame00000.png", "frame00001.png", "frame00002.png"]
    with pytest.raises(HycoError, match="exists"):
        write_video(tmp_path / "pngs", frames, info)
    info2, part = read_video(write_and(tmp_path / "r.y4m", frames, info), start=1, frames=1)
    assert info2.frames == 1 and same(part, frames[1:2])


def write_and(path, frames, info):
    write_video(path, frames, info)
    return path


def test_full_range_tag_survives_y4m(tmp_path):
    info = VideoInfo(50, 36, Fraction(25), 2, ColorSpec(full_range=True))
    write_video(tmp_path / "f.y4m", clip(2), info)
    assert read_video(tmp_path / "f.y4m")[0].color.full_range


@pytest.mark.skipif(not CISCO.is_file(), reason="development clips not present")
def test_raw_yuv_development_clip():
    info, frames = read_video(CISCO, size=(320, 192), fps=12)
    assert info.frames == 9 and frames[0].y.shape == (192, 320)


def test_avi_via_pyav_and_ffmpeg_agree(tmp_path):
    """An AVI written by ffmpeg (if installed) or PyAV decodes to the frames put in."""
    frames = clip(4, 32, 48)
    info = VideoInfo(48, 32, Fraction(25), 4)
    write_video(tmp_path / "a.y4m", frames, info)
    try:
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "a.y4m"), "-c:v",
                        "ffv1", str(tmp_path / "a.avi")], check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("ffmpeg not installed")
    assert same(frames, read_video(tmp_path / "a.avi")[1])


def test_errors(tmp_path):
    with pytest.raises(HycoError, match="size"):
        read_video(tmp_path / "x.yuv") if (tmp_path / "x.yuv").write_bytes(b"\0" * 10) else None
    (tmp_path / "x.yuv").write_bytes(b"\0" * 100)
    with pytest.raises(UnsupportedInput, match="whole number"):
        read_video(tmp_path / "x.yuv", size=(4, 4))
    (tmp_path / "x.y4m").write_bytes(b"YUV4MPEG2 W4 H4 C422\n")
    with pytest.raises(UnsupportedInput, match="C422"):
        read_video(tmp_path / "x.y4m")
    (tmp_path / "t.y4m").write_bytes(b"YUV4MPEG2 W4 H4\nFRAME\n" + b"\0" * 5)
    with pytest.raises(UnsupportedInput, match="truncated"):
        read_video(tmp_path / "t.y4m")
    (tmp_path / "n.mp4").write_bytes(b"not a video at all")
    with pytest.raises(UnsupportedInput):
        read_video(tmp_path / "n.mp4")
    with pytest.raises(HycoError, match="no such file"):
        read_video(tmp_path / "missing.avi")
    with pytest.raises(HycoError, match="cannot write"):
        write_video(tmp_path / "v.gif", clip(1), VideoInfo(50, 36))
    assert parse_size("320x192") == (320, 192)
    with pytest.raises(HycoError):
        parse_size("320by192")
    assert parse_fps("30000/1001") == Fraction(30000, 1001)
    with pytest.raises(HycoError):
        parse_fps("-3")
