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
