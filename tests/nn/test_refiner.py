"""The shared refiner body: its fixed-point features and head track the float ones."""

import torch

from hyco.nn.exact_layers import ONE, from_fixed, to_fixed
from hyco.nn.refiner import CLIP, ScaleNormalisedRefiner


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    scales = torch.rand(1, 4, 5, 6, generator=g) * 20  # some below the 0.11 floor
    values = torch.randn(1, 4, 5, 6, generator=g) * 30  # some beyond the clip
    return scales, values


def test_untrained_refiner_outputs_zero():
    r = ScaleNormalisedRefiner(8, 6, 16)
    scales, values = _inputs()
    _, inp = r.features(scales, values)
    assert torch.equal(r.head(inp), torch.zeros(1, 6, 5, 6))
    _, inp_f = r.features_exact(to_fixed(scales), to_fixed(values))
    assert torch.equal(r.head_exact(inp_f), torch.zeros(1, 6, 5, 6, dtype=inp_f.dtype))


def test_exact_features_match_float_and_are_bounded():
    scales, values = _inputs(1)
    s, inp = ScaleNormalisedRefiner.features(scales, values)
    s_f, inp_f = ScaleNormalisedRefiner.features_exact(to_fixed(scales), to_fixed(values))
    assert inp.shape == inp_f.shape == (1, 8, 5, 6)
    assert float(s.min()) >= 0.11 - 1e-6 and float(inp[:, 4:].abs().max()) <= CLIP
    assert int(inp_f[:, 4:].abs().max()) <= CLIP * ONE
    assert torch.allclose(from_fixed(s_f), s, atol=2 / ONE)
    assert torch.allclose(from_fixed(inp_f), inp, atol=1e-3)


def test_head_exact_tracks_head():
    torch.manual_seed(0)
    r = ScaleNormalisedRefiner(8, 6, 16)
    with torch.no_grad():
        for p in r.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    scales, values = _inputs(2)
    _, inp = r.features(scales, values)
    _, inp_f = r.features_exact(to_fixed(scales), to_fixed(values))
    assert torch.allclose(from_fixed(r.head_exact(inp_f)), r.head(inp), atol=2e-2)
