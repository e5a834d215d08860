"""Rate-distortion objectives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def bits_per_pixel(likelihoods: dict[str, Tensor], num_pixels: int) -> Tensor:
    """The model's own estimate of the rate: -log2 of every latent's likelihood, per pixel."""
    total = sum(torch.log2(lik).sum() for lik in likelihoods.values())
    return -total / num_pixels


def rd_loss(out: dict, x: Tensor, lmbda: float) -> dict[str, Tensor]:
    """``lambda * 255^2 * MSE + bpp`` (CompressAI's convention, so its lambdas carry over)."""
    b, _, h, w = x.shape
    bpp = bits_per_pixel(out["likelihoods"], b * h * w)
    mse = F.mse_loss(out["x_hat"], x)
    return {"loss": lmbda * 255.0**2 * mse + bpp, "bpp": bpp, "mse": mse}
