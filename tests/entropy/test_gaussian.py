import torch

from hyco.entropy.gaussian import (
    N_SCALES,
    GaussianConditional,
    gaussian_tables,
    log2_bin,
    scale_indices,
    scale_table,
)
from hyco.nn.exact import FRAC_BITS


def test_scale_indices_pick_the_nearest_table_scale():
    scales, _ = scale_table()
    s = torch.exp(torch.linspace(-4, 7, 1000, dtype=torch.float64))
    idx = scale_indices(torch.round(s * 2**FRAC_BITS).to(torch.int64))
    assert idx.min() == 0 and idx.max() == N_SCALES - 1
    assert torch.all(idx[1:] >= idx[:-1])
    inside = (s > scales[0]) & (s < scales[-1])
    chosen = torch.from_numpy(scales)[idx[inside]]
    ratio = torch.log(chosen / s[inside]).abs()
    step = (torch.log(torch.tensor(scales[-1] / scales[0])) / (N_SCALES - 1)).item()
    fixed_point_error = 2.0**-FRAC_BITS / scales[0]  # relative rounding of the smallest scale
    assert ratio.max() <= step / 2 + fixed_point_error


def test_likelihoods_sum_to_one():
    gc = GaussianConditional()
    v = torch.arange(-3000, 3001, dtype=torch.float32).view(1, 1, -1, 1)
    for s in [0.11, 0.5, 3.0, 40.0]:
        lik = gc.likelihood(v + 0.3, torch.full_like(v, s), torch.full_like(v, 0.3))
        assert abs(lik.sum().item() - 1) < 1e-3


def test_log2_bin_is_the_likelihood_and_keeps_a_slope_in_the_tail():
    """Where the probability form is exact, the log form equals it; far in the tail, where
    the probability underflows to its bound and loses its gradient, the log form still says
    "raise the scale", through the floor too (a raw scale below SCALE_MIN)."""
    gc = GaussianConditional()
    r = torch.tensor([0.0, 0.4, 1.0, 2.0, 5.0])
    s = torch.tensor([0.2, 1.0, 0.7, 3.0, 2.0])
    assert torch.allclose(log2_bin(r, s), torch.log2(gc.likelihood(r, s)), atol=1e-4)
    raw = torch.tensor([-3.0, 0.05, 0.3], requires_grad=True)  # two under the floor
    far = torch.full((3,), 6.0)
    bits = -log2_bin(far, raw).sum()
    assert bits.item() > 3 * 40  # beyond the bounded form's ~30 bits each
    (grad,) = torch.autograd.grad(bits, raw)
    assert torch.all(grad < 0)  # a larger scale costs fewer bits, even from below the floor
    bounded = torch.tensor([0.05, 0.11, 0.3], requires_grad=True)
    (flat,) = torch.autograd.grad(-torch.log2(gc.likelihood(far, bounded)).sum(), bounded)
    assert flat[:2].abs().max() == 0  # what the search would be stuck with


def test_tables_sum_to_precision():
    t = gaussian_tables()
    assert len(t) == N_SCALES
    assert all(f.sum() == 1 << 20 and f.min() >= 1 for f in t.freqs)


def test_round_fixed_is_what_code_gaussian_codes():
    """The encoder's trial rounding (no coding) equals the latent a real encode returns."""
    from hyco.entropy.gaussian import code_gaussian, round_fixed
    from hyco.nn.exact_layers import ONE

    g = torch.Generator().manual_seed(3)
    y = torch.randn(1, 8, 5, 7, generator=g, dtype=torch.float64) * 4
    mu_f = (torch.randn(1, 8, 5, 7, generator=g) * 3 * ONE).round().to(torch.int64)
    sigma_f = ((torch.rand(1, 8, 5, 7, generator=g) * 5 + 0.2) * ONE).round().to(torch.int64)
    _, coded = code_gaussian(y, None, mu_f, sigma_f)
    assert torch.equal(round_fixed(y, mu_f), coded)
