from fractions import Fraction

import numpy as np
import pytest
import torch

from conftest import decodes_same_in_other_threads, uint8_image
from hyco.errors import CorruptStream
from hyco.image.variable_rate import LEVEL_RATIO
from hyco.video.coding import compress_video, decompress_video
from hyco.video.color import rgb_to_yuv420
from hyco.video.hycovc import VARIANT_FLAGS, HyCoVC, HyCoVCConfig
from hyco.video.io import VideoInfo

TINY = HyCoVCConfig(ctx=8, n=16, m=16, z=8, mm=8, mz=8)


def pair(h=40, w=56):
    base = uint8_image(h + 4, w + 4, seed=5)
    x = torch.from_numpy(base[2 : 2 + h, 3 : 3 + w].copy()).permute(2, 0, 1)[None] / 255.0
    ref = torch.from_numpy(base[:h, :w].copy()).permute(2, 0, 1)[None].to(torch.int64)
    return x.float(), ref


@pytest.mark.parametrize("variant", sorted(VARIANT_FLAGS))
def test_training_forward_and_exact_coding(variant):
    torch.manual_seed(0)
    model = HyCoVC(variant, TINY)
    x, ref = pair(37, 53)  # odd size: padded inside, cropped back
    out = model(x.repeat(2, 1, 1, 1), ref.float().repeat(2, 1, 1, 1) / 255)
    assert out["x_hat"].shape == (2, 3, 37, 53)
    assert ("flow" in out) == VARIANT_FLAGS[variant]["motion"]
    loss = out["x_hat"].square().mean() - sum(v.log2().mean() for v in out["likelihoods"].values())
    loss.backward()
    assert model.gen[-1].weight.grad is not None
    model.eval()
    model.quality = 2.5
    streams, rec = model.encode(x, ref)
    assert len(streams) == model.n_streams() and rec.shape == (1, 3, 37, 53)
    assert torch.equal(model.decode(tuple(streams), ref), rec)
    assert torch.equal(model(x, ref.float() / 255)["x_hat"], rec.float() / 255)
    with pytest.raises(CorruptStream):
        model.decode(tuple(streams[:-1]), ref)


@pytest.mark.parametrize("variant", ["context", "full"])
def test_ste_training_gives_the_syntheses_rounded_latents(variant):
    """With round_for_synthesis the reconstruction no longer depends on the training noise
    (motion and frame syntheses both see rounded latents), while the rate still does; the
    gradient still reaches the analysis through the rounding."""
    torch.manual_seed(0)
    model = HyCoVC(variant, TINY)
    torch.nn.init.normal_(model.gen[-1].weight, std=0.1)  # zero at the start: x_hat = ref
    x, ref = pair(32, 48)
    ref = ref.float() / 255

    def run(seed):
        torch.manual_seed(seed)
        out = model(x, ref)
        return out["x_hat"], sum(v.log2().sum() for v in out["likelihoods"].values())

    (noisy_a, _), (noisy_b, _) = run(1), run(2)
    assert not torch.equal(noisy_a, noisy_b)
    model.round_for_synthesis = True
    (a, rate_a), (b, rate_b) = run(1), run(2)
    assert torch.equal(a, b) and rate_a != rate_b
    a.square().mean().backward()
    assert model.enc[0].weight.grad.abs().sum() > 0


def test_rate_levels_start_on_the_ladder_and_change_the_rate():
    torch.manual_seed(0)
    model = HyCoVC("context", TINY).eval()
    assert torch.allclose(model.gain[7] / model.gain[0], torch.tensor(LEVEL_RATIO ** 7))
    assert torch.allclose(model.gain * model.inv_gain, torch.ones_like(model.gain))
    with torch.no_grad():
        model.enc[-1].weight *= 30  # random weights give tiny latents; trained ones do not
    x, ref = pair()
    rates = []
    for q in (1, 4.5, 8):  # the ladder alone spreads the rates
        model.quality = q
        rates.append(sum(len(s) for s in model.encode(x, ref)[0]))
    assert rates[0] < rates[1] < rates[2]


SCRIPT = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
from hyco.video.hycovc import HyCoVC, HyCoVCConfig
torch.manual_seed(0)
m = HyCoVC("full", HyCoVCConfig(8, 16, 16, 8, 8, 8)).eval()
g = torch.Generator().manual_seed(1)
x = torch.rand(1, 3, 48, 64, generator=g)
ref = (torch.rand(1, 3, 48, 64, generator=g) * 255).round().long()
if sys.argv[2] == "enc":
    s, rec = m.encode(x, ref)
    torch.save({"s": s, "rec": rec}, sys.argv[3])
else:
    d = torch.load(sys.argv[3])
    assert torch.equal(m.decode(tuple(d["s"]), ref), d["rec"])
    print("same")
"""


def test_decoding_with_other_thread_count_is_identical(tmp_path):
    assert decodes_same_in_other_threads(SCRIPT, tmp_path)


def test_video_with_p_frames_round_trip_and_gop_restart():
    base = uint8_image(40, 56, seed=7)
    frames = [rgb_to_yuv420(np.ascontiguousarray(base[i : i + 32, i : i + 48]))
              for i in range(5)]
    info = VideoInfo(48, 32, Fraction(25), 5)
    recons: list[np.ndarray] = []
    data, stats = compress_video(frames, info, "flow", 3, gop=3, recons=recons)
    assert [s.kind for s in stats] == ["I", "P", "P", "I", "P"]
    _, _, decoded = decompress_video(data)
    assert all(np.array_equal(d.rgb, r) for d, r in zip(decoded, recons, strict=True))
    _, _, part = decompress_video(data, start=2)  # decodes from the I-frame at 0
    assert [(d.index, d.kind) for d in part] == [(2, "P"), (3, "I"), (4, "P")]
    _, _, part = decompress_video(data, start=4)
    assert np.array_equal(next(iter(part)).rgb, recons[4])
