"""The study's extra schedules: progress-based steps (V-Triune style) and medloc's `informative`."""

import json

import pytest

from schedulers import InformativeSchedule, ProgressSchedule, build
from schedulers.tracker import PerformanceTracker


def test_progress_schedule_follows_the_fraction_of_the_run():
    schedule = ProgressSchedule(total_steps=20, levels=[[0.0, 0.3], [0.1, 0.5], [0.25, 0.8]])
    taus = [schedule.step() for _ in range(20)]
    assert schedule.threshold == 0.8
    assert taus[0] == 0.3 and taus[1] == 0.5 and taus[4] == 0.8  # steps 1, 2 (10%), 5 (25%)


def test_progress_schedule_ignores_performance_and_round_trips():
    schedule = build("progress", total_steps=4)
    schedule.observe([0.0] * 8, groups=[0] * 8)
    schedule.step()
    restored = build("progress", total_steps=4)
    restored.load_state_dict(json.loads(json.dumps(schedule.state_dict())))
    assert restored.threshold == schedule.threshold == 0.8


def test_progress_levels_are_checked_with_their_name():
    with pytest.raises(ValueError, match="progress: option 'levels' must start at from_progress 0.0"):
        build("progress", total_steps=4, levels=[[0.2, 0.5]])


def test_group_reward_variance_is_zero_for_starved_and_saturated_groups():
    tracker = PerformanceTracker(window=1)
    tracker.update([0.9, 0.9, 0.1, 0.1], groups=[0, 0, 1, 1])
    assert tracker.group_reward_variance(0.5) == 0.0
    tracker.update([0.9, 0.1, 0.9, 0.1], groups=[0, 0, 1, 1])
    assert tracker.group_reward_variance(0.5) == 0.25


def test_informative_waits_for_a_full_window_then_moves_towards_the_median():
    schedule = InformativeSchedule(window=2, max_increment=0.05)
    ious = [0.72, 0.68, 0.75, 0.65] * 2  # every group splits at 0.7
    schedule.observe(ious, groups=[0, 0, 0, 0, 1, 1, 1, 1])
    assert schedule.step() == 0.3  # window not full
    taus = []
    for _ in range(12):
        schedule.observe(ious, groups=[0, 0, 0, 0, 1, 1, 1, 1])
        taus.append(schedule.step())
    assert taus[:3] == [0.35, 0.4, 0.45]  # at most max_increment per step
    assert taus[-1] == 0.7 and schedule.best_threshold == 0.7  # stops where groups split


def test_informative_never_lowers_tau_and_never_passes_target():
    schedule = InformativeSchedule(window=1, target=0.5, max_increment=0.5)
    schedule.observe([0.95, 0.99], groups=[0, 0])
    assert schedule.step() == 0.5
    schedule.observe([0.0, 0.0], groups=[0, 0])
    assert schedule.step() == 0.5


def test_informative_state_round_trip_keeps_the_window():
    schedule = InformativeSchedule(window=3)
    for _ in range(3):
        schedule.observe([0.5, 0.2], groups=[0, 0])
        schedule.step()
    restored = InformativeSchedule(window=3)
    restored.load_state_dict(json.loads(json.dumps(schedule.state_dict())))
    assert restored.threshold == schedule.threshold
    assert len(restored.tracker) == 3
    schedule.observe([0.5, 0.2], groups=[0, 0])
    restored.observe([0.5, 0.2], groups=[0, 0])
    assert restored.step() == schedule.step()


@pytest.mark.parametrize("option", ["resolution", "max_increment"])
def test_informative_rejects_zero_steps(option):
    with pytest.raises(ValueError, match=f"informative: option '{option}' must be > 0"):
        InformativeSchedule(**{option: 0.0})
