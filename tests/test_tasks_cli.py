"""``medloc train --task vqa|grade`` and ``medloc eval --task``: settings errors, then short real runs
(the perception-then-reasoning recipe: a grounding run, then a grade run on its model)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from medloc.app.cli import main

SHORT = ["--no-warm-start", "--max-steps", "2", "--prompts-per-step", "2", "--num-generations", "4",
         "--heldout-rows", "6", "--eval-every", "1", "--max-completion-length", "8", "--quiet"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--task", "quiz"], "Invalid value for '--task'"),
        (["--task", "vqa", "--data", "tn3k"],
         "--data: --task vqa reads 'synthetic' or a vqa format (med-r1, omnimedvqa), got 'tn3k' (a grounding format)"),
        (["--task", "grade", "--data", "med-r1", "--data-root", "."],
         "--data: --task grade reads 'synthetic' or a grade format (graded-jsonl), got 'med-r1' (a vqa format)"),
        (["--task", "vqa", "--data", "omnimedvqa"], "--data-root: dataset format 'omnimedvqa' needs the dataset"),
        (["--task", "vqa", "--data", "med-r1", "--data-root", "no/such/Splits"], "--data-root: no/such/Splits"),
        (["--task", "grade", "--class-descriptions", "missing.yaml"], "--class-descriptions: cannot read missing.yaml"),
        (["--class-descriptions", "grades.yaml"], "--class-descriptions: prior knowledge is for --task vqa or --task"),
        (["--task", "grade", "--schedule", "fixed", "--window", "3"], "--window: unknown option(s) 'window'"),
    ],
)
def test_invalid_task_settings_fail_before_any_model_is_built(arguments, message, monkeypatch):
    import medloc.app.training

    monkeypatch.setattr(medloc.app.training, "prepare_model", lambda *a, **k: pytest.fail("a model was prepared"))
    result = CliRunner().invoke(main, ["train", *arguments])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_bad_question_row_is_reported_with_file_and_item(tmp_path, monkeypatch):
    import medloc.app.training

    monkeypatch.setattr(medloc.app.training, "prepare_model", lambda *a, **k: pytest.fail("a model was prepared"))
    split = tmp_path / "X-Ray_train.json"
    split.write_text(json.dumps([{"image": "a.png", "problem": "Q? A)yes, B)no", "solution": "<answer> A </answer>"}]))
    result = CliRunner().invoke(main, ["train", "--task", "vqa", "--data", "med-r1", "--data-root", str(split),
                                       "--output-dir", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    assert f"Error: {split}, item 1: missing image: no file {tmp_path / 'a.png'}" in result.output


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """A vqa run; and the recipe's two calls: grounding, then grade on the same model (with prior knowledge)."""
    root = tmp_path_factory.mktemp("recipe")
    descriptions = root / "sizes.yaml"
    descriptions.write_text("'0': the lesion spans less than 19 pixels\n'3': the lesion spans more than 33 pixels\n")
    runs = {
        "vqa": ["--task", "vqa"],
        "boxes": ["--task", "grounding", "--heldout-rows", "2", "--eval-every", "0"],
        "grade": ["--task", "grade", "--model", str(root / "boxes" / "final_model"), "--schedule", "adaptive",
                  "--window", "1", "--class-descriptions", str(descriptions)],
    }
    outputs = {}
    for name, arguments in runs.items():
        result = CliRunner().invoke(main, ["train", *SHORT, *arguments, "--output-dir", str(root / name)])
        assert result.exit_code == 0, result.output + repr(result.exception)
        outputs[name] = result.output
    return root, outputs["vqa"], outputs["grade"]


@pytest.mark.slow
def test_vqa_run_reports_accuracy_per_modality_and_question_type(recipe):
    root, output, _ = recipe
    assert "medloc train finished: 2 GRPO steps" in output and "task 'vqa'" in output
    for line in ("held-out (6 rows)    accuracy  valid", "before GRPO", "after GRPO",
                 "modality: synthetic", "question type: brightness",
                 "question type: count", "question type: quadrant"):
        assert line in output
    summary = json.loads((root / "vqa" / "summary.json").read_text())
    assert summary["task"] == "vqa" and summary["schedule"] is None and summary["steps"] == 2
    assert [step for step, _ in summary["heldout_history"]] == [0, 1, 2]
    assert set(summary["heldout"]) == {"accuracy", "valid_rate", "n", "top_answer_share"}
    assert json.loads((root / "vqa" / "final_model" / "medloc.json").read_text())["task"] == "vqa"
    accumulator = EventAccumulator(str(root / "vqa" / "tensorboard"))
    accumulator.Reload()
    assert {"heldout/accuracy", "heldout/valid_rate", "train/rewards/choice_reward/mean"} <= set(
        accumulator.Tags()["scalars"])


@pytest.mark.slow
def test_grade_run_on_the_grounding_model_drives_the_tolerance_with_the_schedule(recipe):
    root, _, output = recipe
    assert "task 'grade', schedule 'adaptive'" in output
    assert json.loads((root / "boxes" / "final_model" / "medloc.json").read_text())["frame"] == "grid-100"
    assert "threshold: 0.30 -> " in output and "(tolerance 2.10 -> " in output
    summary = json.loads((root / "grade" / "summary.json").read_text())
    assert summary["threshold_note"].startswith(" (tolerance 2.10 -> ") and summary["start_threshold"] == 0.3
    assert set(summary["heldout"]) == {"accuracy", "within_1", "mae", "valid_rate", "n", "top_answer_share"}
    info = json.loads((root / "grade" / "final_model" / "medloc.json").read_text())
    assert info["task"] == "grade" and info["class_descriptions"].endswith("sizes.yaml")
    accumulator = EventAccumulator(str(root / "grade" / "tensorboard"))
    accumulator.Reload()
    tags = set(accumulator.Tags()["scalars"])
    assert {"train/medloc/threshold", "train/medloc/mean_grade_closeness", "heldout/within_1", "heldout/mae"} <= tags


@pytest.mark.slow
def test_eval_uses_the_recorded_task_and_writes_per_group_json(recipe, tmp_path):
    root, _, _ = recipe
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(main, ["eval", "--model", str(root / "vqa" / "final_model"), "--rows", "3",
                                       "--max-new-tokens", "6", "--json", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "on 3 vqa rows of synthetic" in result.output
    assert "question type: quadrant" in result.output
    payload = json.loads(out.read_text())
    assert payload["task"] == "vqa" and payload["metrics"]["n"] == 3
    assert set(payload["by_question_type"]) == {"quadrant", "count", "brightness"}
    assert len(payload["rows"]) == 3
    grade = CliRunner().invoke(main, ["eval", "--model", str(root / "vqa" / "final_model"), "--task", "grade",
                                      "--rows", "2", "--max-new-tokens", "4"])
    assert grade.exit_code == 0, grade.output
    assert "within_1" in grade.output and "question type: size grade" in grade.output
