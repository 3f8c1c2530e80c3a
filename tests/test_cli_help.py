"""The help of the ``medloc`` commands: every option with a description and its default, every list read
from its registry, and answered without loading torch or transformers (no timing here: see the report)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

import schedulers
from grounding_data.answer_format import REASONING_LAYOUTS
from grounding_data.formats import FORMATS
from grounding_data.synthetic import DIFFICULTIES
from medloc.app.cli import main
from medloc.app.cli.train_cmd import train
from medloc.tasks import get_task, task_names

HEAVY = ("torch", "transformers", "trl", "torchvision", "pydicom")


def help_text(*command: str) -> str:
    result = CliRunner().invoke(main, [*command, "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # one line: click wraps long help texts


def loaded_modules(*arguments: str) -> set[str]:
    """The heavy libraries a ``medloc`` command imports, run in a fresh interpreter."""
    code = ("import sys; from medloc.app.cli import main\n"
            f"try:\n    main({list(arguments)!r}, prog_name='medloc')\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules])")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(eval(output.rsplit("LOADED", 1)[1]))


@pytest.mark.parametrize("command", [["--help"], ["train", "--help"], ["eval", "--help"], ["data", "formats"],
                                     ["data", "--help"]])
def test_help_and_formats_load_no_heavy_library(command):
    assert loaded_modules(*command) == set()


def test_every_train_option_has_a_description_and_a_default():
    for parameter in train.params:
        if parameter.name == "help":
            continue
        assert parameter.help, f"{parameter.opts} has no description"
        assert "[default: " in parameter.help, f"{parameter.opts} shows no default: {parameter.help!r}"


def test_train_help_lists_every_registry():
    text = help_text("train")
    schedules = re.search(r"--schedule TEXT the threshold schedule: (.*?) \(built-in", text).group(1)
    assert schedules.split(", ") == schedulers.available()
    assert f"--task [{'|'.join(task_names())}]" in text
    assert f"--difficulty [{'|'.join(DIFFICULTIES)}]" in text
    assert f"--reasoning [{'|'.join(REASONING_LAYOUTS)}]" in text
    for task in task_names():  # --reward is checked per task; its help names every task's rewards
        assert all(kind in text.split("--reward TEXT", 1)[1].split("--schedule-option")[0]
                   for kind in get_task(task).reward_kinds)
    for name in ("max-steps", "window", "seed", "threshold", "learning-rate"):
        assert re.search(rf"--{name} \w+ [^[]+\[default: [^\]]+\]", text), name


def test_schedule_option_defaults_come_from_the_schedules():
    text = help_text("train")
    window_takers = [name for name in schedulers.available() if "window" in schedulers.schedule_options(name)]
    window_help = text.split("--window INTEGER", 1)[1].split("--increment", 1)[0]
    assert len(window_takers) >= 2
    for name in window_takers:  # the window the schedule runs with (an option may default through a preset)
        assert f"{name} {schedulers.build(name).options()['window']}" in window_help
    assert "built-in model: adaptive 0.05" in text.split("--min-margin FLOAT", 1)[1].split("--refresh-fraction")[0]


def test_top_level_help_describes_eval_for_every_task():
    eval_line = help_text().split("eval ", 1)[1].split(" data ", 1)[0]
    assert all(task in eval_line for task in task_names())
    assert "boxes" in eval_line and "accuracy" in eval_line


def test_data_formats_lists_every_format_with_its_task():
    result = CliRunner().invoke(main, ["data", "formats"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1] for line in result.output.splitlines()[1:]
            if line and not line.startswith(" ") and len(line.split()) > 1 and line.split()[0] in FORMATS}
    assert rows == {name: spec.task for name, spec in FORMATS.items()}
