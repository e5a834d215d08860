"""Training a prior on frozen transforms (checkerboard-vr) from cached latents.

Why a trainer of its own. Only the spatial prior learns, and its loss is the rate alone,
so a step needs the latent of a crop, not the crop: the frozen analysis of the whole corpus
is run once (about 9 minutes for its 230 megapixels at one thread) and cached in the run
folder, after which a step costs the prior alone (0.66 s for 16 crops of 256x256 pixels at
one thread, measured beside another training job; the analysis and synthesis of those crops
are not repeated per step). Everything else (checkpoints, exact resume, the schedule,
validation by real coding, export) is :class:`hyco.train.loop.Trainer`'s.

The loss is the non-anchor half's rate relative to the hyperprior's on the same elements
(``saving = 1 - loss``), so every rate level weighs alike.
"""

from __future__ import annotations

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from hyco.files import array_to_tensor, to_array
from hyco.train.data import list_images
from hyco.train.loop import Trainer, draw_level

CACHE = "latents.safetensors"
LATENT_CROP = 16  # latent elements a side (256 pixels); a multiple of the hyper stride 4


class LatentPriorTrainer(Trainer):
    """:class:`Trainer` for models with ``prior_loss`` (rate-only priors on frozen parts)."""

    def __init__(self, config, resume: bool = False):
        super().__init__(config, resume=resume)
        self.latents = self._cached_latents()
        self.names = sorted(k for k, v in self.latents.items()
                            if min(v.shape[-2:]) >= LATENT_CROP)

    def _dataset(self) -> None:
        return None  # steps read the cached latents, never image crops

    def _cached_latents(self) -> dict[str, torch.Tensor]:
        """The frozen analysis of every training image (before the rate gains), float16,
        cached per base-weights digest (new base weights: new latents)."""
        path = self.rundir / CACHE
        digest = self.model.analysis_digest()
        if path.is_file():
            cached = load_file(str(path))
            if cached.pop("__digest__", torch.zeros(0)).numpy().tobytes() == digest.encode():
                return cached
        model = self.model.eval()
        out = {}
        with torch.no_grad():
            for f in tqdm(list_images(self.cfg.data), desc="latents", unit="image"):
                arr, _ = to_array(f)
                x = array_to_tensor(arr).to(self.device)
                out[f.name] = model.g_a(model.pad(x)).float()[0].half().cpu().contiguous()
        self.rundir.mkdir(parents=True, exist_ok=True)
        save_file({**out, "__digest__": torch.frombuffer(bytearray(digest.encode()),
                                                         dtype=torch.uint8)}, str(path))
        return out

    def _batch(self) -> torch.Tensor:
        return latent_crops(self.latents, self.names, self.cfg.seed, self.step,
                            self.cfg.batch_size).to(self.device)

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        y = self._batch()
        torch.manual_seed(hash((cfg.seed, self.step, self.rank)) & 0x7FFF_FFFF)
        self.model.quality = draw_level(np.random.default_rng([cfg.seed, self.step, 7]),
                                        self.model.levels, cfg.level_weights)
        lr = self.schedule.lr_at(self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.model.train()
        loss = self.model.prior_loss(y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.main_params, cfg.clip)
        self.opt.step()
        self.step += 1
        value = float(loss.detach())
        return {"loss": value, "saving": 1.0 - value, "lr": lr}


def latent_crops(latents: dict[str, torch.Tensor], names: list[str], seed: int, step: int,
                 size: int) -> torch.Tensor:
    """(size, M, 16, 16) crops of cached latents on the hyper-latent's grid: a pure function
    of (seed, step), as image batches are, so runs that compare priors see the same crops."""
    rng = np.random.default_rng([seed, step, 11])
    c, crops = LATENT_CROP, []
    for _ in range(size):
        y = latents[names[int(rng.integers(len(names)))]]
        h, w = y.shape[-2:]
        i = int(rng.integers((h - c) // 4 + 1)) * 4
        j = int(rng.integers((w - c) // 4 + 1)) * 4
        crops.append(y[:, i:i + c, j:j + c].float())
    return torch.stack(crops)
