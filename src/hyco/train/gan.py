"""HiFiC's two training stages on top of :class:`~hyco.train.loop.Trainer`.

Stage ``rd`` (:class:`HiFiCTrainer`): E, the hyperprior and G with HiFiC's loss and no
discriminator::

    lambda' * bpp  +  k_M * MSE(0..255)  +  k_P * d_P

Stage ``gan`` (:class:`GANTrainer`): warm-started from stage 1 (``--init``), adds the
conditional multi-scale discriminator D and the non-saturating GAN loss::

    G:  lambda' * bpp + k_M * MSE + k_P * d_P + beta * softplus(-D(x_hat, y_hat))
    D:  softplus(-D(x, y_hat)) + softplus(D(x_hat, y_hat))

with the paper's weights k_M = 0.075 * 2**-5, k_P = 1, beta = 0.15, lambda' from the
regime's rate controller (:mod:`hyco.train.rate_control`), Adam at 1e-4 for G and D, the
learning rate divided by 10 half-way (the paper: after 500k of 1M steps; ``--milestones``
overrides). Updates alternate within a step: D learns from this batch's reconstructions
(detached), then G is scored by the updated D. D sees y_hat without gradient, so G learns
only through its image, as in the reference. d_P is LPIPS with ``--lpips FILE``, else
1 - MS-SSIM (+ D feature matching in stage 2): see :mod:`hyco.train.perceptual`.

Everything a resumed run needs is in the checkpoint (D, its optimiser, the schedule, the
RNG), so ``--resume`` continues exactly. Each ``--val-every`` steps the first crop of the
batch is also written as ``train_recons/stepN.png`` (original | reconstruction) and to
TensorBoard, so the texture G learns can be watched without a validation folder.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from hyco import zoo
from hyco.errors import HycoError
from hyco.nn.discriminator import MultiScaleDiscriminator
from hyco.train.loop import TrainConfig, Trainer
from hyco.train.losses import bits_per_pixel
from hyco.train.perceptual import Perceptual, feature_matching
from hyco.train.rate_control import RateControl

K_M = 0.075 * 2**-5  # distortion: MSE of 0..255 images
K_P = 1.0  # perceptual
BETA = 0.15  # GAN (generator) loss
D_SCALES = 3  # discriminator scales (the paper: 1; pix2pixHD: 3)


class HiFiCTrainer(Trainer):
    """Stage 1: rate-controlled distortion + perceptual loss, no discriminator."""

    def __init__(self, config: TrainConfig, resume: bool = False):
        if not isinstance(config.quality, str) or not zoo.spec(config.model).stages:
            raise HycoError(f"stage training is for hific models, not {config.model} "
                            f"quality {config.quality}")
        super().__init__(config, resume=resume)
        if not resume and not config.milestones and config.schedule == "multistep":
            self.schedule.milestones = [self.total_steps // 2]
        self.rate = RateControl.for_regime(config.quality, self.total_steps,
                                           above=config.lmbda)
        self.perceptual = Perceptual(config.lpips).to(self.device)

    def loss(self, out: dict, x: Tensor, lmbda: float) -> dict[str, Tensor]:
        return self.hific_loss(out, x)

    def hific_loss(self, out: dict, x: Tensor, fm: Tensor | None = None) -> dict[str, Tensor]:
        b, _, h, w = x.shape
        bpp = bits_per_pixel(out["likelihoods"], b * h * w)
        coded = float(bits_per_pixel(out["q_likelihoods"], b * h * w))
        weight = self.rate.weight(self.step, coded)
        x_hat = out["x_hat"].float()
        mse = F.mse_loss(x_hat, x)
        perc = self.perceptual(x_hat, x, fm)
        loss = weight * bpp + K_M * 255.0**2 * mse + K_P * perc["perceptual"]
        self._maybe_save_recon(x, x_hat)
        return {"loss": loss, "bpp": bpp, "mse": mse,
                **{k: v.detach() for k, v in perc.items()},
                "coded_bpp": torch.tensor(coded), "rate_weight": torch.tensor(weight),
                "target_bpp": torch.tensor(self.rate.target_at(self.step))}

    def _maybe_save_recon(self, x: Tensor, x_hat: Tensor) -> None:
        """Original | reconstruction of the batch's first crop, every ``val_every`` steps."""
        step = self.step + 1  # the step being computed
        if self.rank != 0 or (step % self.cfg.val_every and step != self.total_steps):
            return
        pair = torch.cat([x[0], x_hat[0].detach().clamp(0, 1)], dim=-1)
        arr = (pair.permute(1, 2, 0).cpu().float().numpy() * 255 + 0.5).astype(np.uint8)
        folder = self.rundir / "train_recons"
        folder.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        Image.fromarray(arr).save(folder / f"step{step:07d}.png")
        self.log.image("train/original_reconstruction", step, arr)


class GANTrainer(HiFiCTrainer):
    """Stage 2: HiFiC's loss plus the conditional multi-scale discriminator."""

    def __init__(self, config: TrainConfig, resume: bool = False):
        self._disc_state: dict | None = None
        super().__init__(config, resume=resume)
        if self.world > 1:
            raise HycoError("stage gan trains in one process (no DDP for the discriminator)")
        if not config.init and not resume and self.rank == 0:
            tqdm.write("note: stage gan from random weights; the paper warm-starts it from "
                       "stage rd (--init STAGE1.safetensors)")
        with torch.random.fork_rng(devices=[]):  # D's init leaves the run's RNG alone
            torch.manual_seed(config.seed)
            self.disc = MultiScaleDiscriminator(self.model.m, D_SCALES).to(self.device)
        self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=config.lr)
        if self._disc_state is not None:
            self.disc.load_state_dict(self._disc_state["disc"])
            self.disc_opt.load_state_dict(self._disc_state["disc_opt"])
            self._disc_state = None

    # -- checkpoints: D and its optimiser travel with the rest -----------------------------
    def state(self) -> dict:
        return {**super().state(), "disc": self.disc.state_dict(),
                "disc_opt": self.disc_opt.state_dict()}

    def _restore(self, state: dict) -> None:
        super()._restore(state)
        if "disc" not in state:
            raise HycoError(f"{self.rundir}: checkpoint of stage rd, not gan "
                            "(start stage gan with --init from stage rd's weights)")
        self._disc_state = state  # D is built after the parent's __init__ restored the rest

    # -- one step: D update, then G's loss under the updated D -----------------------------
    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16)

    def loss(self, out: dict, x: Tensor, lmbda: float) -> dict[str, Tensor]:
        latent = out["y_hat"].detach()
        x_hat = out["x_hat"]
        d_row = self.discriminator_step(x, x_hat.detach(), latent)
        self.disc.eval()  # scoring G: no power-iteration update, no D gradients
        self.disc.requires_grad_(False)
        try:
            with self._autocast():
                fake = self.disc(x_hat, latent)
                with torch.no_grad():
                    real = self.disc(x, latent)
        finally:
            self.disc.requires_grad_(True)
            self.disc.train()
        g_loss = torch.stack([F.softplus(-logits).mean() for logits, _ in fake]).mean()
        fm = feature_matching(real, fake) if self.perceptual.lpips is None else None
        losses = self.hific_loss(out, x, fm)
        losses["loss"] = losses["loss"] + BETA * g_loss
        return {**losses, "g_loss": g_loss.detach(), **d_row}

    def discriminator_step(self, x: Tensor, fake: Tensor, latent: Tensor) -> dict[str, Tensor]:
        """One Adam step of D on real ``x`` vs ``fake``, both conditioned on ``latent``."""
        for group in self.disc_opt.param_groups:
            group["lr"] = self.schedule.lr_at(self.step)
        with self._autocast():
            outs = self.disc(torch.cat([x, fake]), torch.cat([latent, latent]))
        b = x.shape[0]
        losses, p_real, p_fake = [], [], []
        for logits, _ in outs:
            real, fk = logits[:b], logits[b:]
            losses.append(F.softplus(-real).mean() + F.softplus(fk).mean())
            p_real.append(torch.sigmoid(real).mean())
            p_fake.append(torch.sigmoid(fk).mean())
        d_loss = torch.stack(losses).mean()
        if not math.isfinite(float(d_loss.detach())):
            raise HycoError(f"discriminator loss is {float(d_loss.detach())} at step {self.step}")
        self.disc_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        if self.cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.disc.parameters(), self.cfg.clip)
        self.disc_opt.step()
        return {"d_loss": d_loss.detach(), "d_real": torch.stack(p_real).mean().detach(),
                "d_fake": torch.stack(p_fake).mean().detach()}


STAGES: dict[str, type[Trainer]] = {"rd": HiFiCTrainer, "gan": GANTrainer}


def stage_trainer(stage: str) -> type[Trainer]:
    if stage not in STAGES:
        raise HycoError(f"unknown training stage {stage!r} (rd or gan)")
    return STAGES[stage]
