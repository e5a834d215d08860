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
    assert main(["train", "--resume", str(run), "--steps", "3", "--milestones", "2",
                 "--threads", "1"]) == 0
    state = checkpoint.load(run)
    assert state["step"] == 3 and state["schedule"]["milestones"] == [2]  # new milestones kept
    w = tmp_path / "w.safetensors"
    assert main(["export", str(run), "-o", str(w), "--half"]) == 0
    meta = weights_metadata(w)
    assert meta["variant"] == "flow" and meta["steps"] == "3"
    assert load("flow", w).variant == "flow"
    assert main(["train", "--model", "hycovc", "--data", str(data), "--out", str(run)]) == 1
    assert "--variant" in capsys.readouterr().err


def test_gan_stage_warm_starts_and_moves_codec_and_discriminator(tmp_path):
    data = photos(tmp_path)
    common = dict(variant="full", data=str(data), frames=2, crop=64, batch_size=1,
                  schedule="constant")
    rd = VideoTrainer(VideoTrainConfig(out=str(tmp_path / "rd"), steps=1, **common))
    rd.run()
    from hyco.train.video import export

    w = export(tmp_path / "rd", tmp_path / "rd.safetensors")
    gan = VideoTrainer(VideoTrainConfig(out=str(tmp_path / "gan"), steps=1, stage="gan",
                                        init=str(w), **common))
    start = {k: v.clone() for k, v in gan.model.state_dict().items()}
    assert all(torch.equal(start[k], rd.model.state_dict()[k]) for k in start)
    d0 = {k: v.clone() for k, v in gan.disc.state_dict().items()}
    row = gan.train_step()
    assert {"d_loss", "g_loss"} <= set(row)
    assert any(not torch.equal(d0[k], v) for k, v in gan.disc.state_dict().items())
    assert not torch.equal(start["gen.4.weight"], gan.model.state_dict()["gen.4.weight"])


def test_level_weights_steer_the_drawn_level(tmp_path, capsys):
    data = photos(tmp_path)
    t = VideoTrainer(VideoTrainConfig(variant="context", data=str(data), out=str(tmp_path / "r"),
                                      frames=2, crop=64, batch_size=1, steps=2,
                                      level_weights=[1] + [0] * 7))
    t.train_step()
    assert t.model.quality == 1  # a uniform draw at this seed and step gives 8
    args = ["train", "--model", "hycovc", "--variant", "context", "--data", str(data),
            "--out", str(tmp_path / "bad"), "--steps", "1", "--level-weights", "1", "2"]
    assert main(args) == 1 and "needs 8 values" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_reference_is_the_decoded_i_frame(tmp_path):
    from hyco import zoo
    from hyco.files import tensor_to_array

    data = photos(tmp_path)
    cfg = dict(variant="context", data=str(data), frames=2, crop=64, batch_size=1, steps=1)
    t = VideoTrainer(VideoTrainConfig(out=str(tmp_path / "r"), **cfg))
    first = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    ref = torch.round(t._reference(first, 2) * 255)
    intra = zoo.load(zoo.DEFAULT_MODEL, 2)
    for i in range(2):  # the picture a video file's I-frame decodes to
        decoded = intra.decompress(intra.compress(first[i : i + 1]))
        assert torch.equal(ref[i], torch.from_numpy(tensor_to_array(decoded)).permute(2, 0, 1))
    assert not torch.equal(ref / 255, first)
    plain = VideoTrainer(VideoTrainConfig(out=str(tmp_path / "p"), intra_ref=False, **cfg))
    assert torch.equal(plain._reference(first, 2), first)


def test_quantizer_ste_sets_the_model_and_the_latent_variant_refuses_it(tmp_path, capsys):
    data = photos(tmp_path)
    common = dict(data=str(data), frames=2, crop=64, batch_size=1, steps=1)
    t = VideoTrainer(VideoTrainConfig(variant="context", out=str(tmp_path / "r"),
                                      quantizer="ste", **common))
    assert t.model.round_for_synthesis and t.train_step()["loss"] > 0
    assert not VideoTrainer(VideoTrainConfig(variant="context", out=str(tmp_path / "n"),
                                             **common)).model.round_for_synthesis
    args = ["train", "--model", "hycovc", "--variant", "latent", "--data", str(data),
            "--out", str(tmp_path / "bad"), "--steps", "1", "--quantizer", "ste"]
    assert main(args) == 1 and "--quantizer ste" in capsys.readouterr().err
