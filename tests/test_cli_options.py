"""``medloc train`` settings: config files, flag precedence and errors before any model is built."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from medloc.app.cli import main
from medloc.app.key_values import parse_key_values
from medloc.app.settings import SettingsError, TrainSettings, read_config_file
from medloc.curriculum import IoUCurriculum


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--schedule", "bogus"],
         "--schedule: unknown schedule 'bogus'; available: fixed, linear, cosine, progress, adaptive, informative"),
        (["--reward", "dense"], "--reward: must be one of binary, soft-iou for --task grounding, got 'dense'"),
        (["--vision-lr-scale", "-0.5"], "--vision-lr-scale: must be a number >= 0, got -0.5"),
        (["--schedule", "fixed", "--window", "3"], "--window: unknown option(s) 'window' for schedule 'fixed'"),
        (["--schedule", "fixed", "--threshold", "1.5"], "--threshold: fixed: option 'threshold' must be in [0, 1]"),
        (["--start", "0.9", "--target", "0.5"], "--start: adaptive: option 'start' (0.9) must not exceed"),
        (["--window", "0"], "--window: adaptive: option 'window' must be an integer >= 1"),
        (["--schedule-option", "foo=1"], "--schedule-option foo: unknown option(s) 'foo'"),
        (["--schedule-option", "nonsense"], "--schedule-option: expected KEY=VALUE, got 'nonsense'"),
        (["--max-steps", "0"], "--max-steps: must be an integer >= 1, got 0"),
        (["--num-generations", "1"], "--num-generations: GRPO needs at least 2 completions per prompt"),
        (["--learning-rate", "-1"], "--learning-rate: must be a number > 0"),
        (["--frame", "grid-abc"], "--frame:"),
        (["--difficulty", "insane"], "Invalid value for '--difficulty'"),
        (["--data", "missing.jsonl"], "--data: --task grounding reads 'synthetic', an existing unified jsonl file or a "
                                      "grounding format (ham10000, tn3k"),
        (["--data", "tn3k"], "--data-root: dataset format 'tn3k' needs the dataset folder"),
        (["--model", "./no/such/model"], "--model: ./no/such/model is not a folder with a saved model"),
        (["--grpo", "betta=0.1"], "--grpo: GRPOConfig has no option 'betta'; did you mean 'beta'?"),
        (["--grpo", "scale_rewards=banana"], "--grpo: scale_rewards must be group, batch or none"),
        (["--grpo", "per_device_train_batch_size=3"], "must be divisible by num_generations"),
    ],
)
def test_invalid_settings_fail_before_any_model_is_built(arguments, message, monkeypatch):
    import medloc.app.training

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was about to be prepared")

    monkeypatch.setattr(medloc.app.training, "prepare_model", forbidden)
    result = CliRunner().invoke(main, ["train", *arguments])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_config_file_is_overridden_by_flags(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("schedule: fixed\nschedule_options: {threshold: 0.4}\nmax_steps: 7\ngrpo: {beta: 0.04}\n")
    settings = TrainSettings.from_sources(read_config_file(config), {"max_steps": 9, "grpo": {"top_k": 5}})
    assert settings.schedule == "fixed"
    assert settings.schedule_options == {"threshold": 0.4}
    assert settings.max_steps == 9
    assert settings.grpo == {"beta": 0.04, "top_k": 5}
    settings.validate()


def test_builtin_vqa_runs_its_measured_grpo_defaults_unless_given(tmp_path):
    vqa = TrainSettings.from_sources(flags={"task": "vqa"})
    assert (vqa.prompts_per_step, vqa.learning_rate, vqa.max_steps) == (16, 3e-4, 300)
    config = tmp_path / "run.yaml"
    config.write_text("task: vqa\nlearning_rate: 0.0001\n")
    given = TrainSettings.from_sources(read_config_file(config), {"max_steps": 20})
    assert (given.prompts_per_step, given.learning_rate, given.max_steps) == (16, 1e-4, 20)
    for other in ({"task": "grade"}, {"task": "grounding"}, {"task": "vqa", "model": "Qwen/Qwen2-VL-2B-Instruct"}):
        settings = TrainSettings.from_sources(flags=other)
        assert (settings.prompts_per_step, settings.learning_rate, settings.max_steps) == (4, 1e-4, 200), other


def test_json_config_and_unknown_keys(tmp_path):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"schedule": "linear", "max_step": 3}))
    with pytest.raises(SettingsError, match="--config: unknown setting 'max_step'; did you mean 'max_steps'"):
        TrainSettings.from_sources(read_config_file(config))


def test_config_file_errors_name_the_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("schedule: [unclosed\n")
    with pytest.raises(SettingsError, match="broken.yaml is not valid YAML"):
        read_config_file(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(SettingsError, match="must hold a mapping of settings, got list"):
        read_config_file(listing)
    result = CliRunner().invoke(main, ["train", "--config", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2 and "--config: cannot read" in result.output


def test_key_value_parsing_reads_yaml_scalars():
    assert parse_key_values("--schedule-option", ["min_hit_rate=[[0, 0.8], [0.6, 0.7]]", "density_guard=false"]) == {
        "min_hit_rate": [[0, 0.8], [0.6, 0.7]],
        "density_guard": False,
    }


def test_key_value_parsing_reads_exponent_numbers_as_numbers():
    # YAML 1.1 reads 1e-4 as a string; GRPOConfig would then reject a learning rate given this way
    assert parse_key_values("--grpo", ["learning_rate=1e-4", "run_name=1e3x"]) == {
        "learning_rate": 0.0001, "run_name": "1e3x"}


@pytest.mark.parametrize("schedule", ["linear", "cosine", "progress"])
def test_time_based_schedules_need_no_step_budget_on_the_command_line(schedule):
    settings = TrainSettings(schedule=schedule, max_steps=40).validate()
    assert settings.schedule_options == {}  # the run's length fills total_steps in, not the settings
    curriculum = IoUCurriculum(settings.schedule, **settings.schedule_options)
    curriculum.fit_to_run(SimpleNamespace(), settings.max_steps)
    assert curriculum.schedule.total_steps == 40


def test_reward_setting_is_checked():
    with pytest.raises(SettingsError, match="--reward: must be one of binary, soft-iou for --task grounding, got 'de"):
        TrainSettings(reward="dense").validate()
    with pytest.raises(SettingsError, match="--reward: must be one of binary for --task vqa, got 'soft-iou'"):
        TrainSettings(task="vqa", reward="soft-iou").validate()
    with pytest.raises(SettingsError, match="--reward: must be one of binary, soft-iou for --task grounding, got 'fuzzy'"):
        TrainSettings(reward="fuzzy").validate()
    assert TrainSettings(task="grade", reward="fuzzy").validate().reward == "fuzzy"


def test_help_lists_the_commands_without_importing_torch():
    import subprocess
    import sys

    code = "import sys; from medloc.app.cli import main; import click; print('torch' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"
    result = CliRunner().invoke(main, ["--help"])
    assert all(command in result.output for command in ("train", "eval", "data"))


def test_difficulty_must_be_a_known_preset():
    with pytest.raises(SettingsError, match="--difficulty: must be one of easy, standard, distractors, large, got 'insane'"):
        TrainSettings(difficulty="insane").validate()


@pytest.mark.parametrize(
    ("fields", "expected_margin"),
    [
        ({}, 0.05),  # the built-in model's default
        ({"schedule_options": {"min_margin": 0.2}}, 0.2),  # a flag wins
        ({"model": "Qwen/Qwen2.5-VL-3B-Instruct"}, 0.0),  # other models: the schedule's own default
    ],
)
def test_adaptive_margin_default_depends_on_the_model(fields, expected_margin):
    settings = TrainSettings(schedule="adaptive", **fields)
    curriculum = IoUCurriculum(settings.schedule, **settings.run_schedule_options())
    assert curriculum.schedule.min_margin == pytest.approx(expected_margin)


def test_builtin_schedule_defaults_apply_to_grounding_adaptive_runs_only():
    assert TrainSettings(schedule="fixed").run_schedule_options() == {}
    assert TrainSettings(schedule="adaptive", task="grade").run_schedule_options() == {}
