import numpy as np
import pytest
import torch

from hyco import api, zoo
from hyco.errors import HycoError
from hyco.files import array_to_tensor, to_array
from hyco.image.latent_search import _measured_loss, search_hyper, search_latents

SAMPLE = "src/hyco/data/sample.png"


def _photo(h: int = 96, w: int = 128) -> torch.Tensor:
    arr, _ = to_array(SAMPLE)
    return array_to_tensor(np.ascontiguousarray(arr[:h, :w]))


@pytest.mark.parametrize("name", ["mean-scale-vr", "checkerboard-vr", "channel-checkerboard-vr"])
def test_search_lowers_the_real_loss_and_decodes_with_the_plain_decoder(name):
    """On the shipped weights a few steps find a file whose measured rate + lambda * MSE
    is below plain coding's, and the ordinary decoder reads it."""
    codec = zoo.load(name, 3)
    x = _photo()
    lmbda = zoo.lmbda_at(name, 3)
    plain = codec.compress(x)
    searched = search_latents(codec, x, 20, lmbda)
    assert _measured_loss(codec, list(searched.streams), x, lmbda) < \
        0.995 * _measured_loss(codec, list(plain.streams), x, lmbda)
    assert codec.decompress(searched).shape == x.shape
    assert search_latents(codec, x, 0, lmbda).streams == plain.streams  # 0 steps: plain


def test_search_is_reproducible_and_leaves_the_model_alone():
    codec = zoo.load("mean-scale-vr", 2)
    digest = codec.digest()
    x = _photo(64, 64)
    a, b = (search_latents(codec, x, 10).streams for _ in range(2))
    assert a == b
    assert codec.digest() == digest and all(p.grad is None for p in codec.parameters())


@pytest.mark.parametrize("kind, why", [("refine", "no latent search"),
                                       ("search_hyper", "no hyper-latent search")])
def test_searches_through_the_api_and_their_errors(kind, why):
    arr = np.ascontiguousarray(to_array(SAMPLE)[0][:64, :64])
    data = api.compress_array(arr, 3, "mean-scale-vr", 4, **{kind: 3})
    assert api.decode(data).array.shape == arr.shape
    with pytest.raises(HycoError, match=why):
        api.compress_array(arr, 3, "qarv", 4, **{kind: 3})
    with pytest.raises(HycoError, match=">= 0"):
        api.compress_array(arr, 3, "mean-scale-vr", 4, **{kind: -1})
    with pytest.raises(HycoError, match="not both"):
        api.compress_array(arr, 3, "mean-scale-vr", 4, refine=2, search_hyper=3)


@pytest.mark.parametrize("name", ["mean-scale-vr", "channel-checkerboard-vr"])
def test_hyper_search_keeps_a_better_file_reproducibly_and_it_decodes(name):
    """On the bundled photo the search finds another file (its hyper-latent moved, and the
    latent's symbols with the means), whose measured loss is at most plain coding's."""
    codec = zoo.load(name, 1)
    digest = codec.digest()
    x = _photo()
    lmbda = zoo.lmbda_at(name, 1)
    plain = codec.compress(x)
    found = search_hyper(codec, x, 8, lmbda)
    assert found.streams != plain.streams
    assert _measured_loss(codec, list(found.streams), x, lmbda) <= \
        _measured_loss(codec, list(plain.streams), x, lmbda)
    assert codec.decompress(found).shape == x.shape
    assert search_hyper(codec, x, 8, lmbda).streams == found.streams  # reproducible
    assert search_hyper(codec, x, 0, lmbda).streams == plain.streams
    assert codec.digest() == digest and all(p.grad is None for p in codec.parameters())


def test_hyper_search_lowers_its_rate_from_a_spoilt_hyper_latent():
    """The mechanism, from a hyper-latent pushed where the scales collapse: Adam on
    ``hyper_rate`` brings the rate down (what rescues such regions in real pictures)."""
    codec = zoo.load("mean-scale-vr", 1)
    with torch.no_grad():
        y, z = codec.initial_latents(codec.pad(_photo()))
    z = (z - 6.0).requires_grad_(True)  # far from any training hyper-latent
    with torch.no_grad():
        scales, means = codec._float_hyper(torch.round(z))
        assert ((scales < 0.11) & ((y - means).abs() >= 1.5)).sum() > 1000  # collapsed
    opt = torch.optim.Adam([z], lr=0.1)
    torch.manual_seed(0)
    first = codec.hyper_rate(y, z).item()
    for _ in range(30):
        (z.grad,) = torch.autograd.grad(codec.hyper_rate(y, z), [z])
        opt.step()
    assert codec.hyper_rate(y, z).item() < 0.7 * first
