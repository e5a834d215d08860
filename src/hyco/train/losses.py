"""Rate-distortion objectives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from hyco.eval.metrics import ms_ssim


def bits_per_pixel(likelihoods: dict[str, Tensor], num_pixels: int) -> Tensor:
    """The model's own estimate of the rate: -log2 of every latent's likelihood, per pixel."""
    total = sum(torch.log2(lik).sum() for lik in likelihoods.values())
    return -total / num_pixels


def rd_loss(out: dict, x: Tensor, lmbda: float | Tensor,
            metric: str = "mse") -> dict[str, Tensor]:
    """Rate + lambda * distortion, in CompressAI's conventions so its lambdas carry over.

    ``mse``: ``lambda * 255^2 * MSE + bpp``; ``ms-ssim``: ``lambda * (1 - MS-SSIM) + bpp``.
    ``lmbda`` may be one value per image (a (B,) tensor, for lambda-conditioned models):
    each image's distortion is then weighted by its own lambda.
    """
    b, _, h, w = x.shape
    bpp = bits_per_pixel(out["likelihoods"], b * h * w)
    x_hat = out["x_hat"].float()
    mse = F.mse_loss(x_hat, x)
    per_image = isinstance(lmbda, Tensor) and lmbda.dim() == 1
    if metric == "mse":
        if per_image:
            per_mse = ((x_hat - x) ** 2).mean(dim=(1, 2, 3))
            loss = (lmbda.to(per_mse) * per_mse).mean() * 255.0**2 + bpp
        else:
            loss = lmbda * 255.0**2 * mse + bpp
        return {"loss": loss, "bpp": bpp, "mse": mse}
    if metric == "ms-ssim":
        per_msssim = ms_ssim(x_hat, x)
        msssim = per_msssim.mean()
        if per_image:
            loss = (lmbda.to(per_msssim) * (1 - per_msssim)).mean() + bpp
        else:
            loss = lmbda * (1 - msssim) + bpp
        return {"loss": loss, "bpp": bpp, "mse": mse, "ms_ssim": msssim}
    raise ValueError(f"unknown metric {metric!r} (mse or ms-ssim)")
