"""Shared test helpers: generated images and tiny briefly-trained codecs."""

from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import pytest
import torch

from hyco.image import (
    Checkerboard,
    FactorizedPrior,
    JointAutoregressive,
    MeanScaleHyperprior,
    ScaleHyperprior,
    VariableRateMeanScale,
)
from hyco.train import rd_loss

TINY = {"factorized": (FactorizedPrior, 16, 24), "hyperprior": (ScaleHyperprior, 16, 24),
        "mean-scale": (MeanScaleHyperprior, 16, 24), "joint-ar": (JointAutoregressive, 16, 24),
        "checkerboard": (Checkerboard, 16, 24),
        "mean-scale-vr": (VariableRateMeanScale, 16, 24)}


def smooth_images(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Photo-like test images: smooth random fields plus edges, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, max(h // 8, 2), max(w // 8, 2), generator=g)
    x = torch.nn.functional.interpolate(low, size=(h, w), mode="bicubic", align_corners=False)
    yy = torch.linspace(0, 1, h).view(1, 1, h, 1)
    edges = (torch.rand(n, 3, 1, 1, generator=g) > 0.5).float() * (yy > 0.5).float() * 0.3
    x = x + edges + 0.02 * torch.randn(n, 3, h, w, generator=g)
    return x.clamp(0, 1)


def multiscale_images(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Images with structure at every scale from 64 to 8 pixels (like photographs' 1/f
    spectra), so every level of a hierarchical codec, not only the finest, has work."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((n, 3, h, w), 0.5)
    for scale, amplitude in [(64, 0.6), (32, 0.35), (16, 0.2), (8, 0.12)]:
        low = torch.rand(n, 3, h // scale + 2, w // scale + 2, generator=g) - 0.5
        x += amplitude * torch.nn.functional.interpolate(low, size=(h, w), mode="bicubic",
                                                         align_corners=False)
    return (x + 0.01 * torch.randn(n, 3, h, w, generator=g)).clamp(0, 1)


def uint8_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    x = smooth_images(1, h, w, seed)[0].permute(1, 2, 0)
    return (x * 255).round().to(torch.uint8).numpy()


def at_threads(n: int, fn):
    """``fn()`` run with torch at ``n`` threads, the caller's count restored after."""
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(n)
        return fn()
    finally:
        torch.set_num_threads(old)


def decodes_same_in_other_threads(script: str, tmp_path) -> bool:
    """Run ``script`` (argv: threads, "enc"|"dec", file) to encode at 1 thread, then to decode
    at 2 in a fresh process; true when the decoding process printed "same"."""
    f = str(tmp_path / "enc.pt")
    run = [sys.executable, "-c", script]
    subprocess.run(run + ["1", "enc", f], check=True)
    out = subprocess.run(run + ["2", "dec", f], check=True, capture_output=True, text=True)
    return "same" in out.stdout


@functools.cache
def trained_tiny(name: str, steps: int = 600) -> torch.nn.Module:
    """A tiny codec trained briefly so its densities are meaningful (cached per session)."""
    cls, n, m = TINY[name]
    torch.manual_seed(0)
    model = cls(n, m)
    params = [p for k, p in model.named_parameters() if not k.endswith("quantiles")]
    aux = [p for k, p in model.named_parameters() if k.endswith("quantiles")]
    opt = torch.optim.Adam(params, lr=1e-3)
    aux_opt = torch.optim.Adam(aux, lr=1e-2)
    data = smooth_images(64, 64, 64, seed=1)
    model.train()
    for step in range(steps):
        x = data[(step * 8) % 64 : (step * 8) % 64 + 8]
        loss = rd_loss(model(x), x, 0.01)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        aux_opt.zero_grad()
        model.aux_loss().backward()
        aux_opt.step()
    return model.eval()


@pytest.fixture(params=list(TINY))
def codec_name(request) -> str:
    return request.param
