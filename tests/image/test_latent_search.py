import numpy as np
import pytest
import torch

from hyco import api, zoo
from hyco.errors import HycoError
from hyco.files import array_to_tensor, to_array
from hyco.image.latent_search import _measured_loss, search_latents

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


def test_refine_through_the_api_and_its_errors():
    arr = np.ascontiguousarray(to_array(SAMPLE)[0][:64, :64])
    data = api.compress_array(arr, 3, "mean-scale-vr", 4, refine=5)
    assert api.decode(data).array.shape == arr.shape
    with pytest.raises(HycoError, match="no latent search"):
        api.compress_array(arr, 3, "qarv", 4, refine=5)
    with pytest.raises(HycoError, match=">= 0"):
        api.compress_array(arr, 3, "mean-scale-vr", 4, refine=-1)
