"""IoUCurriculum inside a real TRL GRPOTrainer on the tiny locally built VLM."""

from __future__ import annotations


import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from medloc.curriculum import IoUCurriculum
from tests.trl_support import grounding_dataset, grpo_config, iou_curriculum, make_trainer, pseudo_ious, strong_ious

pytestmark = pytest.mark.slow


def read_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    accumulator = EventAccumulator(str(log_dir))
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def test_grpo_run_logs_medloc_scalars_to_tensorboard(tmp_path, monkeypatch):
    log_dir = tmp_path / "tb"
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(log_dir))
    curriculum = iou_curriculum(strong_ious, "adaptive", window=2)
    trainer = make_trainer(grpo_config(tmp_path / "out", report_to="tensorboard"), curriculum)
    trainer.train()

    scalars = read_scalars(log_dir)
    threshold = scalars["train/medloc/threshold"]
    assert [step for step, _ in threshold] == [1, 2, 3, 4]
    # window 2, every condition met: the first raise needs a full window (batch 2), then the
    # refresh keeps one step, so one fresh batch suffices for each next raise
    assert [round(value, 6) for _, value in threshold] == [0.3, 0.3, 0.45, 0.55]
    assert curriculum.threshold == 0.65
    assert [value for _, value in scalars["train/medloc/hit_rate"]] == [1.0, 1.0, 1.0, 1.0]
    # every completion scores 1, so every group has zero reward variance
    assert [value for _, value in scalars["train/medloc/zero_variance_share"]] == [1.0, 1.0, 1.0, 1.0]
    for tag in ("hit_rate", "zero_variance_share", "mean_iou", "window_hit_rate", "condition_hit_rate"):
        assert f"train/medloc/{tag}" in scalars, tag
    assert "train/reward" in scalars
    # one series per metric: TRL's; medloc writes no second copy
    assert not any(tag.startswith("medloc/") for tag in scalars)


def test_without_trl_tensorboard_the_curriculum_writes_its_own_series(tmp_path):
    curriculum = iou_curriculum(strong_ious, "fixed", threshold=0.5, tensorboard_dir=str(tmp_path / "mine"))
    trainer = make_trainer(grpo_config(tmp_path / "out", report_to="none", max_steps=2), curriculum)
    trainer.train()
    assert [step for step, _ in read_scalars(tmp_path / "mine")["medloc/threshold"]] == [1, 2]


def test_tensorboard_layout_puts_threshold_and_hit_rate_on_one_chart(tmp_path, monkeypatch):
    from tensorboard.plugins.custom_scalar import metadata
    from tensorboard.plugins.custom_scalar import layout_pb2

    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))
    curriculum = IoUCurriculum("fixed", threshold=0.5)
    trainer = make_trainer(grpo_config(tmp_path / "out", report_to="tensorboard", max_steps=1), curriculum)
    trainer.train()
    accumulator = EventAccumulator(str(tmp_path / "tb"))
    accumulator.Reload()
    layout = layout_pb2.Layout()
    layout.ParseFromString(accumulator.Tensors(metadata.CONFIG_SUMMARY_TAG)[0].tensor_proto.string_val[0])
    charts = {chart.title: list(chart.multiline.tag) for category in layout.category for chart in category.chart}
    assert {"^train/medloc/threshold$", "^train/medloc/hit_rate$"} <= set(
        charts["tau vs hit rate (smoothed; Smoothing 0 shows tau's steps)"])


def test_tracker_does_not_learn_from_evaluation_batches(tmp_path):
    curriculum = iou_curriculum(pseudo_ious, "adaptive", window=50)
    config = grpo_config(tmp_path / "out", max_steps=2, eval_strategy="steps", eval_steps=1,
                         per_device_eval_batch_size=8)
    trainer = make_trainer(config, curriculum, eval_dataset=grounding_dataset(4))
    trainer.train()
    evaluations = [entry for entry in trainer.state.log_history if "eval_reward" in entry]
    assert len(evaluations) == 2  # the reward did run on evaluation batches...
    # ...but only the two training generation batches reached the schedule
    assert curriculum.schedule.steps_taken == 2
    assert len(curriculum.schedule.tracker) == 2


@pytest.mark.parametrize(("steps_per_generation", "num_iterations"), [(2, 1), (1, 2)])
def test_threshold_changes_only_between_generation_batches(tmp_path, steps_per_generation, num_iterations):
    curriculum = iou_curriculum(pseudo_ious, "linear", start=0.3, target=0.8)
    config = grpo_config(tmp_path / "out", per_device_train_batch_size=4, steps_per_generation=steps_per_generation,
                         num_iterations=num_iterations, max_steps=4)
    trainer = make_trainer(config, curriculum)
    trainer.train()
    # 4 optimizer steps, one generation batch every 2: two schedule steps, and linear
    # without total_steps spans exactly the run's generation batches
    assert curriculum.schedule.total_steps == 2
    assert curriculum.schedule.steps_taken == 2
    assert curriculum.threshold == pytest.approx(0.8)
