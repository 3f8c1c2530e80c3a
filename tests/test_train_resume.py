"""A resumed ``medloc train`` is the uninterrupted run: same metrics after the checkpoint, same schedule state.

IoUs come from the completion text (``tests.trl_support.pseudo_ious``), so the schedule's state
records what was generated: a resumed policy with other weights (transformers' resume of
Qwen2-VL checkpoints, huggingface/transformers#43701) or rows in another order (TRL's sampler
in a later epoch) would show up here.
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

import medloc.curriculum
from medloc.app.cli import main
from tests.trl_support import pseudo_ious

pytestmark = pytest.mark.slow

STATE_KEY = "medloc:iou_curriculum"
TIMING = {"step_time", "train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss"}
# pseudo IoUs are spread over [0, 1]: rewards vary within groups from the first step (so the
# policy learns before the checkpoint) and tau rises whenever the last 2 steps clear a hit rate of 0.3
RISING = ["--schedule", "adaptive", "--start", "0.3", "--window", "2", "--schedule-option", "min_hit_rate=[[0, 0.3]]",
          "--schedule-option", "max_reward_std=[[0, 0.6]]", "--schedule-option", "min_margin=0.0"]
# 4 training rows, 2 per step: the resume at step 3 lands in the second epoch; a high learning
# rate makes the policy's samples depend on its weights within a few steps
RUN = [*RISING, "--no-warm-start", "--max-steps", "6", "--grpo", "save_steps=3", "--train-rows", "4",
       "--prompts-per-step", "2", "--num-generations", "4", "--heldout-rows", "2", "--eval-every", "0",
       "--max-completion-length", "8", "--learning-rate", "0.05", "--quiet"]


def train(output_dir, *extra):
    result = CliRunner().invoke(main, ["train", *RUN, "--output-dir", str(output_dir), *extra])
    assert result.exit_code == 0, result.output + repr(result.exception)


def schedule_state(checkpoint):
    return json.loads((checkpoint / "trainer_state.json").read_text())["stateful_callbacks"][STATE_KEY]


def step_metrics(run):
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {line["step"]: {k: v for k, v in line.items() if k not in TIMING} for line in lines
            if "train_runtime" not in line}


def test_resumed_run_reaches_the_uninterrupted_runs_schedule_state(tmp_path, monkeypatch):
    monkeypatch.setattr(medloc.curriculum, "ious_from_columns", lambda completions, frame, columns: pseudo_ious(completions, columns))
    uninterrupted, resumed = tmp_path / "uninterrupted", tmp_path / "resumed"
    train(uninterrupted)
    shutil.copytree(uninterrupted / "checkpoint-3", resumed / "checkpoint-3")  # as if killed after step 3
    train(resumed, "--resume")

    expected = schedule_state(uninterrupted / "checkpoint-6")
    assert expected["threshold"] > 0.0  # tau rose, so the state is not the trivial one
    assert schedule_state(resumed / "checkpoint-6") == expected
    before, after = step_metrics(uninterrupted), step_metrics(resumed)
    assert sorted(after) == [4, 5, 6]
    assert {step: before[step] for step in after} == after  # every logged number, e.g. loss, kl, mean IoU
