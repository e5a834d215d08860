import torch
import torch.nn.functional as F

from hyco.nn.exact_layers import ONE, to_fixed
from hyco.nn.interp import lerp, lerp_exact, source_span, taps, upsample, upsample_exact


def test_upsampling_matches_bilinear_and_patches_match_the_whole():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 5, 7)
    for s in (2, 3, 5):
        rows, cols = torch.arange(5 * s)[None], torch.arange(7 * s)[None]
        y = upsample(x, taps(rows, 5, 5 * s), taps(cols, 7, 7 * s))
        ref = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
        assert float((y - ref).abs().max()) < 2e-3 * float(x.abs().max())  # weights: 1/ONE
        # a patch (with rows past the border) from the span it needs, at global positions
        out = torch.arange(-3, 2 * s + 1)[None]
        first, end = source_span(-3, 2 * s + 1, s)
        src = torch.arange(first, end).clamp(0, 4)
        patch = x[:, :, src][:, :, :, :]
        i0, i1, w1 = taps(out, 5, 5 * s)
        y_patch = upsample(patch, (i0 - first, i1 - first, w1), taps(cols, 7, 7 * s))
        inside = (out[0] >= 0) & (out[0] < 5 * s)
        assert torch.equal(y_patch[:, :, inside], y[:, :, out[0][inside]])


def test_exact_twins_compute_the_same_function():
    torch.manual_seed(1)
    x = torch.randn(2, 3, 4, 6)
    a = to_fixed(x)
    b = 2
    rows = torch.arange(8).expand(b, 8)
    cols = torch.arange(12).expand(b, 12)
    ty, tx = taps(rows, 4, 8), taps(cols, 6, 12)
    exact = upsample_exact(a, ty, tx)
    flt = upsample(a.double() / ONE, ty, tx)
    assert float((exact.double() / ONE - flt).abs().max()) <= 1.0 / ONE
    g = torch.randn(5, 3)
    t = torch.tensor([0, 3, 6])
    i0, i1, w1 = taps(t, 5, 7)
    e = lerp_exact(to_fixed(g), i0, i1, w1.view(-1, 1), 0)
    f = lerp(to_fixed(g).double() / ONE, i0, i1, w1.view(-1, 1), 0)
    assert float((e.double() / ONE - f).abs().max()) <= 1.0 / ONE


def test_taps_clamp_to_the_border():
    i0, i1, w1 = taps(torch.tensor([-5, 0, 19, 40]), 10, 20)
    assert i0.tolist() == [0, 0, 9, 9] and i1.tolist() == [0, 0, 9, 9]
    assert w1.tolist() == [0, 0, 0, 0]
    i0, i1, w1 = taps(torch.tensor([1, 2]), 10, 20)  # positions 0.25 and 0.75
    assert i0.tolist() == [0, 0] and i1.tolist() == [1, 1] and w1.tolist() == [ONE // 4,
                                                                              3 * ONE // 4]
