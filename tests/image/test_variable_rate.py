"""The variable-rate model: one set of weights, any quality, exact at fractional ones."""

import pytest
import torch

from conftest import smooth_images
from hyco import zoo
from hyco.errors import HycoError
from hyco.image import VariableRateMeanScale


def _model() -> VariableRateMeanScale:
    torch.manual_seed(0)
    m = VariableRateMeanScale(16, 24)
    with torch.no_grad():  # distinct levels, as after training
        for p in (m.gain, m.inv_gain, m.hyper_gain, m.hyper_inv_gain):
            p.copy_(torch.logspace(-1, 2, m.levels).view(-1, 1).expand_as(p))
    return m.eval()


def _exact_sizes(m: VariableRateMeanScale, x: torch.Tensor, qualities: list) -> list[int]:
    """The stream bytes of ``x`` at each quality, each decode checked against the forward."""
    sizes = []
    for q in qualities:
        m.quality = q
        with torch.no_grad():
            ref = m(x)["x_hat"]
        payload = m.compress(x)
        assert torch.equal(m.decompress(payload), ref)
        sizes.append(sum(len(s) for s in payload.streams))
    return sizes


def test_fractional_qualities_round_trip_exactly():
    m = _model()
    sizes = _exact_sizes(m, smooth_images(1, 90, 140, seed=2), [1, 2.5, 5.75, 8])
    assert sizes[0] < sizes[-1]  # larger gains: finer quantisation, more bits


def test_gains_interpolate_linearly_between_levels():
    m = _model()
    m.quality = 3
    g3 = m._gains(m.gain)
    m.quality = 4
    g4 = m._gains(m.gain)
    m.quality = 3.25
    assert torch.allclose(m._gains(m.gain), 0.75 * g3 + 0.25 * g4)


def test_below_level_one_the_ladder_goes_on_one_learned_step():
    """Qualities 0 .. 1: the gains extrapolate each channel's first ratio (g1 * g1 / g2),
    linearly to it; the files shrink further and still decode exactly."""
    m = _model()
    with torch.no_grad():  # a first level coarse enough to go below, as after training
        for p in (m.gain, m.inv_gain, m.hyper_gain, m.hyper_inv_gain):
            p.copy_(torch.logspace(0.5, 2, m.levels).view(-1, 1).expand_as(p))
    t = m.gain.detach().abs()
    m.quality = 0
    assert torch.equal(m._gains(m.gain).flatten(), t[0] * (t[0] / t[1]))
    m.quality = 1
    assert torch.equal(m._gains(m.gain).flatten(), t[0])
    sizes = _exact_sizes(m, smooth_images(1, 90, 140, seed=3), [1, 0.5, 0])
    assert sizes[0] > sizes[1] > sizes[2]


def test_the_step_below_level_one_moves_no_gain_more_than_twofold():
    """An unused channel's gains wander (1e-3 at level 1, 1e-6 at level 2): its ratio of
    1,000 must not wake it at quality 0; clipped to [1/2, 2] either way."""
    m = _model()
    with torch.no_grad():
        m.gain[:2, 0] = torch.tensor([1e-3, 1e-6])
        m.gain[:2, 1] = torch.tensor([1.0, 10.0])
    m.quality = 0
    g = m._gains(m.gain).flatten()
    assert torch.allclose(g[:2], torch.tensor([2e-3, 0.5]))


def test_only_gain_unit_models_reach_below_their_ladder():
    assert zoo.parse_quality("channel-checkerboard-vr", "0") == 0
    assert zoo.parse_quality("mean-scale-vr", 0.25) == 0.25
    assert zoo.spec("checkerboard-vr").quality_range == (0.0, 8.0)
    for name, q in [("mean-scale-vr", "-0.5"), ("qarv", "0.5"), ("hyperprior", "0")]:
        with pytest.raises(HycoError, match="qualities"):
            zoo.parse_quality(name, q)
    assert zoo.lmbda_at("mean-scale-vr", 0) == pytest.approx(0.0018 ** 2 / 0.0035)


def test_zoo_serves_every_quality_from_one_model():
    assert zoo.parse_quality("mean-scale-vr", "2.5") == 2.5
    assert zoo.parse_quality("mean-scale-vr", 3) == 3
    a = zoo.load("mean-scale-vr", 2)
    b = zoo.load("mean-scale-vr", 6.5)
    assert a is b and b.quality == 6.5
    assert zoo.build("mean-scale-vr", 1).digest() == zoo.build("mean-scale-vr", 7).digest()


def test_trainer_draws_a_level_and_its_lambda_per_step(tmp_path):
    from PIL import Image

    from conftest import uint8_image
    from hyco.train import TrainConfig, Trainer

    data = tmp_path / "d"
    data.mkdir()
    Image.fromarray(uint8_image(64, 64)).save(data / "a.png")
    t = Trainer(TrainConfig(model="mean-scale-vr", quality=3, data=str(data),
                            out=str(tmp_path / "r"), steps=10, batch_size=1, crop=64))
    levels = set()
    for _ in range(10):
        t.train_step()
        levels.add(t.model.quality)
    assert len(levels) >= 3 and levels <= set(range(1, 9))
    assert t.model.gain.grad is not None


@pytest.mark.parametrize("rounded", [False, True])
def test_training_synthesis_sees_noise_or_the_rounded_latent(rounded):
    """``round_for_synthesis``: the synthesis gets round(y - mu) + mu, the rate the noise,
    and the analysis still learns through the rounding (straight-through)."""
    m = _model().train()
    m.round_for_synthesis = rounded
    m.quality = 5
    seen, rate = [], []
    synthesis, likelihood = m.synthesis, m.gaussian.likelihood
    m.synthesis = lambda v: seen.append(v) or synthesis(v)
    m.gaussian.likelihood = lambda v, s, mu: rate.append((v, mu)) or likelihood(v, s, mu)
    out = m(smooth_images(2, 64, 64, seed=3))
    (noisy, means), = rate
    offset = seen[0] - means
    assert torch.allclose(offset, torch.round(offset), atol=1e-5) == rounded
    assert torch.equal(seen[0], noisy) != rounded
    out["x_hat"].sum().backward()
    assert m.g_a[0].weight.grad.abs().sum() > 0
