"""What a ``medloc train`` run writes where: its run folder, the files in it, and the model-info file
saved next to a trained model.

Runs never overwrite each other. Without ``--output-dir`` every run gets a folder of its own,
``medloc-runs/<YYYYmmdd-HHMMSS>-<task>[-<schedule>]`` (so ``tensorboard --logdir medloc-runs`` shows
each run as one run); a folder given with ``--output-dir`` that exists and holds anything is
refused, as transformers' example scripts refuse one, unless the run continues it (``--resume``)
or replaces it (``--overwrite-output-dir``, which removes what an earlier run wrote there and
nothing else). ``--resume`` without ``--output-dir`` continues the newest run folder.

Example:
    >>> import tempfile
    >>> from grounding_data.frames import get_frame
    >>> from medloc.tasks import AnswerSetup
    >>> folder = tempfile.mkdtemp()
    >>> write_model_info(folder, "grounding", AnswerSetup(frame=get_frame("grid-100")))
    >>> read_model_info(folder)
    {'task': 'grounding', 'reasoning': 'none', 'frame': 'grid-100'}
    >>> run_folder_name("grounding", "adaptive", datetime.datetime(2026, 12, 2, 8, 30, 15))
    '20261202-083015-grounding-adaptive'
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
from pathlib import Path
from typing import Any

from medloc.app.settings import SettingsError
from medloc.tasks import AnswerSetup

RUNS_DIR = "medloc-runs"
"""Where a run without ``--output-dir`` gets its own folder (relative to the working directory)."""
TENSORBOARD_SUBDIR = "tensorboard"
FINAL_MODEL_SUBDIR = "final_model"
SUMMARY_FILE = "summary.json"
SETTINGS_FILE = "settings.json"
"""The run's settings, written when it starts: a ``--config`` file (``medloc train --config
<run>/settings.json`` runs it again in a new folder), and what ``--resume`` continues with."""
METRICS_FILE = "metrics.jsonl"
"""Every metric logged during GRPO, one JSON line per logged step."""
MODEL_CARD_FILE = "README.md"
"""The model card, in the run folder and in ``final_model/``."""
UNTRAINED_MODEL_SUBDIR = "untrained_model"
"""The built-in model saved untrained (``--no-warm-start``)."""
MODEL_INFO_FILE = "medloc.json"
"""Written next to a trained model: its task, the reasoning layout, the frame and class descriptions it answers with."""
_RUN_ENTRIES = re.compile(r"^(checkpoint-\d+|{})$".format("|".join(re.escape(name) for name in (
    TENSORBOARD_SUBDIR, FINAL_MODEL_SUBDIR, UNTRAINED_MODEL_SUBDIR, SUMMARY_FILE, SETTINGS_FILE, METRICS_FILE,
    MODEL_CARD_FILE))))
"""What a run writes into its folder (what ``--overwrite-output-dir`` removes)."""


def run_folder_name(task: str, schedule: str | None, now: datetime.datetime) -> str:
    """The name of a new run's folder: start time, task and schedule (none for a task without one)."""
    return "-".join([now.strftime("%Y%m%d-%H%M%S"), task, *([schedule] if schedule else [])])


def new_run_dir(task: str, schedule: str | None, runs_dir: str | Path = RUNS_DIR,
                now: datetime.datetime | None = None) -> Path:
    """A folder under ``runs_dir`` that no run has used: :func:`run_folder_name`, with ``-2``, ``-3``, ...
    for runs started in the same second. Not created.

    Example:
        >>> import tempfile
        >>> runs, start = Path(tempfile.mkdtemp()), datetime.datetime(2026, 12, 2, 8, 30, 15)
        >>> (runs / "20261202-083015-vqa").mkdir()
        >>> new_run_dir("vqa", None, runs, start).name
        '20261202-083015-vqa-2'
    """
    base = Path(runs_dir) / run_folder_name(task, schedule, now or datetime.datetime.now())
    folder, count = base, 1
    while folder.exists():
        count += 1
        folder = base.with_name(f"{base.name}-{count}")
    return folder


def newest_run_dir(runs_dir: str | Path = RUNS_DIR) -> Path:
    """The newest run folder under ``runs_dir`` (what ``--resume`` continues without ``--output-dir``).

    Raises:
        SettingsError: naming ``--resume`` when there is none.

    Example:
        >>> newest_run_dir("/no/such/runs")
        Traceback (most recent call last):
        ...
        medloc.app.settings.SettingsError: --resume: no run to continue in /no/such/runs; give the run folder \
with --output-dir
    """
    folder = Path(runs_dir)
    runs = sorted(path for path in folder.iterdir() if (path / SETTINGS_FILE).is_file()) if folder.is_dir() else []
    if not runs:
        raise SettingsError("--resume", f"no run to continue in {folder}; give the run folder with --output-dir")
    return runs[-1]  # folder names start with the start time


def check_output_dir(output_dir: str | Path, resume: bool = False, overwrite: bool = False) -> None:
    """Refuse to start a fresh run in a folder that holds anything (an earlier run, or other files),
    unless it is resumed or ``overwrite`` is given; with ``overwrite``, remove what a run writes there
    (checkpoints, ``final_model/``, ``tensorboard/``, ``summary.json``, ...) and leave anything else.

    Raises:
        SettingsError: naming ``--output-dir`` (``--resume`` for a folder without a checkpoint).

    Example:
        >>> import tempfile
        >>> run = Path(tempfile.mkdtemp())
        >>> _ = (run / "summary.json").write_text("{}")
        >>> check_output_dir(run)
        Traceback (most recent call last):
        ...
        medloc.app.settings.SettingsError: --output-dir: ... already holds summary.json; give a new folder, \
--resume to continue that run, or --overwrite-output-dir to replace it
        >>> check_output_dir(run, overwrite=True); sorted(run.iterdir())
        []
    """
    folder = Path(output_dir).expanduser()
    if resume and overwrite:
        raise SettingsError("--overwrite-output-dir", "cannot be combined with --resume")
    if resume:
        from medloc.checkpoints import find_resume_checkpoint

        if find_resume_checkpoint(folder) is None:
            raise SettingsError("--resume", f"{folder} holds no checkpoint to continue from; start a new run "
                                            "(a new --output-dir, or --overwrite-output-dir to replace it)")
        return
    entries = sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []
    if not entries:
        return
    if overwrite:
        for name in entries:
            if _RUN_ENTRIES.match(name):
                path = folder / name
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        return
    shown = ", ".join(entries[:4]) + (f" and {len(entries) - 4} more" if len(entries) > 4 else "")
    raise SettingsError("--output-dir", f"{folder} already holds {shown}; give a new folder, --resume to continue "
                                        "that run, or --overwrite-output-dir to replace it")


def read_run_settings(run_dir: str | Path) -> dict[str, Any]:
    """The settings a run recorded when it started (``settings.json``; empty if none).

    Example:
        >>> read_run_settings("/no/such/run")
        {}
    """
    file = Path(run_dir, SETTINGS_FILE)
    return json.loads(file.read_text()) if file.is_file() else {}


def write_model_info(model_dir: str | Path, task: str, setup: AnswerSetup, class_descriptions: str | None = None) -> None:
    """Record what the model at ``model_dir`` was trained for and how it answers, for ``medloc eval``."""
    info: dict[str, Any] = {"task": task, "reasoning": setup.reasoning}
    if setup.frame is not None:
        info["frame"] = setup.frame.name
    if class_descriptions:
        info["class_descriptions"] = str(Path(class_descriptions).expanduser().absolute())
    Path(model_dir, MODEL_INFO_FILE).write_text(json.dumps(info))


def model_folder(path: str) -> str:
    """The saved model a ``--model`` path means: a run folder stands for its ``final_model/``.

    Example:
        >>> import tempfile
        >>> run = Path(tempfile.mkdtemp()); (run / FINAL_MODEL_SUBDIR).mkdir()
        >>> _ = (run / FINAL_MODEL_SUBDIR / "config.json").write_text("{}")
        >>> model_folder(str(run)) == str(run / FINAL_MODEL_SUBDIR), model_folder("Qwen/Qwen2-VL-2B-Instruct")
        (True, 'Qwen/Qwen2-VL-2B-Instruct')
    """
    if not isinstance(path, str):
        return path
    final = Path(path).expanduser() / FINAL_MODEL_SUBDIR
    if not Path(path, "config.json").expanduser().is_file() and (final / "config.json").is_file():
        return str(final)
    return path


def read_model_info(model_dir: str | Path) -> dict[str, Any]:
    """``task``, ``reasoning``, ``frame`` and ``class_descriptions`` recorded with a model by medloc (empty if none).

    A warm-started built-in model has no model-info file; its warm-start metrics hold the same keys.

    Example:
        >>> read_model_info("/no/such/model")
        {}
    """
    from medloc.builtin import warmstart

    info_file = Path(model_dir, MODEL_INFO_FILE)
    if info_file.is_file():
        return json.loads(info_file.read_text())
    warm_file = Path(model_dir, warmstart.METRICS_FILE)
    if warm_file.is_file():
        config = json.loads(warm_file.read_text()).get("config", {})
        return {key: config[key] for key in ("frame", "reasoning") if key in config}
    return {}
