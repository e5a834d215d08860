import numpy as np
import pytest
import torch

from conftest import at_threads
from hyco.nn.exact_layers import ONE
from hyco.nn.weight_quant import dequantize, quantize
from hyco.train.hinerv_fit import build
from hyco.video.hinerv import ExactHiNeRV, run
from hyco.video.hinerv_config import config_for

CFG = config_for(30, 44, 4, "4k", scales=(2, 2))  # canvas 32 x 44: the frame is padded


def test_the_module_has_the_configured_tensors():
    model = build(CFG)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == CFG.shapes()
    assert list(model.state_dict()) == list(CFG.shapes())  # the coding order
    assert CFG.num_params() == sum(p.numel() for p in model.parameters()) <= 4000
    assert CFG.base_size == (8, 11) and CFG.level_size(2) == (32, 44)


def test_patches_are_exactly_the_whole_frame():
    """Every patch (interior, border, any size) equals that part of the whole frame."""
    torch.manual_seed(0)
    model = build(CFG)
    with torch.no_grad():
        for p in model.parameters():  # wake the tiny-initialised local grids
            p.add_(torch.randn_like(p) * 0.1)
    t = torch.tensor([0, 3])
    hb, wb = CFG.base_size
    with torch.no_grad():
        whole = model(t, torch.zeros(2, 2, dtype=torch.int64), (hb, wb))
        for cells in [(1, 1), (3, 2), (8, 11)]:
            for oy in range(0, hb - cells[0] + 1, 3):
                for ox in range(0, wb - cells[1] + 1, 4):
                    part = model(t, torch.tensor([[oy, ox], [oy, ox]]), cells)
                    ref = whole[:, :, oy * 4 : (oy + cells[0]) * 4, ox * 4 : (ox + cells[1]) * 4]
                    assert float((part - ref).abs().max()) < 1e-5


def quantized_net(bits=8, seed=1):
    torch.manual_seed(seed)
    model = build(CFG, seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    weights = {n: quantize(p, bits) for n, p in model.state_dict().items()}
    return model, weights


def test_exact_rendering_is_tile_and_thread_invariant_and_matches_float():
    model, weights = quantized_net()
    net = ExactHiNeRV(CFG, weights)
    one = at_threads(1, lambda: [net.render(t) for t in range(4)])
    tiled = at_threads(1, lambda: [net.render(t, tile_side=8) for t in range(4)])  # 2x2 cells
    two = at_threads(2, lambda: [net.render(t) for t in range(4)])
    assert one[0].shape == (30, 44, 3) and one[0].dtype == np.uint8
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(one, tiled, strict=True))
    assert not np.array_equal(one[0], one[3])  # frames differ
    model.load_state_dict({n: dequantize(*w) for n, w in weights.items()})
    with torch.no_grad():
        x = model(torch.arange(4), torch.zeros(4, 2, dtype=torch.int64), CFG.base_size)
    flt = (x.clamp(0, 1) * 255).round().permute(0, 2, 3, 1)[:, :30, :44].numpy()
    diff = np.abs(flt - np.stack(one).astype(np.float64))
    assert diff.max() <= 3 and diff.mean() < 0.2  # only fixed-point rounding between them


def test_fake_quantised_forward_is_the_dequantised_network():
    model, _ = quantized_net(bits=6)
    model.eval()
    model.qat = (6, 0.9)  # noise applies in training only
    hb, wb = CFG.base_size
    args = (torch.tensor([1]), torch.zeros(1, 2, dtype=torch.int64), (hb, wb))
    with torch.no_grad():
        fq = model(*args)
        weights = {n: quantize(p, 6) for n, p in model.state_dict().items()}
        model.qat = None
        model.load_state_dict({n: dequantize(*w) for n, w in weights.items()})
        assert torch.equal(model(*args), fq)


def test_exact_ops_run_the_same_program():
    _, weights = quantized_net()
    net = ExactHiNeRV(CFG, weights)
    out = run(CFG, net.ops, torch.tensor([2]), torch.tensor([[0, 0]]), CFG.base_size)
    assert out.dtype == torch.int64 and out.shape == (1, 3, 32, 44)
    assert int(out.abs().max()) < 64 * ONE
    with pytest.raises(ValueError, match="do not match"):
        ExactHiNeRV(CFG, dict(list(weights.items())[:-1]))
