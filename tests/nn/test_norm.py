"""ChannelNorm and the residual block."""

import pytest
import torch

from hyco.nn.norm import ChannelNorm2d
from hyco.nn.residual import ResidualBlock


def test_channel_norm_normalises_each_pixel_over_channels():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 7) * 3 + 1
    y = ChannelNorm2d(8, eps=0.0)(x)
    assert torch.allclose(y.mean(dim=1), torch.zeros(2, 5, 7), atol=1e-5)
    assert torch.allclose(y.var(dim=1, unbiased=True), torch.ones(2, 5, 7), atol=1e-4)


def test_channel_norm_has_no_spatial_statistics():
    """A crop is normalised as the same region of the whole image (no dependence on
    image size, unlike instance norm)."""
    torch.manual_seed(1)
    norm = ChannelNorm2d(6)
    with torch.no_grad():
        norm.gamma.uniform_(0.5, 2)
        norm.beta.normal_()
    x = torch.randn(1, 6, 32, 40)
    assert torch.allclose(norm(x)[..., 3:11, 5:20], norm(x[..., 3:11, 5:20]), atol=1e-6)


def test_channel_norm_runs_in_float32_under_bf16():
    x = torch.randn(1, 16, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert ChannelNorm2d(16)(x.bfloat16()).dtype == torch.float32
    with pytest.raises(ValueError):
        ChannelNorm2d(1)


def test_residual_block_keeps_shape_and_adds_the_identity():
    block = ResidualBlock(8)
    x = torch.randn(2, 8, 6, 6)
    assert block(x).shape == x.shape
    with torch.no_grad():  # a zero body makes the block the identity
        block.body[4].gamma.zero_()
        block.body[4].beta.zero_()
    assert torch.equal(block(x), x)
