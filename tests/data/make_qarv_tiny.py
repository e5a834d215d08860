"""Train the tiny QARV that tests/image/test_qres.py checks for trained-model behaviour.

Progressive decoding that improves with every layer, and rates that grow with lambda, only
appear once a hierarchical VAE has learnt to use its latents and its lambda input, which
takes more steps than a test can afford; so the tests load these weights (fp16, ~350 KB).
Rebuild them (a few CPU minutes) whenever the architecture changes:

    python tests/data/make_qarv_tiny.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from conftest import multiscale_images  # noqa: E402
from hyco.image.qres import QARV  # noqa: E402
from hyco.train import rd_loss  # noqa: E402

OUT = HERE / "qarv-tiny.safetensors"
SIZE = (16, 32)  # (N, M) of QARV
STEPS, BATCH, CROP, LR = 2500, 4, 128, 2e-3


def main() -> None:
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = QARV(*SIZE)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    data = multiscale_images(64, CROP, CROP, seed=1)
    rng = np.random.default_rng(0)
    model.train()
    for step in range(STEPS):
        if step == int(0.8 * STEPS):
            for group in opt.param_groups:
                group["lr"] = LR / 10
        i = (step * BATCH) % len(data)
        x = data[i : i + BATCH]
        lmbdas = model.draw_rate(rng, BATCH)  # before the forward, which consumes them
        losses = rd_loss(model(x), x, lmbdas)
        opt.zero_grad()
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0:
            print(f"step {step}: bpp {losses['bpp'].item():.3f} mse {losses['mse'].item():.5f}",
                  flush=True)
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(OUT), metadata={"model": "qarv", "N": str(SIZE[0]), "M": str(SIZE[1]),
                                         "steps": str(STEPS)})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
