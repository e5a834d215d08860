import pytest

from hyco.errors import HycoError
from hyco.video.hinerv_config import (
    SIZES,
    HiNeRVConfig,
    config_for,
    default_scales,
    parse_size,
)


def test_serialisation_and_validation():
    cfg = config_for(30, 44, 4, "4k", scales=(2, 2))
    assert HiNeRVConfig.from_ints(cfg.to_ints()) == cfg
    with pytest.raises(ValueError):
        HiNeRVConfig.from_ints(cfg.to_ints()[:-1])
    with pytest.raises(ValueError):
        HiNeRVConfig(30, 44, 4, (2, 2), 8, (3,), (4, 1))  # a depth per stage
    huge = HiNeRVConfig(1080, 1920, 600, (5, 4, 3, 2), 2048, (3, 3, 3, 1), (4, 4, 4, 1))
    with pytest.raises(HycoError, match="too large"):
        huge.check_limits()


def test_sizes_scale_with_the_video_and_stay_within_budget():
    counts = [config_for(144, 176, 32, s).num_params() for s in SIZES]
    assert counts == sorted(counts) and counts[-1] > 4 * counts[0]
    for s, c in zip(SIZES, counts, strict=True):
        assert 0.7 * parse_size(s, 144, 176, 32) < c <= parse_size(s, 144, 176, 32)
    assert parse_size("s", 1000, 1000, 1) == 20000  # the preset at a million pixel-frames
    assert parse_size("s", 2000, 1000, 1) == round(20000 * 2**0.7)
    big = config_for(1080, 1920, 600, "s")  # about HiNeRV's own S for UVG (280 channels)
    assert 2.5e6 < big.num_params() <= 3e6 and 250 < big.channels < 300
    assert parse_size("20k", 1, 1, 1) == 20000 and parse_size("1.5M", 1, 1, 1) == 1500000
    with pytest.raises(HycoError, match="unknown HiNeRV size"):
        parse_size("huge", 1, 1, 1)
    with pytest.raises(HycoError, match="outside"):
        parse_size("0", 1, 1, 1)


def test_layout_follows_hinerv():
    assert default_scales(1080, 1920) == (5, 4, 3, 2)  # HiNeRV's 1080p base: 9 x 16 cells
    assert default_scales(720, 1280) == (5, 3, 2, 2)
    assert default_scales(144, 176) == (2, 2, 2, 2)
    assert default_scales(20, 20) == (2,)
    cfg = config_for(144, 176, 32, "l")
    assert (cfg.depths, cfg.exps) == ((3, 3, 3, 1), (4, 4, 4, 1))
    # channels halve per stage, down to the floor of 8
    assert [cfg.stage_out(i) for i in range(4)] == [cfg.channels, cfg.channels // 2,
                                                    max(cfg.channels // 4, 8), 8]
    grids = cfg.grid_params()
    assert grids <= cfg.num_params() / 4 + 1000  # grids get about a quarter at most
