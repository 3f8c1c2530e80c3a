"""A resumed ``medloc train`` is the uninterrupted run: same metrics after the checkpoint, same schedule state.

The run is cut as a crash would leave it: the last complete checkpoint, a newer checkpoint folder
whose save did not finish (no ``trainer_state.json``), and ``metrics.jsonl`` lines logged after the
checkpoint, the last one cut mid-write. Grounding is scored with IoUs derived from the completion
text (``tests.trl_support.pseudo_ious``), so the schedule's state records what was generated: a
resumed policy with other weights (transformers' resume of Qwen2-VL checkpoints,
huggingface/transformers#43701) or rows in another order (TRL's sampler in a later epoch) would
show up here.
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from medloc.app.cli import main
from tests.trl_support import RISING, pseudo_ious

pytestmark = pytest.mark.slow

STATE_KEY = "medloc:iou_curriculum"
TIMING = {"step_time", "train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss"}
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
    return [(line["step"], {k: v for k, v in line.items() if k not in TIMING}) for line in lines
            if "train_runtime" not in line]


def test_a_run_resumed_after_a_crash_is_the_uninterrupted_run(tmp_path, scored_grounding, caplog):
    scored_grounding(pseudo_ious)
    uninterrupted, resumed = tmp_path / "uninterrupted", tmp_path / "resumed"
    train(uninterrupted)
    shutil.copytree(uninterrupted / "checkpoint-3", resumed / "checkpoint-3")  # the last complete save
    (resumed / "checkpoint-5").mkdir()  # a save cut short: no trainer_state.json
    logged = (uninterrupted / "metrics.jsonl").read_text().splitlines(keepends=True)
    (resumed / "metrics.jsonl").write_text("".join(logged[:5]) + logged[5][:20])  # steps 1-5, the last cut
    with caplog.at_level("WARNING", logger="medloc.checkpoints"):
        train(resumed, "--resume")

    assert "Skipping" in caplog.text and "checkpoint-5" in caplog.text
    expected = schedule_state(uninterrupted / "checkpoint-6")
    assert expected["threshold"] > 0.0  # tau rose, so the state is not the trivial one
    assert schedule_state(resumed / "checkpoint-6") == expected
    assert step_metrics(resumed) == step_metrics(uninterrupted)  # steps 1-3 kept, 4-6 redone, each once
    summary = json.loads((resumed / "summary.json").read_text())
    whole = json.loads((uninterrupted / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["resumed_from_step"] == 3 and whole["resumed_from_step"] is None
    # the summary of the resumed run describes the whole run, from step 0 (kept in the checkpoint)
    assert summary["threshold_trajectory"] == whole["threshold_trajectory"]
    assert [step for step, _ in summary["threshold_trajectory"]] == list(range(7))
    assert summary["raises"] == whole["raises"] and summary["start_threshold"] == whole["start_threshold"]
    assert summary["heldout_history"] == whole["heldout_history"]
    assert [step for step, _ in summary["heldout_history"]] == [0, 6]
