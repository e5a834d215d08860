from fractions import Fraction

import numpy as np
import pytest

from conftest import uint8_image
from hyco.cli import main
from hyco.errors import CorruptStream, HycoError
from hyco.video.coding import compress_video, decompress_video, luma
from hyco.video.color import ColorSpec, rgb_to_yuv420
from hyco.video.io import VideoInfo, read_video, write_video


def clip(n=4, h=30, w=44):
    base = uint8_image(h + 8, w + 8, seed=3)
    return [rgb_to_yuv420(np.ascontiguousarray(base[i : i + h, i : i + w])) for i in range(n)]


INFO = VideoInfo(44, 30, Fraction(24), 4)


def test_round_trip_is_bit_exact_and_cut_files_keep_complete_frames():
    recons: list[np.ndarray] = []
    data, stats = compress_video(clip(), INFO, "baseline", 2, recons=recons)
    assert [s.kind for s in stats] == ["I"] * 4
    assert sum(s.bytes for s in stats) < len(data)  # the header is counted once, beside them
    vfile, info, frames = decompress_video(data)
    out = list(frames)
    assert not vfile.truncated and (info.width, info.height, info.frames) == (44, 30, 4)
    assert all(np.array_equal(a.rgb, b) for a, b in zip(out, recons, strict=True))
    for s, rec, src in zip(stats, recons, clip(), strict=True):
        assert s.y_psnr == pytest.approx(10 * np.log10(255**2 / np.mean(
            (luma(rec, ColorSpec()).astype(float) - src.y) ** 2)))
    cut = data[: len(data) - stats[-1].bytes // 2]
    vfile, _, frames = decompress_video(cut)
    assert vfile.truncated and [f.index for f in frames] == [0, 1, 2]
    _, _, frames = decompress_video(data, start=2)
    assert [f.index for f in frames] == [2, 3]
    with pytest.raises(CorruptStream):
        decompress_video(data[:20])
    with pytest.raises(HycoError, match="start frame"):
        decompress_video(data, start=9)


def test_errors():
    with pytest.raises(HycoError, match="unknown video variant"):
        compress_video(clip(1), INFO, "warp-drive")
    with pytest.raises(HycoError, match="no frames"):
        compress_video([], INFO)
    with pytest.raises(HycoError, match="not 44x30"):
        compress_video(clip(1) + clip(1, 20, 20), INFO)


@pytest.mark.parametrize("suffix", [".yuv", ".y4m", ".avi"])
def test_cli_round_trip(tmp_path, capsys, suffix):
    src = tmp_path / f"in{suffix}"
    if suffix == ".avi":
        pytest.importorskip("av")
        write_video(tmp_path / "tmp.mkv", clip(3), INFO)  # lossless; re-muxed below
        import av

        with av.open(str(tmp_path / "tmp.mkv")) as i, av.open(str(src), "w") as o:
            s = o.add_stream("ffv1", rate=24)
            s.width, s.height, s.pix_fmt = 44, 30, "yuv420p"
            for f in i.decode(video=0):
                for pkt in s.encode(f):
                    o.mux(pkt)
            for pkt in s.encode():
                o.mux(pkt)
    else:
        write_video(src, clip(3), INFO)
    size = ["--size", "44x30"] if suffix == ".yuv" else []
    hy = tmp_path / "v.hyco"
    assert main(["video", "compress", str(src), "-o", str(hy), "-q", "2", *size]) == 0
    out = capsys.readouterr().out
    assert "frame 2 I:" in out and "Y-PSNR" in out and "3 frames" in out
    assert main(["video", "info", str(hy)]) == 0
    assert "baseline" in capsys.readouterr().out
    assert main(["video", "decompress", str(hy), "-o", str(tmp_path / "o.y4m")]) == 0
    info, frames = read_video(tmp_path / "o.y4m")
    assert info.frames == 3 and frames[0].size == (30, 44)
    assert main(["video", "decompress", str(hy), "-o", str(tmp_path / "o.y4m")]) == 1
    assert "exists" in capsys.readouterr().err
    (tmp_path / "cut.hyco").write_bytes(hy.read_bytes()[:-10])
    assert main(["video", "decompress", str(tmp_path / "cut.hyco"), "-o",
                 str(tmp_path / "pngs")]) == 0
    assert "cut short" in capsys.readouterr().err
    assert len(list((tmp_path / "pngs").iterdir())) == 2


def test_cli_errors(tmp_path, capsys):
    write_video(tmp_path / "a.yuv", clip(1), INFO)
    assert main(["video", "compress", str(tmp_path / "a.yuv")]) == 1
    assert "--size" in capsys.readouterr().err
    (tmp_path / "bad.hyco").write_bytes(b"HYCV garbage")
    assert main(["video", "decompress", str(tmp_path / "bad.hyco")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hyco: error:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad.hyco.y4m").exists()
