"""Integer-exact convolutions and ChannelNorm: order-independent, close to float."""

import torch
from torch import nn

from conftest import at_threads
from hyco.image.hific import Generator
from hyco.nn.exact_convs import fan_in, quantize
from hyco.nn.exact_layers import from_fixed, to_fixed
from hyco.nn.norm import ChannelNorm2d


def test_conv_and_transposed_conv_match_float_and_ignore_thread_count():
    torch.manual_seed(0)
    x = torch.randn(1, 128, 5, 9)  # the shape where float kernels change summation order
    for layer in (nn.Conv2d(128, 256, 3, padding=1),
                  nn.ConvTranspose2d(128, 64, 3, stride=2, padding=1, output_padding=1)):
        q = quantize(layer)
        a = to_fixed(x)
        one, two = at_threads(1, lambda q=q, a=a: q(a)), at_threads(2, lambda q=q, a=a: q(a))
        assert torch.equal(one, two) and one.dtype == torch.int64
        with torch.no_grad():
            ref = layer(x)
        assert (from_fixed(one) - ref).abs().max() < 2e-3


def test_weight_bits_shrink_with_fan_in():
    wide = nn.Conv2d(960, 8, 3, padding=1)
    assert fan_in(wide) == 8640
    assert quantize(wide).weight.abs().max() < 2**13 <= 2 * quantize(wide).weight.abs().max()
    narrow = nn.Conv2d(16, 8, 3, padding=1)
    assert 2**13 <= quantize(narrow).weight.abs().max() < 2**14
    up = nn.ConvTranspose2d(256, 128, 3, stride=2, padding=1, output_padding=1)
    assert fan_in(up) == 256 * 4  # 2x2 taps per output phase


def test_channel_norm_exact_matches_float():
    torch.manual_seed(0)
    norm = ChannelNorm2d(24)
    with torch.no_grad():
        norm.gamma.uniform_(0.5, 2)
        norm.beta.normal_()
    x = torch.randn(2, 24, 6, 7) * 3
    with torch.no_grad():
        ref = norm(x)
    assert (from_fixed(norm.exact(to_fixed(x))) - ref).abs().max() < 2e-3


def test_generator_exact_is_the_float_network_in_fixed_point():
    torch.manual_seed(0)
    g = Generator(m=24, base=8, blocks=2).eval()
    y = torch.randn(1, 24, 3, 5).round()
    with torch.no_grad():
        ref = g(y)
    out = g.exact(y)
    assert out.shape == ref.shape == (1, 3, 48, 80)
    assert (out - ref).abs().max() < 1e-2
    assert torch.equal(at_threads(2, lambda: g.exact(y)), out)
