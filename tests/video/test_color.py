import numpy as np
import pytest

from conftest import uint8_image
from hyco.errors import HycoError
from hyco.video.color import (
    ColorSpec,
    YUVFrame,
    downsample_chroma,
    rgb_to_ycbcr,
    rgb_to_yuv420,
    upsample_chroma,
    ycbcr_to_rgb,
    yuv420_to_rgb,
)


@pytest.mark.parametrize("spec", [ColorSpec(), ColorSpec("bt601"), ColorSpec(full_range=True)])
def test_444_round_trip_is_within_one_level(spec):
    rgb = np.random.default_rng(0).integers(0, 256, (31, 17, 3), dtype=np.uint8)
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb, spec), spec)
    assert np.abs(back.astype(int) - rgb).max() == 0  # unrounded Y'CbCr inverts exactly
    rounded = np.floor(rgb_to_ycbcr(rgb, spec) + 0.5)
    assert np.abs(ycbcr_to_rgb(rounded, spec).astype(int) - rgb).max() <= 2


def test_reference_values():
    """BT.709 limited range: white -> (235, 128, 128), black -> (16, 128, 128), pure red."""
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], np.uint8)
    ycc = rgb_to_ycbcr(rgb)
    np.testing.assert_allclose(ycc[0, 0], [235, 128, 128])
    np.testing.assert_allclose(ycc[0, 1], [16, 128, 128])
    np.testing.assert_allclose(ycc[0, 2], [16 + 219 * 0.2126, 128 - 224 * 0.2126 / 1.8556, 240],
                               atol=1e-9)
    full = rgb_to_ycbcr(rgb, ColorSpec("bt601", full_range=True))
    np.testing.assert_allclose(full[0, 2, 0], 255 * 0.299)


def test_chroma_siting_and_odd_sizes():
    c = np.arange(35, dtype=float).reshape(5, 7)
    d = downsample_chroma(c)
    assert d.shape == (3, 4)
    assert d[0, 0] == round((0 + 1 + 7 + 8) / 4)
    flat = np.full((3, 4), 77, np.uint8)
    np.testing.assert_array_equal(upsample_chroma(flat, 5, 7), np.full((5, 7), 77.0))
    up = upsample_chroma(np.array([[0.0, 4.0]]), 1, 4)
    np.testing.assert_allclose(up, [[0.0, 1.0, 3.0, 4.0]])  # centre-sited bilinear


def test_yuv420_round_trip_on_photo_like_content():
    rgb = uint8_image(33, 47)
    frame = rgb_to_yuv420(rgb)
    assert frame.y.shape == (33, 47) and frame.u.shape == (17, 24)
    back = yuv420_to_rgb(frame)
    mse = np.mean((back.astype(float) - rgb) ** 2)
    assert 10 * np.log10(255**2 / mse) > 30  # chroma detail is lost to 4:2:0; luma is not
    assert YUVFrame.frombytes(frame.tobytes(), 33, 47).tobytes() == frame.tobytes()


def test_bad_matrix_and_frame_size():
    with pytest.raises(HycoError, match="matrix"):
        ColorSpec("bt2020x")
    with pytest.raises(HycoError, match="needs"):
        YUVFrame.frombytes(b"\0" * 10, 4, 4)
