"""Every codec: decode reproduces eval forward bit-exactly, at any size and thread count."""

import subprocess
import sys
import textwrap

import pytest
import torch

from conftest import TINY, at_threads, smooth_images, trained_tiny
from hyco.container import Header, overhead_bytes, pack
from hyco.train import bits_per_pixel


def _round_trip(model, x):
    with torch.no_grad():
        ref = model(x)["x_hat"]
    payload = model.compress(x)
    out = model.decompress(payload)
    return ref, out, payload


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (64, 64), (513, 769)])
def test_decode_equals_eval_reconstruction(codec_name, size):
    cls, n, m = TINY[codec_name]
    torch.manual_seed(0)
    model = cls(n, m).eval()
    x = smooth_images(1, *size, seed=3)
    ref, out, payload = _round_trip(model, x)
    assert out.shape == x.shape == ref.shape
    assert torch.equal(out, ref)
    assert payload.size == size


def test_full_size_model_round_trip(codec_name):
    from hyco import zoo

    model = zoo.build(codec_name, 8).eval()  # N=192, M=320
    x = smooth_images(1, 70, 45, seed=4)
    ref, out, _ = _round_trip(model, x)
    assert torch.equal(out, ref)


def test_trained_model_round_trip_and_rate(codec_name):
    model = trained_tiny(codec_name)
    x = smooth_images(1, 256, 320, seed=7)
    with torch.no_grad():
        est_out = model(x)
    ref, out, payload = _round_trip(model, x)
    assert torch.equal(out, ref)
    header = Header(codec=model.name, quality="1", digest=model.digest())
    file_bits = 8 * len(pack(header, payload))
    est_bits = bits_per_pixel(est_out["likelihoods"], 1).item()
    header_bits = 8 * overhead_bytes(header, payload)
    assert est_bits > 2000, "the test image should cost real bits"
    assert abs(file_bits - (est_bits + header_bits)) <= 0.005 * est_bits
    # and the reconstruction is meaningful after training
    assert torch.mean((out - x) ** 2) < torch.mean((x - x.mean()) ** 2)


def test_training_mode_uses_noise_eval_uses_rounding():
    cls, n, m = TINY["mean-scale"]
    model = cls(n, m)
    x = smooth_images(1, 64, 64)
    model.train()
    torch.manual_seed(0)
    a = model(x)["x_hat"]
    torch.manual_seed(1)
    b = model(x)["x_hat"]
    assert not torch.equal(a, b)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)["x_hat"], model(x)["x_hat"])


_DECODE_WITH_THREADS = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(int(sys.argv[1]))
    import hyco
    data = open(sys.argv[2], "rb").read()
    sys.stdout.buffer.write(hyco.decode(data).array.tobytes())
""")


@pytest.mark.parametrize("name", ["hyperprior", "mean-scale", "joint-ar", "checkerboard",
                                  "mean-scale-vr"])
def test_decoding_is_identical_across_thread_counts(tmp_path, name):
    """Encode in this process with 1 thread, decode in subprocesses with 1 and 2 threads."""
    import hyco
    from conftest import uint8_image

    arr = uint8_image(96, 160, seed=5)
    data = at_threads(1, lambda: hyco.compress(arr, model=name,
                                               quality=7.5 if name.endswith("-vr") else 8))
    local = at_threads(1, lambda: hyco.decode(data).array)
    path = tmp_path / "x.hyco"
    path.write_bytes(data)
    outs = []
    for threads in ["1", "2"]:
        res = subprocess.run([sys.executable, "-c", _DECODE_WITH_THREADS, threads, str(path)],
                             capture_output=True, check=True)
        outs.append(res.stdout)
    assert outs[0] == outs[1] == local.tobytes()
