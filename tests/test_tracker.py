"""The sliding-window performance tracker."""

import json

import numpy as np
import pytest

from schedulers import PerformanceTracker


def test_statistics_at_a_threshold():
    tracker = PerformanceTracker(window=3)
    tracker.update([0.9, 0.1, 0.6, 0.2], groups=[0, 0, 1, 1])  # 2/4 hits at 0.5
    tracker.update([0.9, 0.8, 0.7, 0.6], groups=[0, 0, 1, 1])  # 4/4 hits
    stats = tracker.compute(threshold=0.5)
    assert stats.hit_rate == pytest.approx(6 / 8)
    assert stats.reward_std == pytest.approx(0.25)
    assert stats.margin == pytest.approx(np.mean([0.4, -0.4, 0.1, -0.3, 0.4, 0.3, 0.2, 0.1]))
    assert stats.informative_share == pytest.approx(0.5)
    assert (stats.steps, stats.completions) == (2, 8)


def test_window_evicts_the_oldest_step():
    tracker = PerformanceTracker(window=2)
    for value in (0.1, 0.5, 0.9):
        tracker.update([value])
    assert len(tracker) == 2 and tracker.is_full
    assert tracker.compute(0.0).margin == pytest.approx(0.7)


def test_hits_are_inclusive():
    tracker = PerformanceTracker(window=1)
    tracker.update([0.5])
    assert tracker.compute(0.5).hit_rate == 1.0


def test_group_shares_are_counted_per_step():
    tracker = PerformanceTracker(window=2)
    tracker.update([0.9, 0.9], groups=[0, 0])  # saturated at 0.5
    tracker.update([0.1, 0.9], groups=[0, 0])  # informative; same id, another step
    shares = tracker.group_shares(0.5)
    assert (shares.informative, shares.starved, shares.saturated) == (0.5, 0.0, 0.5)


def test_group_shares_unknown_without_group_ids():
    tracker = PerformanceTracker(window=2)
    tracker.update([0.9, 0.1])
    assert tracker.group_shares(0.5) is None
    assert tracker.compute(0.5).informative_share is None


def test_drop_oldest_and_state_round_trip():
    tracker = PerformanceTracker(window=4)
    for value in (0.1, 0.2, 0.3, 0.4):
        tracker.update([value], groups=[0])
    assert tracker.drop_oldest(0.5) == 2
    restored = PerformanceTracker(window=4)
    restored.load_state_dict(json.loads(json.dumps(tracker.state_dict())))
    assert restored.compute(0.0).margin == pytest.approx(0.35)
    with pytest.raises(ValueError, match="window 4 but this tracker has window 3"):
        PerformanceTracker(window=3).load_state_dict(tracker.state_dict())


def test_empty_window_is_all_zero():
    stats = PerformanceTracker(window=3).compute(0.5)
    assert (stats.hit_rate, stats.steps, stats.completions) == (0.0, 0, 0)
