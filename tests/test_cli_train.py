"""``medloc train`` end to end on the built-in model (warm start off, so it takes seconds)."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
import time
import urllib.request

import pytest
from click.testing import CliRunner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from medloc.app.cli import main
from tests.trl_support import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("run")
    result = CliRunner().invoke(
        main,
        [
            "train", "--schedule", "adaptive", "--window", "1", "--no-warm-start", "--max-steps", "3",
            "--prompts-per-step", "2", "--num-generations", "4", "--heldout-rows", "4", "--eval-every", "2",
            "--max-completion-length", "8", "--output-dir", str(output_dir), "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return output_dir, result.output


def test_summary_is_printed_and_written(short_run):
    output_dir, output = short_run
    assert "medloc train finished: 3 GRPO steps" in output
    assert "threshold: 0.30 -> 0.30, never raised" in output
    assert "held-out (4 rows)    A@0.5   A@0.8    mIoU  pseudo-mAP  valid" in output
    assert "before GRPO" in output and "after GRPO" in output
    assert len(output.splitlines()) <= 12  # --quiet: the summary only, no progress, no metrics dicts
    records = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records if "medloc/threshold" in record] == [1, 2, 3]
    assert f"tensorboard --logdir {output_dir / 'tensorboard'}" in output
    summary = json.loads((output_dir / "summary.json").read_text())
    assert summary["steps"] == 3
    assert summary["start_threshold"] == 0.3
    assert [step for step, _ in summary["threshold_trajectory"]] == [0, 1, 2, 3]
    assert [step for step, _ in summary["heldout_history"]] == [0, 2, 3]  # 0: the starting model
    assert set(summary["heldout"]) >= {"A@0.5", "A@0.8", "pseudo_mAP", "mIoU", "format_valid_rate", "n"}
    assert (output_dir / "final_model" / "config.json").is_file()
    assert summary["seed"] == 0 and summary["settings"]["max_steps"] == 3
    assert summary["schedule_options"]["window"] == 1 and summary["schedule_options"]["min_margin"] == 0.05
    assert summary["grpo_seconds"] <= summary["seconds"] and summary["warm_start"] is None
    assert set(summary["versions"]) >= {"medloc", "torch", "transformers", "trl"}
    assert "time:" in output and "GRPO" in output


def test_the_run_writes_medlocs_model_card_not_trls(short_run):
    output_dir, _ = short_run
    cards = [(output_dir / "README.md").read_text(), (output_dir / "final_model" / "README.md").read_text()]
    assert cards[0] == cards[1]
    assert "`adaptive` (`start=0.3`" in cards[0] and "| seed | 0 |" in cards[0] and "In progress" not in cards[0]
    assert "huggingface.co/None" not in cards[0] and "licence" not in cards[0]


def test_tensorboard_holds_curriculum_rewards_and_heldout_metrics(short_run):
    output_dir, _ = short_run
    accumulator = EventAccumulator(str(output_dir / "tensorboard"))
    accumulator.Reload()
    tags = set(accumulator.Tags()["scalars"])
    assert {"train/medloc/threshold", "train/medloc/hit_rate", "train/medloc/zero_variance_share",
            "train/reward"} <= tags
    assert not any(tag.startswith("medloc/") for tag in tags)  # one series per metric, TRL's
    assert {"heldout/A@0.5", "heldout/A@0.8", "heldout/pseudo_mAP", "heldout/mIoU"} <= tags
    assert [event.step for event in accumulator.Scalars("train/medloc/threshold")] == [1, 2, 3]
    assert len(list((output_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1  # one writer per run


def test_tensorboard_server_serves_the_threshold_series(short_run):
    output_dir, _ = short_run
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(output_dir / "tensorboard"), "--host", "127.0.0.1",
         "--port", str(port), "--load_fast", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars?run=.&tag=train/medloc/threshold"
        deadline, series = time.time() + 90, None
        while time.time() < deadline and series is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    series = json.loads(response.read())
            except (OSError, ValueError):
                time.sleep(1)
        assert series is not None, "tensorboard did not answer on loopback within 90 s"
        assert [point[1] for point in series] == [1, 2, 3]
        assert series[0][2] == pytest.approx(0.3)
        assert all(0.3 <= point[2] <= 0.8 for point in series)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_eval_command_scores_the_saved_model(short_run, tmp_path):
    output_dir, _ = short_run
    report = tmp_path / "eval.json"
    result = CliRunner().invoke(
        main, ["eval", "--model", str(output_dir / "final_model"), "--rows", "3", "--max-new-tokens", "8",
               "--json", str(report)],
    )
    assert result.exit_code == 0, result.output
    assert "pseudo-mAP" in result.output and "format-valid rate" in result.output
    payload = json.loads(report.read_text())
    assert payload["metrics"]["n"] == 3 and len(payload["rows"]) == 3
    assert payload["frame"] == "grid-100"


@pytest.mark.parametrize("via", ["format", "jsonl"])
def test_train_reads_a_real_dataset_format_or_its_unified_jsonl(tmp_path, via):
    from tests import data_fixtures

    root = data_fixtures.tn3k(tmp_path / "TN3K")
    if via == "format":
        data = ["--data", "tn3k", "--data-root", str(root), "--data-option", "split=trainval"]
    else:
        rows = tmp_path / "tn3k.jsonl"
        converted = CliRunner().invoke(main, ["data", "convert", "--format", "tn3k", "--root", str(root),
                                              "--split", "trainval", "--out", str(rows)])
        assert converted.exit_code == 0, converted.output
        data = ["--data", str(rows)]
    result = CliRunner().invoke(
        main,
        ["train", *data, "--no-warm-start", "--max-steps", "1", "--prompts-per-step", "1", "--num-generations",
         "2", "--heldout-rows", "1", "--eval-every", "0", "--max-completion-length", "4",
         "--output-dir", str(tmp_path / "run"), "--quiet"],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["heldout"]["n"] == 1
    assert summary["data_report"]["rows"] == 2


def test_the_built_in_model_warm_starts_on_the_datasets_training_rows(tmp_path):
    from grounding_data.synthetic import generate_split
    from medloc.app.model_setup import warm_start_config
    from medloc.app.run_data import load_data
    from medloc.app.settings import TrainSettings
    from medloc.tasks import get_task

    rows = tmp_path / "rows.jsonl"
    with rows.open("w") as file:
        for row in generate_split("train", 8, seed=5):
            row["image"].save(tmp_path / f"{row['id']}.png")
            row.pop("attribute")  # the unified jsonl's columns only
            file.write(json.dumps({**row, "image": str(tmp_path / f"{row['id']}.png")}) + "\n")
    command = ["train", "--data", str(rows), "--warm-start-steps", "1", "--cache-dir", str(tmp_path / "cache"),
               "--max-steps", "1", "--prompts-per-step", "1", "--num-generations", "2", "--eval-every", "0",
               "--max-completion-length", "4"]
    result = CliRunner().invoke(main, [*command, "--heldout-rows", "2", "--output-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "Warm start of the built-in model on 4 of your rows" in result.output  # 6 training rows, 2 probe them
    settings = TrainSettings(data=str(rows), heldout_rows=2, warm_start_steps=1)
    train, heldout = load_data(settings, get_task("grounding"))[:2]
    assert len(train) == 6 and {r["id"] for r in train}.isdisjoint(r["id"] for r in heldout)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert Path(summary["warm_start"]["folder"]).name == warm_start_config(settings, train).key(0)
    assert summary["warm_start"]["rows"] == 6
    assert "warm-started (supervised) on 6 of the dataset's training rows" in (tmp_path / "run" / "README.md").read_text()

    refused = CliRunner().invoke(main, [*command, "--heldout-rows", "2", "--train-rows", "3",
                                        "--output-dir", str(tmp_path / "few")])
    assert refused.exit_code != 0
    assert "--data: " in refused.output and "needs at least 4, got 3" in refused.output


def test_train_reports_a_bad_dataset_row_before_any_model_is_built(tmp_path, monkeypatch):
    import medloc.app.training

    def forbidden(*args, **kwargs):
        raise AssertionError("the model (and its warm start) came before the data check")

    monkeypatch.setattr(medloc.app.training, "prepare_model", forbidden)
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"image": "missing.png", "phrase": "x", "boxes": [[0, 0, 5, 5]], "width": 10, "height": 10,'
                    ' "source": "test", "id": "a"}\n')
    result = CliRunner().invoke(main, ["train", "--data", str(rows), "--max-steps", "1",
                                       "--output-dir", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code != 0
    assert "rows.jsonl" in result.output and "line 1" in result.output


def test_the_run_announces_the_built_in_model_schedule_defaults(tmp_path):
    arguments = ["train", "--schedule", "adaptive", "--no-warm-start", "--max-steps", "1", "--prompts-per-step", "1",
                 "--num-generations", "2", "--heldout-rows", "2", "--eval-every", "0", "--max-completion-length", "4",
                 "--output-dir", str(tmp_path / "run")]
    announced = CliRunner().invoke(main, arguments)
    assert announced.exit_code == 0, announced.output
    assert ("Schedule 'adaptive' with the built-in model's min_margin 0.05 (minimum margin of the window's scores over "
            "tau for a raise (Delta; see --schedule-option margin_estimate)); --min-margin to change") in announced.output
    given = CliRunner().invoke(main, [*arguments, "--min-margin", "0.1", "--output-dir", str(tmp_path / "given")])
    assert given.exit_code == 0, given.output
    assert "built-in model's" not in given.output
