"""The terminal display of ``medloc train``: raise lines, the trajectory and the metrics jsonl."""

import json
from types import SimpleNamespace

from medloc.app.progress import TrainingProgress


class Curriculum:
    threshold = 0.3


def state(step, max_steps=5):
    return SimpleNamespace(global_step=step, max_steps=max_steps, is_world_process_zero=True)


def test_raises_are_printed_once_each_and_recorded(tmp_path):
    curriculum, lines = Curriculum(), []
    progress = TrainingProgress(curriculum, tmp_path / "metrics.jsonl", show=True, echo=lines.append)
    progress.on_train_begin(None, state(0), None)
    for step, tau in ((1, 0.3), (2, 0.45), (3, 0.45), (4, 0.55)):
        curriculum.threshold = tau
        progress.on_step_end(None, state(step), None)
    progress.on_train_end(None, state(4), None)
    assert lines == ["step 2: tau raised 0.30 -> 0.45", "step 4: tau raised 0.45 -> 0.55"]
    assert progress.raises == [(2, 0.3, 0.45), (4, 0.45, 0.55)]
    assert progress.trajectory == [(0, 0.3), (1, 0.3), (2, 0.45), (3, 0.45), (4, 0.55)]


def test_every_numeric_log_goes_to_the_jsonl_and_nothing_else(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    progress = TrainingProgress(Curriculum(), path, show=False)
    progress.on_log(None, state(1), None, logs={"reward": 1.5, "medloc/threshold": 0.3, "note": "text",
                                                "nan": float("nan"), "flag": True})
    progress.on_log(None, state(2), None, logs={"reward": 1.0})
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"step": 1, "reward": 1.5, "medloc/threshold": 0.3}, {"step": 2, "reward": 1.0}]


def test_quiet_display_prints_nothing(tmp_path, capsys):
    curriculum = Curriculum()
    progress = TrainingProgress(curriculum, None, show=False)
    progress.on_train_begin(None, state(0), None)
    curriculum.threshold = 0.45
    progress.on_step_end(None, state(1), None)
    assert capsys.readouterr().out == "" and progress.raises == [(1, 0.3, 0.45)]
