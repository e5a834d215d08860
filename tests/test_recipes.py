"""The recipes' Python drivers that the shell recipes call (recipes/*.py)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def _images(folder: Path, n: int = 2) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_timed_train_sets_steps_and_milestones_from_the_budget(tmp_path):
    data, run, out = _images(tmp_path / "data"), tmp_path / "run", tmp_path / "w.safetensors"
    cmd = [sys.executable, str(RECIPES / "timed_train.py"), "15", "--probe", "4", "--reserve", "0",
           "--milestones", "0.5", "--export", str(out), "--", "--model", "factorized",
           "--quality", "1", "--data", str(data), "--batch-size", "1", "--crop", "32",
           "--schedule", "multistep", "--log-every", "2", "--out", str(run), "--threads", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["steps"] > 4  # the budget bought more than the probe
    assert cfg["milestones"] == [cfg["steps"] // 2]
    rows = (run / "train.csv").read_text().splitlines()
    assert rows[-1].split(",")[0] == str(cfg["steps"])  # trained to the total it set
    assert out.is_file()


def test_packed_corpus_unpacks_to_every_listed_size(tmp_path):
    src = tmp_path / "corpus"
    src.mkdir()
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
    Image.fromarray(big).save(src / "cv_x_90x60.png")
    Image.fromarray(big).resize((45, 30), Image.LANCZOS).save(src / "cv_x_45x30.png")
    Image.fromarray(big[:20, :20]).save(src / "video_a_001.png")
    for action, a, b in (("pack", src, tmp_path / "packed"),
                         ("unpack", tmp_path / "packed", tmp_path / "again")):
        subprocess.run([sys.executable, str(RECIPES / "pack_corpus.py"), action, str(a), str(b)],
                       check=True, capture_output=True, timeout=120)
    packed = sorted(p.name for p in (tmp_path / "packed").glob("*.jpg"))
    assert packed == ["cv_x.jpg", "video_a_001.jpg"]  # the largest copy of each stem only
    for p in src.glob("*.png"):
        assert Image.open(tmp_path / "again" / p.name).size == Image.open(p).size


def test_widen_grows_the_video_prior_file(tmp_path):
    """recipes/widen.py on a hycovc-latent file: the grown default's video prior, its size in
    the file for the loader."""
    from hyco.train.video import build
    from hyco.video.weights import load, save_weights

    src, out = tmp_path / "latent.safetensors", tmp_path / "wide.safetensors"
    save_weights(build("latent", latent_m=16), src, {"steps": "7"})
    cmd = [sys.executable, str(RECIPES / "widen.py"), str(src), str(out), "--latent", "24"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert load("latent", out).m == 24
