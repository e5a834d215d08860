import torch
from torch import nn

from conftest import at_threads
from hyco.image.transforms import mean_scale_synthesis, scale_synthesis
from hyco.nn.exact import exact_forward, from_fixed, quantize_layers


def test_exact_forward_tracks_float_forward():
    torch.manual_seed(0)
    for net in [scale_synthesis(16, 24), mean_scale_synthesis(16, 24)]:
        z = torch.round(torch.randn(2, 16, 5, 7) * 3)
        ref = net(z)
        out = from_fixed(exact_forward(quantize_layers(net), z))
        assert out.shape == ref.shape
        assert (out - ref).abs().max() < 0.02 * ref.abs().max() + 0.01


def test_exact_forward_is_independent_of_threads_and_batching():
    torch.manual_seed(1)
    net = mean_scale_synthesis(32, 48)
    prog = quantize_layers(net)
    z = torch.randn(3, 32, 6, 6) * 4
    a = at_threads(1, lambda: exact_forward(prog, z))
    b = at_threads(2, lambda: exact_forward(prog, z))
    c = torch.cat([exact_forward(prog, z[i : i + 1]) for i in range(3)])
    assert a.dtype == torch.int64
    assert torch.equal(a, b) and torch.equal(a, c)


def test_unsupported_layers_are_refused():
    import pytest

    with pytest.raises(ValueError):
        quantize_layers(nn.Sequential(nn.Conv2d(2, 2, 3), nn.Sigmoid()))
