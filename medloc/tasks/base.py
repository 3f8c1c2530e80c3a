"""The task protocol: what ``medloc train`` and ``medloc eval`` ask of a task, and how a run asks and reads.

A task is what a run trains the model to answer: boxes for a phrase (``grounding``), an option letter
(``vqa``), a grade (``grade``). One object per task owns everything that differs between tasks: its
prompt, its reference answer, the truth columns its rewards read, its rewards and curriculum metric,
its scoring and metrics, and its result tables. The job runner, the held-out evaluation, the summary
and the eval command are written once against this protocol (:mod:`medloc.app.training`,
:mod:`medloc.app.heldout`, :mod:`medloc.app.summary`, :mod:`medloc.app.cli.eval_cmd`).

Example:
    >>> AnswerSetup(reasoning="after").reasoning
    'after'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the registry stays cheap to import (``--help`` lists the tasks without torch)
    from grounding_data.frames import CoordinateFrame

Row = Mapping[str, Any]


@dataclass(frozen=True)
class AnswerSetup:
    """How a run asks its questions and reads the answers (the same in training, held-out evaluation
    and ``medloc eval``).

    Attributes:
        reasoning: the reasoning layout (``before``, ``after``, ``none``; see
            :mod:`grounding_data.answer_format`).
        frame: the coordinate frame the model writes boxes in (tasks that answer with boxes).
        descriptions: ``label: description`` of the classes, carried by question prompts (prior knowledge).
    """

    reasoning: str = "none"
    frame: CoordinateFrame | None = None
    descriptions: Mapping[str, str] | None = None


class TaskResult(Protocol):
    """Scored answers: ``metrics`` (``n`` and the task's numbers), the ``answers``, and the JSON form."""

    metrics: dict[str, float]
    answers: list[str]

    def to_json(self, rows: Sequence[Row]) -> dict[str, Any]:
        """Metrics, any breakdown, and one record per row."""


class Task(Protocol):
    """One task. Register a new one with :func:`medloc.tasks.register_task` (or a line in the registry).

    Attributes:
        name: the task's name (``--task NAME``); dataset formats name the task their rows are for.
        curriculum_name: the name of its curriculum (its checkpoint state key is ``medloc:<name>``),
            or ``None`` for a task without a threshold (the schedule is then unused).
        heldout_metrics: the metrics logged at each held-out evaluation (``heldout/<key>``).
        bar_metric: the held-out metric on the progress bar.
        uses_frame: whether answers are boxes written in a coordinate frame.
        uses_descriptions: whether prompts carry class descriptions (``--class-descriptions``).
        reward_kinds: the ``--reward`` choices (the first is the default).
        valid_metric: the held-out metric that says which share of answers the rewards could read
            (0 at the end of a run: the model never wrote an answer the reward can read).
    """

    name: str
    curriculum_name: str | None
    heldout_metrics: tuple[str, ...]
    bar_metric: str
    uses_frame: bool
    uses_descriptions: bool
    reward_kinds: tuple[str, ...]
    valid_metric: str

    def synthetic_rows(self, split: str, n: int, config: Any, seed: int, start: int = 0) -> list[dict]:
        """``n`` built-in synthetic rows of ``split`` (``train`` / ``heldout``) for a preset, from row ``start`` on."""

    def prompt(self, row: Row, setup: AnswerSetup) -> list[dict]:
        """TRL's conversational prompt of a row: one user turn, the text, then ``{"type": "image"}``."""

    def reference_answer(self, row: Row, setup: AnswerSetup, rationale: str = "") -> str:
        """The completion a perfect model writes for a row (an SFT target)."""

    def rationale(self, row: Row) -> str:
        """A short reason for the reference answer (what a warm start writes in ``<think>``)."""

    def truth_columns(self, row: Row) -> dict[str, Any]:
        """The columns of the TRL dataset the task's rewards read (besides ``prompt`` and ``image``)."""

    def curriculum(self, schedule: Any, setup: AnswerSetup, tensorboard_writer: Any = None) -> Any:
        """The run's ``ThresholdCurriculum`` on a built schedule, named :attr:`curriculum_name`
        (``None`` when the task has no curriculum)."""

    def reward_functions(self, setup: AnswerSetup, curriculum: Any, reward: str = "binary") -> list[Callable]:
        """TRL reward functions of a run: the format reward and the task's own."""

    def score(self, answers: Sequence[Any], rows: Sequence[Row], setup: AnswerSetup) -> TaskResult:
        """Score known answers against the rows' truth, each answer parsed once."""

    def result_lines(self, result: TaskResult) -> list[str]:
        """The result table ``medloc eval`` prints."""

    def summary_lines(self, history: Sequence[tuple[int, dict[str, float]]], last: TaskResult | None) -> list[str]:
        """The held-out part of ``medloc train``'s summary, from the evaluations' ``(step, metrics)``."""

    def threshold_note(self, start: float, final: float, rows: Sequence[Row]) -> str:
        """What the threshold's move means for this task (appended to the summary's threshold line)."""


def before_after_lines(history: Sequence[tuple[int, Mapping[str, float]]],
                       columns: Sequence[tuple[str, str, int, int]]) -> list[str]:
    """A run summary's held-out table: the step-0 evaluation (before GRPO, when there is one) and the last.

    ``columns``: ``(label, metric, width, decimals)`` per column.

    Example:
        >>> history = [(0, {"accuracy": 0.25, "n": 8}), (20, {"accuracy": 0.5, "n": 8})]
        >>> print("\\n".join(before_after_lines(history, [("accuracy", "accuracy", 10, 3)])))
          held-out (8 rows)    accuracy
            before GRPO            0.250
            after GRPO             0.500
    """
    if not history:
        return []
    after = history[-1][1]
    before = history[0][1] if history[0][0] == 0 else None
    lines = [f"  held-out ({int(after['n'])} rows)  " + "".join(f"{label:>{width}}" for label, _, width, _ in columns)]
    for label, metrics in (("before GRPO", before), ("after GRPO", after)):
        if metrics:
            lines.append(f"    {label:<18}" + "".join(f"{metrics[key]:>{width}.{decimals}f}"
                                                     for _, key, width, decimals in columns))
    return lines
