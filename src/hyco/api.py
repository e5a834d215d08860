"""The public door for library users; the CLI is a thin layer over these functions.

>>> data = hyco.compress("photo.png", quality=4)     # bytes of a .hyco file
>>> image = hyco.decompress(data)                    # PIL image
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from hyco import container, zoo
from hyco.errors import HycoError, ModelMismatch
from hyco.files import array_to_image, array_to_tensor, tensor_to_array, to_array
from hyco.image import ImageCodec


def load_model(model: str = zoo.DEFAULT_MODEL, quality: int | str = zoo.DEFAULT_QUALITY,
               weights: str | Path | None = None) -> ImageCodec:
    """A ready-to-code model (see :mod:`hyco.zoo`); its ``compress``/``decompress`` work on
    tensors and :class:`~hyco.payload.Payload` for users who want the model level."""
    return zoo.load(model, quality, weights)


def compress(image, model: str = zoo.DEFAULT_MODEL, quality: int | str = zoo.DEFAULT_QUALITY,
             weights: str | Path | None = None, *, lmbda: float | None = None,
             target_bpp: float | None = None, refine: int = 0,
             search_hyper: int = 0) -> bytes:
    """Compress an image (path, PIL image or uint8 array) into the bytes of a .hyco file.

    ``lmbda`` codes a lambda-conditioned model (``qarv``) at that lambda instead of a
    quality; ``target_bpp`` searches a variable-rate model's rate for the largest file of
    at most that many bits per pixel (:mod:`hyco.rate_search`); ``refine`` searches the
    latents for that many gradient steps (:mod:`hyco.image.latent_search`: a slower encode,
    the same decoder); ``search_hyper`` searches the hyper-latent alone for that many
    (cheaper steps; :func:`hyco.image.latent_search.search_hyper`).
    """
    arr, channels = to_array(image)
    return compress_array(arr, channels, model, quality, weights, lmbda=lmbda,
                          target_bpp=target_bpp, refine=refine, search_hyper=search_hyper)


def compress_array(arr: np.ndarray, channels: int = 3, model: str = zoo.DEFAULT_MODEL,
                   quality: int | str = zoo.DEFAULT_QUALITY,
                   weights: str | Path | None = None, *, lmbda: float | None = None,
                   target_bpp: float | None = None, refine: int = 0,
                   search_hyper: int = 0) -> bytes:
    """Compress an HxWx3 uint8 array; ``channels=1`` marks it to be decoded as grayscale."""
    if target_bpp is not None:
        if lmbda is not None:
            raise HycoError("give a lambda or a target bpp, not both")
        from hyco.rate_search import search_rate

        return search_rate(lambda q: compress_array(arr, channels, model, q, weights,
                                                    refine=refine, search_hyper=search_hyper),
                           model, target_bpp, arr.shape[0] * arr.shape[1])
    if lmbda is not None:
        quality = zoo.lmbda_quality(model, lmbda)
    codec = load_model(model, quality, weights)
    return compress_with(codec, arr, channels, zoo.quality_label(model, quality), refine,
                         search_hyper)


def compress_with(codec: ImageCodec, arr: np.ndarray, channels: int = 3,
                  quality: str = "0", refine: int = 0, search_hyper: int = 0) -> bytes:
    """Compress with a model in hand (e.g. one being trained) into .hyco bytes; ``refine``
    steps of latent search (:func:`hyco.image.latent_search.search_latents`), or
    ``search_hyper`` steps of the hyper-latent's alone
    (:func:`hyco.image.latent_search.search_hyper`), not both."""
    x = array_to_tensor(arr)
    if refine or search_hyper:
        from hyco.image import latent_search

        latent_search.check_searches(codec, refine, search_hyper)
        payload = (latent_search.search_latents(codec, x, refine) if refine
                   else latent_search.search_hyper(codec, x, search_hyper))
    else:
        payload = codec.compress(x)
    header = container.Header(codec=codec.name, quality=quality, digest=codec.digest(),
                              channels=channels)
    return container.pack(header, payload)


def _check_model(codec: ImageCodec, header: container.Header) -> None:
    if header.codec != codec.name or header.digest != codec.digest():
        raise ModelMismatch(
            f"file was made with {header.codec} q{header.quality} weights {header.digest}, "
            f"but the weights here are {codec.name} {codec.digest()}")


def _decompress(codec: ImageCodec, payload, layers: int | None):
    """The codec's reconstruction; ``layers=K`` decodes a hierarchical model's first K
    latent streams only (progressive decoding)."""
    if layers is None:
        return codec.decompress(payload)
    if not hasattr(codec, "latent_layers"):
        progressive = ", ".join(n for n, s in zoo.MODELS.items()
                                if hasattr(s.cls, "latent_layers"))
        raise HycoError(f"{codec.name} files have no latent layers to decode progressively "
                        f"(layers are for {progressive})")
    return codec.decompress(payload, layers=layers)


def decompress_with(codec: ImageCodec, data: bytes, layers: int | None = None) -> np.ndarray:
    """Decode .hyco bytes with a model in hand (digest checked); HxWx3 uint8 RGB."""
    header, payload = container.unpack(data, prefix=layers is not None)
    _check_model(codec, header)
    return tensor_to_array(_decompress(codec, payload, layers))


@dataclass(frozen=True)
class Decoded:
    image: Image.Image
    header: container.Header
    array: np.ndarray  # HxWx3 uint8, the RGB reconstruction before any gray conversion


def decode(data: bytes, weights: str | Path | None = None,
           layers: int | None = None) -> Decoded:
    """Decode .hyco bytes, with the header and the raw RGB reconstruction.

    ``layers=K``: progressive decoding of a hierarchical model (``qres-vae``, ``qarv``) from
    its first K latent streams; ``data`` may then be just a prefix of the file that holds
    them (the streams are stored coarse to fine).
    """
    header, payload = container.unpack(data, prefix=layers is not None)
    if header.codec not in zoo.MODELS:
        raise ModelMismatch(f"file was made with codec {header.codec!r}, unknown to this hyco")
    try:
        codec = load_model(header.codec, header.quality, weights)
    except HycoError as exc:
        if isinstance(exc, ModelMismatch):
            raise
        raise ModelMismatch(f"file needs {header.codec} quality {header.quality}: {exc}") from None
    _check_model(codec, header)
    arr = tensor_to_array(_decompress(codec, payload, layers))
    return Decoded(image=array_to_image(arr, header.channels), header=header, array=arr)


def decompress(data: bytes, weights: str | Path | None = None,
               layers: int | None = None) -> Image.Image:
    """Decode the bytes of a .hyco file into a PIL image (grayscale inputs come back gray);
    ``layers`` as for :func:`decode`."""
    return decode(data, weights, layers).image


def info(data: bytes) -> dict:
    """The header of a .hyco file as a dict (also checks the file's integrity)."""
    header, payload = container.unpack(data)
    h, w = payload.size
    return {
        "codec": header.codec, "quality": header.quality, "weights": header.digest,
        "width": w, "height": h, "channels": "gray" if header.channels == 1 else "RGB",
        "streams": [len(s) for s in payload.streams],
        "header_bytes": container.overhead_bytes(header, payload),
        "bytes": len(data), "bpp": 8 * len(data) / (h * w),
    }



