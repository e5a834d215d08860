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


def test_a_prior_file_holds_only_the_prior_and_finds_its_base(tmp_path):
    """checkerboard-vr exported against its mean-scale-vr file stores the prior alone; it
    loads to the full model's digest from the base beside it, and fails loudly without it."""
    from hyco.errors import ModelMismatch

    base = zoo.build("mean-scale-vr", 3)
    with torch.no_grad():
        base.g_a[0].weight.mul_(1.25)
    base_path = tmp_path / "pair" / "base.safetensors"
    base_path.parent.mkdir()
    zoo.save_weights(base, base_path, 3, half=True)
    cb = zoo.build("checkerboard-vr", 3)
    zoo.load_weights(cb, base_path, base_ok=True)
    with torch.no_grad():
        cb.spatial.skip.weight.normal_(0, 0.01)
    full, prior = tmp_path / "full.safetensors", base_path.parent / "prior.safetensors"
    zoo.save_weights(cb, full, 3, half=True)
    zoo.save_weights(cb, prior, 3, half=True, base=base_path)
    assert prior.stat().st_size < 0.4 * full.stat().st_size
    meta = zoo.weights_metadata(prior)
    assert meta["base_digest"] == zoo.weights_metadata(base_path)["digest"]
    assert zoo.load("checkerboard-vr", 3, weights=prior).digest() == meta["digest"] \
        == zoo.weights_metadata(full)["digest"]

    lone = tmp_path / "lone.safetensors"  # no base of that digest shipped or beside it
    lone.write_bytes(prior.read_bytes())
    with pytest.raises(ModelMismatch, match="neither shipped nor beside"):
        zoo.load("checkerboard-vr", 3, weights=lone)
    other = zoo.build("mean-scale-vr", 3)  # a base whose values the model does not hold
    other_path = tmp_path / "other.safetensors"
    zoo.save_weights(other, other_path, 3, half=True)
    with pytest.raises(ModelMismatch, match="differs from these base weights"):
        zoo.save_weights(cb, tmp_path / "x.safetensors", 3, half=True, base=other_path)
    with pytest.raises(HycoError, match="base model"):
        zoo.save_weights(cb, tmp_path / "x.safetensors", 3, base=full)
    # the base retrained in the same process: the cached pair must not answer for it
    zoo.save_weights(other, base_path, 3, half=True)
    with pytest.raises(ModelMismatch, match="neither shipped nor beside"):
        zoo.load("checkerboard-vr", 3, weights=prior)


def test_a_warm_prior_brings_its_prior_onto_new_transforms(tmp_path):
    """--warm-prior: a prior trained on one base starts a model built on another; only the
    prior's tensors move, and a file that is no prior of the model is refused."""
    from hyco.errors import ModelMismatch

    old_base, new_base = zoo.build("mean-scale-vr", 3), zoo.build("mean-scale-vr", 3)
    with torch.no_grad():
        old_base.g_a[0].weight.mul_(1.25)
        new_base.g_s[0].weight.mul_(0.75)
    old_path, new_path = tmp_path / "old.safetensors", tmp_path / "new.safetensors"
    zoo.save_weights(old_base, old_path, 3)
    zoo.save_weights(new_base, new_path, 3)
    trained = zoo.build("checkerboard-vr", 3)
    zoo.load_weights(trained, old_path, base_ok=True)
    with torch.no_grad():
        trained.spatial.skip.weight.normal_(0, 0.01)
    prior = tmp_path / "prior.safetensors"
    zoo.save_weights(trained, prior, 3, base=old_path)

    warm = zoo.build("checkerboard-vr", 3)
    zoo.load_weights(warm, new_path, base_ok=True)
    zoo.load_prior(warm, prior)
    assert torch.equal(warm.spatial.skip.weight, trained.spatial.skip.weight)
    assert torch.equal(warm.g_s[0].weight, new_base.g_s[0].weight)  # the new transforms stay
    assert torch.equal(warm.g_a[0].weight, new_base.g_a[0].weight)
    with pytest.raises(ModelMismatch, match="not a checkerboard-vr prior file"):
        zoo.load_prior(warm, new_path)
    with pytest.raises(ModelMismatch, match="not a channel-checkerboard-vr prior file"):
        zoo.load_prior(zoo.build("channel-checkerboard-vr", 3), prior)
