"""Ordinal labels (disease grades, severity): read the grade, and rewards that grade by distance.

VRFT-Aug's multi-grade fuzzy reward gives partial credit that falls with the distance between
the predicted and the true grade. With grades ``0..K-1`` and a ``tolerance`` in grades::

    credit = max(0, 1 - |predicted - true| / (tolerance + 1))

so ``tolerance=0`` is exact match only, and ``tolerance=1`` gives 0.5 one grade off and 0 two off.
An unreadable answer scores 0.

Under a reward schedule the score is the **closeness** ``1 - |predicted - true| / (K - 1)`` in
[0, 1], and ``ThresholdCurriculum(grade_closeness, ...)`` rewards ``1[closeness >= tau]``: full
credit within ``(1 - tau) (K - 1)`` grades (:func:`tolerance_at`), so raising tau tightens
the tolerance exactly as it raises an IoU threshold.

Columns: ``grade`` (the true grade: its index, or its label) and ``grades`` (per row the labels
in order, e.g. ``["0", "1", "2", "3"]`` or ``["none", "mild", "moderate", "severe"]``).

Example:
    >>> parse_grade("<answer>grade 2</answer>", ["0", "1", "2", "3"])
    2
    >>> make_fuzzy_grade_reward(tolerance=1)(["2", "3", "0", "junk"], grade=[2] * 4, grades=[["0", "1", "2", "3"]] * 4)
    [1.0, 0.5, 0.0, 0.0]
    >>> grade_closeness(["2", "3", "0"], {"grade": [2] * 3, "grades": [["0", "1", "2", "3"]] * 3}).round(3).tolist()
    [1.0, 0.667, 0.333]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from grounding_data.labels import find_label
from grounding_data.answer_format import extract_answer
from medloc.parsing import completion_text

__all__ = [
    "parse_grade",
    "gold_grade",
    "fuzzy_grade_credit",
    "grade_closeness",
    "tolerance_at",
    "FuzzyGradeReward",
    "make_fuzzy_grade_reward",
]


def parse_grade(completion: Any, grades: Sequence[Any]) -> int | None:
    """The index of the grade a completion names, or ``None`` (never raises on model output).

    Read from the last ``<answer>`` block (else the whole text): the whole answer equal to one
    label, else exactly one label inside it as whole words (``"grade 2"``, ``"moderate DR"``).

    Example:
        >>> parse_grade("Moderate.", ["none", "mild", "moderate", "severe"])
        2
        >>> parse_grade("1 or 2", ["0", "1", "2", "3"]) is None
        True
    """
    answer = extract_answer(completion_text(completion))
    index = find_label(answer, grades)
    return index if index is not None else find_label(answer, grades, contained=True)


def gold_grade(value: Any, grades: Sequence[Any], row: int = 0) -> int:
    """The index of a true grade given as an index or as a label.

    Raises:
        ValueError: not one of ``grades`` (names the row).

    Example:
        >>> gold_grade("mild", ["none", "mild"]), gold_grade(1, ["none", "mild"])
        (1, 1)
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value < len(grades):
        return int(value)
    index = find_label(str(value), grades)
    if index is None:
        raise ValueError(f"row {row}: the true grade {value!r} is neither an index nor a label of {list(grades)}")
    return index


def _check_tolerance(tolerance: float) -> float:
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < float("inf"):
        raise ValueError(f"tolerance must be a finite number of grades >= 0, got {tolerance!r}")
    return float(tolerance)


def fuzzy_grade_credit(predicted: int | None, true: int, tolerance: float = 1) -> float:
    """``max(0, 1 - |predicted - true| / (tolerance + 1))``; ``0.0`` for no prediction.

    Example:
        >>> [fuzzy_grade_credit(p, 2, tolerance=2) for p in (2, 1, 0, None)]
        [1.0, 0.6666666666666667, 0.33333333333333337, 0.0]
    """
    tolerance = _check_tolerance(tolerance)
    if predicted is None:
        return 0.0
    return max(0.0, 1.0 - abs(predicted - true) / (tolerance + 1.0))


def tolerance_at(tau: float, num_grades: int) -> float:
    """The tolerance in grades that ``1[closeness >= tau]`` allows: ``(1 - tau) (num_grades - 1)``.

    Example:
        >>> round(tolerance_at(0.3, 4), 2), round(tolerance_at(0.8, 4), 2)
        (2.1, 0.6)
    """
    return (1.0 - tau) * (num_grades - 1)


def _rows(completions: Sequence[Any], columns: Mapping[str, Any]) -> tuple[Sequence[Any], Sequence[Any]]:
    for key in ("grade", "grades"):
        if columns.get(key) is None:
            raise ValueError(f"grade rewards need a per-row {key!r} column")
    gold, grades = columns["grade"], columns["grades"]
    if len(gold) != len(completions) or len(grades) != len(completions):
        raise ValueError(
            f"{len(completions)} completions but {len(gold)} 'grade' and {len(grades)} 'grades' rows"
        )
    return gold, grades


def grade_closeness(completions: Sequence[Any], columns: Mapping[str, Any]) -> np.ndarray:
    """Per completion ``1 - |predicted - true| / (K - 1)`` in [0, 1] (0 if unreadable; K = 1: exact only).

    The metric of a grade curriculum: ``ThresholdCurriculum(grade_closeness, "adaptive")``.

    Example:
        >>> grade_closeness(["severe", "mild"], {"grade": ["severe"] * 2, "grades": [["mild", "severe"]] * 2}).tolist()
        [1.0, 0.0]
    """
    gold, grades = _rows(completions, columns)
    scores = np.zeros(len(completions), dtype=np.float64)
    for row, completion in enumerate(completions):
        labels = grades[row]
        true = gold_grade(gold[row], labels, row)
        predicted = parse_grade(completion, labels)
        if predicted is not None:
            scores[row] = 1.0 - abs(predicted - true) / max(len(labels) - 1, 1)
    return scores


class FuzzyGradeReward:
    """VRFT-Aug's multi-grade fuzzy reward: partial credit by grade distance (see the module docs).

    Build it with :func:`make_fuzzy_grade_reward`.

    Example:
        >>> FuzzyGradeReward(tolerance=0)(["mild", "moderate"], grade=["mild"] * 2, grades=[["mild", "moderate"]] * 2)
        [1.0, 0.0]
    """

    def __init__(self, tolerance: float = 1) -> None:
        self.tolerance = _check_tolerance(tolerance)
        self.__name__ = f"fuzzy_grade_reward_tol{self.tolerance:g}"

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        gold, grades = _rows(completions, kwargs)
        return [
            fuzzy_grade_credit(parse_grade(completion, grades[row]), gold_grade(gold[row], grades[row], row),
                               self.tolerance)
            for row, completion in enumerate(completions)
        ]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tolerance={self.tolerance:g})"


def make_fuzzy_grade_reward(tolerance: float = 1) -> FuzzyGradeReward:
    """The fuzzy grade reward with ``tolerance`` grades, named e.g. ``fuzzy_grade_reward_tol1``.

    Raises:
        ValueError: a negative or non-finite tolerance.

    Example:
        >>> make_fuzzy_grade_reward(2).__name__
        'fuzzy_grade_reward_tol2'
    """
    return FuzzyGradeReward(tolerance)
