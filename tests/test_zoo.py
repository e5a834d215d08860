import pytest
import torch

from hyco import zoo
from hyco.errors import HycoError


def test_every_model_and_quality_builds_reproducibly():
    for name, spec in zoo.MODELS.items():
        if spec.named:  # regimes, not a ladder: tests/image/test_hific.py
            continue
        assert spec.qualities == list(range(1, 9))
        a, b = zoo.build(name, 1), zoo.build(name, 1)
        assert a.digest() == b.digest()
        assert (a.n, a.m) == spec.sizes[1]
    assert (zoo.build("mean-scale", 1).n, zoo.build("mean-scale", 1).m) == (128, 192)
    assert (zoo.build("mean-scale", 8).n, zoo.build("mean-scale", 8).m) == (192, 320)
    assert (zoo.build("joint-ar", 3).n, zoo.build("joint-ar", 3).m) == (192, 192)


def test_build_does_not_disturb_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    zoo.build("factorized", 1)
    assert torch.equal(torch.rand(3), expected)


def test_weights_round_trip(tmp_path):
    m = zoo.build("hyperprior", 2)
    with torch.no_grad():
        m.g_a[0].weight.mul_(1.5)
    path = tmp_path / "w.safetensors"
    zoo.save_weights(m, path, 2)
    loaded = zoo.load("hyperprior", 2, weights=path)
    assert loaded.digest() == m.digest()
    assert not loaded.training


def test_bad_names_and_qualities():
    with pytest.raises(HycoError, match="unknown model"):
        zoo.load("nope", 1)
    with pytest.raises(HycoError, match="qualities"):
        zoo.load("mean-scale", 11)
    with pytest.raises(HycoError, match="qualities"):
        zoo.load("mean-scale", "high")


def test_half_weights_load_to_the_recorded_digest(tmp_path):
    m = zoo.build("mean-scale", 1)
    full, half = tmp_path / "f.safetensors", tmp_path / "h.safetensors"
    zoo.save_weights(m, full, 1)
    zoo.save_weights(m, half, 1, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = zoo.load("mean-scale", 1, weights=half)
    assert loaded.digest() == zoo.weights_metadata(half)["digest"]
    assert zoo.weights_metadata(full)["digest"] == m.digest()
