import numpy as np
import pytest
import torch

from hyco.eval.metrics import ms_ssim, psnr


def test_psnr():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    assert psnr(a, b) == float("inf")
    b[0, 0, 0] = 255
    assert psnr(a, b) == pytest.approx(10 * np.log10(48))


def test_ms_ssim_orders_distortions_and_is_differentiable():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 200, 180)
    assert torch.allclose(ms_ssim(x, x), torch.ones(2))
    light = ms_ssim(x, (x + 0.02 * torch.randn_like(x)).clamp(0, 1))
    heavy = ms_ssim(x, (x + 0.2 * torch.randn_like(x)).clamp(0, 1))
    assert torch.all(heavy < light) and torch.all(light < 1)
    y = x.clone().requires_grad_(True)
    (1 - ms_ssim(x, y * 0.9)).sum().backward()
    assert torch.isfinite(y.grad).all()
    small = ms_ssim(x[..., :40, :40], x[..., :40, :40] * 0.5)  # fewer scales
    assert torch.all(small < 1)
