"""Training clips for the video codecs: synthetic camera motion over photos, and real video.

Real video is scarce here, so most clips are made by moving a crop window across a training
photograph: a per-clip pan (pixels per frame), zoom (scale per frame) and small rotation
(degrees per frame) about the window's centre. Such clips come with their exact optical flow,
which supervises the flow estimator early in training (no flow datasets exist here). Real
clips (consecutive frames of the videos found in the data folders, random crop and flip) add
real motion, occlusion and noise. Like :class:`~hyco.train.data.CropDataset`, a batch is a
pure function of ``(seed, step, rank)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hyco.errors import HycoError
from hyco.train.data import CropDataset, list_images

VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov", ".webm", ".y4m"}
MAX_REAL_FRAMES = 240  # per video, evenly spaced runs: bounds memory


@dataclass(frozen=True)
class Motion:
    """Per-frame camera motion of a synthetic clip."""

    pan: tuple[float, float]  # (dx, dy) pixels per frame
    zoom: float  # scale factor per frame
    rotate: float  # radians per frame

    @staticmethod
    def draw(rng: np.random.Generator, max_pan: float = 6.0) -> Motion:
        return Motion((float(rng.uniform(-max_pan, max_pan)), float(rng.uniform(-max_pan,
                                                                                max_pan))),
                      float(math.exp(rng.uniform(-0.03, 0.03))),
                      float(math.radians(rng.uniform(-1.5, 1.5))))

    def matrix(self, t: int) -> np.ndarray:
        """2x2 linear part of the map from window coordinates to image coordinates at t."""
        s, a = self.zoom**t, self.rotate * t
        return s * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def synthetic_clip(image: torch.Tensor, centre: tuple[float, float], motion: Motion,
                   frames: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames (T, 3, S, S) and flows (T-1, 2, S, S) of a window moving over ``image``.

    ``flows[t-1]`` maps frame t to frame t-1 for backward warping:
    ``warp(frame[t-1], flows[t-1]) ~ frame[t]`` (exact up to interpolation and borders).
    """
    _, h, w = image.shape
    g = (torch.arange(size, dtype=torch.float64) - (size - 1) / 2)
    gy, gx = torch.meshgrid(g, g, indexing="ij")
    window = torch.stack([gx, gy], -1)  # (S, S, 2) coordinates relative to the centre
    cx, cy = centre

    def image_coords(t: int) -> torch.Tensor:
        m = torch.from_numpy(motion.matrix(t))
        return window @ m.T + torch.tensor([cx + motion.pan[0] * t, cy + motion.pan[1] * t])

    out, flows = [], []
    for t in range(frames):
        p = image_coords(t)
        grid = torch.stack([2 * p[..., 0] / (w - 1) - 1, 2 * p[..., 1] / (h - 1) - 1], -1)
        out.append(F.grid_sample(image[None].double(), grid[None], mode="bilinear",
                                 padding_mode="reflection", align_corners=True)[0])
        if t:
            # window position q in frame t-1 with image_coords(t-1)(q) = image_coords(t)(p)
            m_prev = torch.from_numpy(motion.matrix(t - 1))
            shift = torch.tensor([cx + motion.pan[0] * (t - 1), cy + motion.pan[1] * (t - 1)])
            q = (p - shift) @ torch.linalg.inv(m_prev).T
            flows.append((q - window).permute(2, 0, 1))
    return torch.stack(out).float().clamp(0, 1), torch.stack(flows).float()


class ClipDataset:
    """Batches of clips (B, T, 3, S, S) and, for synthetic clips, their flows (else NaN)."""

    def __init__(self, folders: str | Path | list, frames: int = 3, crop: int = 128,
                 seed: int = 0, real_fraction: float = 0.3):
        folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
        self.frames, self.crop, self.seed = frames, crop, seed
        images = [f for d in folders for f in _images_or_empty(d)]
        videos = [p for d in folders for p in sorted(Path(d).rglob("*"))
                  if p.suffix.lower() in VIDEO_SUFFIXES] if folders else []
        if not images and not videos:
            raise HycoError(f"{', '.join(map(str, folders))}: no training images or videos")
        self.photos = CropDataset(folders[0], crop, seed) if images else None
        self.real = [v for v in (self._load_video(p) for p in videos) if v is not None]
        self.real_fraction = real_fraction if self.real else 0.0
        if self.photos is None:
            self.real_fraction = 1.0

    def _load_video(self, path: Path) -> np.ndarray | None:
        from hyco.video.color import yuv420_to_rgb
        from hyco.video.io import read_video

        try:
            _, frames = read_video(path, frames=MAX_REAL_FRAMES)
        except HycoError:
            return None
        arr = np.stack([yuv420_to_rgb(f) for f in frames])
        return arr if min(arr.shape[1:3]) >= self.crop and len(arr) >= self.frames else None

    def __len__(self) -> int:
        return (len(self.photos) if self.photos else 0) + len(self.real)

    def batch(self, step: int, size: int, rank: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, step, rank, 11])
        clips, flows = [], []
        nan = torch.full((self.frames - 1, 2, self.crop, self.crop), float("nan"))
        for b in range(size):
            if rng.random() < self.real_fraction:
                clips.append(self._real_clip(rng))
                flows.append(nan)
            else:
                clip, flow = self._synthetic(rng, step, b)
                clips.append(clip)
                flows.append(flow)
        return torch.stack(clips), torch.stack(flows)

    def _real_clip(self, rng: np.random.Generator) -> torch.Tensor:
        video = self.real[rng.integers(len(self.real))]
        n, h, w = video.shape[:3]
        step = int(rng.integers(1, 3))  # also skip a frame: larger motion
        span = step * (self.frames - 1) + 1
        t0 = int(rng.integers(n - span + 1)) if n >= span else 0
        idx = [min(t0 + step * i, n - 1) for i in range(self.frames)]
        top, left = rng.integers(h - self.crop + 1), rng.integers(w - self.crop + 1)
        clip = video[idx, top : top + self.crop, left : left + self.crop]
        if rng.random() < 0.5:
            clip = clip[:, :, ::-1]
        if rng.random() < 0.5:
            clip = clip[::-1]  # time reversal is still a plausible clip
        return torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2).float() / 255

    def _synthetic(self, rng: np.random.Generator, step: int,
                   b: int) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.photos is not None
        self.photos.wait()
        valid = [a for a in self.photos._images if a is not None]
        img = valid[rng.integers(len(valid))]
        image = torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255
        h, w = img.shape[:2]
        motion = Motion.draw(rng)
        reach = self.crop * 0.75 + 8 * (self.frames - 1)  # stay mostly inside the photo
        cx = rng.uniform(min(reach, w / 2), max(w - reach, w / 2))
        cy = rng.uniform(min(reach, h / 2), max(h - reach, h / 2))
        return synthetic_clip(image, (cx, cy), motion, self.frames, self.crop)


def _images_or_empty(folder: str | Path) -> list[Path]:
    try:
        return list_images(folder)
    except HycoError:
        return []
