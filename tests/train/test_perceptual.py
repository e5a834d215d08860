"""The perceptual term: LPIPS from a user-supplied file, or the weight-free substitute."""

import pytest
import torch
from safetensors.torch import save_file

from conftest import smooth_images
from hyco.errors import HycoError
from hyco.train.perceptual import LPIPS, Perceptual, feature_matching


def _lpips_file(path, **changes):
    torch.manual_seed(0)
    state = {k: v.clone() for k, v in LPIPS().state_dict().items()}
    for k in list(state):
        state[k] = torch.randn_like(state[k]) * 0.1
        if k.startswith("lin"):
            state[k] = state[k].abs()  # LPIPS's linear heads are non-negative
    state.update(changes)
    save_file({k: v for k, v in state.items() if v is not None}, str(path))
    return path


def test_lpips_from_file_is_a_frozen_distance_with_input_gradients(tmp_path):
    lpips = LPIPS.from_file(_lpips_file(tmp_path / "lpips.safetensors"))
    x, y = smooth_images(2, 64, 64, seed=1), smooth_images(2, 64, 64, seed=2)
    assert torch.equal(lpips(x, x), torch.zeros(2))
    y.requires_grad_(True)
    d = lpips(y, x)
    assert d.shape == (2,) and (d > 0).all()
    d.sum().backward()
    assert y.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in lpips.parameters())
    assert not lpips.train().training  # stays in eval mode


def test_bad_lpips_files_fail_in_one_line(tmp_path):
    with pytest.raises(HycoError, match="not a readable safetensors"):
        bad = tmp_path / "junk.safetensors"
        bad.write_bytes(b"not a safetensors file")
        LPIPS.from_file(bad)
    with pytest.raises(HycoError, match="missing lin4.weight"):
        LPIPS.from_file(_lpips_file(tmp_path / "a.safetensors", **{"lin4.weight": None}))
    with pytest.raises(HycoError, match="features.0.weight has shape"):
        LPIPS.from_file(_lpips_file(tmp_path / "b.safetensors",
                                    **{"features.0.weight": torch.zeros(64, 3, 3, 3)}))


def test_substitute_is_msssim_plus_feature_matching(tmp_path):
    x, y = smooth_images(1, 64, 64, seed=1), smooth_images(1, 64, 64, seed=2)
    sub = Perceptual()
    assert sub.kind == "ms-ssim+fm"
    out = sub(y, x)
    assert float(out["perceptual"]) == pytest.approx(1 - float(out["ms_ssim"]))
    real = [(None, [torch.ones(1, 2, 4, 4)])]
    fake = [(None, [torch.zeros(1, 2, 4, 4, requires_grad=True)])]
    fm = feature_matching(real, fake)
    assert float(fm.detach()) == 1.0
    with_fm = sub(y, x, fm)["perceptual"]
    assert with_fm.requires_grad  # G learns through the feature distance
    assert float(with_fm.detach()) == pytest.approx(2 - float(out["ms_ssim"]))
    assert Perceptual(_lpips_file(tmp_path / "l.safetensors")).kind == "lpips"
