import torch

from hyco.entropy.factorized import FactorizedDensity


def test_cdf_is_monotone_and_likelihood_normalised():
    torch.manual_seed(0)
    d = FactorizedDensity(4)
    with torch.no_grad():
        for p in d.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.linspace(-60, 60, 2001).view(1, 1, -1).expand(4, 1, -1)
    logits = d._logits_cdf(x)
    assert torch.all(logits[..., 1:] >= logits[..., :-1])
    v = torch.arange(-200, 201, dtype=torch.float32).view(1, 1, 1, -1).expand(1, 4, 1, -1)
    lik = d.likelihood(v.contiguous())
    assert torch.allclose(lik.sum(-1), torch.ones(1, 4, 1), atol=1e-4)


def test_aux_loss_moves_quantiles_to_the_tails():
    torch.manual_seed(0)
    d = FactorizedDensity(3)
    opt = torch.optim.Adam([d.quantiles], lr=1.0)
    start = d.aux_loss().item()
    for _ in range(400):
        opt.zero_grad()
        d.aux_loss().backward()
        opt.step()
    assert d.aux_loss().item() < 0.05 * start
    cdf = torch.sigmoid(d._logits_cdf(d.quantiles.detach()))
    assert torch.all(cdf[..., 0] < 1e-6) and torch.all(cdf[..., 2] > 1 - 1e-6)


def test_tables_follow_weight_changes_without_update():
    torch.manual_seed(0)
    d = FactorizedDensity(2)
    t1, _ = d.tables()
    assert d.tables()[0] is t1  # cached
    opt = torch.optim.SGD(d.parameters(), lr=0.1)
    d.aux_loss().backward()
    opt.step()
    t2, _ = d.tables()
    assert t2 is not t1
    d2 = FactorizedDensity(2)
    d2.load_state_dict(d.state_dict())
    assert all((a == b).all() for a, b in zip(d2.tables()[0].freqs, t2.freqs, strict=True))


def test_round_trip_with_out_of_range_values():
    torch.manual_seed(0)
    d = FactorizedDensity(3)
    x = torch.randn(1, 3, 9, 7) * 5
    x[0, 0, 0, 0] = 1e6
    x[0, 1, 0, 0] = -3e5
    data, x_hat = d.compress(x)
    assert torch.equal(d.decompress(data, (1, 3, 9, 7)), x_hat)
    assert torch.equal(x_hat, d.quantize(x, noise=False))
