"""Tasks: what a run trains the model to answer, one module each, behind one protocol and one registry.

=============  ==========================================  ===========================
task           answers                                     module
=============  ==========================================  ===========================
``grounding``  boxes for a phrase (IoU curriculum)         :mod:`medloc.tasks.grounding`
``vqa``        an option letter (Med-R1)                   :mod:`medloc.tasks.vqa`
``grade``      an ordinal grade (VRFT-Aug, curriculum)     :mod:`medloc.tasks.grade`
=============  ==========================================  ===========================

Each module defines ``TASK``, an object following :class:`medloc.tasks.base.Task`: its prompt,
reference answer, truth columns, rewards and curriculum, scoring, metrics and result tables.
``medloc train`` / ``medloc eval`` (their ``--task`` choices, the settings check, the job runner,
the held-out evaluation, the summary) and the dataset formats (a ``task`` on each) read this
registry. A new task is one module with a ``TASK`` and one line in :data:`TASKS` (or, from outside
medloc, :func:`register_task`). Modules are imported on first use, so listing the tasks is cheap.

Example:
    >>> task_names()
    ['grounding', 'vqa', 'grade']
    >>> get_task("grade").curriculum_name
    'grade_curriculum'
"""

from __future__ import annotations

import importlib

from medloc.tasks.base import AnswerSetup, Task, TaskResult

__all__ = ["AnswerSetup", "DEFAULT_TASK", "TASKS", "Task", "TaskResult", "get_task", "register_task", "task_names"]

TASKS: dict[str, tuple[str, str]] = {
    "grounding": ("medloc.tasks.grounding", "boxes"),
    "vqa": ("medloc.tasks.vqa", "multiple choice, Med-R1"),
    "grade": ("medloc.tasks.grade", "ordinal labels, VRFT-Aug"),
}
"""The built-in tasks: name -> (module holding its ``TASK``, what it answers, for ``--help``)."""
DEFAULT_TASK = "grounding"

_registered: dict[str, Task] = {}


def task_names() -> list[str]:
    """The names of every task: the built-in ones, then those registered.

    Example:
        >>> "vqa" in task_names()
        True
    """
    return [*TASKS, *(name for name in _registered if name not in TASKS)]


def get_task(name: str) -> Task:
    """The task called ``name``; ``ValueError`` listing the tasks otherwise.

    Example:
        >>> get_task("quiz")
        Traceback (most recent call last):
        ...
        ValueError: unknown task 'quiz'; available: grounding, vqa, grade
    """
    if name in _registered:
        return _registered[name]
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(task_names())}")
    return importlib.import_module(TASKS[name][0]).TASK


def register_task(task: Task) -> Task | None:
    """Make ``task`` available under ``task.name`` (replacing a task of that name); return the one replaced.

    Example:
        >>> from medloc.tasks.vqa import VqaTask
        >>> class Quiz(VqaTask):
        ...     name = "quiz"
        >>> register_task(Quiz()) is None, "quiz" in task_names()
        (True, True)
        >>> _ = _registered.pop("quiz")
    """
    replaced = _registered.get(task.name) or (get_task(task.name) if task.name in TASKS else None)
    _registered[task.name] = task
    return replaced
