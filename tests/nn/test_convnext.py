"""ConvNeXt block: the integer twin tracks the float block, affine and AdaLN alike."""

import pytest
import torch

from hyco.nn.convnext import ConvNeXtBlock, PatchDown
from hyco.nn.exact_layers import ONE, from_fixed, to_fixed


def _trained_like(block: ConvNeXtBlock) -> ConvNeXtBlock:
    """Layer scale and modulation away from their identity initialisation."""
    with torch.no_grad():
        block.gamma.fill_(0.7)
        if block.ada is not None:
            torch.nn.init.normal_(block.ada[1].weight, std=0.3)
            torch.nn.init.normal_(block.ada[1].bias, std=0.3)
        else:
            block.affine_weight.uniform_(0.5, 1.5)
            block.affine_bias.normal_(0, 0.3)
    return block


@pytest.mark.parametrize("embed_dim", [None, 12])
def test_exact_block_tracks_float_block(embed_dim):
    torch.manual_seed(0)
    block = _trained_like(ConvNeXtBlock(24, kernel=5, mlp_ratio=1.75, embed_dim=embed_dim))
    x = torch.randn(2, 24, 7, 9) * 2
    emb = torch.randn(2, embed_dim, 1, 1) if embed_dim else None
    emb_fixed = to_fixed(emb) if embed_dim else None
    with torch.no_grad():
        ref = block(x, from_fixed(emb_fixed) if embed_dim else None)
    out = from_fixed(block.exact(to_fixed(x), emb_fixed))
    assert (out - ref).abs().max() < 1e-3 * ref.abs().max() + 8.0 / ONE
    if embed_dim:  # each image has its own modulation
        with torch.no_grad():
            swapped = block(x, from_fixed(emb_fixed).flip(0))
        assert not torch.allclose(swapped, ref)


def test_layer_scale_folding_follows_the_parameters():
    torch.manual_seed(1)
    block = _trained_like(ConvNeXtBlock(8, kernel=3))
    a = to_fixed(torch.randn(1, 8, 4, 4))
    before = block.exact(a)
    with torch.no_grad():
        block.gamma.mul_(2)  # an optimiser step: the cached integer weights are rebuilt
    after = block.exact(a)
    with torch.no_grad():
        ref = block(from_fixed(a))
    assert not torch.equal(before, after)
    assert (from_fixed(after) - ref).abs().max() < 1e-3 * ref.abs().max() + 8.0 / ONE


def test_new_block_is_nearly_identity_and_patch_down_halves():
    block = ConvNeXtBlock(8)
    x = torch.randn(1, 8, 6, 6)
    assert torch.allclose(block(x), x, atol=1e-4)
    assert PatchDown(8, 16)(x).shape == (1, 16, 3, 3)
