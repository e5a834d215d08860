"""Integer-exact layers: close to their float twins, identical at any thread count/batching."""

import math

import pytest
import torch

from conftest import at_threads
from hyco.nn.exact_layers import (
    LIMIT,
    ONE,
    ChannelNorm,
    ExactConv2d,
    HardGELU,
    PatchUp,
    from_fixed,
    isqrt,
    to_fixed,
)


def test_hard_gelu_matches_its_fixed_point_twin_and_gelu_shape():
    x = torch.linspace(-6, 6, 1001)
    ref = HardGELU()(x)
    out = from_fixed(HardGELU.exact(to_fixed(x)))
    assert (out - ref).abs().max() <= 2.0 / ONE  # input and output rounding
    assert torch.equal(ref[x >= 1.25], x[x >= 1.25]) and torch.all(ref[x <= -1.25] == 0)
    assert (ref - torch.nn.functional.gelu(x)).abs().max() < 0.2  # a GELU-like curve


def test_channel_norm_matches_float_even_for_constant_inputs():
    torch.manual_seed(0)
    x = torch.randn(2, 24, 5, 7) * 3 + 1
    x[0, :, 0, 0] = 2.5  # zero variance: eps keeps it finite, output zero
    ref = ChannelNorm()(x)
    out = from_fixed(ChannelNorm.exact(to_fixed(x)))
    assert (out - ref).abs().max() < 4.0 / ONE
    assert torch.all(out[0, :, 0, 0] == 0)


def test_isqrt_is_exact_up_to_2_62():
    torch.manual_seed(1)
    v = torch.cat([torch.randint(0, 1 << 62, (500,)), torch.arange(0, 300),
                   torch.tensor([(1 << 31) ** 2 - 1, (1 << 31) ** 2, (1 << 62) - 1])])
    r = isqrt(v)
    assert [int(a) for a in r] == [math.isqrt(int(a)) for a in v]


@pytest.mark.parametrize("kwargs", [dict(in_channels=6, out_channels=10, kernel_size=3,
                                         padding=1),
                                    dict(in_channels=8, out_channels=8, kernel_size=7,
                                         padding=3, groups=8),
                                    dict(in_channels=5, out_channels=7, kernel_size=2,
                                         stride=2),
                                    dict(in_channels=1000, out_channels=6, kernel_size=3,
                                         padding=1)])  # fan-in 9,000: split in chunks
def test_exact_conv_tracks_float_and_ignores_threads_and_batching(kwargs):
    torch.manual_seed(2)
    conv = ExactConv2d(**kwargs)
    with torch.no_grad():
        conv.weight[0].mul_(1e-3)  # channels of very different magnitude (per-channel scale)
    x = torch.randn(3, kwargs["in_channels"], 9, 12) * 4
    ref = conv(x)
    a = to_fixed(x)
    one, two = (at_threads(n, lambda: conv.exact(a)) for n in (1, 2))
    per_image = torch.cat([conv.exact(a[i : i + 1]) for i in range(3)])
    assert one.dtype == torch.int64
    assert torch.equal(one, two) and torch.equal(one, per_image)
    err = (from_fixed(one) - ref).abs()
    assert err.max() < 2e-3 * ref.abs().max() + 2.0 / ONE
    assert err[:, 0].max() < 1e-2 * ref[:, 0].abs().max() + 2.0 / ONE  # the small channel too


def test_exact_conv_requantises_when_weights_change_and_clamps():
    conv = ExactConv2d(2, 2, 1)
    a = to_fixed(torch.ones(1, 2, 1, 1))
    before = conv.exact(a)
    with torch.no_grad():
        conv.weight.mul_(2)
    assert not torch.equal(conv.exact(a), before)
    with torch.no_grad():
        conv.weight.fill_(1e4)
    assert conv.exact(to_fixed(torch.full((1, 2, 1, 1), 1e3))).abs().max() <= LIMIT


def test_a_split_fan_in_is_the_exact_integer_convolution():
    """Above MAX_FAN_IN the conv sums chunks in int64: the same integers as one exact sum
    (an int64 matrix product here) rounded half up by the power-of-two scale."""
    torch.manual_seed(3)
    conv = ExactConv2d(1000, 4, 3, padding=1)
    a = to_fixed(torch.randn(1, 1000, 5, 6) * 8)
    q = conv._quant.get(conv)
    cols = torch.nn.functional.unfold(a.double(), 3, padding=1).round().to(torch.int64)
    acc = q.weight.flatten(1).to(torch.int64) @ cols[0] + q.bias.to(torch.int64)[:, None]
    shift = (-torch.log2(q.scale.view(-1, 1))).round().to(torch.int64)
    want = torch.div(acc + (1 << (shift - 1)), 1 << shift, rounding_mode="floor")
    assert torch.equal(conv.exact(a).view(4, -1), want.clamp(-LIMIT, LIMIT))


def test_refuses_what_it_cannot_do_exactly():
    with pytest.raises(ValueError, match="fan-in"):
        ExactConv2d(2000, 2, 3, groups=2).exact(torch.zeros(1, 2000, 3, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="plain"):
        ExactConv2d(2, 2, 3, dilation=2).exact(torch.zeros(1, 2, 5, 5, dtype=torch.int64))


def test_patch_up_is_exact_pixel_shuffle():
    torch.manual_seed(3)
    up = PatchUp(6, 3, rate=4)
    torch.nn.init.normal_(up.conv.bias)
    x = torch.randn(1, 6, 3, 5)
    ref = up(x)
    out = from_fixed(up.exact(to_fixed(x)))
    assert out.shape == ref.shape == (1, 3, 12, 20)
    assert (out - ref).abs().max() < 2e-3 * ref.abs().max() + 2.0 / ONE
