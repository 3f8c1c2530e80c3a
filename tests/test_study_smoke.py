"""A short smoke run of the schedule study (the real study is a benchmark, not a test)."""

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
