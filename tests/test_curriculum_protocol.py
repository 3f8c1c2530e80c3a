"""``IoUCurriculum`` / ``ThresholdCurriculum`` without training: constructor errors, the unregistered
warning, ``report_to``, the schedule's length, and the protocol edges (observe/step, resume options,
the logged threshold)."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from medloc.checkpoints import CheckpointError, check_checkpoint
from medloc.curriculum import IoUCurriculum, ThresholdCurriculum
from schedulers import AdaptiveSchedule, build

HIT = "[0, 0, 10, 10]"
COLUMNS = {"boxes": [[[0, 0, 10, 10]]] * 2, "width": [64] * 2, "height": [64] * 2}


def begin(curriculum, max_steps=10, report_to="none", output_dir="run", world_zero=True, **args):
    """``on_train_begin`` as TRL calls it, with a model in training mode."""
    arguments = SimpleNamespace(num_generations=2, output_dir=output_dir, report_to=report_to, **args)
    state = SimpleNamespace(global_step=0, max_steps=max_steps, is_world_process_zero=world_zero, stateful_callbacks={})
    curriculum.on_train_begin(arguments, state, None, model=SimpleNamespace(training=True))
    return arguments, state


@pytest.mark.parametrize(
    ("build_it", "error", "message"),
    [
        (lambda: ThresholdCurriculum(42), TypeError, "ThresholdCurriculum: 'metric' must be callable, got int"),
        (lambda: IoUCurriculum(AdaptiveSchedule(), window=5), ValueError, "options ['window'] given with a schedule object"),
        (lambda: IoUCurriculum(3), TypeError, "'schedule' must be a name or a RewardSchedule, got int"),
        (lambda: IoUCurriculum("fixed", name=""), ValueError, "IoUCurriculum: 'name' must be a non-empty string"),
        (lambda: IoUCurriculum("fixed", num_generations=0), ValueError, "'num_generations' must be an integer >= 1, got 0"),
        (lambda: IoUCurriculum("bogus"), ValueError, "unknown schedule 'bogus'"),
        (lambda: IoUCurriculum("fixed", window=3), ValueError, "unknown option(s) 'window' for schedule 'fixed'"),
        (lambda: IoUCurriculum("fixed", frame="grid-x"), ValueError, "unknown coordinate frame 'grid-x'"),
    ],
)
def test_constructor_errors_name_the_argument(build_it, error, message):
    with pytest.raises(error) as raised:
        build_it()
    assert message in str(raised.value)


def test_an_unregistered_curriculum_warns_once_and_keeps_its_threshold(caplog):
    curriculum = IoUCurriculum("adaptive", window=1)
    with caplog.at_level(logging.WARNING, logger="medloc.curriculum"):
        for _ in range(3):
            assert curriculum.reward([HIT, HIT], **COLUMNS) == [1.0, 1.0]
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and "not in the trainer's callbacks" in warnings[0]
    assert curriculum.threshold == 0.3 and curriculum.schedule.steps_taken == 0


def scalar_tags(folder) -> list[str]:
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return sorted(accumulator.Tags()["scalars"])


@pytest.mark.parametrize(("report_to", "given_dir", "world_zero", "expected"), [
    ("tensorboard", False, True, "layout"),  # TRL writes the scalars; medloc adds the layout
    (["wandb", "all"], False, True, "layout"),
    ("none", False, True, None),  # nothing asked for: no TensorBoard files
    ("none", True, True, "scalars"),  # a folder given without TRL's TensorBoard: medloc writes the scalars
    ("tensorboard", False, False, None),  # only the main process writes
])
def test_report_to_decides_who_writes_tensorboard(tmp_path, monkeypatch, report_to, given_dir, world_zero, expected):
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)  # TRL's folder, when set, wins over output_dir
    log_dir = tmp_path / "mine"
    curriculum = IoUCurriculum("fixed", tensorboard_dir=str(log_dir) if given_dir else None)
    args, state = begin(curriculum, report_to=report_to, output_dir=str(tmp_path / "run"), world_zero=world_zero)
    state.global_step = 1
    curriculum.on_log(args, state, None, logs={"medloc/threshold": 0.5, "loss": 1.0})
    curriculum.on_train_end(args, state, None)
    written = log_dir if given_dir else tmp_path / "run" / "runs" / "medloc"
    if expected is None:
        assert not written.exists() and not (tmp_path / "run").exists()
    else:
        assert scalar_tags(written) == (["medloc/threshold"] if expected == "scalars" else [])
        assert any(path.name.startswith("events.out") for path in written.iterdir())


@pytest.mark.parametrize(("args", "batches"), [
    ({}, 12),  # TRL's defaults: one generation batch per optimizer step
    ({"gradient_accumulation_steps": 4}, 12),  # steps_per_generation defaults to the accumulation
    ({"gradient_accumulation_steps": 2, "steps_per_generation": 4}, 6),
    ({"num_iterations": 3}, 4),
    ({"gradient_accumulation_steps": 1, "steps_per_generation": 5}, 3),  # 12 / 5 rounded up
])
def test_a_time_based_schedule_spans_the_runs_generation_batches(args, batches):
    curriculum = IoUCurriculum("linear")
    begin(curriculum, max_steps=12, **args)
    assert curriculum.schedule.total_steps == batches
    fixed = IoUCurriculum("linear", total_steps=99)
    begin(fixed, max_steps=12, **args)
    assert fixed.schedule.total_steps == 99  # given by the user: kept


def test_two_observations_before_one_step_are_two_window_steps():
    schedule = AdaptiveSchedule(window=2, min_margin=0.0)
    schedule.observe([1.0, 1.0])
    schedule.observe([1.0, 1.0])
    schedule.step()
    assert schedule.steps_taken == 1
    assert schedule.last_decision.reason != "window_not_full" and schedule.threshold > 0.3


def test_a_state_saved_with_other_options_does_not_load(tmp_path):
    saved = AdaptiveSchedule(window=30).state_dict()
    with pytest.raises(ValueError, match=r"saved with other options: window 30 \(this schedule: 10\)"):
        AdaptiveSchedule(window=10).load_state_dict(saved)
    (tmp_path / "trainer_state.json").write_text(
        '{"global_step": 3, "stateful_callbacks": {"medloc:iou_curriculum": %s}}' % json.dumps(saved))
    with pytest.raises(CheckpointError, match="window 30"):
        check_checkpoint(tmp_path, {"medloc:iou_curriculum": build("adaptive", window=10)})
    check_checkpoint(tmp_path, {"medloc:iou_curriculum": build("adaptive", window=30)})  # same options: fine


def test_the_logged_threshold_is_the_one_the_batch_was_rewarded_at():
    curriculum = IoUCurriculum("linear", start=0.3, target=0.8, total_steps=2)
    begin(curriculum)
    logged: dict[str, float] = {}
    rewards = curriculum.reward([HIT, "[0, 0, 10, 4]"], log_metric=logged.__setitem__, **COLUMNS)  # IoUs 1, 0.4
    assert rewards == [1.0, 1.0]  # judged at tau 0.3
    assert logged["medloc/threshold"] == 0.3  # not the schedule's post-step threshold
    assert curriculum.threshold == curriculum.schedule.metrics()["threshold"] == 0.55
    assert logged["medloc/hit_rate"] == 1.0 and logged["medloc/mean_iou"] == pytest.approx(0.7)
