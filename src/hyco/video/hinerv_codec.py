"""HiNeRV files: the network is the bitstream, in the .hyco video container.

A HiNeRV file is a video header (codec ``hinerv``, variant: the size asked for, quality: the
weight bits, no intra codec, gop 0) and one ``W`` packet, which stands for every frame, with
three streams:

0. *config*: format version, weight bits, the number of architecture integers and the
   integers (:meth:`HiNeRVConfig.to_ints`), all Elias-gamma coded;
1. *tables*: per tensor in the canonical order (:meth:`HiNeRVConfig.shapes`) its step: a
   12-bit mantissa (0: an all-zero tensor, not coded further) and a 6-bit exponent; then,
   per coded tensor, the probability table made from the histogram of its integers
   (:mod:`hyco.entropy.histogram`: bin width and precision chosen per tensor);
2. *weights*: one ANS stream holding every coded tensor's integers, each with its table.

The header's digest is the first 8 bytes of the SHA-256 of the three streams. A decoder
rebuilds the integer network and renders any frame independently of the others, in fixed
point, so its pixels equal the encoder's on every machine and thread count.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from hyco import container
from hyco.entropy.bits import BitReader, BitWriter
from hyco.entropy.histogram import decode_arrays, encode_arrays
from hyco.errors import CorruptStream, HycoError
from hyco.nn.weight_quant import MANTISSA_BITS, MAX_BITS, Step, qmax
from hyco.train.hinerv_fit import HiNeRVSettings, HiNeRVTrainer
from hyco.video.coding import DecodedFrame, FrameStats, frame_metrics
from hyco.video.color import YUVFrame, yuv420_to_rgb
from hyco.video.hinerv import ExactHiNeRV
from hyco.video.hinerv_config import HiNeRVConfig
from hyco.video.io import VideoInfo

CODEC_NAME = "hinerv"
FORMAT = 1
_EXPONENT_BITS = 6
_STREAMS = 3

Weights = dict[str, tuple[torch.Tensor, Step]]


def pack_network(cfg: HiNeRVConfig, weights: Weights, bits: int) -> list[bytes]:
    """The three streams of a coded network (see the module notes)."""
    head = BitWriter()
    ints = cfg.to_ints()
    for v in (FORMAT, bits, len(ints), *ints):
        head.gamma(v)
    side = BitWriter()
    arrays: list[np.ndarray] = []
    for name, shape in cfg.shapes().items():
        q, step = weights[name]
        if tuple(q.shape) != shape:
            raise ValueError(f"{name}: shape {tuple(q.shape)}, expected {shape}")
        side.uint(step.mantissa, MANTISSA_BITS)
        if step.mantissa:
            side.uint(step.exponent, _EXPONENT_BITS)
            arrays.append(q.flatten().numpy().astype(np.int64))
    data = encode_arrays(arrays, side)
    return [head.getvalue(), side.getvalue(), data]


def unpack_network(streams: tuple[bytes, ...] | list[bytes]) -> tuple[HiNeRVConfig, Weights,
                                                                       int]:
    """Inverse of :func:`pack_network`: (config, weights, bits); CorruptStream on bad data."""
    if len(streams) != _STREAMS:
        raise CorruptStream(f"corrupt HiNeRV file: {len(streams)} streams, not {_STREAMS}")
    head = BitReader(streams[0], "HiNeRV configuration")
    version = head.gamma()
    if version != FORMAT:
        raise CorruptStream(f"unsupported HiNeRV format {version} (this hyco reads {FORMAT})")
    bits = head.gamma()
    n = head.gamma()
    ints = [head.gamma() for _ in range(n)] if n <= 2048 else []
    head.finish()
    try:
        if not 2 <= bits <= MAX_BITS:
            raise ValueError
        cfg = HiNeRVConfig.from_ints(ints)
        cfg.check_limits()
    except (ValueError, HycoError):
        raise CorruptStream("corrupt HiNeRV file: bad network configuration") from None
    side = BitReader(streams[1], "HiNeRV tables")
    shapes = cfg.shapes()
    steps: dict[str, Step] = {}
    for name in shapes:
        mantissa = side.uint(MANTISSA_BITS)
        exponent = side.uint(_EXPONENT_BITS) if mantissa else 0
        try:
            steps[name] = Step(mantissa, exponent)
        except ValueError:
            raise CorruptStream(f"corrupt HiNeRV tables: bad step of {name}") from None
    coded = [name for name in shapes if steps[name].mantissa]
    arrays = decode_arrays([math.prod(shapes[name]) for name in coded], side, streams[2])
    side.finish()
    values = dict(zip(coded, arrays, strict=True))
    limit = qmax(MAX_BITS)
    weights: Weights = {}
    for name, shape in shapes.items():
        if name in values:
            if values[name].size and int(np.abs(values[name]).max()) > limit:
                raise CorruptStream(f"corrupt HiNeRV file: {name} beyond {MAX_BITS} bits")
            q = torch.from_numpy(values[name]).view(shape)
        else:
            q = torch.zeros(shape, dtype=torch.int64)
        weights[name] = (q, steps[name])
    return cfg, weights, bits


def _digest(streams: list[bytes] | tuple[bytes, ...]) -> str:
    h = hashlib.sha256()
    for s in streams:
        h.update(len(s).to_bytes(4, "little") + s)
    return h.hexdigest()[:16]


def compress_hinerv(frames: list[YUVFrame], info: VideoInfo,
                    settings: HiNeRVSettings | None = None, run: str | None = None,
                    progress: bool = True,
                    on_epoch: Callable[[str, int, dict[str, float]], None] | None = None,
                    recons: list[np.ndarray] | None = None) -> tuple[bytes, list[FrameStats]]:
    """Train a HiNeRV on ``frames`` and return the file's bytes with per-frame stats.

    ``run`` is a folder for the checkpoints: a run interrupted there resumes where it
    stopped (a finished one is coded again without training). Frame stats share the file's
    bytes equally (the network codes every frame); their PSNRs are those of the frames a
    decoder renders, which ``recons`` (if given) receives.
    """
    settings = settings or HiNeRVSettings()
    if not frames:
        raise HycoError("no frames to compress")
    h, w = frames[0].size
    for i, f in enumerate(frames):
        if f.size != (h, w):
            raise HycoError(f"frame {i} is {f.size[1]}x{f.size[0]}, not {w}x{h}")
    label = str(settings.size).strip().lower()
    if not (1 <= len(label) <= 64 and label.isascii() and label.isprintable()):
        raise HycoError(f"bad HiNeRV size {settings.size!r}")
    rgb = np.stack([yuv420_to_rgb(f, info.color) for f in frames])
    trainer = HiNeRVTrainer(rgb, settings, run, progress, on_epoch)
    trainer.train()
    weights = trainer.quantized()
    streams = pack_network(trainer.cfg, weights, settings.bits)
    cfg, decoded, _ = unpack_network(streams)  # render what a decoder will have
    if any(not torch.equal(decoded[n][0], weights[n][0]) for n in weights):
        raise RuntimeError("HiNeRV weights did not survive coding")  # a bug, never user input
    header = container.VideoHeader(
        codec=CODEC_NAME, variant=label, quality=f"{settings.bits}-bit", intra="none",
        digest=_digest(streams), height=h, width=w,
        fps=(info.fps.numerator, info.fps.denominator), frames=len(frames), gop=0,
        matrix=info.color.matrix, full_range=info.color.full_range)
    data = container.pack_video_header(header) + container.pack_packet(
        container.Packet("W", 0, tuple(streams)))
    net = ExactHiNeRV(cfg, decoded)
    share = len(data) / len(frames)
    stats = []
    for i, frame in enumerate(tqdm(frames, unit="frame", desc="render", disable=not progress,
                                   dynamic_ncols=True)):
        rec = net.render(i)
        if recons is not None:
            recons.append(rec)
        y_psnr, rgb_psnr = frame_metrics(frame, rgb[i], rec, info.color)
        stats.append(FrameStats(i, "W", round(share), 8 * share / (h * w), y_psnr, rgb_psnr))
    return data, stats


def network(v: container.VideoFile) -> tuple[HiNeRVConfig, Weights, int]:
    """The coded network of a parsed HiNeRV file, checked against its header."""
    h = v.header
    p = v.packets[0]
    if p.kind != "W":
        raise CorruptStream("corrupt HiNeRV file: no network packet")
    if _digest(p.streams) != h.digest:
        raise CorruptStream("corrupt HiNeRV file: network digest mismatch")
    cfg, weights, bits = unpack_network(p.streams)
    if (cfg.height, cfg.width, cfg.frames) != (h.height, h.width, h.frames):
        raise CorruptStream("corrupt HiNeRV file: network and header disagree on the size")
    return cfg, weights, bits


def decode_frames(v: container.VideoFile, start: int = 0) -> Iterator[DecodedFrame]:
    """Render frames ``start ..`` of a parsed HiNeRV file (checked before the first yield)."""
    frames = v.header.frames
    if not 0 <= start < frames:
        raise HycoError(f"start frame {start} is outside the {frames} frames")
    cfg, weights, _ = network(v)
    net = ExactHiNeRV(cfg, weights)

    def render() -> Iterator[DecodedFrame]:
        for i in range(start, frames):
            yield DecodedFrame(i, "W", net.render(i))

    return render()


def describe(v: container.VideoFile) -> str:
    """One line for `hyco video info`: the network's size and shape."""
    cfg, weights, bits = network(v)
    zeros = sum(int((q == 0).sum()) for q, _ in weights.values())
    total = cfg.num_params()
    return (f"HiNeRV network: {total} parameters ({100 * zeros / total:.1f}% zero), "
            f"{bits}-bit weights, upsampling {'x'.join(map(str, cfg.scales))}, "
            f"{cfg.channels} channels")
