"""The library door: images in every mode, bad inputs, model mismatch."""

import numpy as np
import pytest
import torch
from PIL import Image

import hyco
from conftest import uint8_image
from hyco import zoo
from hyco.errors import CorruptStream, ModelMismatch, UnsupportedInput
from hyco.files import array_to_tensor, tensor_to_array


def test_compress_decompress_pil_and_array_agree(tmp_path):
    arr = uint8_image(40, 56)
    path = tmp_path / "a.png"
    Image.fromarray(arr).save(path)
    data = hyco.compress(path, model="hyperprior", quality=1)
    assert data == hyco.compress(arr, model="hyperprior", quality=1)
    assert data == hyco.compress(Image.fromarray(arr), model="hyperprior", quality=1)
    img = hyco.decompress(data)
    assert img.mode == "RGB" and img.size == (56, 40)
    # the image is exactly the model's own eval reconstruction
    model = hyco.load_model("hyperprior", 1)
    with torch.no_grad():
        ref = tensor_to_array(model(array_to_tensor(arr))["x_hat"])
    assert np.array_equal(np.asarray(img), ref)


def test_grayscale_comes_back_gray(tmp_path):
    gray = uint8_image(30, 20)[..., 0]
    for mode_image in [Image.fromarray(gray, "L"), Image.fromarray(gray, "L").convert("1")]:
        out = hyco.decompress(hyco.compress(mode_image, model="factorized", quality=1))
        assert out.mode == "L" and out.size == (20, 30)
    sixteen = Image.fromarray(gray.astype(np.uint16) * 257)
    assert sixteen.mode.startswith("I")
    out = hyco.decompress(hyco.compress(sixteen, model="factorized", quality=1))
    assert out.mode == "L"


def test_palette_and_opaque_alpha_are_converted():
    arr = uint8_image(24, 24)
    pal = Image.fromarray(arr).convert("P")
    rgba = Image.fromarray(arr).convert("RGBA")
    for im in [pal, rgba]:
        assert hyco.decompress(hyco.compress(im, model="factorized", quality=1)).mode == "RGB"


def test_bad_images_give_clear_errors(tmp_path):
    arr = uint8_image(16, 16)
    rgba = Image.fromarray(arr).convert("RGBA")
    rgba.putpixel((0, 0), (1, 2, 3, 100))
    with pytest.raises(UnsupportedInput, match="transparency"):
        hyco.compress(rgba)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(UnsupportedInput, match="empty"):
        hyco.compress(tmp_path / "empty.png")
    (tmp_path / "text.png").write_text("not an image at all")
    with pytest.raises(UnsupportedInput, match="not a readable image"):
        hyco.compress(tmp_path / "text.png")
    with pytest.raises(UnsupportedInput, match="no such file"):
        hyco.compress(tmp_path / "missing.png")
    with pytest.raises(UnsupportedInput):
        hyco.compress(Image.fromarray(np.zeros((4, 4), np.float32), "F"))


def test_wrong_weights_are_detected(tmp_path):
    data = hyco.compress(uint8_image(32, 32), model="factorized", quality=2)
    model = zoo.build("factorized", 2)
    with torch.no_grad():
        model.g_s[0].bias.add_(0.01)
    path = tmp_path / "other.safetensors"
    zoo.save_weights(model, path, 2)
    with pytest.raises(ModelMismatch, match="weights"):
        hyco.decompress(data, weights=path)
    wrong = tmp_path / "wrong.safetensors"
    zoo.save_weights(zoo.build("factorized", 7), wrong, 7)
    with pytest.raises(ModelMismatch, match="do not fit"):
        hyco.decompress(data, weights=wrong)


def test_corrupt_data_is_a_hyco_error():
    data = bytearray(hyco.compress(uint8_image(32, 32), model="mean-scale", quality=1))
    data[len(data) // 2] ^= 1
    with pytest.raises(CorruptStream):
        hyco.decompress(bytes(data))
    with pytest.raises(hyco.HycoError):
        hyco.decompress(b"")


def test_info():
    data = hyco.compress(uint8_image(20, 30), model="mean-scale", quality=2)
    i = hyco.info(data)
    assert i["codec"] == "mean-scale" and i["quality"] == "2"
    assert (i["width"], i["height"]) == (30, 20) and i["bytes"] == len(data)
    assert i["weights"] == hyco.load_model("mean-scale", 2).digest()
