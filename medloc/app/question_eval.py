"""Accuracy of multiple-choice and graded answers: overall, per modality and per question type.

Med-R1's users compare cross-modality and cross-question-type tables, so every result carries
both breakdowns. Metrics: ``accuracy`` (right option / exact grade), ``valid_rate`` (answers
that name an option or a grade) and ``n``; graded rows add ``within_1`` (at most one grade
off) and ``mae`` (mean absolute grade error over readable answers).

Example:
    >>> rows = [{"answer": "A", "options": ["yes", "no"], "modality": "CT", "question_type": "diagnosis"},
    ...         {"answer": "B", "options": ["yes", "no"], "modality": "MR", "question_type": "diagnosis"}]
    >>> result = score_questions(["<answer>A</answer>", "<answer>yes</answer>"], rows, "vqa")
    >>> result.metrics["accuracy"], result.by_modality["CT"]["accuracy"], result.by_question_type["diagnosis"]["n"]
    (0.5, 1.0, 2)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medloc.choices import parse_choice
from medloc.evaluation import generate_answers
from medloc.grades import gold_grade, parse_grade
from medloc.question_prompts import QUESTION_TASKS, question_prompt

REPORTED_METRICS = {"vqa": ("accuracy", "valid_rate"), "grade": ("accuracy", "within_1", "mae", "valid_rate")}
"""The metrics ``medloc train`` logs at each held-out evaluation, per task."""
UNKNOWN = "unknown"


@dataclass
class QuestionResult:
    """Question metrics overall and per group, plus what produced them.

    Attributes:
        metrics: ``accuracy``, ``valid_rate``, ``n`` (grades: also ``within_1``, ``mae``).
        by_modality / by_question_type: the same metrics per ``modality`` / ``question_type``.
        answers: the model's answer per row.
        correct: whether each answer was right.
    """

    metrics: dict[str, float]
    by_modality: dict[str, dict[str, float]] = field(default_factory=dict)
    by_question_type: dict[str, dict[str, float]] = field(default_factory=dict)
    answers: list[str] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)


def _summarise(task: str, correct: np.ndarray, valid: np.ndarray, errors: np.ndarray) -> dict[str, float]:
    n = int(correct.size)
    metrics = {
        "accuracy": float(correct.mean()) if n else 0.0,
        "valid_rate": float(valid.mean()) if n else 0.0,
        "n": n,
    }
    if task == "grade":
        metrics["within_1"] = float((valid & (errors <= 1)).mean()) if n else 0.0
        metrics["mae"] = float(errors[valid].mean()) if valid.any() else float("nan")
    return metrics


def _by(key: str, rows: Sequence[Mapping[str, Any]], task: str, correct: np.ndarray, valid: np.ndarray,
        errors: np.ndarray) -> dict[str, dict[str, float]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        groups[str(row.get(key) or UNKNOWN)].append(index)
    return {name: _summarise(task, correct[idx], valid[idx], errors[idx]) for name, idx in sorted(groups.items())}


def score_questions(answers: Sequence[Any], rows: Sequence[Mapping[str, Any]], task: str) -> QuestionResult:
    """Score known answers against the rows' truth (``answer`` + ``options``, or ``grade`` + ``grades``).

    Raises:
        ValueError: an unknown task, lengths that differ, or a row whose truth is not one of its
            options / grades (names the row). Model answers never raise.

    Example:
        >>> rows = [{"grade": 2, "grades": ["0", "1", "2", "3"]}] * 3
        >>> metrics = score_questions(["2", "3", "oops"], rows, "grade").metrics
        >>> metrics["accuracy"], metrics["within_1"], metrics["mae"]
        (0.3333333333333333, 0.6666666666666666, 0.5)
    """
    if task not in QUESTION_TASKS:
        raise ValueError(f"task={task!r}: choose from {', '.join(QUESTION_TASKS)}")
    if len(answers) != len(rows):
        raise ValueError(f"{len(answers)} answers for {len(rows)} rows")
    n = len(rows)
    correct, valid, errors = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.zeros(n, dtype=np.float64)
    for index, (answer, row) in enumerate(zip(answers, rows)):
        if task == "vqa":
            options = row.get("options")
            truth = parse_choice(str(row["answer"]), options)
            if truth is None:
                raise ValueError(f"row {index}: 'answer' {row['answer']!r} names no option")
            chosen = parse_choice(answer, options)
            valid[index], correct[index] = chosen is not None, chosen == truth
        else:
            truth = gold_grade(row["grade"], row["grades"], index)
            predicted = parse_grade(answer, row["grades"])
            valid[index] = predicted is not None
            correct[index] = predicted == truth
            errors[index] = abs(predicted - truth) if predicted is not None else np.inf
    return QuestionResult(
        _summarise(task, correct, valid, errors),
        _by("modality", rows, task, correct, valid, errors),
        _by("question_type", rows, task, correct, valid, errors),
        [str(answer) for answer in answers],
        correct.tolist(),
    )


def evaluate_questions(
    model: Any,
    processor: Any,
    rows: Sequence[Mapping[str, Any]],
    task: str,
    reasoning: str = "none",
    descriptions: Mapping[str, str] | None = None,
    batch_size: int = 64,
    max_new_tokens: int = 40,
) -> QuestionResult:
    """Greedy answers to ``rows`` (prompts of :mod:`medloc.question_prompts`), scored by :func:`score_questions`.

    Example:
        >>> from medloc.builtin.tiny_model import build_tiny_vlm
        >>> from grounding_data.synthetic_questions import question_split
        >>> model, processor = build_tiny_vlm()
        >>> rows = question_split("vqa", "heldout", 2)
        >>> evaluate_questions(model, processor, rows, "vqa", max_new_tokens=4).metrics["n"]
        2
    """
    answers = generate_answers(
        model, processor, rows, batch_size=batch_size, max_new_tokens=max_new_tokens,
        prompt=lambda row: question_prompt(row, task, reasoning, descriptions),
    )
    return score_questions(answers, rows, task)


def table_lines(result: QuestionResult, task: str) -> list[str]:
    """The accuracy table: overall, per modality, per question type (what ``medloc eval --task`` prints).

    Example:
        >>> rows = [{"answer": "A", "options": ["yes", "no"], "modality": "CT", "question_type": "diagnosis"}]
        >>> print("\\n".join(table_lines(score_questions(["A"], rows, "vqa"), "vqa")))
        group                               n    accuracy  valid_rate
        overall                             1      1.0000      1.0000
        modality: CT                        1      1.0000      1.0000
        question type: diagnosis            1      1.0000      1.0000
    """
    keys = REPORTED_METRICS[task]
    lines = [f"{'group':<30} {'n':>6}" + "".join(f"  {key:>10}" for key in keys)]

    def line(name: str, metrics: Mapping[str, float]) -> str:
        return f"{name[:30]:<30} {int(metrics['n']):>6}" + "".join(f"  {metrics[key]:>10.4f}" for key in keys)

    lines.append(line("overall", result.metrics))
    lines += [line(f"modality: {name}", metrics) for name, metrics in result.by_modality.items()]
    lines += [line(f"question type: {name}", metrics) for name, metrics in result.by_question_type.items()]
    return lines
