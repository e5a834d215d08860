"""The perceptual term d_P of HiFiC's loss: LPIPS when its weights are supplied, else a
weight-free substitute.

HiFiC uses LPIPS (Zhang et al. 2018, AlexNet, "lin" v0.1): distances between normalised
deep features of an ImageNet-trained network, weighted by learned per-channel linear
layers. Those weights cannot be downloaded here, so:

* ``--lpips FILE`` loads them from a safetensors file the user supplies (never pickle).
  Expected tensors (float32 or float16), named as torchvision's ``alexnet().features``
  and LPIPS's linear heads::

      features.0.weight  (64, 3, 11, 11)    features.0.bias  (64,)
      features.3.weight  (192, 64, 5, 5)    features.3.bias  (192,)
      features.6.weight  (384, 192, 3, 3)   features.6.bias  (384,)
      features.8.weight  (256, 384, 3, 3)   features.8.bias  (256,)
      features.10.weight (256, 256, 3, 3)   features.10.bias (256,)
      lin0.weight (1, 64, 1, 1)   lin1.weight (1, 192, 1, 1)   lin2.weight (1, 384, 1, 1)
      lin3.weight (1, 256, 1, 1)  lin4.weight (1, 256, 1, 1)

  (from the ``lpips`` package: its ``linK.model.1.weight`` renamed to ``linK.weight``, with
  torchvision's AlexNet ``features.*`` as they are, written with
  ``safetensors.torch.save_file``). Inputs are mapped to [-1, 1] and through LPIPS's fixed
  scaling layer, as the reference does.

* Without a file, d_P = (1 - MS-SSIM) + feature matching: the mean L1 distance between the
  discriminator's intermediate features of the reconstruction and of the original, over
  every layer and scale (pix2pixHD, Wang et al. 2018). MS-SSIM is structure-aware but
  needs no training; the feature distance is "perceptual" in the discriminator's learned
  feature space, which is trained on the very images being compressed. In stage 1 (no
  discriminator yet) d_P is 1 - MS-SSIM alone. This is a substitute, not LPIPS: numbers
  from the two are not comparable, and realism is measured without either (BENCHMARKS.md).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from hyco.errors import HycoError
from hyco.eval.metrics import ms_ssim

_CHANNELS = (64, 192, 384, 256, 256)
_TAPS = (1, 4, 7, 9, 11)  # ReLU outputs of features.0, .3, .6, .8, .10
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def _alexnet_features() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU())


class LPIPS(nn.Module):
    """LPIPS distance (AlexNet-lin) per image; frozen, gradients flow to the inputs only."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _alexnet_features()
        for i, c in enumerate(_CHANNELS):
            self.add_module(f"lin{i}", nn.Conv2d(c, 1, 1, bias=False))
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_file(cls, path: str | Path) -> LPIPS:
        """Load the tensors listed in the module docstring; one-line errors otherwise."""
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise HycoError(f"{path}: not a readable safetensors LPIPS file ({exc})") from None
        model = cls()
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            what = f"missing {', '.join(missing[:3])}" if missing else \
                f"unexpected {', '.join(extra[:3])}"
            raise HycoError(f"{path}: not AlexNet-LPIPS weights ({what}; see hyco.train."
                            "perceptual for the expected names)")
        for k, v in expected.items():
            if state[k].shape != v.shape:
                raise HycoError(f"{path}: {k} has shape {tuple(state[k].shape)}, "
                                f"expected {tuple(v.shape)}")
        model.load_state_dict({k: v.float() for k, v in state.items()})
        return model

    def train(self, mode: bool = True) -> LPIPS:  # always frozen, always in eval mode
        return super().train(False)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """LPIPS of two (B, 3, H, W) batches in [0, 1]: shape (B,)."""
        a = ((x.float() * 2 - 1) - self.shift) / self.scale
        b = ((y.float() * 2 - 1) - self.shift) / self.scale
        total = torch.zeros(x.shape[0], device=x.device)
        k = 0
        for i, layer in enumerate(self.features):
            a, b = layer(a), layer(b)
            if i in _TAPS:
                diff = (_unit(a) - _unit(b)) ** 2
                total = total + getattr(self, f"lin{k}")(diff).mean(dim=(1, 2, 3))
                k += 1
        return total


def _unit(f: Tensor) -> Tensor:
    """Features scaled to unit length along channels (LPIPS's normalisation)."""
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)


def feature_matching(real: list[tuple[Tensor, list[Tensor]]],
                     fake: list[tuple[Tensor, list[Tensor]]]) -> Tensor:
    """Mean L1 distance between D's features of the fake and (fixed) real images."""
    dists = [F.l1_loss(f.float(), r.detach().float())
             for (_, rf), (_, ff) in zip(real, fake, strict=True)
             for r, f in zip(rf, ff, strict=True)]
    return torch.stack(dists).mean()


class Perceptual(nn.Module):
    """d_P(x_hat, x): LPIPS if ``lpips`` names a weights file, else the substitute."""

    def __init__(self, lpips: str | Path | None = None):
        super().__init__()
        self.lpips = LPIPS.from_file(lpips) if lpips else None

    @property
    def kind(self) -> str:
        return "lpips" if self.lpips is not None else "ms-ssim+fm"

    def forward(self, x_hat: Tensor, x: Tensor, fm: Tensor | None = None) -> dict[str, Tensor]:
        """``{"perceptual", ...components}``; ``fm`` is the feature-matching term, when a
        discriminator exists (stage 2) and no LPIPS weights were given."""
        if self.lpips is not None:
            d = self.lpips(x_hat, x).mean()
            return {"perceptual": d, "lpips": d.detach()}
        msssim = ms_ssim(x_hat.float(), x.float()).mean()
        out = {"ms_ssim": msssim.detach()}
        d = 1 - msssim
        if fm is not None:
            d = d + fm
            out["fm"] = fm.detach()
        out["perceptual"] = d
        return out
