"""The conditional multi-scale patch discriminator."""

import pytest
import torch

from hyco.nn.discriminator import MultiScaleDiscriminator, PatchDiscriminator


def test_patch_logits_per_scale_and_features():
    torch.manual_seed(0)
    d = MultiScaleDiscriminator(latent_channels=10, scales=3, width=8)
    x, latent = torch.rand(2, 3, 64, 96), torch.randn(2, 10, 4, 6)
    outs = d(x, latent)
    assert len(outs) == 3
    # three stride-2 convs then stride-1 ones: patches of 1/8 of each scale's resolution
    assert [tuple(o[0].shape) for o in outs] == [(2, 1, 8, 12), (2, 1, 4, 6), (2, 1, 2, 3)]
    assert all(len(feats) == 4 for _, feats in outs)


def test_conditioning_on_the_latent_changes_the_verdict():
    torch.manual_seed(0)
    d = PatchDiscriminator(latent_channels=4, width=8).eval()
    x = torch.rand(1, 3, 32, 32)
    a, _ = d(x, torch.zeros(1, 4, 2, 2))
    b, _ = d(x, torch.ones(1, 4, 2, 2))
    assert not torch.allclose(a, b)


def test_gradients_reach_the_image_and_spectral_norm_bounds_weights():
    torch.manual_seed(0)
    d = PatchDiscriminator(latent_channels=4, width=8).train()
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    for _ in range(20):  # power iterations converge to the top singular value
        logits, _ = d(x, torch.randn(1, 4, 2, 2))
    logits.mean().backward()
    assert x.grad.abs().sum() > 0
    w = d.convs[1].weight.detach()  # the normalised weight
    assert float(torch.linalg.matrix_norm(w.flatten(1), ord=2)) == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError):
        MultiScaleDiscriminator(4, scales=0)
