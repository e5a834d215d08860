"""`hyco` end to end in a temp folder."""

import hashlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import uint8_image
from hyco.cli import main
from hyco.video import weights as video_weights

FAST = ["--model", "factorized", "--quality", "1"]


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(uint8_image(40, 50, seed=1)).save(folder / "a.png")
    Image.fromarray(uint8_image(33, 21, seed=2)).save(folder / "sub" / "b.jpg")
    Image.fromarray(uint8_image(16, 16, seed=3)[..., 0], "L").save(folder / "gray.png")
    return folder


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_compress_decompress_info_models(images, tmp_path, capsys):
    before = _digest(images / "a.png")
    assert main(["compress", str(images / "a.png"), "--psnr", *FAST]) == 0
    out = capsys.readouterr().out
    assert "bpp" in out and "PSNR" in out
    assert (images / "a.hyco").exists()
    assert (images / "a.hyco").stat().st_mode & 0o044  # readable as the umask allows
    assert _digest(images / "a.png") == before  # input untouched

    assert main(["decompress", str(images / "a.hyco")]) == 0
    decoded = Image.open(images / "a.hyco.png")
    assert decoded.size == (50, 40) and decoded.mode == "RGB"

    assert main(["decompress", str(images / "a.hyco"), "-o", str(tmp_path / "x.webp")]) == 0
    assert Image.open(tmp_path / "x.webp").format == "WEBP"

    assert main(["info", str(images / "a.hyco")]) == 0
    out = capsys.readouterr().out
    assert "factorized" in out and "50x40" in out

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mean-scale" in out and "default]" in out and "trained (" in out
    assert all(f"hycovc-{v} " in out for v in ("context", "flow", "full"))
    # the latent prior's M is its shipped file's (grown with the default's latent), not a constant
    latent_m = video_weights.weights_metadata(video_weights.shipped("latent"))["m"]
    row = next(line for line in out.splitlines() if line.startswith("hycovc-latent"))
    assert row.split()[3] == latent_m


def test_folders_globs_and_output_folder(images, tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert main(["compress", str(images), "-o", str(out_dir), *FAST]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.hyco", "b.hyco", "gray.hyco"]
    assert main(["decompress", str(out_dir / "*.hyco"), "-o", str(tmp_path / "dec")]) == 0
    assert Image.open(tmp_path / "dec" / "gray.hyco.png").mode == "L"
    assert len(list((tmp_path / "dec").iterdir())) == 3


def test_refuses_to_overwrite_without_force(images, capsys):
    assert main(["compress", str(images / "a.png"), *FAST]) == 0
    first = _digest(images / "a.hyco")
    assert main(["compress", str(images / "a.png"), "--model", "hyperprior"]) == 1
    assert "exists" in capsys.readouterr().err
    assert _digest(images / "a.hyco") == first
    assert main(["compress", str(images / "a.png"), "--force", "--model", "hyperprior"]) == 0
    assert _digest(images / "a.hyco") != first


def test_bad_inputs_fail_cleanly(images, tmp_path, capsys):
    (tmp_path / "junk.hyco").write_bytes(b"this is not a hyco file")
    (tmp_path / "junk.png").write_bytes(b"nor is this an image")
    data = bytearray((images / "a.png").read_bytes())
    cases = [
        ["decompress", str(tmp_path / "junk.hyco")],
        ["compress", str(tmp_path / "junk.png")],
        ["compress", str(tmp_path / "missing.png")],
        ["compress", str(images / "a.png"), "--quality", "99"],
        ["compress", str(images / "a.png"), "--model", "nope"],
        ["compress", str(images / "a.png"), "--model", "qarv", "--refine", "5"],
        ["compress", str(images / "a.png"), "--refine", "-2"],
        ["compress", str(images / "a.png"), "--model", "qarv", "--search-hyper", "5"],
        ["compress", str(images / "a.png"), "--refine", "2", "--search-hyper", "5"],
        ["info", str(tmp_path / "junk.hyco")],
    ]
    for argv in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("hyco: error:") and "Traceback" not in err, argv
    assert not (tmp_path / "junk.hyco.png").exists()
    assert not list(tmp_path.glob(".*.part"))
    assert (images / "a.png").read_bytes() == bytes(data)


def test_truncated_file_in_a_real_process(images, tmp_path):
    assert main(["compress", str(images / "a.png"), *FAST]) == 0
    data = (images / "a.hyco").read_bytes()
    (tmp_path / "t.hyco").write_bytes(data[: len(data) // 2])
    res = subprocess.run([sys.executable, "-m", "hyco.cli", "decompress", str(tmp_path / "t.hyco")],
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "truncated" in res.stderr
    assert not (tmp_path / "t.hyco.png").exists()


def test_decoded_pixels_match_the_library(images):
    import hyco

    assert main(["compress", str(images / "a.png"), *FAST]) == 0
    assert main(["decompress", str(images / "a.hyco")]) == 0
    lib = hyco.decompress((images / "a.hyco").read_bytes())
    assert np.array_equal(np.asarray(Image.open(images / "a.hyco.png")), np.asarray(lib))


def test_output_piped_into_head_is_not_a_traceback(images):
    assert main(["compress", str(images / "a.png"), *FAST]) == 0
    cmd = (f"{sys.executable} -m hyco info {images / 'a.hyco'} {images / 'a.hyco'} "
           f"{images / 'a.hyco'} | (sleep 0.2; head -c 0)")
    res = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    assert "Traceback" not in res.stderr and res.stdout == ""
