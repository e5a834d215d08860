"""The lambda embedding: hat basis and MLP, computed exactly from the file's integer code."""

import torch

from hyco.nn.exact_layers import ONE, from_fixed
from hyco.nn.rate_embedding import LogLambdaEmbedding, lmbda_code


def test_hat_basis_partitions_unity_and_matches_its_integer_twin():
    emb = LogLambdaEmbedding(4, 11, dim=8, knots=16)
    log2 = torch.tensor([4.0, 4.3, 7.77, 10.999, 11.0])
    basis = emb.basis(log2)
    assert torch.allclose(basis.sum(1), torch.ones(5, 1, 1))
    assert basis[0, 0, 0, 0] == 1 and basis[-1, -1, 0, 0] == 1
    codes = torch.tensor([lmbda_code(float(v)) for v in log2])
    exact = emb.basis_exact(codes)
    assert torch.all(exact.sum(1) == ONE)
    assert (from_fixed(exact) - basis).abs().max() <= 1.0 / ONE


def test_embedding_exact_tracks_float_and_depends_on_lambda():
    torch.manual_seed(0)
    emb = LogLambdaEmbedding(4, 11, dim=32)
    codes = torch.tensor([lmbda_code(5.0), lmbda_code(9.5)])
    with torch.no_grad():
        ref = emb(codes.float() / ONE)
    out = from_fixed(emb.exact(codes))
    assert out.shape == (2, 32, 1, 1)
    assert (out - ref).abs().max() < 2e-3 * ref.abs().max() + 4.0 / ONE
    assert not torch.allclose(out[0], out[1])
    assert torch.equal(emb.exact(codes), emb.exact(codes.flip(0)).flip(0))


def test_rate_gain_starts_at_sqrt_lambda_and_is_exact():
    from hyco.nn.rate_embedding import RateGain

    gain = RateGain(3, 4, 11)
    emb = LogLambdaEmbedding(4, 11, dim=8)
    log2 = torch.tensor([4.0, 7.5, 9.25, 11.0])
    g, log_g = gain(emb.basis(log2))
    assert g.shape == log_g.shape == (4, 3, 1, 1)
    assert torch.allclose(g[:, 0, 0, 0], 2 ** ((log2 - 7.5) / 2), rtol=0.05)  # sqrt(l / l_mid)
    assert torch.allclose(log_g, g.log(), atol=0.05)
    codes = torch.tensor([lmbda_code(float(v)) for v in log2])
    g_fixed, log_g_fixed = gain.exact(emb.basis_exact(codes))
    assert g_fixed.dtype == torch.int64
    assert (from_fixed(g_fixed) - g).abs().max() <= 2.0 / ONE
    assert (from_fixed(log_g_fixed) - log_g).abs().max() <= 2.0 / ONE
    with torch.no_grad():
        gain.gain.fill_(-1.0)  # a gain can never reach zero (the decoder divides by it)
    assert torch.all(gain.exact(emb.basis_exact(codes))[0] == round(RateGain.MIN_GAIN * ONE))
