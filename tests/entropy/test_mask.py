import numpy as np
import pytest

from hyco.entropy.mask import decode_mask, encode_mask
from hyco.errors import CorruptStream


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 1), (12, 20), (33, 17)])
def test_round_trip(shape):
    rng = np.random.default_rng(sum(shape))
    for mask in (rng.random(shape) < 0.3, np.zeros(shape, bool), np.ones(shape, bool)):
        assert np.array_equal(decode_mask(encode_mask(mask), shape), mask)


def test_regions_cost_less_than_scatter_and_a_constant_map_almost_nothing():
    """The row contexts pay off where flags form regions (a still background)."""
    rng = np.random.default_rng(0)
    h, w = 24, 40
    yy, xx = np.mgrid[:h, :w]
    region = (yy - 12) ** 2 + (xx - 20) ** 2 > 64  # a disc of change in a still frame
    scatter = rng.permutation(region.ravel()).reshape(h, w)  # same count, no structure
    p = region.mean()
    iid_bits = -h * w * (p * np.log2(p) + (1 - p) * np.log2(1 - p))
    assert 8 * len(encode_mask(region)) < 0.5 * iid_bits
    assert 8 * len(encode_mask(scatter)) > 0.9 * iid_bits
    assert len(encode_mask(np.ones((h, w), bool))) <= 3 + 8


def test_corrupt_data_is_refused():
    data = encode_mask(np.eye(8, dtype=bool))
    with pytest.raises(CorruptStream):
        decode_mask(data[:2], (8, 8))
    with pytest.raises(CorruptStream):
        decode_mask(data + b"\x01\x02\x03\x04", (8, 8))
