from fractions import Fraction

import numpy as np
import pytest
import torch

from conftest import decodes_same_in_other_threads, uint8_image
from hyco import zoo
from hyco.entropy.mask import decode_mask
from hyco.errors import CorruptStream, HycoError
from hyco.files import array_to_tensor, tensor_to_array
from hyco.train.video import VideoTrainConfig, VideoTrainer, build
from hyco.video.coding import compress_video, decompress_video
from hyco.video.color import rgb_to_yuv420
from hyco.video.io import VideoInfo
from hyco.video.latent import LatentInter, LatentPrior
from hyco.video.weights import load as load_video_weights
from hyco.video.weights import save_weights


def untrained() -> LatentPrior:
    """An untrained prior of the shipped default's latent size (the I-frame codec here)."""
    return build("latent", latent_m=zoo.load(zoo.DEFAULT_MODEL, 3).m)


def perturbed(seed: int = 0) -> LatentPrior:
    """An untrained prior with its deep path switched on too."""
    prior = untrained()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for w in (prior.net[-1].weight, prior.skip.weight):
            w.copy_(torch.randn(w.shape, generator=g) * 1e-3)
    return prior


def same(a, b) -> bool:
    """Two references (LatentRef) hold the same tensors."""
    return all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def clip(n: int = 5, h: int = 32, w: int = 48) -> list:
    base = uint8_image(h + 8, w + 8, seed=7)
    return [np.ascontiguousarray(base[i : i + h, i : i + w]) for i in range(n)]


def test_zero_prior_is_all_intra():
    """With a, b, c = 0 a P-frame is coded exactly as mean-scale-vr codes it (the hyperprior
    alone; a checkerboard-vr intra codec adds its spatial prior to I-frames only)."""
    intra = zoo.load("mean-scale-vr", 3)
    prior = untrained()
    with torch.no_grad():
        prior.skip.bias.zero_()
    codec = LatentInter(prior, intra, "3", skip=False)
    a, b = clip(2)
    first = intra.compress(array_to_tensor(a))
    rgb0, ref = codec.decode_intra(first)
    assert np.array_equal(rgb0, tensor_to_array(intra.decompress(first)))
    streams, rgb, _ = codec.encode_inter(array_to_tensor(b), ref)
    payload = intra.compress(array_to_tensor(b))
    assert list(payload.streams) == [streams[0], streams[2]]
    assert not decode_mask(streams[1], tuple(ref.y_f.shape[-2:])).any()
    assert np.array_equal(rgb, tensor_to_array(intra.decompress(payload)))


def test_p_frames_round_trip_exactly_and_references_chain(tmp_path):
    weights = tmp_path / "latent.safetensors"
    save_weights(perturbed(), weights)
    frames = [rgb_to_yuv420(f) for f in clip()]
    info = VideoInfo(48, 32, Fraction(25), 5)
    recons: list[np.ndarray] = []
    data, stats = compress_video(frames, info, "latent", 3, gop=3, recons=recons,
                                 inter_weights=str(weights))
    assert [s.kind for s in stats] == ["I", "P", "P", "I", "P"]
    _, _, decoded = decompress_video(data, inter_weights=str(weights))
    assert all(np.array_equal(d.rgb, r) for d, r in zip(decoded, recons, strict=True))
    _, _, part = decompress_video(data, start=4, inter_weights=str(weights))
    assert np.array_equal(next(iter(part)).rgb, recons[4])
    with pytest.raises(HycoError):  # other weights: the digest in the header refuses them
        decompress_video(data)


def test_prior_changes_the_rate_and_rejects_bad_packets():
    intra = zoo.load(zoo.DEFAULT_MODEL, 3)
    a, b = clip(2)
    plain, moved = LatentInter(untrained(), intra, "3"), LatentInter(perturbed(), intra, "3")
    assert plain.digest() != moved.digest()
    _, ref = plain.decode_intra(intra.compress(array_to_tensor(a)))
    s0, _, _ = plain.encode_inter(array_to_tensor(b), ref)
    s1, rgb, ref1 = moved.encode_inter(array_to_tensor(b), ref)
    assert s0 != s1
    rec, ref2 = moved.decode_inter(tuple(s1), ref, (32, 48))
    assert np.array_equal(rec, rgb) and same(ref1, ref2)
    with pytest.raises(CorruptStream):
        moved.decode_inter(tuple(s1[:1]), ref, (32, 48))


def test_skip_copies_the_still_blocks_and_codes_the_changed():
    """Conditional replenishment: where the frame did not change the blocks are copied from
    the reference (a few bits), where it did they are coded; the decoder follows the map."""
    intra = zoo.load(zoo.DEFAULT_MODEL, 3)
    a = uint8_image(64, 128, seed=1)
    b = a.copy()
    b[:, 64:] = uint8_image(64, 64, seed=9)  # the right half changes, the left stands still
    codec = LatentInter(untrained(), intra, "3")
    _, ref = codec.decode_intra(intra.compress(array_to_tensor(a)))
    streams, rgb, ref1 = codec.encode_inter(array_to_tensor(b), ref)
    copy = decode_mask(streams[1], (4, 8))
    assert copy[:, :3].all() and not copy[:, 5:].any()
    plain, _, _ = LatentInter(untrained(), intra, "3", skip=False).encode_inter(
        array_to_tensor(b), ref)
    assert sum(map(len, streams)) < 0.8 * sum(map(len, plain))
    rec, ref2 = codec.decode_inter(tuple(streams), ref, (64, 128))
    assert np.array_equal(rec, rgb) and same(ref1, ref2)
    assert torch.equal(ref1.y_f[..., :3], ref.y_f[..., :3])  # copied: the reference's own


def test_a_still_frame_reuses_the_reference_hyper_latent():
    """Nothing moved: the P-frame sends no hyper-latent of its own (an empty stream), the
    decoder takes the reference's, and the frame costs a fraction of the I-frame."""
    intra = zoo.load(zoo.DEFAULT_MODEL, 3)
    a = uint8_image(64, 128, seed=1)
    codec = LatentInter(untrained(), intra, "3")
    first = intra.compress(array_to_tensor(a))
    _, ref = codec.decode_intra(first)
    streams, rgb, ref1 = codec.encode_inter(array_to_tensor(a), ref)
    assert streams[0] == b"" and torch.equal(ref1.z_hat, ref.z_hat)
    assert sum(map(len, streams)) < 0.2 * sum(map(len, first.streams))
    rec, ref2 = codec.decode_inter(tuple(streams), ref, (64, 128))
    assert np.array_equal(rec, rgb) and same(ref1, ref2)


def test_needs_a_mean_scale_vr_intra_codec():
    with pytest.raises(HycoError, match="mean-scale-vr"):
        LatentInter(build("latent"), zoo.load("factorized", 1), "3")


def test_prior_and_i_frames_must_share_the_latent_size(tmp_path):
    """A grown default (hyco.image.widen) needs a prior of its size; the size travels in
    the prior's weights file."""
    wide_intra = zoo.build("mean-scale-vr", 3, size=(128, 256))
    with pytest.raises(HycoError, match="256"):
        LatentInter(build("latent"), wide_intra, "3")
    prior = build("latent", latent_m=256)
    LatentInter(prior, wide_intra, "3")  # fits
    path = tmp_path / "latent.safetensors"
    save_weights(prior, path)
    assert load_video_weights("latent", path).m == 256


def test_a_widened_prior_keeps_the_old_channels_tables():
    """LatentPrior.widened: the grown default's video prior starts as the old one on the old
    channels, and at its blocks' average rule on the new ones."""
    torch.manual_seed(0)
    prior = build("latent", latent_m=8)
    for p in prior.parameters():
        p.data.normal_(0, 0.05)
    wide = prior.widened(12)
    assert wide.m == 12
    hyper = torch.cat([torch.rand(1, 12, 4, 5) * 3 + 0.2, torch.randn(1, 12, 4, 5)], 1)
    ref = torch.randn(1, 12, 4, 5) * 2
    old = torch.cat([hyper[:, :8], hyper[:, 12:20]], 1)
    s0, m0 = prior(old, ref[:, :8])
    s1, m1 = wide(hyper, ref)
    torch.testing.assert_close(s1[:, :8], s0)
    torch.testing.assert_close(m1[:, :8], m0)
    blocks = wide.skip.bias.view(3, 12)[:, 8:]
    assert torch.equal(blocks, blocks[:, :1].expand_as(blocks))
    torch.testing.assert_close(blocks[:, 0], prior.skip.bias.view(3, 8).mean(1))
    with pytest.raises(HycoError, match="widen"):
        prior.widened(4)


SCRIPT = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
from hyco import zoo
from hyco.entropy.mask import decode_mask
from hyco.train.video import build
from hyco.video.latent import LatentInter
intra = zoo.load(zoo.DEFAULT_MODEL, 5)
prior = build("latent", latent_m=intra.m)
g = torch.Generator().manual_seed(0)
with torch.no_grad():
    for w in (prior.net[-1].weight, prior.skip.weight):
        w.copy_(torch.randn(w.shape, generator=g) * 1e-3)
codec = LatentInter(prior, intra, "5")
x = torch.rand(1, 3, 64, 96, generator=g)
_, ref = codec.decode_intra(intra.compress(torch.rand(1, 3, 64, 96, generator=g)))
if sys.argv[2] == "enc":
    s, rgb, nxt = codec.encode_inter(x, ref)
    # streams as lists of ints: an empty one (hyper-latent reused) would pickle as a global
    torch.save({"s": [list(b) for b in s], "rgb": torch.from_numpy(rgb), "ref": list(nxt)},
               sys.argv[3])
else:
    d = torch.load(sys.argv[3])
    rgb, nxt = codec.decode_inter(tuple(bytes(b) for b in d["s"]), ref, (64, 96))
    assert torch.equal(torch.from_numpy(rgb), d["rgb"])
    assert all(torch.equal(u, v) for u, v in zip(nxt, d["ref"], strict=True))
    print("same")
"""


def test_decoding_with_other_thread_count_is_identical(tmp_path):
    assert decodes_same_in_other_threads(SCRIPT, tmp_path)


def test_training_lowers_the_rate_below_all_intra(tmp_path, monkeypatch):
    """Static clips (every frame the same crop): the prior learns to predict the latent
    from the reference, so the P-frame rate drops below the I-frame's."""
    folder = tmp_path / "photos"
    folder.mkdir()
    from PIL import Image

    Image.fromarray(uint8_image(96, 96, seed=3)).save(folder / "a.png")
    cfg = VideoTrainConfig(variant="latent", data=str(folder), out=str(tmp_path / "run"),
                           frames=2, crop=64, batch_size=2, steps=30, lr=1e-3,
                           schedule="constant", log_every=10, ckpt_every=100)
    trainer = VideoTrainer(cfg)
    still = array_to_tensor(uint8_image(64, 64, seed=4)).repeat(2, 1, 1, 1)
    monkeypatch.setattr(trainer.data, "batch", lambda step, size: (
        still[None].repeat(size, 1, 1, 1, 1), torch.zeros(size, 1, 2, 64, 64)))
    rows = [trainer.train_step() for _ in range(cfg.steps)]
    assert all(np.isfinite(r["bpp"]) for r in rows)
    first, last = rows[0], np.mean([r["saving"] for r in rows[-5:]])
    assert last > first["saving"] + 0.15
