"""What the question tasks (``vqa``, ``grade``) share: one user turn with the question, scoring
overall, per modality and per question type, and the accuracy table.

Med-R1's users compare cross-modality and cross-question-type tables, so every result carries
both breakdowns. Metrics: ``accuracy`` (right option / exact grade), ``valid_rate`` (answers that
name an option or a grade) and ``n``; a task adds its own (``grade``: ``within_1``, ``mae``).

A question task (:class:`QuestionTask`) says how its question is written
(:meth:`~QuestionTask.question_lines`), how one answer is judged (:meth:`~QuestionTask.judge`) and
what its truth columns are; the prompt, the reference answer, the scoring, the tables and the run's
summary lines are the same for every question task.

Example:
    >>> from medloc.tasks import get_task
    >>> vqa = get_task("vqa")
    >>> rows = [{"answer": "A", "options": ["yes", "no"], "modality": "CT", "question_type": "diagnosis"},
    ...         {"answer": "B", "options": ["yes", "no"], "modality": "MR", "question_type": "diagnosis"}]
    >>> result = vqa.score(["<answer>A</answer>", "<answer>yes</answer>"], rows, AnswerSetup())
    >>> result.metrics["accuracy"], result.by_modality["CT"]["accuracy"], result.by_question_type["diagnosis"]["n"]
    (0.5, 1.0, 2)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grounding_data.answer_format import answer_clause, extract_answer, layout_answer
from medloc.priors import describe_classes
from medloc.tasks.base import AnswerSetup, before_after_lines

UNKNOWN = "unknown"
"""The group of a row whose ``modality`` or ``question_type`` is not given."""
SUMMARY_LABELS = {"valid_rate": "valid"}
"""Column labels of the summary's before/after table (a metric's own name otherwise)."""


@dataclass
class QuestionResult:
    """Question metrics overall and per group, plus what produced them.

    Attributes:
        metrics: ``accuracy``, ``valid_rate``, ``n``, ``top_answer_share`` (the share of readable answers that
            are the most common one: near 1, the model gives one answer to every question) and the task's
            own (grades: ``within_1``, ``mae``).
        by_modality / by_question_type: the same metrics per ``modality`` / ``question_type``.
        answers: the model's answer per row.
        correct: whether each answer was right.
    """

    metrics: dict[str, float]
    by_modality: dict[str, dict[str, float]] = field(default_factory=dict)
    by_question_type: dict[str, dict[str, float]] = field(default_factory=dict)
    answers: list[str] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)

    def to_json(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Metrics, both breakdowns and one record per row (what ``medloc eval --json`` writes).

        Example:
            >>> QuestionResult({"accuracy": 1.0}, answers=["A"], correct=[True]).to_json([{"id": "q1"}])["rows"]
            [{'id': 'q1', 'answer': 'A', 'correct': True}]
        """
        return {"metrics": self.metrics, "by_modality": self.by_modality, "by_question_type": self.by_question_type,
                "rows": [{"id": row.get("id"), "answer": answer, "correct": correct}
                         for row, answer, correct in zip(rows, self.answers, self.correct)]}


def row_field(row: Mapping[str, Any], key: str) -> Any:
    """``row[key]``; a ``ValueError`` naming the row's id when the field is missing.

    Example:
        >>> row_field({"id": "7", "question": "Q?"}, "options")
        Traceback (most recent call last):
        ...
        ValueError: question prompt: row '7' has no 'options'
    """
    if key not in row:
        raise ValueError(f"question prompt: row {row.get('id', '?')!r} has no {key!r}")
    return row[key]


class QuestionTask:
    """The shared half of a question task; a subclass gives its question, its judge and its truth."""

    name = ""
    truth_keys: tuple[str, str] = ("", "")
    """The row's truth and the labels it is read against (TRL columns of the reward)."""
    heldout_metrics: tuple[str, ...] = ("accuracy", "valid_rate")
    bar_metric = "accuracy"
    uses_frame = False
    uses_descriptions = True
    reward_kinds: tuple[str, ...] = ("binary",)
    """The task's own reward: 1/0 (the choice reward, or ``1[closeness >= tau]`` for grades)."""
    curriculum_name: str | None = None
    valid_metric = "valid_rate"

    # what a question task says -----------------------------------------------------------

    def question_lines(self, row: Mapping[str, Any]) -> tuple[list[str], list[str], str]:
        """The question's lines, the labels it offers (options or grades) and what to answer."""
        raise NotImplementedError

    def reference_value(self, row: Mapping[str, Any]) -> str:
        """The text a perfect model puts in its answer block."""
        raise NotImplementedError

    def judge(self, answer: Any, row: Mapping[str, Any], index: int) -> tuple[bool, bool, float]:
        """``(valid, correct, error)`` of one answer; ``error`` is the task's distance (0 where none)."""
        raise NotImplementedError

    def rationale(self, row: Mapping[str, Any]) -> str:
        """A short reason for the reference answer (what a warm start writes in ``<think>``)."""
        raise NotImplementedError

    def extra_metrics(self, correct: np.ndarray, valid: np.ndarray, errors: np.ndarray) -> dict[str, float]:
        """Metrics of this task beyond ``accuracy``, ``valid_rate`` and ``n``."""
        return {}

    # the task protocol ---------------------------------------------------------------------

    def prompt(self, row: Mapping[str, Any], setup: AnswerSetup) -> list[dict]:
        """One user turn: the question (with the class descriptions the run knows), then the image."""
        return [{"role": "user", "content": [{"type": "text", "text": self.question_text(row, setup)},
                                             {"type": "image"}]}]

    def question_text(self, row: Mapping[str, Any], setup: AnswerSetup) -> str:
        """The instruction text of the prompt."""
        lines, labels, answer = self.question_lines(row)
        known = describe_classes(labels, setup.descriptions)
        if known:
            lines += ["Known classes:", *known]
        return "\n".join([*lines, answer_clause(answer, setup.reasoning)])

    def reference_answer(self, row: Mapping[str, Any], setup: AnswerSetup, rationale: str = "") -> str:
        """The completion a perfect model writes for a row (an SFT target, or a test's known answer)."""
        return layout_answer(self.reference_value(row), setup.reasoning, rationale)

    def truth_columns(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row's truth as the reward reads it: the truth and its labels (as text)."""
        truth, labels = self.truth_keys
        return {truth: row[truth], labels: [str(label) for label in row[labels]]}

    def score(self, answers: Sequence[Any], rows: Sequence[Mapping[str, Any]], setup: AnswerSetup) -> QuestionResult:
        """Score known answers against the rows' truth.

        Raises:
            ValueError: lengths that differ, or a row whose truth is not one of its options /
                grades (names the row). Model answers never raise.
        """
        if len(answers) != len(rows):
            raise ValueError(f"{len(answers)} answers for {len(rows)} rows")
        judged = [self.judge(answer, row, index) for index, (answer, row) in enumerate(zip(answers, rows))]
        valid = np.array([v for v, _, _ in judged], dtype=bool)
        correct = np.array([c for _, c, _ in judged], dtype=bool)
        errors = np.array([e for _, _, e in judged], dtype=np.float64)

        chosen = np.array([extract_answer(str(answer)).strip().lower() for answer in answers], dtype=object)

        def summarise(idx: Any) -> dict[str, float]:
            n = int(correct[idx].size)
            readable = Counter(chosen[idx][valid[idx]])
            metrics = {"accuracy": float(correct[idx].mean()) if n else 0.0,
                       "valid_rate": float(valid[idx].mean()) if n else 0.0, "n": n,
                       "top_answer_share": max(readable.values()) / readable.total() if readable else 0.0}
            return metrics | self.extra_metrics(correct[idx], valid[idx], errors[idx])

        def by(key: str) -> dict[str, dict[str, float]]:
            groups: dict[str, list[int]] = defaultdict(list)
            for index, row in enumerate(rows):
                groups[str(row.get(key) or UNKNOWN)].append(index)
            return {name: summarise(idx) for name, idx in sorted(groups.items())}

        return QuestionResult(summarise(slice(None)), by("modality"), by("question_type"),
                              [str(answer) for answer in answers], correct.tolist())

    def result_lines(self, result: QuestionResult) -> list[str]:
        """The accuracy table: overall, per modality, per question type (what ``medloc eval`` prints)."""
        keys = self.heldout_metrics
        lines = [f"{'group':<30} {'n':>6}" + "".join(f"  {key:>10}" for key in keys)]

        def line(name: str, metrics: Mapping[str, float]) -> str:
            return f"{name[:30]:<30} {int(metrics['n']):>6}" + "".join(f"  {metrics[key]:>10.4f}" for key in keys)

        lines.append(line("overall", result.metrics))
        lines += [line(f"modality: {name}", metrics) for name, metrics in result.by_modality.items()]
        lines += [line(f"question type: {name}", metrics) for name, metrics in result.by_question_type.items()]
        return lines

    def summary_lines(self, history: Sequence[tuple[int, dict[str, float]]], last: QuestionResult | None) -> list[str]:
        """The held-out part of the run summary: the task's metrics before GRPO (the step-0 evaluation)
        and after it (the last one), then the last evaluation per modality and question type.

        Example:
            >>> from medloc.tasks import get_task
            >>> vqa = get_task("vqa")
            >>> rows = [{"answer": "A", "options": ["yes", "no"], "question_type": "yes/no"}] * 2
            >>> before = vqa.score(["junk", "A"], rows, AnswerSetup())
            >>> after = vqa.score(["A", "A"], rows, AnswerSetup())
            >>> print("\\n".join(vqa.summary_lines([(0, before.metrics), (50, after.metrics)], after)[:3]))
              held-out (2 rows)    accuracy  valid
                before GRPO            0.500   0.50
                after GRPO             1.000   1.00
        """
        labels = {key: SUMMARY_LABELS.get(key, key) for key in self.heldout_metrics}
        columns = [(labels[key], key, max(7, len(labels[key]) + 2), 2 if key == self.valid_metric else 3)
                   for key in self.heldout_metrics]
        lines = before_after_lines(history, columns)
        if last is not None:
            table = self.result_lines(last)
            groups = table[:1] + table[2:]  # the overall line is the 'after GRPO' row above
            lines += ["  after GRPO, by modality and question type:", *(f"    {line}" for line in groups)]
        return lines

    def threshold_note(self, start: float, final: float, rows: Sequence[Mapping[str, Any]]) -> str:
        """Nothing to add to the threshold line (a subclass with a curriculum may say what tau means)."""
        return ""

    def synthetic_rows(self, split: str, n: int, config: Any, seed: int, start: int = 0) -> list[dict]:
        """The built-in synthetic questions of this task (:func:`grounding_data.synthetic_questions.question_split`)."""
        from grounding_data.synthetic_questions import question_split

        return question_split(self.name, split, n, config, seed=seed, start=start)
