"""Training images: a folder decoded once into memory, random crops and flips per step.

A batch is a pure function of ``(seed, step, rank)``: resuming at step k draws exactly the
batches an uninterrupted run would have drawn, and DDP ranks draw different ones, with no
sampler state to save. Images are decoded once (in a background thread, so the first steps
can start while the rest decode) and kept as uint8, so each step costs only a crop.

Each crop is the more detailed of ``candidates`` random ones (default 2). Why: a codec learns
only the detail it is shown. Wallpaper photographs are mostly sky, bokeh and soft gradients,
so uniform crops of the Debian corpus hold about a quarter of the fine detail of Kodak's
(``benchmarks/crop_detail.py``, 128x128 crops: median energy lost to 2x2 averaging 20.9
against Kodak's 75.7, in 8-bit units squared). The default model trained on them for 9,000
steps stopped gaining PSNR on Kodak at about 29 dB however many bits it spent, and its
transforms were the limit: with the latent unrounded they reached 29.7 dB at the top quality
(``benchmarks/transform_limit.py``). The better of two candidates brings the corpus to
Kodak's level (median 72.8, mean 115 against 124), while every crop can still be drawn.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
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

    def __init__(self, folder: str | Path, crop: int = 256, seed: int = 0, candidates: int = 2):
        if candidates < 1:
            raise HycoError(f"crop candidates must be at least 1, got {candidates}")
        self.files = list_images(folder)
        self.crop = crop
        self.seed = seed
        self.candidates = candidates
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
            patch, best = None, -1.0
            for _ in range(self.candidates):
                img = self._images[valid[rng.integers(len(valid))]]
                h, w = img.shape[:2]
                top, left = rng.integers(h - self.crop + 1), rng.integers(w - self.crop + 1)
                cand = img[top : top + self.crop, left : left + self.crop]
                score = detail(cand) if self.candidates > 1 else 0.0
                if score > best:
                    patch, best = cand, score
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            if rng.random() < 0.5:
                patch = patch[::-1]
            out[b] = patch
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)


class Prefetcher:
    """The batches of a :class:`CropDataset`, drawn a few steps ahead in worker threads.

    Why: drawing a batch's crops takes one core about 38 ms (16 crops of 256x256, two
    candidates each), which a GPU step of the default model is expected to undercut (not yet
    measured on one), so the accelerator would wait for the CPU. A batch is a pure function
    of ``(seed, step, rank)``, so drawing it early, on another thread, changes nothing the run
    computes; numpy releases the GIL for the crops' arithmetic, so the threads run in parallel.
    """

    def __init__(self, data: CropDataset, size: int, rank: int = 0, depth: int = 8,
                 workers: int = 4):
        self.data, self.size, self.rank, self.depth = data, size, rank, depth
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crops")
        self._ahead: dict[int, Future] = {}

    def batch(self, step: int, stop: int | None = None) -> torch.Tensor:
        """What ``data.batch(step, size, rank)`` returns, mostly drawn already; nothing is
        drawn for steps from ``stop`` (the run's end) on."""
        for old in [s for s in self._ahead if s < step]:  # a jump (resume): drop what is stale
            self._ahead.pop(old).cancel()
        end = step + self.depth if stop is None else max(step + 1, min(step + self.depth, stop))
        for s in range(step, end):
            if s not in self._ahead:
                self._ahead[s] = self._pool.submit(self.data.batch, s, self.size, self.rank)
        return self._ahead.pop(step).result()


def detail(patch: np.ndarray) -> float:
    """Fine detail of an HxWxC uint8 patch: mean squared change from 2x2 box averaging.

    What a half-resolution copy of the patch cannot hold (8-bit units squared); 0 for a patch
    that is flat at the pixel scale. An odd last row or column is ignored.
    """
    h, w = patch.shape[0] // 2 * 2, patch.shape[1] // 2 * 2
    p = patch[:h, :w].astype(np.float32)
    corners = p[0::2, 0::2], p[1::2, 0::2], p[0::2, 1::2], p[1::2, 1::2]  # strided: no copies
    mean = sum(corners) * 0.25
    return sum(float(np.square(c - mean).sum(dtype=np.float64)) for c in corners) / p.size


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
