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


# ---- medloc's options beyond the paper ----------------------------------------------------------


def test_start_read_jumps_several_levels_after_the_initial_window():
    # IoUs 0.62-0.78: every condition holds at 0.3 and 0.45 (next 0.55); at 0.55 the median
    # margin (0.70 - 0.55 = 0.15) holds too, at 0.65 it does not (0.05 < 0.10)
    schedule = AdaptiveSchedule(initial_window=4, window=30, min_margin=0.10)
    stream = lambda step: np.tile(np.linspace(0.62, 0.78, GROUP), 4)  # noqa: E731
    taus = run(schedule, stream, 4)
    assert taus[:3] == [0.3, 0.3, 0.3]
    assert taus[3] == 0.65
    assert schedule.last_decision.levels == 3 and schedule.last_decision.reason == "raised"
    assert len(schedule.tracker) == 2  # the refresh after a raise, as usual
    run(schedule, stream, 10)
    assert schedule.threshold == 0.65  # later decisions need a full window and move one level


@pytest.mark.parametrize("window", [1, 4, 5])
def test_no_start_read_unless_the_initial_window_is_shorter_than_the_window(window):
    schedule = AdaptiveSchedule(window=window)  # initial_window 5
    taus = run(schedule, strong, window)
    assert taus[-1] == 0.45 and schedule.last_decision.levels == 1  # one level, as in the paper
    assert taus[:-1] == [0.3] * (window - 1)


def test_start_read_is_one_read_then_the_full_window_rule():
    schedule = AdaptiveSchedule(initial_window=3, window=6)
    reasons = []
    for step in range(9):
        schedule.observe(np.full(32, 0.2 if step < 3 else 0.95), groups_for(32))
        schedule.step()
        reasons.append(schedule.last_decision.reason)
    assert reasons[:5] == ["window_not_full"] * 2 + ["conditions_not_met"] + ["window_not_full"] * 2
    assert reasons[5] == "conditions_not_met"  # the first full window: half weak steps
    assert "raised" in reasons[6:] and schedule.threshold == 0.45  # one level, not a second read
    assert schedule.last_decision.levels in (0, 1)


def test_group_median_margin_ignores_the_sampling_spread():
    # each group: 5 of 8 samples near the answer (0.58), 3 far off (0.05): mean 0.38, median 0.58
    ious = np.array([0.58] * 5 + [0.05] * 3)
    stream = lambda step: np.tile(ious, 4)  # noqa: E731
    mean_rule = AdaptiveSchedule(window=4, initial_window=0, margin_estimate="mean", min_margin=0.10,
                                 min_hit_rate=[[0.0, 0.6]])
    median_rule = AdaptiveSchedule(window=4, initial_window=0, min_margin=0.10, min_hit_rate=[[0.0, 0.6]])
    run(mean_rule, stream, 4)
    run(median_rule, stream, 4)
    assert mean_rule.last_decision.conditions["margin"] is False
    assert median_rule.last_decision.conditions["margin"] is True
    assert median_rule.metrics()["window_margin"] == pytest.approx(0.28)
    assert median_rule.threshold == 0.45


def rising(step: int) -> np.ndarray:
    """Per-step hit rate at tau 0.3 rising from 0.5 to ~1 over 30 steps (IoU 0.9 hits, 0.1 misses)."""
    hits = min(16 + step // 2, 32)
    return np.array([0.9] * hits + [0.1] * (32 - hits))


def test_trend_stability_fails_while_the_hit_rate_is_rising():
    schedule = AdaptiveSchedule(window=30, initial_window=0, min_hit_rate=[[0.0, 0.5]], min_margin=0.0)
    run(schedule, rising, 30)
    stats = schedule.last_decision.stats
    assert stats.hit_rate_rise == pytest.approx(0.45, abs=0.03)
    assert schedule.last_decision.conditions["trend"] is False
    assert schedule.metrics()["condition_trend"] == 0.0
    assert schedule.threshold == 0.3
    paper = paper_rule(min_hit_rate=[[0.0, 0.5]], min_margin=0.0)  # sigma_r 0.13 < S 0.20: the paper's test holds
    run(paper, rising, 30)
    assert paper.last_decision.conditions["reward_std"] is True and paper.threshold == 0.45


def test_trend_stability_holds_on_a_stationary_stream():
    rng = np.random.default_rng(1)
    schedule = AdaptiveSchedule(window=30, initial_window=0, min_hit_rate=[[0.0, 0.7]], density_guard=False)
    held = []
    for _ in range(30):
        schedule.observe(np.where(rng.random(32) < 0.8, 0.9, 0.1), groups_for(32))
        schedule.step()
    held.append(schedule.last_decision.conditions["trend"])
    assert held == [True] and schedule.threshold == 0.45


def test_noise_stability_compares_the_step_std_with_sampling_noise():
    # alternating steps of 32/32 hits and 4/8 hits in every group: sigma_r 0.25, above the noise
    # the groups' spread (hit rates 1 and 0.5) implies for one step of 4 groups (0.13)
    stream = lambda step: np.full(32, 0.9) if step % 2 else np.tile([0.9, 0.1], 16)  # noqa: E731
    schedule = AdaptiveSchedule(initial_window=0, window=10, stability="noise", min_hit_rate=[[0.0, 0.5]],
                                min_margin=0.0, density_guard=False)
    run(schedule, stream, 10)
    stats = schedule.last_decision.stats
    assert stats.reward_std == pytest.approx(0.25)
    assert stats.reward_std_noise < 0.25
    assert schedule.last_decision.conditions["reward_std"] is False


def test_presets_set_the_papers_rule_and_explicit_options_win():
    paper = AdaptiveSchedule(preset="paper")
    assert (paper.margin_estimate, paper.stability, paper.initial_window, paper.density_guard) == (
        "mean", "step_std", 0, False)
    port = build("adaptive", preset="port", min_margin=0.05)
    assert port.options()["min_hit_rate"] == [[0.0, 0.8], [0.6, 0.75], [0.75, 0.55]]
    assert port.min_margin == 0.05
    assert build("adaptive", **AdaptiveSchedule(preset="paper").options()).options() == paper.options()
    with pytest.raises(ValueError, match="option 'preset' must be one of 'paper', 'port'"):
        AdaptiveSchedule(preset="papers")


def old_state() -> dict:
    """A state as saved before margin_estimate, stability, stability_tolerance and initial_window existed."""
    schedule = paper_rule(window=4)
    run(schedule, lambda step: np.full(32, 0.1), 5)
    state = json.loads(json.dumps(schedule.state_dict()))
    for key in ("margin_estimate", "stability", "stability_tolerance", "initial_window"):
        del state["options"][key]
    del state["start_read_done"]
    for key in ("median_margin", "reward_std_noise", "hit_rate_rise", "hit_rate_rise_se"):
        del state["last_decision"]["stats"][key]
    del state["last_decision"]["levels"]
    return state


def test_a_state_saved_before_the_new_options_loads_into_the_rule_it_ran():
    resumed = paper_rule(window=4)
    resumed.load_state_dict(old_state())
    assert len(resumed.tracker) == 4 and resumed.threshold == 0.3
    assert resumed.last_decision.stats.median_margin is None
    taus = run(resumed, strong, 4)
    assert taus == [0.3, 0.3, 0.3, 0.45]  # the old rule: a full window of strong steps, no start read


def test_a_state_saved_before_the_new_options_names_them_when_defaults_differ():
    with pytest.raises(ValueError) as error:
        AdaptiveSchedule(window=4, initial_window=4, density_guard=True).load_state_dict(old_state())
    message = str(error.value)
    assert "initial_window 0 (this schedule: 4) [the state predates this option" in message
    assert "margin_estimate 'mean' (this schedule: 'group_median')" in message
    assert "stability 'step_std' (this schedule: 'trend')" in message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"initial_window": -1}, "option 'initial_window' must be an integer >= 0"),
        ({"margin_estimate": "median"}, "option 'margin_estimate' must be one of 'mean', 'group_median'"),
        ({"stability": "std"}, "option 'stability' must be one of 'step_std', 'noise', 'trend'"),
        ({"stability_tolerance": 2.0}, "option 'stability_tolerance' must be in \\[0, 1\\]"),
    ],
)
def test_new_options_are_checked_with_their_name(options, message):
    with pytest.raises(ValueError, match=message):
        AdaptiveSchedule(**options)
