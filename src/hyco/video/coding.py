"""Video coding: frames -> one packet per frame -> a .hyco video file, and back.

One data flow for every video codec: each source frame (4:2:0) becomes R'G'B' through the
stated :class:`~hyco.video.color.ColorSpec`, an I-frame is coded by the image codec, a
P-frame by the variant's inter codec given the reference the decoder will hold (the
*decoded* previous frame, or for ``latent`` its decoded latent), and every packet goes into
the container's video form (:mod:`hyco.container`). Because the encoder keeps the decoder's
reference, there is no drift; a decoder can start at any I packet; a file cut short decodes
every complete frame before the cut.

Variants are registered in :data:`VARIANTS`; ``baseline`` codes every frame as an I-frame
(all-intra), the reference the inter variants are measured against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
import torch

from hyco import container, zoo
from hyco.errors import CorruptStream, HycoError, ModelMismatch
from hyco.eval.metrics import psnr
from hyco.files import array_to_tensor, tensor_to_array
from hyco.image import ImageCodec
from hyco.payload import Payload
from hyco.video.color import ColorSpec, YUVFrame, rgb_to_ycbcr, yuv420_to_rgb
from hyco.video.io import VideoInfo

CODEC_NAME = "hycovc"


class InterCodec(Protocol):
    """What a P-frame codec provides. Its *reference* is the state the next P-frame is coded
    against, which the decoder rebuilds exactly: 8-bit R'G'B' pixels (H x W x 3 uint8) for
    the pixel-domain variants, the decoded latent for ``latent``. The codec makes it from an
    I-frame it decodes (``decode_intra``) and returns the next one with every P-frame."""

    def digest(self) -> str: ...

    def decode_intra(self, payload: Payload) -> tuple[np.ndarray, Any]: ...

    def encode_inter(self, x: torch.Tensor, ref: Any) -> tuple[list[bytes], np.ndarray,
                                                                Any]: ...

    def decode_inter(self, streams: tuple[bytes, ...], ref: Any,
                     size: tuple[int, int]) -> tuple[np.ndarray, Any]: ...


class HyCoVCInter:
    """A pixel-domain HyCoVC model at one rate point as an :class:`InterCodec`."""

    def __init__(self, variant: str, quality: str, weights: str | None, intra: ImageCodec):
        from hyco.video import weights as video_weights

        self.model, self.intra = video_weights.load(variant, weights), intra
        self.quality = float(quality)
        if not 1 <= self.quality <= self.model.levels:
            raise HycoError(f"hycovc quality must be 1..{self.model.levels}, not {quality}")

    def digest(self) -> str:
        return self.model.digest()

    @staticmethod
    def _u8(ref: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(ref)).permute(2, 0, 1)[None].to(torch.int64)

    @staticmethod
    def _arr(rec: torch.Tensor) -> np.ndarray:
        return rec[0].permute(1, 2, 0).to(torch.uint8).contiguous().numpy()

    def decode_intra(self, payload: Payload) -> tuple[np.ndarray, np.ndarray]:
        rgb = tensor_to_array(self.intra.decompress(payload))
        return rgb, rgb

    def encode_inter(self, x: torch.Tensor, ref: np.ndarray
                     ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        self.model.quality = self.quality
        streams, rec = self.model.encode(x, self._u8(ref))
        rgb = self._arr(rec)
        return streams, rgb, rgb

    def decode_inter(self, streams: tuple[bytes, ...], ref: np.ndarray,
                     size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        self.model.quality = self.quality
        rgb = self._arr(self.model.decode(streams, self._u8(ref)))
        return rgb, rgb


# the inter codec of a variant from (quality, weights file or None, the I-frame codec)
InterLoader = Callable[[str, "str | None", ImageCodec], InterCodec]


def _hycovc(variant: str) -> InterLoader:
    return lambda quality, weights, intra: HyCoVCInter(variant, quality, weights, intra)


def _latent(quality: str, weights: str | None, intra: ImageCodec) -> InterCodec:
    from hyco.video import weights as video_weights
    from hyco.video.latent import LatentInter

    return LatentInter(video_weights.load("latent", weights), intra, quality)


# variant -> its loader; None: all-intra
VARIANTS: dict[str, InterLoader | None] = {
    "baseline": None, **{v: _hycovc(v) for v in ("context", "flow", "full")},
    "latent": _latent}


@dataclass(frozen=True)
class FrameStats:
    index: int
    kind: str
    bytes: int
    bpp: float
    y_psnr: float
    rgb_psnr: float


def luma(rgb: np.ndarray, spec: ColorSpec) -> np.ndarray:
    """Y' code values of an R'G'B' frame, rounded to 8 bits (no chroma involved)."""
    return np.floor(rgb_to_ycbcr(rgb, spec)[..., 0] + 0.5).clip(0, 255).astype(np.uint8)


def frame_metrics(src: YUVFrame, src_rgb: np.ndarray, rec_rgb: np.ndarray,
                  spec: ColorSpec) -> tuple[float, float]:
    """(Y-PSNR against the source's own luma plane, RGB-PSNR against the source in R'G'B')."""
    return psnr(luma(rec_rgb, spec), src.y), psnr(rec_rgb, src_rgb)


def _combined_digest(intra: ImageCodec, inter: InterCodec | None) -> str:
    parts = intra.digest() + (inter.digest() if inter is not None else "")
    return hashlib.sha256(parts.encode()).hexdigest()[:16]


def _variant(variant: str, quality: str, weights: str | None,
             intra: ImageCodec) -> InterCodec | None:
    if variant not in VARIANTS:
        raise HycoError(f"unknown video variant {variant!r} (known: {', '.join(VARIANTS)})")
    loader = VARIANTS[variant]
    return loader(quality, weights, intra) if loader is not None else None


def _decode_intra(intra: ImageCodec, inter: InterCodec | None,
                  payload: Payload) -> tuple[np.ndarray, Any]:
    """An I-frame's picture and the reference it starts (none when all-intra)."""
    if inter is None:
        return tensor_to_array(intra.decompress(payload)), None
    return inter.decode_intra(payload)


def compress_video(frames: Iterable[YUVFrame], info: VideoInfo, variant: str = "baseline",
                   quality: int | str = zoo.DEFAULT_QUALITY, gop: int = 12,
                   intra_model: str = zoo.DEFAULT_MODEL, intra_weights: str | None = None,
                   inter_weights: str | None = None,
                   on_frame: Callable[[FrameStats], None] | None = None,
                   recons: list[np.ndarray] | None = None,
                   ) -> tuple[bytes, list[FrameStats]]:
    """Code ``frames`` (4:2:0) into the bytes of a .hyco video file, with per-frame stats.

    ``gop`` is the I-frame period (0: only the first frame is intra); ``quality`` selects the
    image codec's quality for I-frames and the inter codec's rate point. ``recons``, if given,
    receives the encoder's R'G'B' reconstructions (what the decoder will output). The weights
    files replace the shipped I-frame and P-frame weights (the decoder then needs the same).
    """
    frames = list(frames)
    if not frames:
        raise HycoError("no frames to compress")
    if gop < 0:
        raise HycoError("gop must be >= 0")
    q = zoo.parse_quality(intra_model, quality)
    intra = zoo.load(intra_model, q, intra_weights)
    inter = _variant(variant, str(q), inter_weights, intra)
    if inter is None:
        gop = 1
    h, w = frames[0].size
    header = container.VideoHeader(
        codec=CODEC_NAME, variant=variant, quality=str(q), intra=intra_model,
        digest=_combined_digest(intra, inter), height=h, width=w,
        fps=(info.fps.numerator, info.fps.denominator), frames=len(frames), gop=gop,
        matrix=info.color.matrix, full_range=info.color.full_range)
    out = [container.pack_video_header(header)]
    stats: list[FrameStats] = []
    ref: Any = None
    for i, frame in enumerate(frames):
        if frame.size != (h, w):
            raise HycoError(f"frame {i} is {frame.size[1]}x{frame.size[0]}, not {w}x{h}")
        src_rgb = yuv420_to_rgb(frame, info.color)
        x = array_to_tensor(src_rgb)
        is_intra = inter is None or ref is None or (gop > 0 and i % gop == 0)
        if is_intra:
            payload = intra.compress(x)
            streams, (rec, ref) = list(payload.streams), _decode_intra(intra, inter, payload)
        else:
            streams, rec, ref = inter.encode_inter(x, ref)
        packet = container.pack_packet(container.Packet("I" if is_intra else "P", i,
                                                        tuple(streams)))
        out.append(packet)
        if recons is not None:
            recons.append(rec)
        y_psnr, rgb_psnr = frame_metrics(frame, src_rgb, rec, info.color)
        stat = FrameStats(i, "I" if is_intra else "P", len(packet), 8 * len(packet) / (h * w),
                          y_psnr, rgb_psnr)
        stats.append(stat)
        if on_frame is not None:
            on_frame(stat)
    return b"".join(out), stats


@dataclass(frozen=True)
class DecodedFrame:
    index: int
    kind: str
    rgb: np.ndarray  # H x W x 3 uint8


def video_header(data: bytes) -> tuple[container.VideoFile, VideoInfo]:
    """Parse a .hyco video file (checks every packet) and describe it as a VideoInfo."""
    v = container.unpack_video(data)
    h = v.header
    info = VideoInfo(h.width, h.height, Fraction(*h.fps), v.frames,
                     ColorSpec(h.matrix, h.full_range))
    return v, info


def decompress_video(data: bytes, start: int = 0, intra_weights: str | None = None,
                     inter_weights: str | None = None) -> tuple[container.VideoFile, VideoInfo,
                                                           Iterator[DecodedFrame]]:
    """Decode from the I-frame at or before ``start``; yields frames from ``start`` on.

    The returned VideoFile says whether the file was cut short (``truncated``); the frames
    yielded are then every complete one before the cut.
    """
    v, info = video_header(data)
    h = v.header
    if h.codec == "hinerv":  # the file holds the network: no weights needed
        from hyco.video import hinerv_codec

        return v, info, hinerv_codec.decode_frames(v, start)
    if h.codec != CODEC_NAME:
        raise ModelMismatch(f"video codec {h.codec!r} is unknown to this hyco")
    if v.packets[0].kind == "W":
        raise CorruptStream(f"corrupt .hyco video file: {h.codec} files have no W packets")
    if not 0 <= start < len(v.packets):
        raise HycoError(f"start frame {start} is outside the {len(v.packets)} decodable frames")
    try:
        intra = zoo.load(h.intra, h.quality, intra_weights)
    except HycoError as exc:
        raise ModelMismatch(f"file needs image codec {h.intra} quality {h.quality}: {exc}") \
            from None
    inter = _variant(h.variant, h.quality, inter_weights, intra)
    if _combined_digest(intra, inter) != h.digest:
        raise ModelMismatch(f"file was made with other {h.variant} weights ({h.digest})")
    first = max(i for i in range(start + 1) if v.packets[i].kind == "I")

    def frames() -> Iterator[DecodedFrame]:
        ref: Any = None
        for p in v.packets[first:]:
            if p.kind == "I":
                payload = Payload(streams=p.streams, size=(h.height, h.width))
                intra.check_payload(payload)
                rec, ref = _decode_intra(intra, inter, payload)
            else:
                if inter is None or ref is None:
                    raise HycoError(f"corrupt .hyco video file: P packet {p.index} without "
                                    "a reference")
                rec, ref = inter.decode_inter(p.streams, ref, (h.height, h.width))
            if p.index >= start:
                yield DecodedFrame(p.index, p.kind, rec)

    return v, info, frames()
