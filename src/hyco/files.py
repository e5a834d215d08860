"""Reading images and writing outputs safely.

Inputs are converted to what the codecs take (8-bit RGB); anything that would lose
information silently is refused with a one-line :class:`UnsupportedInput` instead:
- RGB, palette, CMYK, YCbCr, 1-bit and grayscale images are converted to RGB; grayscale
  (L, 1-bit, I;16) is remembered and decoded back as grayscale;
- 16-bit grayscale is reduced to 8 bits (v * 255 / 65535, rounded), a documented conversion;
- alpha that is fully opaque is dropped; real transparency is refused (flatten it first);
- 32-bit integer and float images are refused.
Outputs go to a temporary file in the target folder and are renamed into place, so a
failure never leaves half a file and never touches an input.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from hyco.container import MAX_PIXELS, MAX_SIDE
from hyco.errors import HycoError, UnsupportedInput

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm",
                  ".gif", ".tga"}


def _open(source) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    path = Path(source)
    if not path.exists():
        raise UnsupportedInput(f"{path}: no such file")
    if path.is_dir():
        raise UnsupportedInput(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise UnsupportedInput(f"{path}: empty file")
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedInput(f"{path}: not a readable image ({exc.__class__.__name__})") from None
    except Image.DecompressionBombError as exc:
        raise UnsupportedInput(f"{path}: {exc}") from None


def to_array(source) -> tuple[np.ndarray, int]:
    """Image (path, PIL image or HxW[x3] uint8 array) -> (HxWx3 uint8, channels 1|3)."""
    if isinstance(source, np.ndarray):
        arr = source
        if arr.dtype != np.uint8:
            raise UnsupportedInput(f"array images must be uint8, got {arr.dtype}")
        if arr.ndim == 2:
            return np.repeat(arr[..., None], 3, axis=2), 1
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise UnsupportedInput(f"array images must be HxW or HxWx3, got {arr.shape}")
        _check_dims(arr.shape[0], arr.shape[1])
        return np.ascontiguousarray(arr), 3
    im = _open(source)
    name = getattr(im, "filename", "") or "image"
    _check_dims(im.height, im.width)
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    mode = im.mode
    if mode in ("RGBA", "LA", "RGBa", "La"):
        alpha = np.asarray(im.getchannel("A"))
        if alpha.min() < 255:
            raise UnsupportedInput(
                f"{name}: has transparency; hyco codes opaque images (flatten it first)")
        im = im.convert("RGB" if mode.startswith("RGB") else "L")
        mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(im).astype(np.float64)
        gray = np.rint(arr * (255.0 / 65535.0)).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2), 1
    if mode == "I":  # some readers give 16-bit grayscale as 32-bit ints
        arr = np.asarray(im)
        if arr.min() < 0 or arr.max() > 65535:
            raise UnsupportedInput(f"{name}: 32-bit integer images are not supported")
        gray = np.rint(arr.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2), 1
    if mode in ("1", "L"):
        gray = np.asarray(im.convert("L"))
        return np.repeat(gray[..., None], 3, axis=2), 1
    if mode in ("RGB", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(im.convert("RGB")), 3
    raise UnsupportedInput(f"{name}: image mode {mode} is not supported (8-bit images only)")


def _check_dims(h: int, w: int) -> None:
    if h < 1 or w < 1:
        raise UnsupportedInput("image has no pixels")
    if h > MAX_SIDE or w > MAX_SIDE or h * w > MAX_PIXELS:
        raise UnsupportedInput(f"image of {w}x{h} is larger than hyco codes ({MAX_PIXELS} px)")


def array_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def tensor_to_array(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float -> HxWx3 uint8 (clamped, rounded)."""
    x = x.detach().cpu().clamp(0, 1).mul(255.0).round().to(torch.uint8)
    return x[0].permute(1, 2, 0).contiguous().numpy()


def array_to_image(arr: np.ndarray, channels: int) -> Image.Image:
    """HxWx3 uint8 -> PIL image; grayscale inputs come back as mode L (channel mean)."""
    if channels == 1:
        gray = np.rint(arr.astype(np.float32).mean(axis=2)).astype(np.uint8)
        return Image.fromarray(gray, mode="L")
    return Image.fromarray(arr, mode="RGB")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it is renamed to ``path``, on failure removed.

    So a failed or interrupted write never leaves half a file, and an existing file is only
    replaced when forced. Large outputs (video) are streamed into the temp file.
    """
    path = Path(path)
    if path.exists() and not force:
        raise HycoError(f"{path} exists (use --force to overwrite)")
    if path.is_dir():
        raise HycoError(f"{path} is a folder")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise HycoError(f"{folder}: no such folder")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs follow the umask like any file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes, force: bool = False) -> None:
    """Write ``data`` via a temp file in the same folder and rename (see atomic_output)."""
    with atomic_output(path, force) as tmp:
        tmp.write_bytes(data)


def image_bytes(image: Image.Image, path: str | os.PathLike) -> bytes:
    """Encode ``image`` in the format its file extension names (PNG when unknown)."""
    suffix = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        raise HycoError(f"{path}: unknown image extension {suffix!r} (use .png)")
    buf = io.BytesIO()
    try:
        image.save(buf, format=fmt)
    except (OSError, KeyError, ValueError) as exc:
        raise HycoError(f"{path}: cannot write {fmt}: {exc}") from None
    return buf.getvalue()
