from fractions import Fraction

import numpy as np
import pytest
import torch

from conftest import uint8_image
from hyco import container
from hyco.cli import main
from hyco.entropy.bits import BitWriter
from hyco.errors import CorruptStream, HycoError
from hyco.nn.weight_quant import quantize
from hyco.train.hinerv_fit import HiNeRVSettings, build
from hyco.video.coding import decompress_video, luma
from hyco.video.color import ColorSpec, rgb_to_yuv420
from hyco.video.hinerv_codec import (
    FORMAT,
    _digest,
    compress_hinerv,
    pack_network,
    unpack_network,
)
from hyco.video.hinerv_config import config_for
from hyco.video.io import VideoInfo, read_video, write_video

INFO = VideoInfo(48, 32, Fraction(25), 4)


def clip(n=4, h=32, w=48):
    base = uint8_image(h + 8, w + 8, seed=3)
    return [rgb_to_yuv420(np.ascontiguousarray(base[i : i + h, i : i + w])) for i in range(n)]


def random_network(bits=6):
    cfg = config_for(32, 48, 4, "3k", scales=(2, 2))
    torch.manual_seed(0)
    model = build(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        model.stages[0].enc.bias.zero_()  # an all-zero tensor: a step of 0, no table
    return cfg, {n: quantize(p, bits) for n, p in model.state_dict().items()}


def test_network_streams_round_trip():
    cfg, weights = random_network()
    streams = pack_network(cfg, weights, 6)
    back_cfg, back, bits = unpack_network(streams)
    assert back_cfg == cfg and bits == 6 and list(back) == list(weights)
    for n, (q, step) in weights.items():
        assert torch.equal(back[n][0], q) and back[n][1] == step
    assert back["stages.0.enc.bias"][1].mantissa == 0
    # entropy coding pays: well under the 6 bits a weight of a plain dump
    assert 8 * len(streams[2]) < 6 * cfg.num_params()


def test_corrupt_network_streams_are_rejected():
    cfg, weights = random_network()
    head, side, data = pack_network(cfg, weights, 6)
    with pytest.raises(CorruptStream):
        unpack_network([head, side])
    for cut in (head[:-1], b""):
        with pytest.raises(CorruptStream):
            unpack_network([cut, side, data])
    with pytest.raises(CorruptStream):
        unpack_network([head, side[: len(side) // 2], data])
    with pytest.raises(CorruptStream):
        unpack_network([head, side, data[:-4]])
    bad = BitWriter()
    for v in (FORMAT, 6, 3, 1, 1, 1):  # a configuration of 3 numbers
        bad.gamma(v)
    with pytest.raises(CorruptStream, match="configuration"):
        unpack_network([bad.getvalue(), side, data])
    huge = BitWriter()
    ints = cfg.to_ints()
    ints[4 + 2] = 2048  # 2048 channels: more parameters than a decoder accepts
    for v in (FORMAT, 6, len(ints), *ints):
        huge.gamma(v)
    with pytest.raises(CorruptStream, match="configuration"):
        unpack_network([huge.getvalue(), side, data])
    future = BitWriter()
    future.gamma(FORMAT + 1)
    with pytest.raises(CorruptStream, match="unsupported HiNeRV format"):
        unpack_network([future.getvalue(), side, data])


SETTINGS = HiNeRVSettings(size="3k", epochs=2, scales=(2, 2), patch_side=16)


@pytest.fixture(scope="module")
def coded():
    recons: list[np.ndarray] = []
    data, stats = compress_hinerv(clip(), INFO, SETTINGS, progress=False, recons=recons)
    return data, stats, recons


def test_compress_decompress_reproduces_the_encoder_exactly(coded):
    data, stats, recons = coded
    assert [s.kind for s in stats] == ["W"] * 4
    assert stats[0].bpp == pytest.approx(8 * len(data) / (32 * 48 * 4))
    src = clip()
    for s, rec, f in zip(stats, recons, src, strict=True):
        assert s.y_psnr == pytest.approx(10 * np.log10(255**2 / np.mean(
            (luma(rec, ColorSpec()).astype(float) - f.y) ** 2)))
    vfile, info, frames = decompress_video(data)
    assert (info.frames, info.width, info.height) == (4, 48, 32) and not vfile.truncated
    assert len(vfile.packets) == 1 and vfile.packets[0].kind == "W"
    h = vfile.header
    assert (h.codec, h.variant, h.quality, h.gop) == ("hinerv", "3k", "6-bit", 0)
    out = list(frames)
    assert [f.index for f in out] == [0, 1, 2, 3]
    assert all(np.array_equal(f.rgb, r) for f, r in zip(out, recons, strict=True))
    _, _, later = decompress_video(data, start=2)
    assert [f.index for f in later] == [2, 3]
    with pytest.raises(HycoError, match="start frame"):
        decompress_video(data, start=4)


def test_damaged_files_are_rejected(coded):
    data = coded[0]
    for n in (len(data) - 1, len(data) // 2, 60):
        with pytest.raises(CorruptStream):
            decompress_video(data[:n])
    for i in range(0, len(data), 7):
        bad = bytearray(data)
        bad[i] ^= 0x41
        with pytest.raises(CorruptStream):
            _, _, frames = decompress_video(bytes(bad))
            next(frames)
    # a well-formed file whose network does not fit its header, or a foreign digest
    v = container.unpack_video(data)
    streams = v.packets[0].streams
    for header in (container.VideoHeader(**{**v.header.__dict__, "frames": 5}),
                   container.VideoHeader(**{**v.header.__dict__, "digest": "00" * 8})):
        forged = container.pack_video_header(header) + container.pack_packet(
            container.Packet("W", 0, streams))
        with pytest.raises(CorruptStream, match="disagree|digest"):
            decompress_video(forged)
    assert _digest(streams) == v.header.digest


def test_cli(tmp_path, capsys):
    src = tmp_path / "in.y4m"
    write_video(src, clip(), INFO)
    out = tmp_path / "v.hyco"
    assert main(["video", "compress", str(src), "-o", str(out), "--codec", "hinerv",
                 "--model-size", "2k", "--epochs", "2", "--bits", "5", "--prune", "0.1"]) == 0
    text = capsys.readouterr().out
    assert "4 frames" in text and "Y-PSNR" in text and "bpp" in text
    assert not (tmp_path / "v.hyco.run").exists()  # the default run folder is removed
    assert main(["video", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "hinerv 2k quality 5-bit" in text and "HiNeRV network" in text
    assert main(["video", "decompress", str(out), "-o", str(tmp_path / "o.y4m")]) == 0
    info, frames = read_video(tmp_path / "o.y4m")
    assert info.frames == 4 and frames[0].size == (32, 48)
    _, _, decoded = decompress_video(out.read_bytes())
    assert all(np.array_equal(a.y, rgb_to_yuv420(d.rgb).y) for a, d in zip(frames, decoded,
                                                                           strict=True))
    run = tmp_path / "run"
    assert main(["video", "compress", str(src), "-o", str(tmp_path / "w.hyco"), "--codec",
                 "hinerv", "--model-size", "2k", "--epochs", "1", "--run", str(run)]) == 0
    assert (run / "checkpoint.pt").is_file() and (run / "config.json").is_file()
    capsys.readouterr()
    assert main(["video", "compress", str(src), "-o", str(tmp_path / "x.hyco"),
                 "--model-size", "2k"]) == 1
    err = capsys.readouterr().err
    assert "--model-size: options of --codec hinerv" in err and len(err.strip().splitlines()) == 1
    assert main(["video", "compress", str(src), "-o", str(tmp_path / "y.hyco"), "--codec",
                 "hinerv", "--model-size", "huge"]) == 1
    assert "unknown HiNeRV size" in capsys.readouterr().err
