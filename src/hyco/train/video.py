"""Training HyCoVC (`hyco train --model hycovc --variant ...`): unrolled multi-frame RD.

Each step draws a batch of clips (:mod:`hyco.train.clips`) and a rate level; the first frame,
coded by the shipped I-frame codec at that level (``intra_ref``; as
:func:`hyco.video.coding.compress_video` codes it) and rounded to 8 bits, is the reference, and
every following frame is coded against the previous *reconstruction*, gradients flowing
through the chain, so the model learns to keep errors
from accumulating over several P-frames (the cascaded training of DCVC). The loss is the mean
over P-frames of ``lambda * 255^2 * MSE + bpp``; during the first ``flow_warmup`` steps a
decaying L1 term pulls the flow estimator towards the exact flow of synthetic clips.

``stage="gan"`` (HyCoVC's optional GAN stage, as HiFiC's second stage, warm-started with
``init`` from an RD run) adds HiFiC's conditional multi-scale discriminator, which sees each
P-frame with its upsampled quantised latent, and, per P-frame, the non-saturating generator
loss ``beta * softplus(-D(x_hat, y_hat))`` plus discriminator feature matching; D and the codec
are updated alternately (D on this batch's detached reconstructions first).
Checkpoints hold model, both optimisers, schedule, RNG and step, so ``--resume`` is exact.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hyco import zoo
from hyco.entropy.gaussian import GaussianConditional
from hyco.errors import HycoError
from hyco.nn.discriminator import MultiScaleDiscriminator
from hyco.nn.exact_layers import from_fixed
from hyco.train import checkpoint
from hyco.train.clips import ClipDataset
from hyco.train.log import RunLog
from hyco.train.loop import StepLoop, apply_quantizer, check_level_weights, draw_level
from hyco.train.losses import bits_per_pixel
from hyco.train.perceptual import feature_matching
from hyco.train.precision import resolve_bf16
from hyco.train.schedule import LRSchedule
from hyco.video.hycovc import CONFIGS, HyCoVC
from hyco.video.latent import LatentPrior, intra_codec


@dataclass
class VideoTrainConfig:
    variant: str
    data: str
    out: str
    size: str = "small"
    frames: int = 3
    crop: int = 128
    batch_size: int = 4
    steps: int = 10000
    lr: float = 1e-4
    aux_lr: float = 1e-3
    clip: float = 1.0
    schedule: str = "multistep"
    milestones: list[int] = field(default_factory=list)  # default: 80 % and 95 % of steps
    bf16: bool = False
    flow_warmup: int = 2000
    flow_weight: float = 0.1
    real_fraction: float = 0.3
    level_weights: list[float] = field(default_factory=list)  # draw odds per rate level
    ckpt_every: int = 250
    log_every: int = 20
    seed: int = 0
    init: str | None = None
    init_steps: int = 0
    export: str | None = None
    stage: str = "rd"  # "rd", or "gan" (adds the discriminator; warm-start with init)
    gan_weight: float = 0.15  # HiFiC's beta
    # the first frame as the I-frame codec decodes it, not the source: a P-frame codec
    # trained on perfect references learns to trust them, and at test time they are not
    intra_ref: bool = True
    quantizer: str = "noise"  # "ste": the syntheses see rounded latents (round_for_synthesis)


_GAUSSIAN = GaussianConditional()


def build(variant: str, size: str = "small", latent_m: int | None = None
          ) -> HyCoVC | LatentPrior:
    """The architecture, seeded so every process builds the same untrained model;
    ``latent_m``: the latent variant's channels (its I-frame model's M; default 192)."""
    if size not in CONFIGS:
        raise HycoError(f"unknown HyCoVC size {size!r} (known: {', '.join(CONFIGS)})")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(zlib.crc32(f"hycovc-{variant}-{size}".encode()))
        if variant == "latent":  # its size is the image codec's latent
            return LatentPrior(latent_m or LatentPrior.M)
        return HyCoVC(variant, CONFIGS[size])


def _intra_m(cfg: VideoTrainConfig) -> int | None:
    """The latent variant's size: the latent channels of the I-frame codec it conditions on."""
    return zoo.load(zoo.DEFAULT_MODEL).m if cfg.variant == "latent" else None


class VideoTrainer(StepLoop):
    def __init__(self, cfg: VideoTrainConfig, resume: bool = False):
        self.cfg = cfg
        cfg.bf16 = resolve_bf16(cfg.bf16, torch.device("cpu"))
        self.rundir = Path(cfg.out)
        self.model = build(cfg.variant, cfg.size, _intra_m(cfg))
        check_level_weights(cfg.level_weights, self.model.levels)
        apply_quantizer(self.model, cfg.quantizer, f"hycovc {cfg.variant}")
        if cfg.init and not resume:
            from hyco.video.weights import load_weights, weights_metadata

            load_weights(self.model, cfg.init)
            cfg.init_steps = int(weights_metadata(cfg.init).get("steps", 0))
        main = [p for n, p in self.model.named_parameters() if not n.endswith("quantiles")]
        aux = [p for n, p in self.model.named_parameters() if n.endswith("quantiles")]
        self.main_params = main
        self.opt = torch.optim.Adam(main, lr=cfg.lr)
        self.latent = isinstance(self.model, LatentPrior)
        if self.latent and cfg.stage != "rd":
            raise HycoError("the latent variant trains its temporal prior only (stage rd): "
                            "its pictures are the image codec's")
        self.aux_opt = torch.optim.Adam(aux, lr=cfg.aux_lr) if aux else None
        self.schedule = LRSchedule(kind=cfg.schedule, base_lr=cfg.lr,
                                   milestones=cfg.milestones or [int(cfg.steps * f)
                                                                 for f in (0.8, 0.95)])
        self.data = ClipDataset(cfg.data, cfg.frames, cfg.crop, cfg.seed, cfg.real_fraction)
        self.step = 0
        self.disc: MultiScaleDiscriminator | None = None
        if cfg.stage not in ("rd", "gan"):
            raise HycoError(f"unknown training stage {cfg.stage!r} (rd or gan)")
        if cfg.stage == "gan":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed)
                self.disc = MultiScaleDiscriminator(self.model.config.m, scales=2)
            self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=cfg.lr)
        if resume:
            state = checkpoint.load(self.rundir)
            if self.disc is not None:
                if "disc" not in state:
                    raise HycoError(f"{self.rundir}: checkpoint of stage rd, not gan")
                self.disc.load_state_dict(state["disc"])
                self.disc_opt.load_state_dict(state["disc_opt"])
            self.restore(state, cfg.milestones)  # a resumed run may be given new milestones
        self.log = RunLog(self.rundir)

    def state(self) -> dict:
        state = {"step": self.step, "model": self.model.state_dict(),
                 "opt": self.opt.state_dict(),
                 "aux_opt": self.aux_opt.state_dict() if self.aux_opt else {},
                 "schedule": self.schedule.state_dict(), "rng": torch.get_rng_state(),
                 "config": asdict(self.cfg)}
        if self.disc is not None:
            state.update(disc=self.disc.state_dict(), disc_opt=self.disc_opt.state_dict())
        return state

    def _gan_terms(self, x: torch.Tensor, x_hat: torch.Tensor, latent: torch.Tensor,
                   lr: float) -> tuple[torch.Tensor, dict[str, float]]:
        """One D step on (x, detached x_hat), then G's adversarial + feature-matching loss."""
        assert self.disc is not None
        latent = latent.detach()
        for group in self.disc_opt.param_groups:
            group["lr"] = lr
        b = x.shape[0]
        outs = self.disc(torch.cat([x, x_hat.detach()]), torch.cat([latent, latent]))
        d_loss = torch.stack([F.softplus(-o[:b]).mean() + F.softplus(o[b:]).mean()
                              for o, _ in outs]).mean()
        self.disc_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.disc_opt.step()
        self.disc.requires_grad_(False)
        try:
            fake = self.disc(x_hat, latent)
            with torch.no_grad():
                real = self.disc(x, latent)
        finally:
            self.disc.requires_grad_(True)
        g_loss = torch.stack([F.softplus(-o).mean() for o, _ in fake]).mean()
        fm = feature_matching(real, fake)
        return self.cfg.gan_weight * g_loss + fm, {"d_loss": float(d_loss.detach()),
                                                   "g_loss": float(g_loss.detach())}

    @torch.no_grad()
    def _reference(self, first: torch.Tensor, level: int) -> torch.Tensor:
        """The clip's I-frame: the source, or (``intra_ref``) the shipped image codec's
        decoded picture at the step's level (eval mode: rounded latents, no noise)."""
        if not self.cfg.intra_ref:
            return first
        intra = zoo.load(zoo.DEFAULT_MODEL, level)
        return intra(first.to(intra.device))["x_hat"].to(first.device).clamp(0, 1)

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        clips, flows = self.data.batch(self.step, cfg.batch_size)
        torch.manual_seed(hash((cfg.seed, self.step)) & 0x7FFF_FFFF)
        level = draw_level(np.random.default_rng([cfg.seed, self.step, 7]), self.model.levels,
                           cfg.level_weights)
        self.model.quality = level
        lmbda = zoo.LAMBDAS[level]
        lr = self.schedule.lr_at(self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.model.train()
        if self.latent:
            return self._latent_step(clips, level, lr)
        ref = torch.round(self._reference(clips[:, 0], level) * 255) / 255
        rd, bpp_sum, mse_sum, flow_loss = 0.0, 0.0, 0.0, torch.zeros(())
        gan_rows: list[dict[str, float]] = []
        n_p = clips.shape[1] - 1
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            for t in range(1, clips.shape[1]):
                x = clips[:, t]
                out = self.model(x, ref)
                mse = torch.mean((out["x_hat"].float() - x) ** 2)
                b, _, h, w = x.shape
                bpp = bits_per_pixel(out["likelihoods"], b * h * w)
                rd = rd + lmbda * 255**2 * mse + bpp
                if self.disc is not None:
                    adv, row = self._gan_terms(x, out["x_hat"].float(), out["y_hat"].float(), lr)
                    rd = rd + adv
                    gan_rows.append(row)
                bpp_sum += float(bpp.detach())
                mse_sum += float(mse.detach())
                gt = flows[:, t - 1]
                if "flow" in out and self.step < cfg.flow_warmup and torch.isfinite(gt).any():
                    ok = torch.isfinite(gt)
                    flow_loss = flow_loss + (out["flow"].float() - gt.nan_to_num()).abs()[ok].mean()
                ref = out["x_hat"].clamp(0, 1)
        warm = max(0.0, 1.0 - self.step / max(cfg.flow_warmup, 1))
        loss = rd / n_p + cfg.flow_weight * warm * flow_loss / n_p
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.main_params, cfg.clip)
        self.opt.step()
        aux = self.model.aux_loss()
        assert self.aux_opt is not None  # the pixel-domain models have factorized densities
        self.aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        self.aux_opt.step()
        self.step += 1
        mse = mse_sum / n_p
        gan = {k: float(np.mean([r[k] for r in gan_rows])) for k in gan_rows[0]} if gan_rows else {}
        return {**gan, "loss": float(loss.detach()), "bpp": bpp_sum / n_p, "mse": mse,
                "psnr": 10 * math.log10(1 / max(mse, 1e-12)),
                "flow_l1": float(flow_loss.detach()) / n_p,
                "level": level, "aux": float(aux.detach()), "lr": lr}

    def _latent_step(self, clips: torch.Tensor, level: int, lr: float) -> dict[str, float]:
        """``latent``: the temporal prior's rate of each P-frame latent given the previous
        decoded one (its distortion is the frozen image codec's); the hyperprior-only rate
        of the same latents (``mean-scale-vr``'s I-frame rate; the default context prior's
        I-frames cost less) is logged beside it (``saving`` is the fraction saved)."""
        # the I-frame codec files are made with (compress_video's intra_model): the prior
        # learns the latent of its transforms (the default's are mean-scale-vr's, by digest)
        intra = intra_codec(zoo.load(zoo.DEFAULT_MODEL, level))
        b, t = clips.shape[:2]
        with torch.no_grad():
            ys = intra.analysis(intra.pad(clips.flatten(0, 1).to(intra.device))).cpu()
            z_hat = intra.density.quantize(intra.hyper_latent(ys.to(intra.device)), noise=False)
            hyper = from_fixed(intra.hyper_layers_fixed(z_hat))
            lik_z = intra.density.likelihood(z_hat).cpu()
        ys, hyper = ys.unflatten(0, (b, t)), hyper.unflatten(0, (b, t))
        _, mu0 = hyper[:, 0].chunk(2, 1)
        ref = torch.round(ys[:, 0] - mu0) + mu0  # the I-frame's decoded latent
        pixels = b * clips.shape[-1] * clips.shape[-2]
        z_bits = float(-torch.log2(lik_z.unflatten(0, (b, t))[:, 1:]).sum()) / (t - 1)
        bits, intra_bits = torch.zeros(()), 0.0
        for i in range(1, t):
            y = ys[:, i]
            scales, means = self.model(hyper[:, i], ref)
            y_tilde = _GAUSSIAN.quantize(y, None, noise=True)
            bits = bits - torch.log2(_GAUSSIAN.likelihood(y_tilde, scales, means)).sum()
            with torch.no_grad():
                s_h, mu_h = hyper[:, i].chunk(2, 1)
                intra_bits -= float(torch.log2(_GAUSSIAN.likelihood(
                    y_tilde, s_h, mu_h)).sum())
            ref = (torch.round(y - means) + means).detach()
        loss = bits / ((t - 1) * pixels)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.main_params, self.cfg.clip)
        self.opt.step()
        self.step += 1
        bpp = float(loss.detach()) + z_bits / pixels
        intra_bpp = intra_bits / ((t - 1) * pixels) + z_bits / pixels
        return {"loss": float(loss.detach()), "bpp": bpp, "intra_bpp": intra_bpp,
                "saving": 1.0 - bpp / max(intra_bpp, 1e-12), "level": level, "lr": lr}

    def run(self) -> None:
        cfg = self.cfg
        self.rundir.mkdir(parents=True, exist_ok=True)
        (self.rundir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
        self.loop(cfg.steps, f"hycovc {cfg.variant}")
        if cfg.export:
            export(self.rundir, cfg.export, self.model)
        self.log.close()


def export(rundir: str | Path, out: str | Path, model: HyCoVC | None = None,
           half: bool = False) -> Path:
    """A run's weights as safetensors, with variant, size and steps in the metadata."""
    from hyco.video.weights import save_weights

    rundir = Path(rundir)
    cfg = VideoTrainConfig(**json.loads((rundir / "config.json").read_text()))
    state = checkpoint.load(rundir)
    if model is None:
        model = build(cfg.variant, cfg.size, _intra_m(cfg))
        model.load_state_dict(state["model"])
    save_weights(model, out, {"size": cfg.size, "steps": str(state["step"] + cfg.init_steps)},
                 half=half)
    return Path(out)


def train(cfg: VideoTrainConfig, resume: bool = False) -> VideoTrainer:
    trainer = VideoTrainer(cfg, resume)
    trainer.run()
    return trainer

