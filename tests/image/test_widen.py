"""Growing the latent of a trained variable-rate model: same pictures, near-free new channels,
and a grown weights file that the zoo, the codec and the trainer all build at its own size."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import at_threads, smooth_images, trained_tiny, uint8_image
from hyco import api, zoo
from hyco.errors import HycoError
from hyco.files import tensor_to_array
from hyco.image import VariableRateMeanScale
from hyco.image.variable_rate import gain_ladder
from hyco.image.widen import grown_mask, widen_latent
from hyco.train import TrainConfig, Trainer
from hyco.train.losses import bits_per_pixel


@pytest.fixture(scope="module")
def narrow() -> VariableRateMeanScale:
    return trained_tiny("mean-scale-vr", steps=300)


@pytest.mark.parametrize("quality", [1, 4.5, 8])
def test_grown_model_reconstructs_as_the_narrow_one(narrow, quality):
    x = smooth_images(2, 64, 64, seed=3)
    wide = widen_latent(narrow, 40, sample=x).eval()
    assert wide.m == 40 and wide.g_a[-1].out_channels == 40 and wide.g_s[0].in_channels == 40
    narrow.quality = wide.quality = quality
    with torch.no_grad():
        a, b = narrow(x), wide(x)
    assert torch.allclose(a["x_hat"], b["x_hat"], atol=1e-6)
    # the old channels keep their tables; the new ones, near zero, cost almost nothing
    assert torch.equal(a["likelihoods"]["z"], b["likelihoods"]["z"])
    torch.testing.assert_close(a["likelihoods"]["y"], b["likelihoods"]["y"][:, :24])
    bits_a = float(bits_per_pixel(a["likelihoods"], 64 * 64))
    bits_b = float(bits_per_pixel(b["likelihoods"], 64 * 64))
    assert bits_a <= bits_b <= 1.05 * bits_a


def test_new_channels_are_random_on_the_analysis_side_only(narrow):
    wide = widen_latent(narrow, 40, seed=1)
    assert wide.g_a[-1].weight[24:].abs().sum() > 0  # new analysis filters: something to carry
    assert wide.g_s[0].weight[24:].abs().sum() == 0  # the synthesis ignores them until trained
    assert wide.h_a[0].weight[:, 24:].abs().sum() == 0  # the hyper-latent is unchanged
    assert torch.equal(wide.gain[:, 24:].detach(), gain_ladder(8, 16))  # new gains: the ladder
    assert torch.equal(widen_latent(narrow, 40, seed=1).g_a[-1].weight, wide.g_a[-1].weight)


def test_widen_refuses_to_shrink_and_the_priors(narrow):
    with pytest.raises(ValueError, match="grows"):
        widen_latent(narrow, 24)
    prior_model = zoo.build("checkerboard-vr", 3, size=(16, 24))
    with pytest.raises(TypeError, match="base model"):
        widen_latent(prior_model, 40)


def test_grown_weights_load_code_and_train_at_their_size(narrow, tmp_path):
    wide = widen_latent(narrow, 40, sample=smooth_images(1, 64, 64))
    path = tmp_path / "wide.safetensors"
    zoo.save_weights(wide, path, 3, half=True)
    assert zoo.weights_size(path) == (16, 40)
    loaded = zoo.load("mean-scale-vr", 5, path)
    assert (loaded.n, loaded.m) == (16, 40)
    arr = uint8_image(70, 90, seed=4)
    data = api.compress(arr, model="mean-scale-vr", quality=5, weights=path)
    out = np.asarray(api.decompress(data, weights=path))
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        want = loaded(loaded.pad(x))["x_hat"][..., :70, :90].clamp(0, 1)
    assert np.array_equal(out, tensor_to_array(want))
    # training from the grown file builds the grown architecture, and exports it so
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    Image.fromarray(uint8_image(80, 80, seed=5)).save(data_dir / "a.png")
    cfg = TrainConfig(model="mean-scale-vr", quality=3, data=str(data_dir),
                      out=str(tmp_path / "run"), steps=1, batch_size=1, crop=64,
                      init=str(path))
    trainer = Trainer(cfg)
    assert trainer.model.m == 40 and cfg.size == [16, 40]


def test_grown_only_trains_the_new_channels_alone(narrow, tmp_path):
    wide = widen_latent(narrow, 40, sample=smooth_images(1, 64, 64))
    path = tmp_path / "wide.safetensors"
    zoo.save_weights(wide, path, 3, extra={"grown_m": "24"})
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    Image.fromarray(uint8_image(80, 80, seed=6)).save(data_dir / "a.png")
    cfg = TrainConfig(model="mean-scale-vr", quality=3, data=str(data_dir),
                      out=str(tmp_path / "run"), steps=3, batch_size=2, crop=64, lr=1e-2,
                      init=str(path), grown_only=True)
    trainer = Trainer(cfg)
    before = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    for _ in range(3):
        trainer.train_step()
    after = trainer.model.state_dict()
    masks = grown_mask(trainer.model, 24)
    assert set(masks) >= {"g_a.6.weight", "g_s.0.weight", "h_a.0.weight", "gain", "h_s.4.weight"}
    for k, v in after.items():
        if k.endswith("quantiles"):
            continue
        if k in masks:
            old = masks[k] == 0
            assert torch.equal(v[old], before[k][old]), k  # the old entries stay
        else:
            assert torch.equal(v, before[k]), k  # the frozen parameters stay
    assert not torch.equal(after["g_s.0.weight"][24:], before["g_s.0.weight"][24:])
    plain = tmp_path / "plain.safetensors"
    zoo.save_weights(wide, plain, 3)
    with pytest.raises(HycoError, match="widen"):
        Trainer(TrainConfig(**{**cfg.__dict__, "init": str(plain), "out": str(tmp_path / "r2"),
                               "grown_m": 0}))


@pytest.mark.parametrize("name", ["checkerboard-vr", "channel-checkerboard-vr"])
def test_priors_of_a_320_channel_latent_decode_exactly(name):
    """The checkerboard prior's first conv sees 3 x 320 channels over 3 x 3 (fan-in 8,640,
    above one float64 sum's exact bound): it still codes, identically at any thread count."""
    torch.manual_seed(0)
    model = zoo.build(name, 3, size=(128, 320)).eval()
    for p in model.spatial.parameters():
        p.data.normal_(0, 0.01)
    x = smooth_images(1, 48, 64)
    with torch.no_grad():
        payload = model.compress(x)
        one, two = (at_threads(n, lambda: model.decompress(payload)) for n in (1, 2))
    assert torch.equal(one, two)
    assert one.shape == x.shape
