"""Every shipped weights file against its recorded results on the bundled photo.

A weights file that changes by accident (or a change in what the codec computes with it) moves
these figures and fails here. After a training round commits new weights, re-record them with
``python tests/test_shipped.py`` (it prints the lines to paste below) and note the round in
BENCHMARKS.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hyco import api, zoo
from hyco.eval.metrics import psnr
from hyco.video import weights as video_weights
from hyco.video.coding import VARIANTS, compress_video
from hyco.video.color import rgb_to_yuv420
from hyco.video.io import VideoInfo

SAMPLE = Path(zoo.__file__).parent / "data" / "sample.png"

# per shipped model: the digest of its weights, and per quality (bytes on disk, PSNR dB)
SHIPPED = {
    "mean-scale-vr": ("8c7844f9311db62d", {2: (6760, 31.44), 6: (21164, 36.81)}),
    "qarv": ("8e1d440fb20e0a1c", {2: (16902, 31.02), 6: (33275, 32.33)}),
    "channel-checkerboard-vr": ("a61088c48a9351cb", {2: (5366, 31.44), 6: (18174, 36.80)}),
    "checkerboard-vr": ("a60cd792334c6581", {2: (6226, 31.44), 6: (20066, 36.81)}),
}
CASES = [(m, q) for m, (_, figures) in SHIPPED.items() for q in figures]

# per shipped HyCoVC variant: the digest of its weights, and per quality (bytes of the .hyco
# video file, mean Y-PSNR dB) of a 3-frame pan across the bundled photo (I, P, P)
SHIPPED_VIDEO: dict[str, tuple[str, dict[int, tuple[int, float]]]] = {
    "latent": ("fcdcefee5c2eb371", {2: (3798, 32.98), 6: (11902, 39.82)}),
}
VIDEO_CASES = [(v, q) for v, (_, figures) in SHIPPED_VIDEO.items() for q in figures]


def measure(model: str, quality: int | str) -> tuple[int, float]:
    arr = np.asarray(Image.open(SAMPLE).convert("RGB"))
    data = api.compress(arr, model=model, quality=quality)  # as `hyco compress` does
    return len(data), psnr(api.decompress(data), arr)


def pan(frames: int = 3, h: int = 192, w: int = 256) -> tuple[VideoInfo, list]:
    """A camera pan over the bundled photo: the window moves 5 px right, 3 px down a frame."""
    arr = np.asarray(Image.open(SAMPLE).convert("RGB"))
    clip = [rgb_to_yuv420(arr[40 + 3 * t : 40 + 3 * t + h, 60 + 5 * t : 60 + 5 * t + w])
            for t in range(frames)]
    return VideoInfo(w, h, frames=frames), clip


def measure_video(variant: str, quality: int) -> tuple[int, float]:
    info, clip = pan()
    data, stats = compress_video(clip, info, variant, quality, gop=0)
    assert [s.kind for s in stats] == ["I", "P", "P"]
    return len(data), float(np.mean([s.y_psnr for s in stats]))


def within_band(got: tuple[int, float], want: tuple[int, float]) -> None:
    """Bytes within 1 % and PSNR within 0.05 dB of the recorded figures."""
    (size, db), (want_size, want_db) = got, want
    assert abs(size - want_size) <= 0.01 * want_size, (size, want_size)
    assert abs(db - want_db) <= 0.05, (db, want_db)


def test_default_model_is_shipped():
    assert zoo.DEFAULT_MODEL == "channel-checkerboard-vr" and zoo.DEFAULT_MODEL in SHIPPED


def test_every_shipped_file_is_recorded():
    """A weights file added to the package without figures here would go unguarded."""
    shipped = {p.stem for p in zoo.WEIGHTS_DIR.glob("*.safetensors")}
    recorded = {m if zoo.spec(m).variable_rate else f"{m}-{q}"
                for m, (_, figures) in SHIPPED.items() for q in figures}
    recorded |= {f"hycovc-{v}" for v in SHIPPED_VIDEO}
    assert shipped <= recorded, f"not recorded: {sorted(shipped - recorded)}"


@pytest.mark.parametrize("model", sorted(SHIPPED))
def test_shipped_weights_are_the_recorded_ones(model):
    digest, figures = SHIPPED[model]
    for quality in figures:
        path = zoo.shipped_weights(model, quality)
        assert path is not None, f"{model} quality {quality} has no shipped weights"
        meta = zoo.weights_metadata(path)
        assert meta["digest"] == digest, (
            f"shipped weights changed ({meta['digest']}); re-record: python tests/test_shipped.py")
        assert int(meta["steps"]) > 0


@pytest.mark.parametrize(("model", "quality"), CASES)
def test_shipped_model_within_band_of_recorded_figures(model, quality):
    within_band(measure(model, quality), SHIPPED[model][1][quality])


@pytest.mark.parametrize("model", [m for m, (_, f) in SHIPPED.items() if len(f) > 1])
def test_higher_quality_costs_more_and_looks_better(model):
    (lo_size, lo_db), (hi_size, hi_db) = (SHIPPED[model][1][q] for q in sorted(SHIPPED[model][1]))
    assert hi_size > 1.5 * lo_size and hi_db > lo_db + 1.0


@pytest.mark.parametrize("variant", sorted(SHIPPED_VIDEO))
def test_shipped_video_weights_are_the_recorded_ones(variant):
    path = video_weights.shipped(variant)
    assert path is not None, f"hycovc {variant} has no shipped weights"
    assert int(video_weights.weights_metadata(path)["steps"]) > 0
    digest = video_weights.load(variant).digest()
    assert digest == SHIPPED_VIDEO[variant][0], (
        f"shipped weights changed ({digest}); re-record: python tests/test_shipped.py")


@pytest.mark.parametrize(("variant", "quality"), VIDEO_CASES)
def test_shipped_video_codec_within_band_of_recorded_figures(variant, quality):
    within_band(measure_video(variant, quality), SHIPPED_VIDEO[variant][1][quality])


if __name__ == "__main__":
    for name, (_, recorded) in SHIPPED.items():
        path = zoo.shipped_weights(name, next(iter(recorded)))
        digest = zoo.weights_metadata(path)["digest"] if path else None
        figures = {q: measure(name, q) for q in recorded}
        print(f'    "{name}": ("{digest}", {{'
              + ", ".join(f"{q!r}: ({n}, {db:.2f})" for q, (n, db) in figures.items()) + "}),")
    for variant in VARIANTS:
        if variant != "baseline" and video_weights.shipped(variant) is not None:
            figures = {q: measure_video(variant, q) for q in (2, 6)}
            print(f'    "{variant}": ("{video_weights.load(variant).digest()}", {{'
                  + ", ".join(f"{q}: ({n}, {db:.2f})" for q, (n, db) in figures.items())
                  + "}),")
