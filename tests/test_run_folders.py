"""Runs never overwrite each other: a folder per run, an occupied ``--output-dir`` refused unless resumed or
replaced, ``--resume`` continuing a run with its recorded settings; the warm-start cache follows XDG."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import medloc.app.model_setup
from medloc.app.cli import main
from medloc.app.cli.train_cmd import _settings
from medloc.app.run_files import check_output_dir, new_run_dir, newest_run_dir
from medloc.app.settings import SettingsError, TrainSettings

TINY = ["--no-warm-start", "--max-steps", "2", "--prompts-per-step", "1", "--num-generations", "2",
        "--heldout-rows", "2", "--eval-every", "0", "--max-completion-length", "4", "--quiet"]


def forbid_models(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a model was about to be prepared")

    monkeypatch.setattr("medloc.app.training.prepare_model", forbidden)


def test_each_run_gets_a_new_folder_named_by_time_task_and_schedule(tmp_path):
    start = datetime.datetime(2026, 12, 2, 8, 30, 15)
    first = new_run_dir("grounding", "adaptive", tmp_path, start)
    assert first == tmp_path / "20261202-083015-grounding-adaptive"
    first.mkdir()
    assert new_run_dir("grounding", "adaptive", tmp_path, start).name == "20261202-083015-grounding-adaptive-2"
    assert new_run_dir("vqa", None, tmp_path, start).name == "20261202-083015-vqa"


def test_an_occupied_output_dir_is_refused_before_any_model_is_built(tmp_path, monkeypatch):
    forbid_models(monkeypatch)
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text("{}")
    result = CliRunner().invoke(main, ["train", *TINY, "--output-dir", str(run)])
    assert result.exit_code == 2
    assert (f"--output-dir: {run} already holds summary.json; give a new folder, --resume to continue that run, "
            "or --overwrite-output-dir to replace it") in " ".join(result.output.split())
    assert (run / "summary.json").read_text() == "{}"


def test_overwrite_removes_what_a_run_wrote_and_nothing_else(tmp_path):
    run = tmp_path / "run"
    for folder in ("checkpoint-3", "final_model", "tensorboard", "untrained_model"):
        (run / folder).mkdir(parents=True)
    for name in ("summary.json", "metrics.jsonl", "settings.json", "README.md", "notes.txt"):
        (run / name).write_text("x")
    check_output_dir(run, overwrite=True)
    assert sorted(path.name for path in run.iterdir()) == ["notes.txt"]


def test_resume_needs_a_checkpoint_and_excludes_overwrite(tmp_path):
    with pytest.raises(SettingsError, match="--resume: .* holds no checkpoint to continue from"):
        check_output_dir(tmp_path, resume=True)
    with pytest.raises(SettingsError, match="--overwrite-output-dir: cannot be combined with --resume"):
        check_output_dir(tmp_path, resume=True, overwrite=True)


def test_resume_continues_the_newest_run_with_its_recorded_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, steps in (("20261202-083015-grounding-fixed", 50), ("20261202-093015-grounding-adaptive", 80)):
        Path("medloc-runs", name).mkdir(parents=True)
        Path("medloc-runs", name, "settings.json").write_text(json.dumps({"schedule": name.rsplit("-", 1)[1],
                                                                          "max_steps": steps, "seed": 3}))
    assert newest_run_dir("medloc-runs").name == "20261202-093015-grounding-adaptive"
    flags = {"seed": 4, "output_dir": None, "schedule_option": (), "data_option": (), "grpo_option": (),
             **{name: None for name in ("threshold", "start", "target", "total_steps", "window", "increment",
                                        "min_margin", "refresh_fraction", "density_guard")}}
    settings = _settings(dict(flags), None, resume=True)
    assert (settings.output_dir, settings.schedule, settings.max_steps, settings.seed) == (
        str(Path("medloc-runs", "20261202-093015-grounding-adaptive")), "adaptive", 80, 4)  # a flag still wins


def test_the_warm_start_cache_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert TrainSettings().warm_start_cache() == tmp_path / "xdg" / "medloc"
    assert TrainSettings(cache_dir=str(tmp_path / "mine")).warm_start_cache() == tmp_path / "mine"
    used = []

    def fake_warm_start(cache, config, seed, progress, keep_stalled, rows=None):
        used.append(Path(cache))
        raise RuntimeError("stop here")

    monkeypatch.setattr(medloc.app.model_setup, "warm_start", fake_warm_start)
    with pytest.raises(RuntimeError, match="stop here"):
        medloc.app.model_setup.prepare_model(TrainSettings(output_dir=str(tmp_path / "run")), progress=False)
    assert used == [tmp_path / "xdg" / "medloc" / "warmstart"]


@pytest.mark.slow
def test_runs_in_any_order_keep_each_other(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for arguments in (["--schedule", "adaptive"], ["--task", "vqa"], ["--schedule", "adaptive"]):
        result = CliRunner().invoke(main, ["train", *TINY, *arguments])
        assert result.exit_code == 0, result.output + repr(result.exception)
    runs = sorted(Path("medloc-runs").iterdir())
    assert len(runs) == 3 and sum("-vqa" in run.name for run in runs) == 1
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        assert summary["output_dir"] == str(run) and summary["task"] == ("vqa" if "-vqa" in run.name else "grounding")
        assert (run / "final_model" / "config.json").is_file()
        assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 1  # one TensorBoard run per folder
    resumed = CliRunner().invoke(main, ["train", "--resume", "--quiet"])  # the newest run, its own settings
    assert resumed.exit_code == 0, resumed.output
    assert f"run folder: {runs[-1]}" in resumed.output and "(resumed at step 2)" in resumed.output
