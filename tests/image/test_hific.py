"""HiFiC: exact round trips for every regime, named qualities, mixed quantisation, CLI."""

import numpy as np
import pytest
import torch
from PIL import Image

import hyco
from conftest import at_threads, smooth_images, uint8_image
from hyco import zoo
from hyco.cli import main
from hyco.errors import HycoError
from hyco.image import HiFiC, HiFiCPaper
from hyco.nn.exact_convs import quantize


def _round_trip(model, x):
    with torch.no_grad():
        ref = model(x)
    payload = model.compress(x)
    return ref, model.decompress(payload), payload


@pytest.mark.parametrize("regime", ["low", "med", "high"])
def test_regimes_round_trip_at_odd_sizes(regime):
    model = zoo.build("hific", regime).eval()
    for size in [(1, 1), (17, 33), (70, 45)]:
        x = smooth_images(1, *size, seed=sum(size))
        ref, out, payload = _round_trip(model, x)
        assert out.shape == x.shape
        assert torch.equal(out, ref["x_hat"])  # decode == eval forward, bit for bit
        assert payload.size == size and len(payload.streams) == 2


def test_paper_configuration():
    torch.manual_seed(0)
    model = HiFiCPaper(320, 220)  # 60..960 channels, 9 blocks
    assert (model.base, model.blocks, model.m) == (60, 9, 220)
    trunk_conv = model.g_s.trunk[0].body[0]
    assert trunk_conv.weight.shape == (960, 960, 3, 3)
    assert 170e6 < sum(p.numel() for p in model.parameters()) < 180e6  # the paper's ~181M
    assert quantize(trunk_conv).weight.abs().max() < 2**13  # fan-in 8640: one bit less
    # the exact hyper-synthesis accepts the paper's widths (its table selection is shared)
    z_hat = torch.randn(1, 320, 1, 1).round()
    assert model.eval().gaussian_parameters(z_hat)[2].shape == (1, 440, 4, 4)


def test_named_qualities_in_the_zoo():
    s = zoo.spec("hific")
    assert s.qualities == ["low", "med", "high"] and s.default_quality == "low"
    assert zoo.parse_quality("hific", "med") == "med"
    assert zoo.build("hific", "low").digest() == zoo.build("hific", "low").digest()
    assert (zoo.build("hific", "high").n, zoo.build("hific", "high").m) == (128, 128)
    assert zoo.build("hific-paper", "low").m == 220
    with pytest.raises(HycoError, match="low, med, high"):
        zoo.parse_quality("hific", 3)
    with pytest.raises(HycoError, match="qualities"):  # numbered models still refuse names
        zoo.parse_quality("mean-scale", "low")
    assert zoo.shipped_weights("hific", "low") is None or \
        zoo.shipped_weights("hific", "low").name == "hific-low.safetensors"


def test_training_forward_uses_mixed_quantisation():
    torch.manual_seed(0)
    model = HiFiC(16, 24, base=4, blocks=1).train()
    x = smooth_images(2, 64, 64, seed=2)
    seen = {}
    predict = model.gaussian_parameters

    def spy(z_hat):
        seen["means"] = predict(z_hat)[1]
        return predict(z_hat)

    model.gaussian_parameters = spy
    out = model(x)
    # G sees latents on the integer grid around the means (what decoding gives it) ...
    offsets = out["y_hat"] - seen["means"].detach()
    assert torch.allclose(offsets, offsets.round(), atol=1e-4)
    # ... with a straight-through gradient to the encoder, and the coded rate beside the
    # noisy (differentiable) one
    assert set(out["q_likelihoods"]) == {"y", "z"}
    assert not out["q_likelihoods"]["y"].requires_grad
    out["x_hat"].mean().backward()
    assert model.g_a[0].weight.grad.abs().sum() > 0


def test_api_and_cli_round_trip_with_named_quality(tmp_path, capsys):
    arr = uint8_image(37, 61, seed=4)
    data = hyco.compress(arr, model="hific", quality="low")
    decoded = hyco.decode(data)
    assert decoded.header.codec == "hific" and decoded.header.quality == "low"
    model = zoo.load("hific", "low")
    with torch.no_grad():
        ref = model(torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255)["x_hat"]
    expected = (ref[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(decoded.array, expected)

    src = tmp_path / "a.png"
    Image.fromarray(arr).save(src)
    out = tmp_path / "a.hyco"
    assert main(["compress", str(src), "-o", str(out), "--model", "hific", "--quality", "low"]) \
        == 0
    assert main(["decompress", str(out), "-o", str(tmp_path / "a.png.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png.png")), decoded.array)
    assert main(["info", str(out)]) == 0
    assert "hific (quality low)" in capsys.readouterr().out
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "hific-paper" in listing and "high" in listing


def test_bad_quality_is_one_line(tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(uint8_image(20, 20)).save(src)
    assert main(["compress", str(src), "--model", "hific", "--quality", "ultra"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hific has qualities low, med, high, not ultra" in err
    assert not (tmp_path / "a.hyco").exists()
    assert main(["compress", str(src), "--model", "hific"]) == 0  # default regime: low
    assert hyco.info((tmp_path / "a.hyco").read_bytes())["quality"] == "low"


def test_eval_sweeps_named_qualities(tmp_path):
    from hyco.eval.rd import evaluate, resolve

    assert resolve("hyco:hific@low,high").qualities == ["low", "high"]
    assert resolve("hyco:hific").qualities == ["low", "med", "high"]
    data = tmp_path / "imgs"
    data.mkdir()
    Image.fromarray(uint8_image(40, 56, seed=9)).save(data / "a.png")
    evaluate(data, ["hyco:hific@low"], tmp_path / "out")
    rows = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    assert any(r.startswith("hyco:hific,low,") for r in rows)


def test_decoding_is_identical_across_thread_counts(tmp_path):
    """Encoded with 1 thread here, decoded in a subprocess with 2: the same image (both
    likelihoods: Gaussian and logistic mixture)."""
    import subprocess
    import sys
    import textwrap

    arr = uint8_image(48, 112, seed=6)
    local = []
    for i, name in enumerate(["hific", "hific-mixture"]):
        data = at_threads(1, lambda name=name: hyco.compress(arr, model=name, quality="high"))
        local.append(at_threads(1, lambda data=data: hyco.decode(data).array.tobytes()))
        (tmp_path / f"{i}.hyco").write_bytes(data)
    script = textwrap.dedent("""
        import sys, torch
        torch.set_num_threads(2)
        import hyco
        for path in sys.argv[1:]:
            sys.stdout.buffer.write(hyco.decode(open(path, "rb").read()).array.tobytes())
    """)
    res = subprocess.run([sys.executable, "-c", script, str(tmp_path / "0.hyco"),
                          str(tmp_path / "1.hyco")], capture_output=True, check=True)
    assert res.stdout == b"".join(local)


def test_logistic_mixture_option_round_trips_and_trains(tmp_path):
    model = zoo.build("hific-mixture", "med").eval()
    assert model.h_s[-1].out_channels == 3 * 3 * model.m  # K=3 (logit, mean, scale)
    for size in [(1, 1), (31, 50)]:
        x = smooth_images(1, *size, seed=5)
        ref, out, _ = _round_trip(model, x)
        assert torch.equal(out, ref["x_hat"])
    from hyco.train import TrainConfig
    from hyco.train.gan import HiFiCTrainer

    data = tmp_path / "d"
    data.mkdir()
    Image.fromarray(uint8_image(64, 64)).save(data / "a.png")
    t = HiFiCTrainer(TrainConfig(model="hific-mixture", quality="low", data=str(data),
                                 out=str(tmp_path / "r"), steps=1, batch_size=1, crop=64,
                                 stage="rd"))
    before = t.model.h_s[-1].weight.detach().clone()
    row = t.train_step()
    assert row["coded_bpp"] > 0 and not torch.equal(before, t.model.h_s[-1].weight)
