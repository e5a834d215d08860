"""QRes-VAE and QARV: exact round trips, progressive decoding, lambda as a rate control."""

import dataclasses
import functools
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import at_threads, multiscale_images, smooth_images, uint8_image
from hyco import api, zoo
from hyco.errors import CorruptStream, HycoError
from hyco.eval.metrics import psnr
from hyco.files import array_to_tensor, tensor_to_array
from hyco.image.qres import (
    LAMBDA_LADDER,
    QARV,
    HierarchicalVAE,
    QARVPaper,
    QResVAE,
    QResVAEPaper,
    hyco_lambda,
)
from hyco.payload import Payload
from hyco.rate_search import search_rate
from hyco.train import bits_per_pixel, rd_loss

WEIGHTS = Path(__file__).parents[1] / "data" / "qarv-tiny.safetensors"
TINY = (16, 32)


@functools.cache
def trained_qarv() -> QARV:
    """Tiny QARV trained by tests/data/make_qarv_tiny.py (rebuild it if this fails to load)."""
    model = QARV(*TINY)
    zoo.load_weights(model, WEIGHTS)
    return model.eval()


def _lively(model: HierarchicalVAE, seed: int = 0) -> HierarchicalVAE:
    """Random weights away from the identity/zero initialisation, so every latent carries
    symbols and every table gets used, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.2)
            elif not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model.eval()


def _decode_all(model, payload):
    return [model.decompress(payload, layers=k) for k in range(1, model.latent_layers + 1)]


@pytest.mark.parametrize("cls", [QARV, QResVAE])
@pytest.mark.parametrize("size", [(1, 1), (17, 33), (70, 129)])
def test_decode_equals_eval_forward_at_odd_sizes(cls, size):
    torch.manual_seed(0)
    model = _lively(cls(*TINY))
    x = smooth_images(1, *size, seed=3)
    with torch.no_grad():
        ref = model(x)["x_hat"]
    payload = model.compress(x)
    out = model.decompress(payload)
    assert out.shape == ref.shape == x.shape and payload.size == size
    assert torch.equal(out, ref)
    assert len(payload.streams) == model.latent_layers
    assert payload.params == ((model._code,) if cls is QARV else ())


def test_every_lambda_round_trips_and_the_file_carries_it():
    model = trained_qarv()
    x = smooth_images(1, 45, 77, seed=4)
    for lmbda in [16, 300.5, 2048]:
        model.lmbda = lmbda
        with torch.no_grad():
            ref = model(x)["x_hat"]
        payload = model.compress(x)
        model.lmbda = 100  # the decoder takes lambda from the file, not from the model
        assert torch.equal(model.decompress(payload), ref)
        assert 2 ** (payload.params[0] / 4096) == pytest.approx(lmbda, rel=1e-4)


def test_likelihoods_predict_the_coded_size():
    model = trained_qarv()
    model.lmbda = 600
    x = multiscale_images(1, 128, 192, seed=5)
    with torch.no_grad():
        est = bits_per_pixel(model(x)["likelihoods"], 1).item()
    bits = 8 * sum(len(s) for s in model.compress(x).streams)
    assert est > 500
    # ANS ends each stream on a 32-bit word
    assert abs(bits - est) <= 0.01 * est + 32 * model.latent_layers


def test_progressive_decoding_reads_only_a_prefix_of_the_streams():
    model = trained_qarv()
    x = smooth_images(1, 64, 128, seed=6)
    payload = model.compress(x)
    full = _decode_all(model, payload)
    assert torch.equal(full[-1], model.decompress(payload))
    for k in range(1, model.latent_layers + 1):
        prefix = Payload(streams=payload.streams[:k], size=payload.size, params=payload.params)
        assert torch.equal(model.decompress(prefix, layers=k), full[k - 1])
    n = model.latent_layers
    for bad in [0, n + 1, -1, True, 2.5]:
        with pytest.raises(HycoError, match="layers must be"):
            model.decompress(payload, layers=bad)
    with pytest.raises(CorruptStream):
        model.decompress(Payload(payload.streams[:2], payload.size, payload.params), layers=3)
    with pytest.raises(CorruptStream):
        model.decompress(Payload(payload.streams, payload.size, (1,)))
    with pytest.raises(CorruptStream):
        model.decompress(Payload(payload.streams[:-1], payload.size, payload.params))


def test_a_cut_file_decodes_its_complete_layers(tmp_path):
    from hyco import container
    from hyco.cli import main

    model = trained_qarv()
    data = api.compress_with(model, uint8_image(64, 96, seed=2))
    _, payload = container.unpack(data)
    for k in (1, 3):
        cut = data[: len(data) - 4 - sum(len(s) for s in payload.streams[k:])]
        assert np.array_equal(api.decompress_with(model, cut, layers=k),
                              api.decompress_with(model, data, layers=k))
        with pytest.raises(CorruptStream, match="truncated"):
            api.decompress_with(model, cut)  # a whole-file decode needs the whole file
        with pytest.raises(CorruptStream, match="cut file"):
            api.decompress_with(model, cut[:-1], layers=k)
    # the checksum cut off: every stream is there, unverified
    assert np.array_equal(api.decompress_with(model, data[:-3], layers=model.latent_layers),
                          api.decompress_with(model, data))
    # the command line, on a file of the zoo's qarv cut after its second stream
    data = api.compress(uint8_image(40, 50), model="qarv", lmbda=512)
    _, payload = container.unpack(data)
    path = tmp_path / "cut.hyco"
    path.write_bytes(data[: len(data) - 4 - sum(len(s) for s in payload.streams[2:])])
    assert main(["decompress", str(path), "--layers", "2", "-o", str(tmp_path / "a.png")]) == 0
    assert main(["decompress", str(path), "-o", str(tmp_path / "b.png")]) == 1


def test_progressive_psnr_grows_with_every_layer():
    model = trained_qarv()
    model.lmbda = 2048
    x = multiscale_images(4, 128, 128, seed=7)
    curves = []
    for i in range(len(x)):
        img = x[i : i + 1]
        arr = tensor_to_array(img)
        payload = model.compress(img)
        curves.append([psnr(tensor_to_array(y), arr) for y in _decode_all(model, payload)])
    mean = np.mean(curves, axis=0)
    assert np.all(np.diff(mean) > 0), mean
    assert mean[-1] - mean[0] > 5


def test_rate_grows_with_lambda_and_quality_with_it():
    model = trained_qarv()
    x = multiscale_images(4, 128, 128, seed=8)
    sizes, psnrs = [], []
    for lmbda in [16, 45, 128, 362, 1024, 2048]:
        model.lmbda = lmbda
        payloads = [model.compress(x[i : i + 1]) for i in range(len(x))]
        sizes.append(sum(len(s) for p in payloads for s in p.streams))
        psnrs.append(np.mean([psnr(tensor_to_array(model.decompress(p)),
                                   tensor_to_array(x[i : i + 1]))
                              for i, p in enumerate(payloads)]))
    assert np.all(np.diff(sizes) > 0), sizes
    assert psnrs[-1] > psnrs[0] + 1, psnrs  # a tiny model saturates: not every step gains


def test_target_bpp_search_lands_at_or_below_the_target():
    model = trained_qarv()
    arr = tensor_to_array(multiscale_images(1, 128, 128, seed=9))

    def encode(q):
        model.quality = q
        return api.compress_with(model, arr, quality=f"{q}")

    low, high = (8 * len(encode(q)) / arr[..., 0].size for q in (1, 8))
    target = (low + high) / 2
    data = search_rate(encode, "qarv", target, arr[..., 0].size)
    assert low <= 8 * len(data) / arr[..., 0].size <= target
    with pytest.raises(HycoError, match="lowest rate"):
        search_rate(encode, "qarv", low / 2, arr[..., 0].size)
    assert search_rate(encode, "qarv", high * 2, arr[..., 0].size) == encode(8.0)


_DECODE = textwrap.dedent("""
    import sys, torch
    from hyco import api, zoo
    from hyco.image.qres import QARV
    model = QARV(16, 32)
    zoo.load_weights(model, sys.argv[2])
    data = open(sys.argv[1], "rb").read()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for layers in (None, 3):
            sys.stdout.buffer.write(api.decompress_with(model.eval(), data, layers).tobytes())
""")


def test_decoding_is_identical_across_thread_counts(tmp_path):
    """Encode with 1 thread here; decode in a fresh process with 1, then 2 threads."""
    model = trained_qarv()
    model.lmbda = 700
    arr = uint8_image(96, 160, seed=5)
    data = at_threads(1, lambda: api.compress_with(model, arr))
    local = at_threads(1, lambda: b"".join(api.decompress_with(model, data, k).tobytes()
                                           for k in (None, 3)))
    path = tmp_path / "x.hyco"
    path.write_bytes(data)
    out = subprocess.run([sys.executable, "-c", _DECODE, str(path), str(WEIGHTS)],
                         capture_output=True, check=True).stdout
    assert out[: len(local)] == out[len(local) :] == local


def test_lossy_vae_lambda_convention():
    """bpp + hyco_lambda(l) * 255^2 * MSE is lossy-vae's nats/dim + l * MSE([-1, 1]),
    scaled by 3 / ln 2."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 8)
    out = {"x_hat": (x + 0.05 * torch.randn_like(x)).clamp(0, 1),
           "likelihoods": {"z": torch.rand(2, 4, 2, 2)}}
    lmbda = 300.0
    nats_per_dim = -torch.log(out["likelihoods"]["z"]).sum() / x.numel()
    lvae = nats_per_dim + lmbda * torch.mean((2 * out["x_hat"] - 2 * x) ** 2)
    ours = rd_loss(out, x, hyco_lambda(lmbda))["loss"]
    assert float(ours) == pytest.approx(float(lvae) * 3 / math.log(2), rel=1e-5)
    # one lambda per image weights each image's distortion
    per = rd_loss(out, x, torch.tensor([hyco_lambda(16), hyco_lambda(2048)]))["loss"]
    mse = ((out["x_hat"] - x) ** 2).mean(dim=(1, 2, 3))
    bpp = rd_loss(out, x, 0.0)["loss"]
    expect = bpp + 255**2 * (hyco_lambda(16) * mse[0] + hyco_lambda(2048) * mse[1]) / 2
    assert float(per) == pytest.approx(float(expect), rel=1e-5)


def test_zoo_maps_quality_and_lambda():
    from hyco.train import TrainConfig

    assert zoo.spec("qres-vae").lambdas == LAMBDA_LADDER
    cfg = TrainConfig(model="qres-vae", quality=2, data="", out="")
    assert cfg.resolved_lambda() == LAMBDA_LADDER[2]  # QRes-VAE trains on its own ladder
    assert LAMBDA_LADDER[1] == pytest.approx(hyco_lambda(16))
    assert zoo.parse_quality("qarv", "lmbda=300") == pytest.approx(1 + math.log2(300 / 16))
    assert zoo.quality_label("qarv", 3) == "lmbda=64"
    assert zoo.quality_label("qres-vae", 3) == "3"
    assert zoo.load("qarv", 8).lmbda == 2048 and zoo.load("qarv", 1).lmbda == 16
    assert zoo.load("qarv", "lmbda=300").lmbda == pytest.approx(300, rel=1e-4)
    with pytest.raises(HycoError, match="from 16 to 2048"):
        zoo.lmbda_quality("qarv", 5000)
    with pytest.raises(HycoError, match="not a lambda"):
        zoo.lmbda_quality("qres-vae", 64)
    with pytest.raises(HycoError, match="from 16 to 2048"):
        zoo.load("qarv").lmbda = 10


def test_published_configurations():
    """qres34m: 12 latent layers, 34.0 M parameters; qarv_base: 9 layers, 93.4 M."""
    qres = QResVAEPaper(*QResVAEPaper.layout.__defaults__)
    qarv = QARVPaper(*QARVPaper.layout.__defaults__)
    assert qres.latent_layers == 12 and qarv.latent_layers == 9
    assert sum(p.numel() for p in qres.parameters()) / 1e6 == pytest.approx(34.0, abs=0.1)
    assert sum(p.numel() for p in qarv.parameters()) / 1e6 == pytest.approx(93.4, abs=0.1)
    x = smooth_images(1, 64, 64, seed=1)
    for model in (qres.eval(), qarv.eval()):
        with torch.no_grad():
            ref = model(x)["x_hat"]
        assert torch.equal(model.decompress(model.compress(x)), ref)


def test_trainer_draws_a_lambda_per_image(tmp_path):
    from PIL import Image

    from hyco.train import TrainConfig, Trainer, export
    from hyco.train.loop import validate

    data = tmp_path / "d"
    data.mkdir()
    Image.fromarray(uint8_image(64, 64)).save(data / "a.png")
    cfg = TrainConfig(model="qarv", quality=3, data=str(data), out=str(tmp_path / "r"),
                      steps=2, batch_size=2, crop=64)
    t = Trainer(cfg)
    drawn = []
    real_draw = t.model.draw_rate

    def spy(rng, batch):
        lmbdas = real_draw(rng, batch)
        drawn.append(lmbdas)
        return lmbdas

    t.model.draw_rate = spy
    row = t.train_step()
    assert len(drawn) == 1 and drawn[0].shape == (2,) and drawn[0][0] != drawn[0][1]
    assert all(hyco_lambda(16) <= v <= hyco_lambda(2048) for v in drawn[0].tolist())
    assert math.isfinite(row["loss"]) and t.model._drawn is None
    assert t.model.embedding.mlp[0].weight.grad is not None
    validate(t.model, [("a", uint8_image(64, 64))], 5)
    assert t.model.quality == pytest.approx(5)
    # no factorized density, so no aux optimiser: checkpoints and export still work
    (t.rundir / "config.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    t.save()
    resumed = Trainer(cfg, resume=True)
    assert resumed.step == 1 and resumed.model.digest() == t.model.digest()
    path = export(t.rundir, tmp_path / "q.safetensors")
    assert zoo.load("qarv", 3, weights=path).digest() == t.model.digest()


def test_api_layers_and_lambda(tmp_path):
    arr = uint8_image(40, 50)
    data = api.compress(arr, model="qarv", lmbda=300)
    assert api.info(data)["quality"] == "lmbda=300"
    assert len(api.info(data)["streams"]) == zoo.load("qarv").latent_layers
    assert api.decompress(data, layers=2).size == (50, 40)
    with torch.no_grad():
        model = zoo.load("qarv", "lmbda=300")
        ref = tensor_to_array(model(array_to_tensor(arr))["x_hat"])
    assert np.array_equal(api.decode(data).array, ref)
    with pytest.raises(HycoError, match="no latent layers"):
        api.decompress(api.compress(arr, model="factorized", quality=1), layers=1)
    with pytest.raises(HycoError, match="not a lambda"):
        api.compress(arr, model="mean-scale", lmbda=300)
    with pytest.raises(HycoError, match="not both"):
        api.compress(arr, model="qarv", lmbda=300, target_bpp=1.0)


def test_cli_lambda_target_and_layers(tmp_path, capsys):
    from PIL import Image

    from hyco.cli import main

    src = tmp_path / "a.png"
    Image.fromarray(uint8_image(40, 50)).save(src)
    out = tmp_path / "a.hyco"
    assert main(["compress", str(src), "--model", "qarv", "--lmbda", "300", "-o",
                 str(out)]) == 0
    assert api.info(out.read_bytes())["quality"] == "lmbda=300"
    assert main(["decompress", str(out), "--layers", "2", "-o", str(tmp_path / "k2.png")]) == 0
    assert Image.open(tmp_path / "k2.png").size == (50, 40)
    assert main(["compress", str(src), "--model", "qarv", "--target-bpp", "80", "--force",
                 "-o", str(out)]) == 0
    assert "at lmbda=2048" in capsys.readouterr().out
    capsys.readouterr()
    bad = [
        (["compress", str(src), "--model", "qarv", "--lmbda", "5", "-o", str(tmp_path / "b")],
         "lmbda from 16 to 2048"),
        (["compress", str(src), "--model", "mean-scale", "--lmbda", "64"], "not a lambda"),
        (["compress", str(src), "--model", "qarv", "--lmbda", "64", "--quality", "3"],
         "both set the rate"),
        (["compress", str(src), "--model", "qres-vae", "--target-bpp", "1"],
         "variable-rate model"),
        (["compress", str(src), "--model", "qarv", "--target-bpp", "0"], "positive"),
        (["compress", str(src), "--model", "qarv", "--target-bpp", "0.0001", "-o",
          str(tmp_path / "c")], "lowest rate"),
        (["decompress", str(out), "--layers", "99", "-o", str(tmp_path / "d.png")],
         "layers must be from 1 to 7"),
    ]
    for argv, message in bad:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
