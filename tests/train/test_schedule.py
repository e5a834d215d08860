import pytest

from hyco.train.schedule import LRSchedule


def test_multistep():
    s = LRSchedule(kind="multistep", base_lr=1e-3, milestones=[10, 20], gamma=0.1)
    assert s.lr_at(0) == s.lr_at(9) == 1e-3
    assert s.lr_at(10) == pytest.approx(1e-4)
    assert s.lr_at(25) == pytest.approx(1e-5)


def test_plateau_waits_then_decays_and_round_trips():
    s = LRSchedule(kind="plateau", base_lr=1e-3, patience=2, gamma=0.5)
    for v in [5.0, 4.0, 3.0]:  # improving
        s.observe(v)
    assert s.lr_at(100) == 1e-3
    for _ in range(3):  # three checks without improvement > patience
        s.observe(3.0)
    assert s.lr_at(100) == pytest.approx(5e-4)
    restored = LRSchedule.from_state(s.state_dict())
    assert restored == s


def test_constant_and_unknown():
    assert LRSchedule(kind="constant", base_lr=2e-4, milestones=[1]).lr_at(10) == 2e-4
    with pytest.raises(ValueError):
        LRSchedule(kind="cosine")
