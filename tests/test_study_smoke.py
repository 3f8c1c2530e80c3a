"""A short smoke run of the schedule study (the real study is a benchmark, not a test)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_study_runs_arms_and_writes_tables(tmp_path):
    command = [
        sys.executable, str(ROOT / "experiments" / "compare_schedules.py"),
        "--arms", "fixed-0.5", "soft-iou", "quick=informative:window=1", "--seeds", "0", "--difficulty", "easy",
        "--max-steps", "2", "--eval-every", "1", "--heldout-rows", "4", "--jobs", "1", "--early", "2",
        "--set", "warm_start=false", "prompts_per_step=2", "num_generations=2", "max_completion_length=6",
        "--work-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results"), "--name", "smoke",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "results" / "smoke.jsonl").read_text().splitlines()]
    assert sorted(r["arm"] for r in records) == ["fixed-0.5", "quick", "soft-iou"]
    assert all(r["steps"] == 2 and [step for step, _ in r["heldout_history"]] == [0, 1, 2] for r in records)
    table = (tmp_path / "results" / "smoke.md").read_text()
    assert "| fixed-0.5 | 1 |" in table and "| soft-iou | 1 |" in table
    # a second call finds every run done and only reports
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert again.returncode == 0 and "[1/" not in again.stdout


def load_study_script():
    spec = importlib.util.spec_from_file_location("compare_schedules", ROOT / "experiments" / "compare_schedules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_condition_table_marks_a_condition_that_is_off():
    study = load_study_script()
    cells = {"n": 1, **{m: "0.500+-0.000" for m in study.METRICS}, "dmIoU": "0.1+-0", "vs_reference": "0+-0",
             "early_zero_variance_share": "0.2+-0", "tau_reached": {}}
    table = {"easy": {
        "adaptive": {**cells, "conditions_held": {"density": 1.0, "hit_rate": 0.65, "margin": 0.01, "reward_std": 1.0}},
        "adaptive-no-guard": {**cells, "conditions_held": {"hit_rate": 0.5, "margin": 0.02, "reward_std": 0.9}},
    }}
    start = {"A@0.5": 0.5, "A@0.8": 0.0, "mIoU": 0.4}
    text = study.markdown(table, [{"difficulty": "easy", "start": start}])
    assert "| arm | density | hit_rate | margin | reward_std |" in text
    assert "| adaptive-no-guard | - | 0.50 | 0.02 | 0.90 |" in text
