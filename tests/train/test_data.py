import numpy as np
import pytest
import torch
from PIL import Image

from hyco.errors import HycoError
from hyco.train.data import CropDataset, Prefetcher, detail


def _folder(tmp_path):
    """One flat image and one of pixel-scale noise, the same size."""
    rng = np.random.default_rng(0)
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(tmp_path / "flat.png")
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "noise.png")
    return tmp_path


def test_detail_is_what_2x2_averaging_loses():
    assert detail(np.full((8, 8, 3), 77, np.uint8)) == 0.0
    smooth = np.repeat(np.repeat(np.arange(16, dtype=np.uint8).reshape(4, 4, 1), 2, 0), 2, 1)
    assert detail(np.repeat(smooth, 3, 2)) == 0.0  # constant on every 2x2 block
    checker = (np.indices((8, 8)).sum(0) % 2 * 200).astype(np.uint8)[..., None]
    assert detail(checker) == pytest.approx(100.0 ** 2)  # every pixel 100 from its block mean


def _flat_share(ds, steps=40, size=8):
    crops = torch.cat([ds.batch(s, size) for s in range(steps)])
    per_crop_std = crops.flatten(1).std(1)
    return float((per_crop_std == 0).float().mean())


def test_crops_prefer_detail_but_reach_everything(tmp_path):
    folder = _folder(tmp_path)
    uniform = _flat_share(CropDataset(folder, crop=32, candidates=1))
    picky = _flat_share(CropDataset(folder, crop=32, candidates=2))
    assert 0.35 < uniform < 0.65  # half the crops from the flat image
    assert 0.1 < picky < 0.4  # the flat one only when both candidates are flat: 1/4


def test_batches_stay_a_function_of_step(tmp_path):
    folder = _folder(tmp_path)
    a, b = CropDataset(folder, crop=32, seed=3), CropDataset(folder, crop=32, seed=3)
    assert torch.equal(a.batch(7, 4), b.batch(7, 4))
    assert not torch.equal(a.batch(7, 4), a.batch(8, 4))


def test_candidates_must_be_positive(tmp_path):
    with pytest.raises(HycoError, match="at least 1"):
        CropDataset(_folder(tmp_path), crop=32, candidates=0)


def test_prefetched_batches_equal_drawn_ones_also_after_a_jump(tmp_path):
    ds = CropDataset(_folder(tmp_path), crop=32, seed=5)
    ahead = Prefetcher(ds, size=4, depth=3, workers=2)
    for step in [0, 1, 2, 9, 10, 4]:  # 9: a resume past the drawn-ahead steps; 4: back again
        assert torch.equal(ahead.batch(step), ds.batch(step, 4))


def test_prefetcher_draws_nothing_past_the_end(tmp_path):
    ds = CropDataset(_folder(tmp_path), crop=32, seed=5)
    ahead = Prefetcher(ds, size=4, depth=8, workers=2)
    assert torch.equal(ahead.batch(3, stop=5), ds.batch(3, 4))
    assert sorted(ahead._ahead) == [4]  # step 4 drawn ahead, nothing from the end (5) on
