"""`hyco train`: learning happens, resume is exact, DDP replicas agree, export loads."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import uint8_image
from hyco.cli import main
from hyco.train import TrainConfig, Trainer, train
from hyco.train import checkpoint as ckpt

FAST = dict(model="mean-scale", quality=1, batch_size=2, crop=64, lr=5e-4, ckpt_every=4,
            milestones=[7],
            log_every=2, val_every=1000)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    for i in range(4):
        Image.fromarray(uint8_image(80 + 8 * i, 96, seed=10 + i)).save(folder / f"{i}.png")
    Image.fromarray(uint8_image(40, 50, seed=20)).save(folder / "small.png")  # upscaled
    (folder / "notes.txt").write_text("not an image, ignored")
    return folder


def test_loss_goes_down(data_dir, tmp_path):
    t = Trainer(TrainConfig(data=str(data_dir), out=str(tmp_path / "r"), steps=60, **FAST))
    losses = [t.train_step()["loss"] for _ in range(60)]
    assert sum(losses[-10:]) < 0.7 * sum(losses[:10])


def test_msssim_bf16_channels_last_and_epochs(data_dir, tmp_path):
    cfg = TrainConfig(data=str(data_dir), out=str(tmp_path / "r"), epochs=2, metric="ms-ssim",
                      bf16=True, channels_last=True, **{**FAST, "crop": 96})
    t = Trainer(cfg)
    assert t.total_steps == 2 * 3  # 5 images, batch 2: 3 steps an epoch
    assert t.lmbda == 2.40  # CompressAI's MS-SSIM ladder, quality 1
    row = t.train_step()
    assert 0 < row["ms_ssim"] < 1 and row["bpp"] > 0
    assert t.model.g_a[0].weight.is_contiguous(memory_format=torch.channels_last)


def _states_equal(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, dict):
            if not _states_equal(x, y):
                return False
        elif isinstance(x, torch.Tensor):
            if not torch.equal(x, y):
                return False
        elif isinstance(x, list) and x and isinstance(x[0], dict):
            if not all(_states_equal(p, q) for p, q in zip(x, y, strict=True)):
                return False
        elif x != y:
            return False
    return True


def test_resume_equals_uninterrupted(data_dir, tmp_path):
    full = train(TrainConfig(data=str(data_dir), out=str(tmp_path / "full"), steps=10, **FAST))
    part_cfg = TrainConfig(data=str(data_dir), out=str(tmp_path / "part"), steps=6, **FAST)
    train(part_cfg)
    assert ckpt.load(tmp_path / "part")["step"] == 6
    resumed_cfg = TrainConfig(**json.loads((tmp_path / "part" / "config.json").read_text()))
    resumed_cfg.steps = 10
    resumed = train(resumed_cfg, resume=True)
    a, b = full.state(), resumed.state()
    a.pop("config"), b.pop("config")
    assert a["step"] == b["step"] == 10
    assert _states_equal(a, b)
    rows = (tmp_path / "part" / "train.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss,bpp") and rows[-1].startswith("10,")


def test_cli_train_validate_export_and_compress(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    weights = tmp_path / "w.safetensors"
    argv = ["train", "--model", "hyperprior", "--quality", "1", "--data", str(data_dir),
            "--val", str(data_dir), "--out", str(run), "--steps", "4", "--batch-size", "2",
            "--crop", "64", "--val-every", "2", "--export", str(weights)]
    assert main(argv) == 0
    assert (run / "val.csv").read_text().count("\n") == 3  # header + steps 2 and 4
    assert len(list((run / "val").glob("step0000004_*.png"))) == 2
    assert list((run / "tensorboard").iterdir())
    assert main(argv) == 1  # the run folder is taken
    assert "resume" in capsys.readouterr().err
    img = data_dir / "0.png"
    out = tmp_path / "x.hyco"
    assert main(["compress", str(img), "-o", str(out), "--weights", str(weights)]) == 0
    assert main(["decompress", str(out), "--weights", str(weights)]) == 0
    assert main(["export", str(run), "-o", str(tmp_path / "again.safetensors")]) == 0
    from hyco import zoo

    assert zoo.weights_metadata(weights)["digest"] == \
        zoo.weights_metadata(tmp_path / "again.safetensors")["digest"]
    assert zoo.weights_metadata(weights)["model"] == "hyperprior"


def test_bad_train_arguments(tmp_path, capsys):
    assert main(["train", "--model", "mean-scale", "--data", str(tmp_path), "--out",
                 str(tmp_path / "r"), "--steps", "1"]) == 1
    assert "no images" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path)]) == 1
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 1


_DDP_SCRIPT = textwrap.dedent("""
    import os, sys, torch
    torch.set_num_threads(1)
    from hyco.train import TrainConfig, train
    cfg = TrainConfig(model="mean-scale", quality=1, data=sys.argv[1], out=sys.argv[2],
                      steps=3, batch_size=2, crop=64, lr=1e-3, ckpt_every=3, log_every=1)
    t = train(cfg)
    torch.save({k: v for k, v in t.model.state_dict().items()},
               os.path.join(sys.argv[2], f"rank{os.environ['RANK']}.pt"))
""")


def test_ddp_two_processes_stay_identical(data_dir, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(_DDP_SCRIPT)
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node=2", str(script), str(data_dir), str(run)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    r0 = torch.load(run / "rank0.pt", weights_only=True)
    r1 = torch.load(run / "rank1.pt", weights_only=True)
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    from hyco import zoo

    init = zoo.build("mean-scale", 1).state_dict()
    assert not torch.equal(init["g_a.0.weight"], r0["g_a.0.weight"])
    assert not torch.equal(init["density.quantiles"], r0["density.quantiles"])
    assert ckpt.load(run)["step"] == 3
    assert Path(run / "train.csv").exists()


def test_level_weights_shift_the_draws_and_bad_odds_are_refused(data_dir, tmp_path, capsys):
    import numpy as np

    from hyco.train.loop import draw_level

    uniform = [draw_level(np.random.default_rng([0, s, 7]), 8, []) for s in range(4000)]
    # the default keeps the draws of runs made before the option existed
    assert uniform == [int(np.random.default_rng([0, s, 7]).integers(1, 9)) for s in range(4000)]
    top = [draw_level(np.random.default_rng([0, s, 7]), 8, [1] * 4 + [3] * 4)
           for s in range(4000)]
    share = sum(lv > 4 for lv in top) / len(top)
    assert 0.72 < share < 0.78  # 3/4 expected
    assert sum(lv > 4 for lv in uniform) / 4000 < 0.55
    only = {draw_level(np.random.default_rng([0, s, 7]), 8, [0] * 7 + [1]) for s in range(50)}
    assert only == {8}
    base = ["train", "--model", "mean-scale-vr", "--data", str(data_dir), "--steps", "1"]
    for i, (weights, message) in enumerate([(["1", "2"], "needs 8 values"),
                                            (["-1"] + ["1"] * 7, "non-negative"),
                                            (["0"] * 8, "positive sum")]):
        out = tmp_path / f"r{i}"
        assert main(base + ["--out", str(out), "--level-weights", *weights]) == 1
        assert message in capsys.readouterr().err
    assert main(["train", "--model", "mean-scale", "--data", str(data_dir), "--steps", "1",
                 "--out", str(tmp_path / "fixed"), "--level-weights", "1"]) == 1
    assert "variable-rate" in capsys.readouterr().err


def test_quantizer_ste_sets_the_model_and_is_refused_where_it_means_nothing(data_dir, tmp_path,
                                                                          capsys):
    t = Trainer(TrainConfig(data=str(data_dir), out=str(tmp_path / "r"), steps=2,
                            quantizer="ste", **FAST))
    assert t.model.round_for_synthesis
    assert t.train_step()["loss"] > 0
    assert not Trainer(TrainConfig(data=str(data_dir), out=str(tmp_path / "n"), steps=2,
                                   **FAST)).model.round_for_synthesis
    assert main(["train", "--model", "qres-vae", "--data", str(data_dir), "--steps", "1",
                 "--out", str(tmp_path / "q"), "--quantizer", "ste"]) == 1
    assert "--quantizer ste" in capsys.readouterr().err
