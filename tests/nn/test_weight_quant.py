import math

import pytest
import torch

from hyco.nn.exact_layers import ONE
from hyco.nn.weight_quant import (
    Step,
    dequantize,
    fake_quant,
    fixed_point,
    qmax,
    quantize,
    rescale,
)


def test_steps_are_short_binary_numbers_that_never_clip_the_peak():
    for peak in (1e-6, 0.013, 0.5, 1.0, 3.7, 250.0):
        for bits in (2, 6, 8, 12):
            s = Step.for_peak(peak, bits)
            assert 2**11 <= s.mantissa < 2**12
            assert peak / s.value <= qmax(bits)
            assert peak / s.value > qmax(bits) * (1 - 2**-11)  # and is nearly the smallest
    assert Step.for_peak(0.0, 6) == Step(0, 0) and Step.for_peak(math.nan, 6) == Step(0, 0)
    with pytest.raises(ValueError):
        Step(100, 3)
    with pytest.raises(ValueError):
        qmax(13)


def test_quantize_dequantize_and_fake_quant_agree_exactly():
    torch.manual_seed(0)
    w = torch.randn(64, 32) * 0.05
    q, step = quantize(w, 6)
    assert q.dtype == torch.int64 and int(q.abs().max()) == 31
    wq = dequantize(q, step)
    assert float((wq - w).abs().max()) <= step.value / 2 + 1e-9
    fq = fake_quant(w.clone().requires_grad_(True), 6)
    assert torch.equal(fq.detach(), wq)  # QAT sees exactly the decoder's weights
    x = w.clone().requires_grad_(True)
    fake_quant(x, 6).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(w))  # straight-through
    g = torch.Generator().manual_seed(1)
    part = fake_quant(w, 6, noise=0.5, generator=g)
    quantised = part == wq
    assert 0.4 < float(quantised.float().mean()) < 0.6 + 0.1  # about half (some coincide)
    assert torch.equal(part[~quantised], w[~quantised])
    zero_q, zero_step = quantize(torch.zeros(3, 3), 6)
    assert zero_step.mantissa == 0 and not zero_q.any()


def test_fixed_point_forms_are_exact_integer_arithmetic():
    q = torch.tensor([-31, -1, 0, 5, 31])
    step = Step(3000, 20)  # 0.00286102294921875
    # q * step * ONE = q * 3000 / 2**8, rounded half up
    assert fixed_point(q, step).tolist() == [(v * 3000 + 128) // 256 for v in q.tolist()]
    assert fixed_point(q, Step(2048, 5)).tolist() == [v * 2048 * ONE // 32 for v in q.tolist()]
    acc = torch.tensor([2**47, -(2**47) + 3, 12345])
    out = rescale(acc, step)
    assert out.tolist() == [(a * 3000 + 2**19) // 2**20 for a in acc.tolist()]
