"""`hyco train`: rate-distortion training of any zoo model, resumable and DDP-ready.

Design: a batch and the quantisation noise of a step are pure functions of
``(seed, step, rank)``, and the model, both optimisers and the LR schedule are saved in
the checkpoint, so ``--resume`` continues exactly where an uninterrupted run would be.
The density's quantile (auxiliary) loss has its own optimiser and is stepped inside the
loop. Under DDP the quantiles are left out of gradient averaging: their loss does not
depend on the data, so every rank computes the same update anyway.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hyco import api, zoo
from hyco.errors import HycoError
from hyco.eval.metrics import psnr
from hyco.image import ImageCodec
from hyco.train import checkpoint
from hyco.train.data import CropDataset, Prefetcher, load_val_images
from hyco.train.log import RunLog
from hyco.train.losses import rd_loss
from hyco.train.precision import resolve_bf16
from hyco.train.schedule import LRSchedule

MSSSIM_LAMBDAS = {1: 2.40, 2: 4.58, 3: 8.73, 4: 16.64, 5: 31.73, 6: 60.50, 7: 115.37, 8: 220.0}


@dataclass
class TrainConfig:
    model: str
    quality: int
    data: str
    out: str
    lmbda: float | None = None
    metric: str = "mse"
    val: str | None = None
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = 8
    crop: int = 256
    crop_candidates: int = 2  # each crop the more detailed of this many (hyco.train.data)
    level_weights: list[float] = field(default_factory=list)  # variable rate: draw odds per level
    lr: float = 1e-4
    aux_lr: float = 1e-3
    clip: float = 1.0
    schedule: str = "multistep"
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    patience: int = 5
    bf16: bool = False
    channels_last: bool = False
    ckpt_every: int = 1000
    val_every: int = 1000
    log_every: int = 20
    val_images: int = 8
    save_recons: int = 2
    seed: int = 0
    init: str | None = None
    size: list[int] | None = None  # (N, M): the --init file's (zoo.weights_size), else the spec's
    grown_only: bool = False  # train only the channels a grown --init added (hyco.image.widen)
    quantizer: str = "noise"  # "ste": the transforms see rounded latents (round_for_synthesis)
    grown_m: int = 0  # the latent channels before growing (from the --init file's metadata)
    warm_prior: str | None = None  # a prior of other transforms, its prior parts over --init
    init_steps: int = 0  # steps already behind --init weights (read from their metadata)
    base_steps: int = 0  # checkerboard-vr: the steps of the frozen base model's weights
    export: str | None = None
    stage: str | None = None  # generative models (hific): "rd" or "gan" (hyco.train.gan)
    lpips: str | None = None  # hific: LPIPS weights (safetensors) for the perceptual loss

    def resolved_lambda(self) -> float:
        if self.lmbda is not None:
            return self.lmbda
        if isinstance(self.quality, str):  # a named regime: its rate weight above the target
            from hyco.train.rate_control import RATE_WEIGHT_ABOVE

            return RATE_WEIGHT_ABOVE[self.quality]
        ladder = zoo.spec(self.model).lambdas or zoo.LAMBDAS  # e.g. QRes-VAE's own ladder
        table = ladder if self.metric == "mse" else MSSSIM_LAMBDAS
        return table[self.quality]


def draw_level(rng: np.random.Generator, levels: int, weights: list[float]) -> int:
    """A rate level 1..levels for one step of a variable-rate model.

    Uniform by default. ``weights`` (one relative odds per level) let a round spend more steps
    where the curve is weakest: the top levels are what train the transforms to keep detail,
    and with uniform draws the top half of the ladder gets only half of the updates
    (BENCHMARKS, default model round 4). Shared by the image and video trainers.
    """
    if not weights:
        return int(rng.integers(1, levels + 1))
    p = np.asarray(weights, dtype=np.float64)
    return int(rng.choice(levels, p=p / p.sum())) + 1


def apply_quantizer(model: nn.Module, quantizer: str, name: str) -> None:
    """`--quantizer`: "noise" leaves ``model`` as it is; "ste" makes its syntheses train on
    rounded latents (``round_for_synthesis``), refused in one line for a model without them."""
    if quantizer == "noise":
        return
    if quantizer != "ste" or not hasattr(model, "round_for_synthesis"):
        raise HycoError(f"--quantizer {quantizer} is not one {name} trains with (ste: the "
                        "hyperprior image models, HyCoVC's context, flow and full)")
    model.round_for_synthesis = True


def check_level_weights(weights: list[float], levels: int | None) -> None:
    """Reject odds that cannot be drawn from, in one line, before a run starts."""
    if not weights:
        return
    if levels is None:
        raise HycoError("--level-weights is for variable-rate models (mean-scale-vr)")
    if len(weights) != levels:
        raise HycoError(f"--level-weights needs {levels} values (one per level), "
                        f"got {len(weights)}")
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise HycoError("--level-weights must be non-negative with a positive sum")


def _split_params(model: nn.Module) -> tuple[list, list, list[str]]:
    main, aux, aux_names = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:  # frozen parts (checkerboard-vr's base transforms)
            continue
        if name.endswith("quantiles"):
            aux.append(p)
            aux_names.append(name)
        else:
            main.append(p)
    return main, aux, aux_names


_SHOWN = (("loss", 3), ("bpp", 3), ("psnr", 2), ("saving", 3))  # progress-bar figures


def _dist_info() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world


def validate(model: ImageCodec, images: list[tuple[str, np.ndarray]],
             quality: int | float | None = None) -> tuple[dict, list]:
    """Real coding of whole images: bpp from the bytes of the .hyco file, PSNR of the decode."""
    was_training = model.training
    model.eval()
    if quality is not None and (getattr(model, "levels", None) or hasattr(model, "draw_rate")):
        model.quality = quality
    bpps, psnrs, recons = [], [], []
    try:
        for name, arr in images:
            data = api.compress_with(model, arr)
            rec = api.decompress_with(model, data)
            bpps.append(8 * len(data) / (arr.shape[0] * arr.shape[1]))
            psnrs.append(psnr(rec, arr))
            recons.append((name, rec))
    finally:
        model.train(was_training)
    return {"bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))}, recons


class StepLoop:
    """What every hyco trainer shares (image RD, HiFiC's stages, HyCoVC): restoring a
    checkpoint exactly, and the step loop with its progress bar, log rows averaged over
    ``log_every`` steps (with the throughput) and a checkpoint every ``ckpt_every`` steps and at
    the end. A subclass sets ``cfg``, ``step``, ``rundir``, ``log``, ``model``, ``opt``,
    ``aux_opt`` and ``schedule``, and gives ``train_step`` and ``state``; ``observe`` and
    ``periodic`` hook a plateau schedule and validation in."""

    def train_step(self) -> dict[str, float]:
        raise NotImplementedError

    def state(self) -> dict:
        raise NotImplementedError

    def save(self) -> None:
        checkpoint.save(self.rundir, self.state())

    def observe(self, mean: dict[str, float]) -> None:
        """Called with each logged mean row (a plateau schedule watches the loss)."""

    def periodic(self, total: int) -> None:
        """Called after every step, before the checkpoint (validation)."""

    def restore(self, state: dict, milestones: list[int] | None = None) -> None:
        """Model, both optimisers, schedule (optionally with new milestones), RNG and step."""
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        if self.aux_opt is not None:
            self.aux_opt.load_state_dict(state["aux_opt"])
        sched = state["schedule"]
        if milestones:
            sched["milestones"] = list(milestones)
        self.schedule = LRSchedule.from_state(sched)
        torch.set_rng_state(state["rng"])
        self.step = int(state["step"])

    def loop(self, total: int, desc: str, show: bool = True, final: bool = True) -> None:
        """Train up to step ``total``. ``final=False``: that step is not the run's end (a
        timed run's probe), so it gets no end-of-run validation, only the checkpoint."""
        cfg = self.cfg
        window: list[dict] = []
        bar = tqdm(total=total, initial=self.step, disable=not show, unit="step",
                   dynamic_ncols=True, desc=desc)
        start, first = time.perf_counter(), self.step
        while self.step < total:
            row = self.train_step()
            window.append(row)
            bar.update(1)
            bar.set_postfix({k: f"{row[k]:.{d}f}" for k, d in _SHOWN if k in row})
            if self.step % cfg.log_every == 0 or self.step == total:
                mean = {k: float(np.mean([r[k] for r in window])) for k in window[0]}
                mean["steps_per_s"] = (self.step - first) / (time.perf_counter() - start)
                self.log.row("train", self.step, mean)
                self.observe(mean)
                window = []
            self.periodic(total if final else -1)
            if self.step % cfg.ckpt_every == 0 or self.step == total:
                self.save()
        bar.close()


class Trainer(StepLoop):
    def __init__(self, config: TrainConfig, resume: bool = False):
        self.cfg = config
        self.rank, self.world = _dist_info()
        self.rundir = Path(config.out)
        self.lmbda = config.resolved_lambda()
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            torch.distributed.init_process_group(backend)
        self.device = torch.device(
            f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
        config.bf16 = resolve_bf16(config.bf16, self.device)

        if config.size is None and config.init and not resume:
            size = zoo.weights_size(config.init, config.model)  # a grown one: its own size
            config.size = list(size) if size else None
        self.model = zoo.build(config.model, config.quality, _size(config)).to(self.device)
        check_level_weights(config.level_weights, getattr(self.model, "levels", None))
        if config.init and not resume:
            zoo.load_weights(self.model, config.init, base_ok=True)
            meta = zoo.weights_metadata(config.init)
            # a base model's file (checkerboard-vr from mean-scale-vr) starts the new parts at 0
            own = meta.get("model") == config.model
            config.init_steps = int(meta.get("steps", 0)) if own else 0
            config.base_steps = int(meta.get("base_steps" if own else "steps", 0))
        if config.warm_prior and not resume:  # a new base round: the old prior, warm
            zoo.load_prior(self.model, config.warm_prior)
            config.init_steps = int(zoo.weights_metadata(config.warm_prior).get("steps", 0))
        if config.grown_only:
            self._freeze_all_but_grown(resume)
        apply_quantizer(self.model, config.quantizer, config.model)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        main, aux, aux_names = _split_params(self.model)
        self.main_params, self.aux_params = main, aux
        self.opt = torch.optim.Adam(main, lr=config.lr)
        # models without a factorized density (the hierarchical VAEs) have no aux loss
        self.aux_opt = torch.optim.Adam(aux, lr=config.aux_lr) if aux else None
        self.data = self._dataset()
        # a GPU steps faster than one core crops: draw batches ahead (hyco.train.data.Prefetcher)
        self.batches = (Prefetcher(self.data, config.batch_size, self.rank)
                        if self.data is not None and self.device.type == "cuda" else None)
        self.total_steps = self._total_steps()
        milestones = config.milestones or [int(self.total_steps * f) for f in (0.8, 0.95)]
        self.schedule = LRSchedule(kind=config.schedule, base_lr=config.lr,
                                   milestones=milestones, gamma=config.gamma,
                                   patience=config.patience)
        self.step = 0
        if resume:
            self._restore(checkpoint.load(self.rundir))
        self.net: nn.Module = self.model
        if self.world > 1:
            nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
                self.model, aux_names)
            self.net = nn.parallel.DistributedDataParallel(self.model)
        self.val_images = (load_val_images(config.val, config.val_images)
                           if config.val and self.rank == 0 else [])
        self.log = RunLog(self.rundir, enabled=self.rank == 0)

    def _freeze_all_but_grown(self, resume: bool) -> None:
        """Only the grown channels learn (their entries of the grown tensors; the entropy
        model's quantiles still follow): gradients elsewhere are masked to zero, so Adam,
        starting from zero moments, leaves those entries exactly as they were."""
        from hyco.image.widen import grown_mask

        cfg = self.cfg
        if not resume:
            meta = zoo.weights_metadata(cfg.init) if cfg.init else {}
            if "grown_m" not in meta:
                raise HycoError("--grown-only needs --init weights made by recipes/widen.py")
            cfg.grown_m = int(meta["grown_m"])
        masks = grown_mask(self.model, cfg.grown_m)
        for name, p in self.model.named_parameters():
            if name in masks:
                mask = masks[name].to(p.device)
                p.register_hook(lambda g, mask=mask: g * mask)
            elif not name.endswith("quantiles"):
                p.requires_grad_(False)

    def _dataset(self) -> CropDataset | None:
        """The image crops a step trains on; a trainer that never reads them returns None,
        so the corpus is not decoded into memory for nothing."""
        cfg = self.cfg
        return CropDataset(cfg.data, cfg.crop, cfg.seed, cfg.crop_candidates)

    def _total_steps(self) -> int:
        if self.cfg.steps is not None:
            return self.cfg.steps
        if self.cfg.epochs is not None:
            if self.data is None:
                raise HycoError(f"{self.cfg.model} trains from cached latents, not image "
                                "epochs: give --steps")
            per_epoch = math.ceil(len(self.data) / (self.cfg.batch_size * self.world))
            return max(1, round(self.cfg.epochs * per_epoch))
        raise HycoError("give --steps or --epochs")

    # -- checkpoints -----------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "aux_opt": self.aux_opt.state_dict() if self.aux_opt is not None else {},
            "schedule": self.schedule.state_dict(),
            "rng": torch.get_rng_state(),
            "config": asdict(self.cfg),
        }

    def _restore(self, state: dict) -> None:
        self.restore(state, self.cfg.milestones)  # a resumed run may be given new milestones

    def save(self) -> None:
        if self.rank == 0:
            checkpoint.save(self.rundir, self.state())
        if self.world > 1:
            torch.distributed.barrier()

    # -- the loop --------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        x = (self.batches.batch(self.step, self.total_steps) if self.batches is not None
             else self.data.batch(self.step, cfg.batch_size, self.rank)).to(self.device)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        torch.manual_seed(hash((cfg.seed, self.step, self.rank)) & 0x7FFF_FFFF)
        lmbda = self.lmbda
        draw = getattr(self.model, "draw_rate", None)
        if draw is not None:  # lambda-conditioned (QARV): the model draws a lambda per image
            rng = np.random.default_rng([cfg.seed, self.step, 7])
            lmbda = draw(rng, x.shape[0]).to(self.device)
        elif getattr(self.model, "levels", None):  # variable rate: a level (and lambda) per step
            level = draw_level(np.random.default_rng([cfg.seed, self.step, 7]),
                               self.model.levels, cfg.level_weights)
            self.model.quality = level
            ladder = zoo.LAMBDAS if cfg.metric == "mse" else MSSSIM_LAMBDAS
            lmbda = ladder[level] * (self.lmbda / ladder[cfg.quality])  # --lmbda rescales
        lr = self.schedule.lr_at(self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.net.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            out = self.net(x)
        losses = self.loss(out, x, lmbda)
        self.opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.main_params, cfg.clip)
        self.opt.step()
        aux = self.model.aux_loss()
        if self.aux_opt is not None:
            self.aux_opt.zero_grad(set_to_none=True)
            aux.backward()
            self.aux_opt.step()
        self.step += 1
        losses = {k: v.detach() for k, v in losses.items()}
        mse = float(losses["mse"])
        row = {"loss": float(losses["loss"]), "bpp": float(losses["bpp"]), "mse": mse,
               "psnr": 10 * math.log10(1 / max(mse, 1e-12)), "aux": float(aux.detach()), "lr": lr}
        if "ms_ssim" in losses:
            row["ms_ssim"] = float(losses["ms_ssim"])
        row.update({k: float(v) for k, v in losses.items() if k not in row})  # e.g. GAN terms
        return row

    def loss(self, out: dict, x: torch.Tensor, lmbda: float) -> dict[str, torch.Tensor]:
        """The objective of a step: ``{"loss", "bpp", "mse", ...}``; subclasses (HiFiC's
        stages in :mod:`hyco.train.gan`) replace it and keep the rest of the loop."""
        return rd_loss(out, x, lmbda, self.cfg.metric)

    def observe(self, mean: dict[str, float]) -> None:
        self.schedule.observe(mean["loss"])

    def periodic(self, total: int) -> None:
        if self.val_images and (self.step % self.cfg.val_every == 0 or self.step == total):
            self._validate()

    def run(self) -> None:
        cfg = self.cfg
        self.rundir.mkdir(parents=True, exist_ok=True)
        if self.rank == 0:
            (self.rundir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
        self.loop(self.total_steps, f"{cfg.model} q{cfg.quality}", show=self.rank == 0)
        if cfg.export and self.rank == 0:
            export(self.rundir, cfg.export, model=self.model)
        self.log.close()

    def _validate(self) -> None:
        metrics, recons = validate(self.model, self.val_images, self.cfg.quality)
        self.log.row("val", self.step, metrics)
        tqdm.write(f"step {self.step}: val {metrics['bpp']:.4f} bpp (on disk), "
                   f"{metrics['psnr']:.2f} dB")
        folder = self.rundir / "val"
        folder.mkdir(exist_ok=True)
        from PIL import Image

        for name, rec in recons[: self.cfg.save_recons]:
            stem = Path(name).stem
            Image.fromarray(rec).save(folder / f"step{self.step:07d}_{stem}.png")
            self.log.image(f"val/{stem}", self.step, rec)


def export(rundir: str | Path, out: str | Path | None = None,
           model: ImageCodec | None = None, half: bool = False,
           base: str | Path | None = None) -> Path:
    """Write a run's weights as safetensors (what `hyco compress --weights` and the zoo load);
    ``base``: only what the model adds to that base weights file (:func:`hyco.zoo.save_weights`)."""
    rundir = Path(rundir)
    cfg_path = rundir / "config.json"
    if not cfg_path.is_file():
        raise HycoError(f"{rundir}: not a training run folder (no config.json)")
    cfg = TrainConfig(**json.loads(cfg_path.read_text()))
    if model is None:
        model = zoo.build(cfg.model, cfg.quality, _size(cfg))
        model.load_state_dict(checkpoint.load(rundir)["model"])
    path = Path(out) if out else rundir / f"{cfg.model}-q{cfg.quality}.safetensors"
    steps = checkpoint.load(rundir)["step"] if (rundir / checkpoint.CHECKPOINT).exists() else 0
    zoo.save_weights(model, path, cfg.quality, half=half, base=base,
                     extra={"lmbda": str(cfg.resolved_lambda()), "metric": cfg.metric,
                            "steps": str(steps + cfg.init_steps),
                            **({"base_steps": str(cfg.base_steps)} if cfg.base_steps else {})})
    return path


def _size(config: TrainConfig) -> tuple[int, int] | None:
    return (int(config.size[0]), int(config.size[1])) if config.size else None


def trainer_class(config: TrainConfig) -> type[Trainer]:
    """The trainer of a config's model: the image RD one, or a rate-only prior's, or a stage's."""
    cls = Trainer
    if hasattr(zoo.spec(config.model).cls, "prior_loss"):  # a rate-only prior (checkerboard-vr)
        from hyco.train.latent_prior import LatentPriorTrainer

        cls = LatentPriorTrainer
    if config.stage is not None:  # generative models train in stages (rd, then gan)
        from hyco.train.gan import stage_trainer

        cls = stage_trainer(config.stage)
    return cls


def train(config: TrainConfig, resume: bool = False) -> Trainer:
    trainer = trainer_class(config)(config, resume=resume)
    trainer.run()
    return trainer
