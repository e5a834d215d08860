"""Parameters and multiply-accumulates per pixel, counted on the model's real forward."""

from __future__ import annotations

import torch
from torch import nn

from hyco.image import ImageCodec
from hyco.nn.gdn import GDN


def _macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return out.numel() // out.shape[0] * (module.in_channels // module.groups) * k
    if isinstance(module, nn.ConvTranspose2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return inp.numel() // inp.shape[0] * (module.out_channels // module.groups) * k
    if isinstance(module, GDN):
        c = inp.shape[1]
        return inp.numel() // inp.shape[0] * c  # the 1x1 cross-channel norm
    return 0


def complexity(model: ImageCodec, height: int = 512, width: int = 768) -> dict[str, float]:
    """Params and MACs/pixel of the encoder and decoder sides (per the codec's parts)."""
    per_part: dict[str, int] = {}
    hooks = []
    for part in {*model.encoder_parts, *model.decoder_parts}:
        sub = getattr(model, part)
        for m in sub.modules():
            hooks.append(m.register_forward_hook(
                lambda mod, i, o, part=part: per_part.__setitem__(
                    part, per_part.get(part, 0) + _macs(mod, i[0], o))))
    was = model.training
    model.train()  # float path, so every sub-network runs as a module
    try:
        with torch.no_grad():
            model(torch.rand(1, 3, height, width, device=model.device))
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    pixels = height * width

    def params(parts):
        return sum(p.numel() for part in parts for p in getattr(model, part).parameters())

    return {
        "encoder_params": params(model.encoder_parts),
        "decoder_params": params(model.decoder_parts),
        "encoder_macs_per_pixel": sum(per_part.get(p, 0) for p in model.encoder_parts) / pixels,
        "decoder_macs_per_pixel": sum(per_part.get(p, 0) for p in model.decoder_parts) / pixels,
    }
