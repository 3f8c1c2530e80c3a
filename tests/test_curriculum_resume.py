"""Resuming a GRPO run restores the schedule into the curriculum the reward function uses."""

from __future__ import annotations

import json

import pytest

from medloc.curriculum import ThresholdCurriculum
from tests.trl_support import grpo_config, iou_curriculum, make_trainer, strong_ious

pytestmark = pytest.mark.slow

CHECKPOINT_STEP = 3
TOTAL_STEPS = 6


def adaptive() -> ThresholdCurriculum:
    # IoUs are a constant 0.95 (plain trl.GRPOTrainer resumes a Qwen2-VL policy without its
    # weights, huggingface/transformers#43701, so the stream must not depend on the text; see
    # tests/test_train_resume.py for medloc's trainer); with window 3, tau moves at steps 3, 4, 5 and 6
    return iou_curriculum(strong_ious, "adaptive", window=3)


def config(output_dir, **overrides):
    options = dict(max_steps=TOTAL_STEPS, save_strategy="steps", save_steps=CHECKPOINT_STEP)
    return grpo_config(output_dir, **{**options, **overrides})


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("uninterrupted")
    curriculum = adaptive()
    make_trainer(config(output_dir), curriculum).train()
    return output_dir, curriculum.schedule.state_dict()


def saved_schedule_state(checkpoint):
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return state["stateful_callbacks"]["medloc:iou_curriculum"]


def test_every_checkpoint_carries_the_schedule_state(uninterrupted):
    output_dir, final_state = uninterrupted
    at_checkpoint = saved_schedule_state(output_dir / f"checkpoint-{CHECKPOINT_STEP}")
    assert at_checkpoint["steps_taken"] == CHECKPOINT_STEP
    assert len(at_checkpoint["tracker"]["ious"]) >= 1
    assert saved_schedule_state(output_dir / f"checkpoint-{TOTAL_STEPS}") == final_state
    assert at_checkpoint["threshold"] == 0.45
    assert final_state["threshold"] == 0.7  # 0.45 -> 0.55 -> 0.65 -> 0.7; a fresh start at step 3 would end at 0.45


def test_resumed_run_matches_the_uninterrupted_one(uninterrupted, tmp_path, monkeypatch):
    # resumed from the newest checkpoint (resume_from_checkpoint=True) with transformers told to restore
    # callback states: the state still lands in the object whose reward TRL calls
    source_dir, final_state = uninterrupted
    output_dir = tmp_path / "resumed"
    output_dir.mkdir()
    checkpoint = output_dir / f"checkpoint-{CHECKPOINT_STEP}"
    import shutil

    shutil.copytree(source_dir / f"checkpoint-{CHECKPOINT_STEP}", checkpoint)
    curriculum = adaptive()
    trainer = make_trainer(
        config(output_dir, restore_callback_states_from_checkpoint=True), curriculum
    )
    seen_at_start = {}
    original = curriculum.on_train_begin

    def record_start(args, state, control, **kwargs):
        original(args, state, control, **kwargs)
        seen_at_start.update(curriculum.schedule.state_dict())

    monkeypatch.setattr(curriculum, "on_train_begin", record_start)
    trainer.train(resume_from_checkpoint=True)

    assert seen_at_start == saved_schedule_state(checkpoint)
    # the object whose reward TRL called is the one that learned after the resume
    assert curriculum.schedule.state_dict() == final_state


def test_resuming_a_checkpoint_without_medloc_state_starts_fresh(uninterrupted, tmp_path, monkeypatch, caplog):
    source_dir, _ = uninterrupted
    import shutil

    checkpoint = tmp_path / f"checkpoint-{CHECKPOINT_STEP}"
    shutil.copytree(source_dir / f"checkpoint-{CHECKPOINT_STEP}", checkpoint)
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    del state["stateful_callbacks"]["medloc:iou_curriculum"]
    (checkpoint / "trainer_state.json").write_text(json.dumps(state))
    curriculum = adaptive()
    trainer = make_trainer(config(tmp_path / "out"), curriculum)
    with caplog.at_level("WARNING", logger="medloc.curriculum"):
        trainer.train(resume_from_checkpoint=str(checkpoint))
    assert "without medloc state" in caplog.text
    assert curriculum.schedule.steps_taken == TOTAL_STEPS - CHECKPOINT_STEP
    # the next save works and now carries the state (a stateful callback added on resume
    # made TRL's own ExportableState mechanism raise KeyError here)
    assert saved_schedule_state(tmp_path / "out" / f"checkpoint-{TOTAL_STEPS}")["steps_taken"] == 3
