"""checkerboard-vr and channel-checkerboard-vr: context priors on frozen variable-rate
transforms, exact and trainable."""

import pytest
import torch
from safetensors.torch import load_file

from conftest import smooth_images
from hyco import zoo
from hyco.image import (
    VariableRateChannelCheckerboard,
    VariableRateCheckerboard,
    VariableRateMeanScale,
)
from hyco.image.channel_checkerboard_vr import SliceContextPrior
from hyco.image.checkerboard_vr import anchor_mask
from hyco.nn.ops import pinned_threads
from hyco.nn.refiner import ScaleNormalisedRefiner

PRIORS = pytest.mark.parametrize("cls", [VariableRateCheckerboard,
                                         VariableRateChannelCheckerboard])


def _pair(cls: type = VariableRateCheckerboard
          ) -> tuple[VariableRateMeanScale, VariableRateCheckerboard]:
    """A small base model with distinct levels and a prior model holding its weights."""
    torch.manual_seed(0)
    base = VariableRateMeanScale(16, 24)
    with torch.no_grad():
        for p in (base.gain, base.inv_gain, base.hyper_gain, base.hyper_inv_gain):
            p.copy_(torch.logspace(-1, 2, base.levels).view(-1, 1).expand_as(p))
    cb = cls(16, 24)
    cb.load_state_dict({**cb.state_dict(), **base.state_dict()})
    return base.eval(), cb.eval()


def _perturb(prior: torch.nn.Module, seed: int = 1) -> None:
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in prior.parameters():
            p.add_(torch.randn_like(p) * 0.02)


@PRIORS
def test_untrained_prior_is_the_base_model(cls):
    base, cb = _pair(cls)
    x = smooth_images(1, 70, 100, seed=3)
    for q in (2, 6.5):
        base.quality = cb.quality = q
        a, b = base.compress(x), cb.compress(x)
        assert len(b.streams) == cb.n_streams and b.streams[0] == a.streams[0]
        assert torch.equal(cb.decompress(b), base.decompress(a))


@PRIORS
def test_round_trip_is_exact_and_matches_eval_forward(cls):
    _, cb = _pair(cls)
    _perturb(cb.spatial)
    x = smooth_images(1, 90, 130, seed=4)
    for q in (1, 4.25, 8):
        cb.quality = q
        with torch.no_grad():
            ref = cb(x)["x_hat"]
        payload = cb.compress(x)
        with pinned_threads(2):
            out = cb.decompress(payload)
        assert torch.equal(out, ref)


def test_uneven_slices_in_another_channel_order_stay_exact():
    """SliceContextPrior(sizes=, order=): slices of any sizes, coded in any channel order
    (the busiest channels first); decoding still matches the encoder's reconstruction, and
    the untrained prior is still the base model."""
    base, cb = _pair(VariableRateChannelCheckerboard)
    order = torch.randperm(24, generator=torch.Generator().manual_seed(2)).tolist()
    cb.spatial = SliceContextPrior(24, width=8, sizes=[3, 5, 16], order=order)
    assert cb.n_streams == 7 and torch.equal(cb.spatial.order, torch.tensor(order))
    x = smooth_images(1, 70, 100, seed=3)
    cb.quality = base.quality = 2
    assert torch.equal(cb.decompress(cb.compress(x)), base.decompress(base.compress(x)))
    _perturb(cb.spatial)
    for q in (1, 5.5):
        cb.quality = q
        with torch.no_grad():
            ref = cb(x)["x_hat"]
        assert torch.equal(cb.decompress(cb.compress(x)), ref)
    with pytest.raises(ValueError, match="split"):
        SliceContextPrior(24, sizes=[8, 8])
    with pytest.raises(ValueError, match="permutation"):
        SliceContextPrior(24, order=[0] * 24)


def test_anchors_alternate():
    m = anchor_mask(3, 4)[0, 0]
    assert m.sum() == 6 and bool(m[0, 0]) and not bool(m[0, 1]) and bool(m[1, 1])


@pytest.mark.parametrize("name", ["checkerboard-vr", "channel-checkerboard-vr"])
def test_only_the_prior_learns_and_the_rate_falls(tmp_path, name):
    """Rate-only training from cached latents (hyco.train.latent_prior): the base stays
    bit-identical, the prior moves, and the coded files of a training image shrink."""
    from PIL import Image

    from hyco.train import TrainConfig, train

    base = zoo.build("mean-scale-vr", 3)
    with torch.no_grad():  # a bias in the latent the hyperprior cannot see: neighbours share it
        base.g_a[-1].bias.add_(torch.linspace(-3, 3, base.m))
    init = tmp_path / "base.safetensors"
    zoo.save_weights(base, init, 3, extra={"steps": "7"})
    data = tmp_path / "d"
    data.mkdir()
    img = (smooth_images(1, 256, 256, seed=5)[0].permute(1, 2, 0) * 255).byte().numpy()
    Image.fromarray(img).save(data / "a.png")
    cfg = TrainConfig(model=name, quality=3, data=str(data), out=str(tmp_path / "r"),
                      steps=30, batch_size=2, lr=3e-3, init=str(init), log_every=10,
                      ckpt_every=30)
    trainer = train(cfg)
    model = trainer.model.eval()
    state = load_file(str(init))
    assert all(torch.equal(model.state_dict()[k], v.float()) for k, v in state.items())
    ends = [m.skip for m in model.spatial.modules() if isinstance(m, ScaleNormalisedRefiner)]
    assert any(p.abs().sum() > 0 for skip in ends for p in skip.parameters())  # zero at start
    assert cfg.init_steps == 0  # the prior's own steps, not the base's
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    before = zoo.build(name, 3)
    before.load_state_dict({**before.state_dict(), **{k: v.float() for k, v in state.items()}})
    before.eval()
    for q in (2, 6):
        before.quality = model.quality = q
        assert (sum(map(len, model.compress(x).streams))
                < sum(map(len, before.compress(x).streams)))
        with torch.no_grad():
            assert torch.equal(model.decompress(model.compress(x)), model(x)["x_hat"])


def test_epochs_are_refused_with_a_clear_error(tmp_path):
    """The rate-only trainer reads cached latents, not image crops: --epochs has no meaning."""
    import pytest

    from hyco.errors import HycoError
    from hyco.train import TrainConfig, train

    cfg = TrainConfig(model="checkerboard-vr", quality=3, data=str(tmp_path), epochs=1,
                      out=str(tmp_path / "r"), batch_size=2)
    with pytest.raises(HycoError, match="cached latents"):
        train(cfg)
