import numpy as np
import pytest
import torch
from PIL import Image

from conftest import uint8_image
from hyco.errors import HycoError
from hyco.nn.warp import warp
from hyco.train.clips import ClipDataset, Motion, synthetic_clip


def test_synthetic_flow_is_the_true_motion():
    image = torch.from_numpy(uint8_image(200, 260)).permute(2, 0, 1).float() / 255
    frames, flows = synthetic_clip(image, (130, 100), Motion((3.0, -2.0), 1.02, 0.02), 3, 64)
    assert frames.shape == (3, 3, 64, 64) and flows.shape == (2, 2, 64, 64)
    for t in (1, 2):
        inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))
        warped = warp(frames[t - 1 : t], flows[t - 1 : t])
        err = (warped - frames[t : t + 1])[inner].abs().mean()
        still = (frames[t - 1 : t] - frames[t : t + 1])[inner].abs().mean()
        assert err < 0.2 * still


def test_batches_are_a_function_of_step(tmp_path):
    for i in range(3):
        Image.fromarray(uint8_image(90, 120, seed=i)).save(tmp_path / f"p{i}.png")
    ds = ClipDataset(tmp_path, frames=3, crop=48)
    a, fa = ds.batch(5, 2)
    b, fb = ds.batch(5, 2)
    assert a.shape == (2, 3, 3, 48, 48) and torch.equal(a, b)
    assert torch.equal(fa.nan_to_num(), fb.nan_to_num())
    assert not torch.equal(a, ds.batch(6, 2)[0])
    assert np.isfinite(fa.numpy()).all()  # photos only: every clip synthetic, with flow


def test_empty_folder(tmp_path):
    with pytest.raises(HycoError, match="no training"):
        ClipDataset(tmp_path)
