import torch

from hyco.nn.exact_layers import ONE, from_fixed, to_fixed
from hyco.nn.flow import FlowEstimator
from hyco.nn.warp import exact_warp, warp


def test_integer_flow_is_a_shift_with_border_replicate():
    x = torch.rand(1, 2, 5, 6)
    flow = torch.zeros(1, 2, 5, 6)
    flow[:, 0] = 2  # sample two pixels to the right
    a = to_fixed(x)
    out = exact_warp(a, to_fixed(flow))
    assert torch.equal(out[..., :-2], a[..., 2:])
    assert torch.equal(out[..., -2:], a[..., -1:].expand(-1, -1, -1, 2))
    assert torch.allclose(warp(x, flow)[..., :-2], x[..., 2:], atol=1e-6)


def test_exact_warp_is_the_float_warp_in_fixed_point():
    torch.manual_seed(0)
    x, flow = torch.rand(2, 4, 9, 11), torch.randn(2, 2, 9, 11) * 3
    got = from_fixed(exact_warp(to_fixed(x), to_fixed(flow)))
    assert (got - warp(x, flow)).abs().max() < 4.0 / ONE


def test_flow_estimator_shapes_and_gradients():
    net = FlowEstimator((8, 8, 8, 8), radius=1)
    x, ref = torch.rand(1, 3, 40, 50, requires_grad=True), torch.rand(1, 3, 40, 50)
    flow = net(x, ref)
    assert flow.shape == (1, 2, 40, 50)
    flow.abs().mean().backward()
    assert x.grad is not None
