import numpy as np
import pytest
import torch

from conftest import uint8_image
from hyco.errors import HycoError
from hyco.eval.metrics import psnr
from hyco.train.hinerv_fit import (
    HiNeRVSettings,
    HiNeRVTrainer,
    build,
    patch_cells,
    prune_masks,
)
from hyco.video.hinerv import ExactHiNeRV, prunable
from hyco.video.hinerv_config import config_for


def clip(t=4, h=32, w=48, seed=3):
    """A small moving scene: a smooth image panning one pixel a frame."""
    base = uint8_image(h + 8, w + 8, seed=seed)
    return np.stack([base[i : i + h, i : i + w] for i in range(t)])


def settings(**kw):
    return HiNeRVSettings(**{"size": "4k", "epochs": 3, "scales": (2, 2), "patch_side": 16,
                             "prune": 0.2, **kw})


def test_overfits_prunes_and_quantises_a_tiny_video():
    frames = clip()
    rows = []
    tr = HiNeRVTrainer(frames, settings(epochs=25), progress=False,
                       on_epoch=lambda stage, epoch, row: rows.append((stage, row["psnr"])))
    assert tr.cells == (4, 4) and tr.batch == 6 and tr.items == 24
    tr.train()
    assert [s for s, _ in rows] == ["train"] * 25 + ["prune"] * 5 + ["quant"] * 2
    train = [p for s, p in rows if s == "train"]
    assert train[-1] > train[0] + 2  # PSNR rises
    weights = tr.quantized()
    net = ExactHiNeRV(tr.cfg, weights)
    rendered = np.mean([psnr(net.render(t), frames[t]) for t in range(4)])
    assert rendered > train[0] + 2 and abs(rendered - rows[-1][1]) < 1.5
    zeros = sum(int((q == 0).sum()) for n, (q, _) in weights.items() if prunable(n))
    assert zeros >= int(0.2 * tr.cfg.num_params())  # the pruned weights stay zero
    assert max(int(q.abs().max()) for n, (q, _) in weights.items()
               if not n.endswith(".bias")) <= 31  # 6 bits


class Stop(Exception):
    pass


def test_resume_is_exact_at_any_epoch(tmp_path):
    frames = clip()
    ref = HiNeRVTrainer(frames, settings(), tmp_path / "a", progress=False)
    ref.train()
    seen = []

    def stop_at(stage, epoch, row):
        seen.append(stage)
        if len(seen) in (2, 3, 4):  # inside the train stage, at its end, after pruning
            raise Stop

    for _ in range(3):
        with pytest.raises(Stop):
            HiNeRVTrainer(frames, settings(), tmp_path / "b", False, stop_at).train()
    last = HiNeRVTrainer(frames, settings(), tmp_path / "b", False, stop_at)
    last.train()
    assert seen == ["train", "train", "train", "prune", "quant"]
    a, b = ref.model.state_dict(), last.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    done = HiNeRVTrainer(frames, settings(), tmp_path / "b", False, stop_at)
    done.train()  # a finished run trains no more
    assert len(seen) == 5 and all(torch.equal(a[k], v) for k, v in
                                  done.model.state_dict().items())
    with pytest.raises(HycoError, match="another video"):
        HiNeRVTrainer(clip(seed=4), settings(), tmp_path / "b", progress=False)
    with pytest.raises(HycoError, match="other settings"):
        HiNeRVTrainer(frames, settings(bits=5), tmp_path / "b", progress=False)


def test_pruning_masks_and_patches():
    cfg = config_for(32, 48, 4, "4k", scales=(2, 2))
    model = build(cfg)
    masks = prune_masks(model, 0.3)
    assert all(prunable(n) for n in masks)
    zeros = sum(int((~m).sum()) for m in masks.values())
    assert zeros == int(0.3 * cfg.num_params())
    for n, m in masks.items():  # the smallest scaled magnitudes go first
        p = dict(model.named_parameters())[n].detach().abs()
        if (~m).any() and m.any():
            assert float(p[~m].max()) <= float(p[m].min()) + 1e-12
    assert patch_cells(cfg, 16) == (4, 4) and patch_cells(cfg, 1000) == (8, 12)
    qcif = config_for(144, 176, 8, "s")
    assert qcif.base_size == (9, 11) and patch_cells(qcif, 32) == (3, 11)
    with pytest.raises(HycoError):
        HiNeRVSettings(bits=1)
    with pytest.raises(HycoError):
        HiNeRVSettings(prune=1.0)
    with pytest.raises(HycoError):
        HiNeRVSettings(epochs=0)


def test_a_short_run_still_renders_the_video():
    """Even two epochs leave a picture (the zero-initialised head is never pruned)."""
    frames = clip()
    tr = HiNeRVTrainer(frames, settings(epochs=2, prune=0.5), progress=False)
    tr.train()
    weights = tr.quantized()
    assert weights["head.weight"][0].any()
    net = ExactHiNeRV(tr.cfg, weights)
    assert net.render(0).std() > 1
