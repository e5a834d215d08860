import torch
from PIL import Image

from conftest import uint8_image
from hyco.cli import main
from hyco.train import checkpoint
from hyco.train.video import VideoTrainConfig, VideoTrainer
from hyco.video.weights import load, weights_metadata


def photos(folder):
    for i in range(2):
        Image.fromarray(uint8_image(96, 128, seed=i)).save(folder / f"p{i}.png")
    return folder


def test_resumed_run_equals_uninterrupted(tmp_path):
    data = photos(tmp_path / "d" if (tmp_path / "d").mkdir() is None else None)
    common = dict(variant="context", data=str(data), frames=3, crop=64, batch_size=1,
                  ckpt_every=1, log_every=1, schedule="constant")
    whole = VideoTrainer(VideoTrainConfig(out=str(tmp_path / "a"), steps=3, **common))
    whole.run()
    part = VideoTrainer(VideoTrainConfig(out=str(tmp_path / "b"), steps=2, **common))
    part.run()
    resumed = VideoTrainer(VideoTrainConfig(out=str(tmp_path / "b"), steps=3, **common),
                           resume=True)
    assert resumed.step == 2
    resumed.run()
    a, b = checkpoint.load(tmp_path / "a")["model"], checkpoint.load(tmp_path / "b")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_train_export_and_code_with_it(tmp_path, capsys):
    data = photos(tmp_path)
    run = tmp_path / "run"
    args = ["train", "--model", "hycovc", "--variant", "flow", "--data", str(data), "--out",
            str(run), "--steps", "2", "--batch-size", "1", "--crop", "64", "--threads", "1"]
    assert main(args) == 0
    assert main(args) == 1 and "holds a run" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--steps", "3", "--threads", "1"]) == 0
    assert checkpoint.load(run)["step"] == 3
    w = tmp_path / "w.safetensors"
    assert main(["export", str(run), "-o", str(w), "--half"]) == 0
    meta = weights_metadata(w)
    assert meta["variant"] == "flow" and meta["steps"] == "3"
    assert load("flow", w).variant == "flow"
    assert main(["train", "--model", "hycovc", "--data", str(data), "--out", str(run)]) == 1
    assert "--variant" in capsys.readouterr().err
