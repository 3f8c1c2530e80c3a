"""A ``medloc train`` killed with SIGKILL mid-training resumes from its last checkpoint's schedule state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import medloc.curriculum
from medloc.checkpoints import find_resume_checkpoint
from medloc.app.cli import main
from tests.test_train_resume import RISING
from tests.trl_support import pseudo_ious

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
STATE_KEY = "medloc:iou_curriculum"
RUN = [*RISING, "--no-warm-start", "--train-rows", "4", "--prompts-per-step", "2", "--num-generations", "4",
       "--heldout-rows", "2", "--eval-every", "0", "--max-completion-length", "8", "--grpo", "save_steps=1", "--quiet"]


def killed_run(output_dir: Path, after_checkpoint: int) -> None:
    """Start a 100-step run saving every step; SIGKILL it once checkpoint ``after_checkpoint`` is complete."""
    log = (output_dir.parent / "killed.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "tests/pseudo_train.py", "train", *RUN, "--max-steps", "100", "--output-dir", str(output_dir)],
        cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 240
    try:
        while not (output_dir / f"checkpoint-{after_checkpoint}" / "trainer_state.json").is_file():
            assert process.poll() is None, (output_dir.parent / "killed.log").read_text()[-3000:]
            assert time.time() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        log.close()
    assert process.returncode == -signal.SIGKILL


def test_killed_run_resumes_with_the_schedule_state_of_its_last_checkpoint(tmp_path, monkeypatch):
    output_dir = tmp_path / "run"
    killed_run(output_dir, after_checkpoint=3)
    checkpoint = find_resume_checkpoint(output_dir)  # the newest complete one; a save cut short is skipped
    step = int(checkpoint.name.split("-")[1])
    saved = json.loads((checkpoint / "trainer_state.json").read_text())["stateful_callbacks"][STATE_KEY]
    assert step >= 3 and saved["steps_taken"] == step

    monkeypatch.setattr(medloc.curriculum, "ious_from_columns", lambda completions, frame, columns: pseudo_ious(completions, columns))
    restored = {}
    begin = medloc.curriculum.ThresholdCurriculum.on_train_begin

    def record(self, args, state, control, **kwargs):
        begin(self, args, state, control, **kwargs)
        restored.update(step=state.global_step, schedule=self.schedule.state_dict())

    monkeypatch.setattr(medloc.curriculum.ThresholdCurriculum, "on_train_begin", record)
    result = CliRunner().invoke(main, ["train", *RUN, "--max-steps", str(step + 2), "--output-dir", str(output_dir),
                                       "--resume"])
    assert result.exit_code == 0, result.output + repr(result.exception)

    assert restored == {"step": step, "schedule": saved}
    summary = json.loads((output_dir / "summary.json").read_text())
    assert summary["steps"] == step + 2 and summary["threshold_trajectory"][0] == [step, saved["threshold"]]
    logged = [json.loads(line)["step"] for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    assert logged[:-1] == list(range(1, step + 3))  # lines logged after the checkpoint were dropped, then redone
