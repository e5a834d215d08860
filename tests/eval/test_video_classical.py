from fractions import Fraction

import numpy as np
import pytest

from conftest import uint8_image
from hyco.errors import HycoError
from hyco.eval.video_classical import code_clip, missing
from hyco.video.color import rgb_to_yuv420
from hyco.video.io import VideoInfo


@pytest.mark.parametrize("codec", ["x264", "x265"])
def test_anchor_codes_ippp_and_rate_falls_with_crf(codec):
    if missing(codec):
        pytest.skip(missing(codec))
    base = uint8_image(72, 88, seed=2)
    frames = [rgb_to_yuv420(np.ascontiguousarray(base[i : i + 64, i : i + 80]))
              for i in range(4)]
    info = VideoInfo(80, 64, Fraction(25), 4)
    hi, lo = code_clip(frames, info, codec, "medium", 20), code_clip(frames, info, codec,
                                                                       "medium", 40)
    assert hi.bpp > lo.bpp > 0 and hi.y_psnr > lo.y_psnr > 20
    assert hi.rgb_psnr > lo.rgb_psnr


def test_unknown_anchor():
    with pytest.raises(HycoError, match="unknown video anchor"):
        code_clip([], VideoInfo(8, 8), "mpeg1")
