"""The MedLoc-R1 adaptive schedule on scripted IoU streams."""

import json

import numpy as np
import pytest

from schedulers import AdaptiveSchedule, build

GROUP = 8


def paper_rule(**options) -> AdaptiveSchedule:
    """The paper's three conditions on a full window, with the density guard unless turned off."""
    return AdaptiveSchedule(**{"preset": "paper", "density_guard": True, **options})


def groups_for(count: int) -> np.ndarray:
    return np.arange(count) // GROUP


def run(schedule: AdaptiveSchedule, stream, steps: int) -> list[float]:
    """Feed ``stream(step)`` (an IoU array) for ``steps`` steps; return tau after each step."""
    taus = []
    for step in range(steps):
        ious = np.asarray(stream(step), dtype=float)
        schedule.observe(ious, groups_for(ious.size))
        taus.append(schedule.step())
    return taus


def strong(step: int) -> np.ndarray:
    return np.full(32, 0.95)


def test_strong_stream_rises_to_target_through_the_piecewise_levels():
    taus = run(paper_rule(), strong, 120)
    # window 30 fills at step 30; each raise drops 15 steps, so 15 fresh steps per level:
    # 0.3 -> 0.45 -> 0.55 -> 0.65 -> 0.7 -> 0.75 -> 0.8 uses every increment (0.15, 0.10, 0.05)
    assert taus[28] == 0.3
    assert taus[29] == 0.45
    assert taus[43] == 0.45 and taus[44] == 0.55
    assert taus[58] == 0.55 and taus[59] == 0.65
    assert taus[73] == 0.65 and taus[74] == 0.7
    assert taus[88] == 0.7 and taus[89] == 0.75
    assert taus[103] == 0.75 and taus[104] == 0.8
    assert max(taus) == 0.8 and taus[-1] == 0.8


def test_weak_stream_holds_at_start():
    rng = np.random.default_rng(0)
    schedule = AdaptiveSchedule()
    taus = run(schedule, lambda step: rng.uniform(0.0, 0.5, 32), 200)
    assert set(taus) == {0.3}
    assert schedule.last_decision.reason == "conditions_not_met"
    assert schedule.last_decision.conditions["hit_rate"] is False


def test_hit_rate_condition_blocks_alone():
    # 5/8 of completions at 0.9, 3/8 at 0.0: std 0, margin 0.2625, hit rate 0.625 < 0.7
    schedule = paper_rule(window=4)
    run(schedule, lambda step: np.array([0.9, 0.9, 0.9, 0.9, 0.9, 0.0, 0.0, 0.0] * 4), 10)
    decision = schedule.last_decision
    assert schedule.threshold == 0.3
    assert decision.conditions == {"hit_rate": False, "reward_std": True, "margin": True, "density": True}


def test_std_condition_blocks_alone():
    # 3 of 4 steps all hits, 1 of 4 steps 10/32 hits: mean 0.83, per-step std 0.30 > 0.20
    def stream(step):
        hits = 32 if step % 4 else 10
        return np.array([0.9] * hits + [0.1] * (32 - hits))

    schedule = paper_rule(window=4)
    run(schedule, stream, 8)
    decision = schedule.last_decision
    assert schedule.threshold == 0.3
    assert decision.stats.hit_rate == pytest.approx(106 / 128)
    assert decision.stats.reward_std > 0.2
    assert decision.conditions["reward_std"] is False
    assert decision.conditions["hit_rate"] is True and decision.conditions["margin"] is True


def test_margin_condition_blocks_alone():
    schedule = paper_rule(window=4, density_guard=False)
    run(schedule, lambda step: np.full(32, 0.35), 8)
    decision = schedule.last_decision
    assert schedule.threshold == 0.3
    assert decision.stats.margin == pytest.approx(0.05)
    assert decision.conditions == {"hit_rate": True, "reward_std": True, "margin": False, "density": None}


def test_hit_rate_floor_is_relaxed_as_tau_rises():
    # a 19/32 = 0.59 hit rate is too low at tau 0.3 (P = 0.80) but enough at tau 0.75 (P = 0.55)
    low = paper_rule(window=4, density_guard=False)
    high = paper_rule(start=0.75, window=4, density_guard=False)
    run(low, lambda step: np.array([0.95] * 19 + [0.28] * 13), 4)
    run(high, lambda step: np.array([0.99] * 19 + [0.74] * 13), 4)
    assert low.threshold == 0.3 and low.last_decision.conditions["hit_rate"] is False
    assert high.threshold == 0.8 and high.last_decision.conditions["hit_rate"] is True


def test_refresh_drops_the_oldest_half_of_the_window():
    schedule = paper_rule(window=30)
    run(schedule, strong, 30)
    assert schedule.threshold == 0.45
    assert len(schedule.tracker) == 15
    schedule.observe(np.full(32, 0.95), groups_for(32))
    schedule.step()
    assert len(schedule.tracker) == 16
    assert schedule.last_decision.reason == "window_not_full"


def test_refresh_fraction_is_an_option():
    schedule = paper_rule(window=10, refresh_fraction=0.8)
    run(schedule, strong, 10)
    assert len(schedule.tracker) == 2


def test_kept_half_is_rescored_at_the_new_threshold():
    schedule = paper_rule(window=2, density_guard=False)
    run(schedule, lambda step: np.full(16, 0.5), 2)
    assert schedule.threshold == 0.45
    stats = schedule.tracker.compute(schedule.threshold)
    assert stats.margin == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("increment", "expected_first_step"),
    [("piecewise", 0.15), ("linear", 0.2), ("cosine", 0.2)],
)
def test_increment_modes(increment, expected_first_step):
    schedule = paper_rule(window=2, increment=increment)
    run(schedule, strong, 2)
    assert schedule.threshold == pytest.approx(0.3 + expected_first_step)


def test_linear_and_cosine_decays_shrink_the_increment():
    linear, cosine = paper_rule(increment="linear"), paper_rule(increment="cosine")
    assert linear.delta(0.3) == pytest.approx(0.2)
    assert linear.delta(0.55) == pytest.approx(0.125)
    assert cosine.delta(0.55) == pytest.approx(0.125)
    assert cosine.delta(0.4) > linear.delta(0.4)
    assert linear.delta(0.8) == pytest.approx(0.05)


def test_never_exceeds_target():
    schedule = paper_rule(start=0.3, target=0.5, window=2)
    taus = run(schedule, strong, 20)
    assert max(taus) == 0.5
    assert schedule.last_decision.reason == "at_target"


def test_density_guard_holds_when_the_next_level_starves_groups():
    # every IoU 0.42: all hits at 0.30 (saturated), all misses at 0.45 (starved)
    guarded = paper_rule(window=4, density_guard=True)
    unguarded = paper_rule(window=4, density_guard=False)
    run(guarded, lambda step: np.full(32, 0.42), 8)
    run(unguarded, lambda step: np.full(32, 0.42), 8)
    assert guarded.threshold == 0.3
    assert guarded.last_decision.conditions["density"] is False
    assert guarded.last_decision.candidate_shares.starved == 1.0
    assert unguarded.threshold == 0.45


def test_density_guard_lets_saturated_groups_rise():
    schedule = paper_rule(window=4, density_guard=True)
    run(schedule, strong, 4)
    assert schedule.threshold == 0.45
    assert schedule.last_decision.conditions["density"] is True


def test_density_guard_is_not_evaluated_without_groups():
    schedule = paper_rule(window=2)
    for _ in range(2):
        schedule.observe(np.full(8, 0.42))
        schedule.step()
    assert schedule.last_decision.conditions["density"] is None
    assert schedule.threshold == 0.45


def test_metrics_report_the_decision():
    schedule = paper_rule(window=4)
    run(schedule, lambda step: np.array([0.9, 0.9, 0.9, 0.9, 0.9, 0.0, 0.0, 0.0] * 4), 4)
    metrics = schedule.metrics()
    assert metrics["threshold"] == 0.3
    assert metrics["window_hit_rate"] == pytest.approx(0.625)
    assert metrics["condition_hit_rate"] == 0.0
    assert metrics["condition_margin"] == 1.0
    assert metrics["raised"] == 0.0


def test_state_dict_round_trips_through_json_and_continues_identically():
    rng = np.random.default_rng(3)
    stream = [rng.uniform(0.3, 1.0, 32) for _ in range(120)]
    reference = AdaptiveSchedule(window=10)
    reference_taus = run(reference, lambda step: stream[step], 120)

    first = AdaptiveSchedule(window=10)
    run(first, lambda step: stream[step], 50)
    saved = json.loads(json.dumps(first.state_dict()))
    resumed = AdaptiveSchedule(window=10)
    resumed.load_state_dict(saved)
    assert resumed.state_dict() == first.state_dict()
    resumed_taus = run(resumed, lambda step: stream[50 + step], 70)
    assert resumed_taus == reference_taus[50:]
    assert resumed.state_dict() == reference.state_dict()


def test_load_state_dict_rejects_another_schedule():
    with pytest.raises(ValueError, match="schedule 'fixed' into schedule 'adaptive'"):
        AdaptiveSchedule().load_state_dict(build("fixed").state_dict())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"start": 1.2}, "option 'start' must be in \\[0, 1\\]"),
        ({"target": -0.1}, "option 'target' must be in \\[0, 1\\]"),
        ({"start": 0.9, "target": 0.8}, "'start' \\(0.9\\) must not exceed option 'target' \\(0.8\\)"),
        ({"window": 0}, "option 'window' must be an integer >= 1"),
        ({"window": 2.5}, "option 'window' must be an integer >= 1"),
        ({"increment": "exponential"}, "option 'increment' must be one of 'piecewise', 'linear', 'cosine'"),
        ({"increments": [0.1, 0.1]}, "exactly one more value than 'breakpoints'"),
        ({"min_hit_rate": [[0.2, 0.8]]}, "option 'min_hit_rate' must start at from_tau 0.0"),
        ({"max_reward_std": [[0.0, 1.5]]}, "max_reward_std\\[0\\].value' must be in \\[0, 1\\]"),
        ({"min_margin": float("nan")}, "option 'min_margin' must be a number"),
        ({"density_guard": "yes"}, "option 'density_guard' must be true or false"),
        ({"increments": [0.0, 0.1, 0.05]}, "option 'increments' must be > 0"),
    ],
)
def test_invalid_options_name_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        AdaptiveSchedule(**options)


def test_observe_rejects_bad_ious():
    schedule = AdaptiveSchedule()
    with pytest.raises(ValueError, match="finite values in \\[0, 1\\]"):
        schedule.observe([0.5, float("nan")])
    with pytest.raises(ValueError, match="one group id per completion"):
        schedule.observe([0.5, 0.6], groups=[0])
