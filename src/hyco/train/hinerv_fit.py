"""HiNeRV's encoder: overfit a network to one video, prune it, quantise it (the paper's pipeline).

Three stages, each a number of epochs over every patch of every frame in a fresh random
order (HiNeRV's schedule, scaled by ``epochs``: 300 + 60 + 30 in the paper):

1. ``train``: Adam, lr 2e-3 with a linear warm-up over the first 10% of steps from 1% of it,
   then cosine decay to 1% of it; gradients clipped to norm 1; loss
   ``0.7 * L1 + 0.3 * (1 - MS-SSIM)`` with a 5x5 MS-SSIM window (patches are small).
2. ``prune`` (``epochs / 5``, skipped when ``prune`` is 0): the given fraction of all coded
   parameters is zeroed, taken from the convolution weights by magnitude scaled by
   ``1 / sqrt(tensor size)`` (so large tensors give up more), then fine-tuning with the
   zeros held (re-applied after every step), cosine lr from the base rate.
3. ``quant`` (``epochs / 10``, at least 1): quantisation-aware training at ``bits`` per
   tensor (one step per tensor): a random 90% of every tensor's entries take their quantised
   value in each forward pass (Quant-Noise) with straight-through gradients, lr x 0.1.

A run folder holds ``config.json`` (architecture, settings, a digest of the frames) and a
checkpoint after every epoch (model, optimiser, pruning masks, stage, epoch and the training
seconds so far; loaded with ``weights_only``), and per-stage CSV logs. Patch orders and
quantisation noise are drawn from generators seeded by (seed, stage, epoch, step), so a
resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hyco.errors import HycoError
from hyco.eval.metrics import ms_ssim
from hyco.nn.weight_quant import MAX_BITS, MIN_BITS, Step, quantize
from hyco.train import checkpoint
from hyco.train.log import RunLog
from hyco.video.hinerv import HiNeRV, prunable
from hyco.video.hinerv_config import HiNeRVConfig, config_for

L1_WEIGHT = 0.7
SSIM_WINDOW = 5
MIN_LR_FRACTION = 0.01
WARMUP_FRACTION = 0.1
QUANT_LR_SCALE = 0.1
CLIP_NORM = 1.0
RUN_VERSION = 1


@dataclass
class HiNeRVSettings:
    """The encoder's trade-offs: size (rate), epochs (time vs quality), bits, prune fraction."""

    size: str = "s"
    epochs: int = 300
    bits: int = 6
    prune: float = 0.15
    lr: float = 2e-3
    quant_noise: float = 0.9
    seed: int = 0
    scales: tuple[int, ...] | None = None  # upsampling factors; None: chosen by frame size
    patch_side: int = 32  # patches are at least this many pixels on a side (when the frame is)
    step_pixels: int = 1 << 16  # output pixels per optimisation step

    def __post_init__(self) -> None:
        if self.scales is not None:
            self.scales = tuple(int(s) for s in self.scales)
        if self.epochs < 1:
            raise HycoError("--epochs must be at least 1")
        if not MIN_BITS <= self.bits <= MAX_BITS:
            raise HycoError(f"--bits must be {MIN_BITS}..{MAX_BITS}")
        if not 0 <= self.prune < 1:
            raise HycoError("--prune must be a fraction in [0, 1)")

    def stages(self) -> list[tuple[str, int]]:
        """(name, epochs) of the three stages."""
        return [("train", self.epochs),
                ("prune", max(1, round(self.epochs / 5)) if self.prune > 0 else 0),
                ("quant", max(1, round(self.epochs / 10)))]


def _seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode()) & 0x7FFF_FFFF


def build(cfg: HiNeRVConfig, seed: int = 0) -> HiNeRV:
    """The untrained network, the same in every process for a given seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return HiNeRV(cfg)


def frames_digest(frames: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()[:16]


def patch_cells(cfg: HiNeRVConfig, side: int) -> tuple[int, int]:
    """Patch size in base cells: per axis the smallest divisor of the base grid that gives at
    least ``side`` pixels (patches tile the canvas exactly)."""
    want = max(1, -(-side // cfg.stride))
    out = []
    for n in cfg.base_size:
        out.append(next((d for d in range(want, n + 1) if n % d == 0), n))
    return out[0], out[1]


def prune_masks(model: HiNeRV, fraction: float) -> dict[str, torch.Tensor]:
    """Keep-masks zeroing ``fraction`` of all coded parameters, chosen among the prunable
    weights by ``|w| / sqrt(size)`` (HiNeRV's scoring), the smallest first."""
    params = dict(model.named_parameters())
    names = [n for n in params if prunable(n)]
    total = sum(p.numel() for p in params.values())
    with torch.no_grad():
        scores = torch.cat([params[n].abs().flatten() / math.sqrt(params[n].numel())
                            for n in names])
    amount = min(int(total * fraction), scores.numel())
    keep = torch.ones(scores.numel(), dtype=torch.bool)
    keep[torch.argsort(scores, stable=True)[:amount]] = False
    masks, pos = {}, 0
    for n in names:
        k = params[n].numel()
        masks[n] = keep[pos : pos + k].view(params[n].shape).clone()
        pos += k
    return masks


class HiNeRVTrainer:
    """Runs (or resumes) the three stages on ``frames`` (T x H x W x 3 uint8 R'G'B')."""

    def __init__(self, frames: np.ndarray, settings: HiNeRVSettings,
                 run: str | Path | None = None, progress: bool = True,
                 on_epoch: Callable[[str, int, dict[str, float]], None] | None = None):
        if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
            raise HycoError("HiNeRV trains on T x H x W x 3 uint8 frames")
        t, h, w, _ = frames.shape
        self.settings = settings
        self.cfg = config_for(h, w, t, settings.size, settings.scales)
        hc, wc = self.cfg.level_size(len(self.cfg.scales))
        # the canvas (a whole number of base cells) extends the frames by edge replication
        self.frames = torch.from_numpy(np.pad(frames, ((0, 0), (0, hc - h), (0, wc - w), (0, 0)),
                                              mode="edge"))
        self.cells = patch_cells(self.cfg, settings.patch_side)
        self.grid = (self.cfg.base_size[0] // self.cells[0], self.cfg.base_size[1] // self.cells[1])
        patch_px = self.cells[0] * self.cells[1] * self.cfg.stride**2
        per_frame = self.grid[0] * self.grid[1]
        self.batch = max(1, min(per_frame, settings.step_pixels // patch_px))
        self.items = t * per_frame
        self.model = build(self.cfg, settings.seed)
        self.masks: dict[str, torch.Tensor] = {}
        self.stage, self.epoch = 0, 0
        self.seconds = 0.0  # training time so far, over every session of the run
        self.run_dir = Path(run) if run is not None else None
        self.progress, self.on_epoch = progress, on_epoch
        self.digest = frames_digest(frames)
        self.log: RunLog | None = None
        self._state: dict | None = None
        if self.run_dir is not None:
            self._open_run()

    # -- run folder ----------------------------------------------------------------------------
    def _run_record(self) -> dict:
        return {"version": RUN_VERSION, "video": self.digest, "config": self.cfg.to_ints(),
                "settings": {**asdict(self.settings), "scales": list(self.cfg.scales)}}

    def _open_run(self) -> None:
        assert self.run_dir is not None
        record = self._run_record()
        path = self.run_dir / "config.json"
        if (self.run_dir / checkpoint.CHECKPOINT).is_file():
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError):
                old = None
            if old != record:
                raise HycoError(f"{self.run_dir} holds a run of another video or other "
                                "settings (delete it or pick another run folder)")
            state = checkpoint.load(self.run_dir)
            try:
                self.model.load_state_dict(state["model"])
                self.masks = dict(state["masks"])
                self.stage, self.epoch = int(state["stage"]), int(state["epoch"])
                self.seconds = float(state.get("seconds", 0.0))
            except (KeyError, RuntimeError, TypeError, ValueError) as exc:
                raise HycoError(f"{self.run_dir}: unusable checkpoint "
                                f"({exc.__class__.__name__}); delete the folder") from None
            self._state = state
        else:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=1))
        self.log = RunLog(self.run_dir)

    def _save(self, opt: torch.optim.Optimizer | None) -> None:
        if self.run_dir is None:
            return
        checkpoint.save(self.run_dir, {
            "stage": self.stage, "epoch": self.epoch, "model": self.model.state_dict(),
            "opt": opt.state_dict() if opt is not None else {}, "masks": self.masks,
            "seconds": self.seconds})

    @property
    def done(self) -> bool:
        return self.stage >= len(self.settings.stages())

    # -- training ------------------------------------------------------------------------------
    def _lr(self, name: str, step: int, total: int) -> float:
        base = self.settings.lr * (QUANT_LR_SCALE if name == "quant" else 1.0)
        low = base * MIN_LR_FRACTION
        warm = int(total * WARMUP_FRACTION) if name == "train" else 0
        if step < warm:
            return low + (base - low) * step / warm
        frac = (step - warm) / max(total - warm, 1)
        return low + (base - low) * 0.5 * (1 + math.cos(math.pi * frac))

    def _batch(self, order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        per_frame = self.grid[0] * self.grid[1]
        t = order // per_frame
        p = order % per_frame
        origin = torch.stack([(p // self.grid[1]) * self.cells[0],
                              (p % self.grid[1]) * self.cells[1]], dim=1)
        ph, pw = self.cells[0] * self.cfg.stride, self.cells[1] * self.cfg.stride
        target = torch.stack([self.frames[ti, oy * self.cfg.stride : oy * self.cfg.stride + ph,
                                          ox * self.cfg.stride : ox * self.cfg.stride + pw]
                              for ti, (oy, ox) in zip(t.tolist(), origin.tolist(), strict=True)])
        return t, origin, target.permute(0, 3, 1, 2).float() / 255.0

    def loss(self, x_hat: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        """HiNeRV's 0.7 L1 + 0.3 (1 - MS-SSIM); also the batch MSE (for PSNR)."""
        loss = L1_WEIGHT * F.l1_loss(x_hat, x)
        if min(x.shape[-2:]) >= SSIM_WINDOW:
            loss = loss + (1 - L1_WEIGHT) * (1 - ms_ssim(x_hat, x, window=SSIM_WINDOW).mean())
        else:  # patches too small for any SSIM window: L1 alone
            loss = loss / L1_WEIGHT
        return loss, float(F.mse_loss(x_hat.detach().clamp(0, 1), x))

    def _stage_setup(self, name: str) -> None:
        s = self.settings
        if name in ("prune", "quant") and s.prune > 0 and not self.masks:
            self.masks = prune_masks(self.model, s.prune)
            self._apply_masks()
        self.model.qat = (s.bits, s.quant_noise) if name == "quant" else None

    def _apply_masks(self) -> None:
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for n, m in self.masks.items():
                params[n].mul_(m)

    def _epoch(self, name: str, epochs: int, opt: torch.optim.Optimizer) -> dict[str, float]:
        s = self.settings
        steps = -(-self.items // self.batch)
        g = torch.Generator().manual_seed(_seed(s.seed, name, self.epoch))
        order = torch.randperm(self.items, generator=g)
        params = list(self.model.parameters())
        self.model.train()
        loss_sum = mse_sum = 0.0
        for k in range(steps):
            lr = self._lr(name, self.epoch * steps + k, epochs * steps)
            for group in opt.param_groups:
                group["lr"] = lr
            t, origin, x = self._batch(order[k * self.batch : (k + 1) * self.batch])
            self.model.noise_generator = torch.Generator().manual_seed(
                _seed(s.seed, name, self.epoch, k))
            x_hat = self.model(t, origin, self.cells)
            loss, mse = self.loss(x_hat, x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)
            opt.step()
            if self.masks:
                self._apply_masks()
            loss_sum += float(loss.detach())
            mse_sum += mse
        mse = mse_sum / steps
        return {"loss": loss_sum / steps, "psnr": 10 * math.log10(1 / max(mse, 1e-12)),
                "lr": lr}

    def train(self) -> HiNeRV:
        """Run the remaining epochs of every stage; returns the trained network."""
        stages = self.settings.stages()
        total = sum(e for _, e in stages)
        done = sum(e for _, e in stages[: self.stage]) + self.epoch
        bar = tqdm(total=total, initial=min(done, total), unit="epoch", dynamic_ncols=True,
                   disable=not self.progress, desc="hinerv")
        try:
            while not self.done:
                name, epochs = stages[self.stage]
                if self.epoch >= epochs:  # a skipped stage (no pruning)
                    self.stage, self.epoch = self.stage + 1, 0
                    continue
                self._stage_setup(name)
                opt = torch.optim.Adam(self.model.parameters(), lr=self.settings.lr)
                if self._state is not None and self._state.get("opt"):
                    opt.load_state_dict(self._state["opt"])
                self._state = None
                while self.stage < len(stages) and stages[self.stage][0] == name:
                    start = time.perf_counter()
                    row = self._epoch(name, epochs, opt)
                    self.seconds += time.perf_counter() - start
                    epoch = self.epoch + 1
                    finished = epoch == epochs
                    self.stage, self.epoch = (self.stage + 1, 0) if finished else (
                        self.stage, epoch)
                    self._save(None if finished else opt)  # a new stage: a fresh optimiser
                    bar.update(1)
                    bar.set_postfix(stage=name, loss=f"{row['loss']:.4f}",
                                    psnr=f"{row['psnr']:.2f}")
                    if self.log is not None:
                        self.log.row(name, epoch, row)
                    if self.on_epoch is not None:
                        self.on_epoch(name, epoch, row)
        finally:
            bar.close()
            if self.log is not None:
                self.log.close()
        self.model.qat = None
        self.model.eval()
        return self.model

    def quantized(self) -> dict[str, tuple[torch.Tensor, Step]]:
        """The trained network's integer weights and steps (pruned entries are zeros)."""
        if not self.done:
            raise HycoError("the network is not trained yet")
        return {n: quantize(p, self.settings.bits)
                for n, p in self.model.state_dict().items()}
