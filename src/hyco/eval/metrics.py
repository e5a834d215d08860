"""Distortion metrics: PSNR and MS-SSIM (Wang et al. 2003), the latter differentiable.

MS-SSIM uses the standard 11x11 Gaussian window (sigma 1.5) and five scales with the
published weights. Images too small for five scales use as many scales as fit, with the
weights renormalised, so small crops still get a meaningful value.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WIN, _SIGMA = 11, 1.5
_K1, _K2 = 0.01, 0.03


def psnr(a: np.ndarray | Tensor, b: np.ndarray | Tensor, peak: float = 255.0) -> float:
    """PSNR in dB over all pixels and channels (inf when identical)."""
    if isinstance(a, Tensor):
        mse = float(torch.mean((a.double() - b.double()) ** 2))
    else:
        mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(peak**2 / mse))


def _window(dtype: torch.dtype, device: torch.device, size: int = _WIN) -> Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - size // 2
    g = torch.exp(-(x**2) / (2 * _SIGMA**2))
    return g / g.sum()


def _blur(x: Tensor, g: Tensor) -> Tensor:
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_terms(x: Tensor, y: Tensor, g: Tensor, peak: float) -> tuple[Tensor, Tensor]:
    c1, c2 = (_K1 * peak) ** 2, (_K2 * peak) ** 2
    mx, my = _blur(x, g), _blur(y, g)
    sxx = _blur(x * x, g) - mx * mx
    syy = _blur(y * y, g) - my * my
    sxy = _blur(x * y, g) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return (lum * cs).mean(dim=(1, 2, 3)), cs.mean(dim=(1, 2, 3))


def ms_ssim(x: Tensor, y: Tensor, peak: float = 1.0, window: int = _WIN) -> Tensor:
    """MS-SSIM per image of two (B, C, H, W) batches; differentiable.

    ``window`` (odd) replaces the standard 11x11 Gaussian window, e.g. 5 for small patches
    (as HiNeRV's training loss does).
    """
    if min(x.shape[-2:]) < window:
        raise ValueError(f"MS-SSIM needs images of at least {window}x{window} pixels")
    x, y = x.float(), y.float()
    g = _window(x.dtype, x.device, window)
    levels = 1
    while levels < len(_WEIGHTS) and min(x.shape[-2:]) // 2**levels >= window:
        levels += 1
    w = torch.tensor(_WEIGHTS[:levels], dtype=x.dtype, device=x.device)
    w = w / w.sum()
    values = []
    for i in range(levels):
        ssim, cs = _ssim_terms(x, y, g, peak)
        if i < levels - 1:
            values.append(cs.clamp_min(1e-8))
            x = F.avg_pool2d(x, 2)
            y = F.avg_pool2d(y, 2)
        else:
            values.append(ssim.clamp_min(1e-8))
    stacked = torch.stack(values, dim=-1)  # (B, levels)
    return torch.prod(stacked ** w, dim=-1)
