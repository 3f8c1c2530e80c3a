"""The terminal display of ``medloc train``: the bar and its legend, raise lines, the trajectory (kept for a
resume) and the metrics jsonl."""

import json
from types import SimpleNamespace

from medloc.app.progress import TrainingProgress


class Curriculum:
    threshold = 0.3
    name = "iou_curriculum"
    metric_name = "iou"


def state(step, max_steps=5, saved=None):
    return SimpleNamespace(global_step=step, max_steps=max_steps, is_world_process_zero=True, stateful_callbacks=saved)


def test_raises_are_printed_once_each_and_recorded(tmp_path):
    curriculum, lines = Curriculum(), []
    progress = TrainingProgress(curriculum, tmp_path / "metrics.jsonl", show=True, echo=lines.append)
    progress.on_train_begin(None, state(0), None)
    for step, tau in ((1, 0.3), (2, 0.45), (3, 0.45), (4, 0.55)):
        curriculum.threshold = tau
        progress.on_step_end(None, state(step), None)
    progress.on_train_end(None, state(4), None)
    assert lines[1:] == ["step 2: tau raised 0.30 -> 0.45", "step 4: tau raised 0.45 -> 0.55"]
    assert progress.raises == [(2, 0.3, 0.45), (4, 0.45, 0.55)]
    assert progress.trajectory == [(0, 0.3), (1, 0.3), (2, 0.45), (3, 0.45), (4, 0.55)]


def test_every_numeric_log_goes_to_the_jsonl_and_nothing_else(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    progress = TrainingProgress(Curriculum(), path, show=False)
    progress.on_log(None, state(1), None, logs={"reward": 1.5, "medloc/threshold": 0.3, "note": "text",
                                                "nan": float("nan"), "flag": True})
    progress.on_log(None, state(2), None, logs={"reward": 1.0})
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"step": 1, "reward": 1.5, "medloc/threshold": 0.3}, {"step": 2, "reward": 1.0}]


def test_quiet_display_prints_nothing(tmp_path, capsys):
    curriculum = Curriculum()
    progress = TrainingProgress(curriculum, None, show=False)
    progress.on_train_begin(None, state(0), None)
    curriculum.threshold = 0.45
    progress.on_step_end(None, state(1), None)
    assert capsys.readouterr().out == "" and progress.raises == [(1, 0.3, 0.45)]


def test_the_bar_splits_the_reward_and_dates_the_heldout_value(tmp_path):
    history = [(0, {"A@0.5": 0.5}), (150, {"A@0.5": 0.859})]
    lines = []
    progress = TrainingProgress(Curriculum(), None, show=True, echo=lines.append, heldout_history=history,
                                reward_names=["format_reward_none", "iou_curriculum"])
    progress.on_train_begin(None, state(0), None)
    progress.on_log(None, state(1), None, logs={"reward": 1.44, "medloc/hit_rate": 0.44, "medloc/threshold": 0.3,
                                                "rewards/iou_curriculum/mean": 0.44,
                                                "rewards/format_reward_none/mean": 1.0})
    assert progress.postfix() == "tau=0.30 hit=0.44 format=1.00 | held-out A@0.5=0.859 (step 150)"
    legend = lines[0]
    assert legend.startswith("Bar: tau = IoU threshold of the last logged step; hit = share of its completions with "
                             "IoU >= tau (the IoU reward")
    assert "format = format reward (1: a well-formed answer)" in legend
    assert "reward per completion = hit + format" in legend and "held-out A@0.5 (step)" in legend
    progress.on_train_end(None, state(1), None)


def test_a_soft_reward_is_shown_apart_from_the_tracked_hit_rate():
    progress = TrainingProgress(Curriculum(), None, show=False, reward_names=["format_reward_none", "soft_iou"])
    assert "hit = share of its completions with IoU >= tau (tracked; not the reward)" in progress.legend()
    assert "reward per completion = format + iou" in progress.legend()


def test_a_resumed_run_keeps_the_trajectory_and_raises_from_step_zero():
    curriculum, saved = Curriculum(), {}
    first = TrainingProgress(curriculum, None, show=False)
    first.on_train_begin(None, state(0, saved=saved), None)
    for step, tau in ((1, 0.3), (2, 0.45)):
        curriculum.threshold = tau
        first.on_step_end(None, state(step, saved=saved), None)
    checkpoint = json.loads(json.dumps(saved))  # what trainer_state.json holds
    resumed = TrainingProgress(curriculum, None, show=False)
    resumed.on_train_begin(None, state(2, saved=checkpoint), None)
    curriculum.threshold = 0.55
    resumed.on_step_end(None, state(3, saved=checkpoint), None)
    assert resumed.trajectory == [(0, 0.3), (1, 0.3), (2, 0.45), (3, 0.55)]
    assert resumed.raises == [(2, 0.3, 0.45), (3, 0.45, 0.55)]


def test_the_bar_pairs_the_hit_rate_with_the_tau_it_was_measured_at():
    curriculum = Curriculum()
    progress = TrainingProgress(curriculum, None, show=False)
    progress.on_train_begin(None, state(0), None)
    curriculum.threshold = 0.45  # raised after step 30's batch was rewarded at 0.30
    progress.on_step_end(None, state(30), None)
    progress.on_log(None, state(30), None, logs={"medloc/threshold": 0.3, "medloc/hit_rate": 0.97})
    assert progress.postfix() == "tau=0.30 hit=0.97"
