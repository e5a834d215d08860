"""Training images: a folder decoded once into memory, random crops and flips per step.

A batch is a pure function of ``(seed, step, rank)``: resuming at step k draws exactly the
batches an uninterrupted run would have drawn, and DDP ranks draw different ones, with no
sampler state to save. Images are decoded once (in a background thread, so the first steps
can start while the rest decode) and kept as uint8, so each step costs only a crop.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from hyco.errors import HycoError, UnsupportedInput
from hyco.files import IMAGE_SUFFIXES, to_array


def list_images(folder: str | Path) -> list[Path]:
    root = Path(folder)
    if not root.is_dir():
        raise HycoError(f"{root}: not a folder of images")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise HycoError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


class CropDataset:
    """Random ``crop`` x ``crop`` patches with random flips from the images of a folder."""

    def __init__(self, folder: str | Path, crop: int = 256, seed: int = 0):
        self.files = list_images(folder)
        self.crop = crop
        self.seed = seed
        self._images: list[np.ndarray | None] = [None] * len(self.files)
        self._ready = threading.Event()
        self._loaded = 0
        self._error: Exception | None = None
        threading.Thread(target=self._load_all, daemon=True).start()

    def _load_all(self) -> None:
        try:
            for i, f in enumerate(self.files):
                try:
                    arr, _ = to_array(f)
                except UnsupportedInput:
                    arr = None  # skipped, as if absent
                if arr is not None and min(arr.shape[:2]) < self.crop:
                    arr = _upscale_to(arr, self.crop)
                self._images[i] = arr
                self._loaded = i + 1
        except Exception as exc:  # surfaced to the training loop
            self._error = exc
        finally:
            self._ready.set()

    def __len__(self) -> int:
        return len(self.files)

    def wait(self) -> None:
        """Block until every image is decoded (done lazily by :meth:`batch`)."""
        self._ready.wait()
        if self._error:
            raise self._error
        if not any(a is not None for a in self._images):
            raise HycoError("no readable training images")

    def batch(self, step: int, size: int, rank: int = 0) -> torch.Tensor:
        """The batch of ``step`` for ``rank``: (size, 3, crop, crop) float in [0, 1]."""
        self.wait()
        rng = np.random.default_rng([self.seed, step, rank])
        valid = [i for i, a in enumerate(self._images) if a is not None]
        out = np.empty((size, self.crop, self.crop, 3), dtype=np.uint8)
        for b in range(size):
            img = self._images[valid[rng.integers(len(valid))]]
            h, w = img.shape[:2]
            top, left = rng.integers(h - self.crop + 1), rng.integers(w - self.crop + 1)
            patch = img[top : top + self.crop, left : left + self.crop]
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            if rng.random() < 0.5:
                patch = patch[::-1]
            out[b] = patch
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)


def _upscale_to(arr: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    h, w = arr.shape[:2]
    s = side / min(h, w)
    size = (max(side, round(w * s)), max(side, round(h * s)))
    return np.asarray(Image.fromarray(arr).resize(size, Image.BICUBIC))


def load_val_images(folder: str | Path, limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """Validation images, whole, as (name, HxWx3 uint8)."""
    out = []
    for f in list_images(folder)[:limit]:
        try:
            out.append((f.name, to_array(f)[0]))
        except UnsupportedInput:
            continue
    return out
