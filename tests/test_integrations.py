"""The trainer-agnostic core of the adapters, the checkpoint state files, and the ``trl grpo`` reward.

TRL is real: the ``trl grpo`` reward is resolved the way TRL's CLI does it and, in a slow test,
trained with a real ``GRPOTrainer`` through a checkpoint and a resume. ms-swift, EasyR1 and verl
are tested through their call contracts in ``tests/test_adapter_*.py``.
"""

from __future__ import annotations

import importlib
import json
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import TrainerState

import medloc.integrations.trl_cli as trl_cli
from medloc.integrations.checkpoint_state import CheckpointState
from medloc.curriculum_core import build_schedule
from medloc.integrations.schedule_driver import (
    ScheduleDriver,
    ground_truth_json,
    group_ids,
    parse_ground_truth,
    settings_from_env,
)

BOX = [[0, 0, 10, 10]]
HIT, MISS = "[0, 0, 10, 10]", "[40, 40, 50, 50]"  # IoU 1 and 0 with BOX


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch):
    for name in ("MEDLOC_SCHEDULE", "MEDLOC_SCHEDULE_OPTIONS", "MEDLOC_FRAME", "MEDLOC_FRAME_OPTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(trl_cli, "adaptive_iou_reward", trl_cli.TrlCliCurriculum())
    yield


# the shared core ------------------------------------------------------------------------


def test_driver_learns_one_step_per_batch_and_reports_it():
    driver = ScheduleDriver("adaptive", window=1)
    ious = np.array([0.95, 0.95, 0.95, 0.2])
    metrics = driver.learn(ious, group_ids(["a", "a", "b", "b"]))
    assert driver.schedule.steps_taken == 1
    assert metrics["medloc/threshold"] == 0.3 and metrics["medloc/hit_rate"] == 0.75
    assert metrics["medloc/zero_variance_share"] == 0.5 and metrics["medloc/starved_share"] == 0.0
    assert metrics["medloc/mean_iou"] == pytest.approx(0.7625)


def test_core_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="sample 3: ground truth 'oops' is not JSON"):
        parse_ground_truth("oops", 3)
    with pytest.raises(ValueError, match="sample 0: .* lacks boxes/width/height"):
        parse_ground_truth({"boxes": BOX}, 0)
    with pytest.raises(ValueError, match="schedule 'linear' needs 'total_steps'"):
        build_schedule("linear")
    with pytest.raises(ValueError, match="MEDLOC_SCHEDULE_OPTIONS='window=3' is not JSON"):
        settings_from_env({"MEDLOC_SCHEDULE_OPTIONS": "window=3"})


def test_checkpoint_state_stamps_what_the_tracker_names_and_restores_the_checkpoint_resumed_from(tmp_path):
    states = CheckpointState(tmp_path, "c", tracker="latest_checkpointed_iteration.txt", parse=int)
    states.save_latest({"steps_taken": 1})
    assert states.stamp_new_checkpoint({"steps_taken": 1}) is None  # nothing saved yet
    (tmp_path / "global_step_1").mkdir()
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("1")  # the trainer saved checkpoint 1
    assert states.restore(1) == {"steps_taken": 1}  # the tracker's checkpoint without a stamp: the latest state
    assert states.stamp_new_checkpoint({"steps_taken": 1}) == tmp_path / "global_step_1" / "medloc_c.json"
    assert states.stamp_new_checkpoint({"steps_taken": 2}) is None  # a checkpoint is stamped once per save
    states.save_latest({"steps_taken": 2})
    (tmp_path / "global_step_2").mkdir()
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("2")
    states.stamp_new_checkpoint({"steps_taken": 2})
    states.save_latest({"steps_taken": 3})
    assert states.restore(2) == {"steps_taken": 2}
    assert states.restore(1) == {"steps_taken": 1}
    assert not (tmp_path / "global_step_2" / "medloc_c.json").exists()  # resuming from 1: 2's stamp is stale
    with pytest.raises(ValueError, match="must be an absolute path"):
        CheckpointState("checkpoints/run1", "c", tracker="t", parse=int)


# TRL's own CLI ----------------------------------------------------------------------------


class FakeGRPOTrainer:
    """What TRL's reward call exposes (``GRPOTrainer._calculate_rewards``): ``trainer_state=self.state`` and
    ``log_metric=self._log_metric``, a bound method of the trainer; the processor is ``processing_class``."""

    def __init__(self, state: TrainerState, training: bool = True, num_generations: int = 2,
                 processing_class=None) -> None:
        self.state = state
        self.model = torch.nn.Linear(1, 1).train(training)
        self.args = SimpleNamespace(num_generations=num_generations, gradient_accumulation_steps=1)
        self.processing_class = processing_class
        self.logged: dict[str, list[float]] = defaultdict(list)

    def _log_metric(self, name: str, value: float) -> None:
        self.logged[name].append(value)


def trl_cli_reward():
    """Resolved like ``trl grpo --reward_funcs medloc.integrations.trl_cli.adaptive_iou_reward``."""
    module_path, func_name = "medloc.integrations.trl_cli.adaptive_iou_reward".rsplit(".", 1)
    return getattr(importlib.import_module(module_path), func_name)


def call_trl(reward, trainer, completions, log_metric=None, size=64, box=BOX):
    n = len(completions)
    return reward(prompts=["p"] * n, completions=completions, completion_ids=[[1]] * n, boxes=[box] * n,
                  width=[size] * n, height=[size] * n, trainer_state=trainer.state, log_extra=lambda *a: None,
                  log_metric=log_metric or trainer._log_metric)


def test_trl_cli_reward_learns_on_training_batches_only_and_keeps_state_in_trainer_state(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDLOC_SCHEDULE_OPTIONS", json.dumps({"window": 1}))
    reward, state = trl_cli_reward(), TrainerState(max_steps=10)
    assert call_trl(reward, FakeGRPOTrainer(state, training=False), [HIT, MISS]) == [1.0, 0.0]
    assert trl_cli.STATE_KEY not in (state.stateful_callbacks or {})  # evaluation: nothing learned
    trainer = FakeGRPOTrainer(state)
    assert call_trl(reward, trainer, [HIT, HIT, HIT, HIT]) == [1.0] * 4
    saved = state.stateful_callbacks[trl_cli.STATE_KEY]
    assert (saved["steps_taken"], saved["threshold"]) == (1, 0.45)
    assert trainer.logged["medloc/threshold"] == [0.3] and trainer.logged["medloc/zero_variance_share"] == [1.0]
    state.save_to_json(str(tmp_path / "trainer_state.json"))  # what transformers writes in every checkpoint
    resumed = TrainerState.load_from_json(str(tmp_path / "trainer_state.json"))
    call_trl(reward, FakeGRPOTrainer(resumed, training=False), [HIT, MISS])
    assert reward.driver_for(resumed).threshold == 0.45  # a new TrainerState carrying the state: restored
    fresh = TrainerState(max_steps=10)
    assert reward.driver_for(fresh).threshold == 0.3  # a new run without it: fresh


def test_trl_cli_refuses_a_log_metric_it_cannot_trace_to_the_trainer():
    """Another TRL passing ``log_metric`` some other way must not make evaluation batches count as training."""
    reward, state = trl_cli_reward(), TrainerState(max_steps=10)
    trainer = FakeGRPOTrainer(state, training=False)
    with pytest.raises(RuntimeError, match=r"cannot find the trainer behind log_metric.*installed: trl (\d|not installed)"):
        call_trl(reward, trainer, [HIT, HIT], log_metric=lambda name, value: None)
    other = FakeGRPOTrainer(TrainerState(max_steps=10))  # a bound method, but of a trainer owning another state
    with pytest.raises(RuntimeError, match="cannot find the trainer behind log_metric"):
        call_trl(reward, trainer, [HIT, HIT], log_metric=other._log_metric)
    assert trl_cli.STATE_KEY not in (state.stateful_callbacks or {})


def test_trl_cli_reads_the_qwen_frame_limits_from_the_trainers_processor(monkeypatch):
    """Qwen2.5-VL processors commonly ship max_pixels 12,845,056; medloc's default frame assumes 1,003,520."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

    processor = Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056)
    monkeypatch.setenv("MEDLOC_FRAME", "qwen2.5-vl")
    trainer = FakeGRPOTrainer(TrainerState(max_steps=10), processing_class=processor)
    # a 2000 x 2000 image: the processor resizes it to 1988 x 1988, so the model writes the whole image as
    # [0, 0, 1988, 1988]; read with the default 1,003,520 limit (980 x 980) it decodes twice too large (IoU 0.24)
    whole = [[0, 0, 2000, 2000]]
    assert call_trl(trl_cli_reward(), trainer, ["[0, 0, 1988, 1988]"] * 2, size=2000, box=whole) == [1.0, 1.0]
    assert trl_cli_reward().driver_for(trainer.state).frame.max_pixels == 12845056
    monkeypatch.setenv("MEDLOC_FRAME_OPTIONS", json.dumps({"max_pixels": 1003520}))
    with pytest.raises(ValueError, match="max_pixels=1003520 disagrees with the trainer's processor"):
        call_trl(trl_cli_reward(), FakeGRPOTrainer(TrainerState(max_steps=10), processing_class=processor), [HIT])


@pytest.mark.slow
def test_trl_cli_reward_in_a_real_grpo_run_survives_a_resume(monkeypatch, tmp_path):
    from tests.trl_support import grpo_config, grounding_dataset, strong_ious
    from medloc.builtin.tiny_model import build_tiny_vlm
    from trl import GRPOTrainer

    monkeypatch.setenv("MEDLOC_SCHEDULE_OPTIONS", json.dumps({"window": 3}))
    modes = []

    class Recording(trl_cli.TrlCliCurriculum):
        def _is_training(self, trainer):
            modes.append(super()._is_training(trainer))  # trainer: the real GRPOTrainer behind TRL's log_metric
            return modes[-1]

    monkeypatch.setattr(trl_cli, "adaptive_iou_reward", Recording(metric=strong_ious))

    def trainer(output_dir, max_steps):
        model, processor = build_tiny_vlm(seed=0)
        config = grpo_config(output_dir, max_steps=max_steps, save_strategy="steps", save_steps=3,
                             eval_strategy="steps", eval_steps=1, per_device_eval_batch_size=8)
        return GRPOTrainer(model=model, processing_class=processor, reward_funcs=[trl_cli_reward()], args=config,
                           train_dataset=grounding_dataset(), eval_dataset=grounding_dataset(4))

    first = trainer(tmp_path, 3)
    first.train()
    saved = json.loads((tmp_path / "checkpoint-3" / "trainer_state.json").read_text())
    assert modes.count(True) == 3 and modes.count(False) >= 3  # evaluation batches reached the reward
    assert saved["stateful_callbacks"][trl_cli.STATE_KEY]["steps_taken"] == 3  # and did not count
    assert saved["stateful_callbacks"][trl_cli.STATE_KEY]["threshold"] == 0.45
    second = trainer(tmp_path, 6)
    second.train(resume_from_checkpoint=str(tmp_path / "checkpoint-3"))
    final = second.state.stateful_callbacks[trl_cli.STATE_KEY]
    assert (final["steps_taken"], final["threshold"]) == (6, 0.7)  # 0.45 -> 0.55 -> 0.65 -> 0.7; fresh: 0.45
