"""Fixed, linear and cosine schedules."""

import json

import pytest

from schedulers import CosineSchedule, FixedSchedule, LinearSchedule


def test_fixed_holds_and_ignores_performance():
    schedule = FixedSchedule(threshold=0.5)
    schedule.observe([1.0, 1.0])
    assert [schedule.step() for _ in range(3)] == [0.5, 0.5, 0.5]
    assert schedule.steps_taken == 3


def test_linear_trajectory():
    schedule = LinearSchedule(start=0.3, target=0.8, total_steps=4)
    assert schedule.threshold == 0.3
    assert [schedule.step() for _ in range(6)] == [0.425, 0.55, 0.675, 0.8, 0.8, 0.8]


def test_cosine_trajectory_is_slow_fast_slow():
    schedule = CosineSchedule(start=0.3, target=0.8, total_steps=4)
    taus = [schedule.step() for _ in range(5)]
    assert taus[1] == pytest.approx(0.55)
    assert taus[3:] == [0.8, 0.8]
    assert taus[0] - 0.3 < taus[1] - taus[0]


def test_time_schedule_state_round_trip():
    schedule = CosineSchedule(total_steps=10)
    for _ in range(4):
        schedule.step()
    restored = CosineSchedule(total_steps=10)
    restored.load_state_dict(json.loads(json.dumps(schedule.state_dict())))
    assert restored.threshold == schedule.threshold
    assert restored.step() == schedule.step()


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: FixedSchedule(threshold=1.5), "fixed: option 'threshold' must be in \\[0, 1\\]"),
        (lambda: LinearSchedule(total_steps=0), "linear: option 'total_steps' must be an integer >= 1"),
        (lambda: CosineSchedule(start=0.8, target=0.3, total_steps=5), "cosine: option 'start'"),
    ],
)
def test_validation(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()
