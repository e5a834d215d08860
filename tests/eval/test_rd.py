"""`hyco eval` on 3 small images with 2 classical codecs (and a learned one)."""

import json

import numpy as np
from PIL import Image

from conftest import uint8_image
from hyco.cli import main


def test_eval_writes_everything_and_resumes(tmp_path, capsys):
    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(3):
        Image.fromarray(uint8_image(48 + 8 * i, 64, seed=30 + i)).save(data / f"i{i}.png")
    out = tmp_path / "res"
    argv = ["eval", str(data), "--codec", "jpeg@10,50,90", "--codec", "webp@10,50,90",
            "--codec", "hyco:factorized@1,2", "--out", str(out)]
    assert main(argv) == 0
    for name in ["jpeg.json", "webp.json", "hyco-factorized.json", "results.csv",
                 "summary.csv", "rd.png", "bd_rate.md", "bd_rate.csv", "complexity.md"]:
        assert (out / name).exists(), name
    doc = json.loads((out / "jpeg.json").read_text())
    assert doc["results"]["quality"] == [10, 50, 90]  # sorted by rate
    assert set(doc["per_image"]["50"]) == {"i0.png", "i1.png", "i2.png"}
    r = doc["per_image"]["50"]["i1.png"]
    assert r["bpp"] == 8 * r["bytes"] / (56 * 64)
    assert np.isclose(np.mean([v["psnr"] for v in doc["per_image"]["50"].values()]),
                      doc["results"]["psnr"][1])
    learned = json.loads((out / "hyco-factorized.json").read_text())
    assert "est_bpp" in learned["per_image"]["1"]["i0.png"]
    assert "encoder_macs_per_pixel" in learned["complexity"]["1"]
    table = (out / "bd_rate.md").read_text()
    assert "| jpeg | +0.0 %" in table and "| webp |" in table
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 3 * 3 * 2 + 2 * 3

    before = (out / "jpeg.json").read_text()
    assert main(argv) == 0  # resumed: nothing re-measured
    assert (out / "jpeg.json").read_text() == before
    capsys.readouterr()
    assert main(["eval", str(data), "--codec", "nope", "--out", str(out)]) == 1
    assert "unknown codec" in capsys.readouterr().err


def test_unavailable_codec_is_skipped_with_a_note(tmp_path, monkeypatch, capsys):
    from hyco.eval import classical

    monkeypatch.setitem(classical.CODECS, "x265", classical.CODECS["x265"].__class__(
        **{**classical.CODECS["x265"].__dict__, "missing": lambda: "no ffmpeg here"}))
    data = tmp_path / "imgs"
    data.mkdir()
    Image.fromarray(uint8_image(32, 32)).save(data / "a.png")
    assert main(["eval", str(data), "--codec", "jpeg@50,90", "--codec", "x265",
                 "--out", str(tmp_path / "r")]) == 0
    assert "x265 unavailable: no ffmpeg here; skipped" in capsys.readouterr().err
    assert not (tmp_path / "r" / "x265.json").exists()


def test_committed_measurements_are_not_labelled_published(tmp_path):
    from hyco.eval.rd import CONVENTION, load_curve

    results = {"quality": [1, 2], "bpp": [0.2, 0.4], "psnr": [28.0, 31.0]}
    ours = tmp_path / "jpeg.json"  # what hyco eval wrote, committed without per-image rows
    ours.write_text(json.dumps({"name": "jpeg", "metric_convention": CONVENTION,
                                "results": results}))
    paper = tmp_path / "paper.json"  # a curve from a paper or CompressAI's results
    paper.write_text(json.dumps({"name": "bmshj2018", "metric_convention": "Kodak 24 images",
                                 "results": results}))
    assert load_curve(ours)["published"] is False
    assert load_curve(paper)["published"] is True


def test_a_refine_curve_is_its_own_codec():
    import pytest

    from hyco.errors import HycoError
    from hyco.eval.rd import resolve

    codec = resolve("hyco:mean-scale-vr+refine=3@2,5")
    assert codec.key == "hyco:mean-scale-vr+refine=3" and codec.qualities == [2, 5]
    assert "3 steps of latent search" in codec.description
    assert resolve("hyco:mean-scale-vr@2").slug != codec.slug  # results do not collide
    for bad, why in [("jpeg+refine=3", "learned codecs"), ("hyco:qarv+refine=3", "no latent"),
                     ("hyco:mean-scale-vr+refine=x", "bad refine"),
                     ("webp+hyper=3", "learned codecs"), ("hyco:qarv+hyper=3", "no hyper-latent"),
                     ("hyco:mean-scale-vr+hyper=-1", ">= 0")]:
        with pytest.raises(HycoError, match=why):
            resolve(bad)
    hyper = resolve("hyco:mean-scale-vr+hyper=20@1")
    assert hyper.key == "hyco:mean-scale-vr+hyper=20" and hyper.slug != codec.slug
    assert "20 steps of hyper-latent search" in hyper.description
