"""``grade`` (VRFT-Aug): ordinal labels such as disease grades.

Rewards: the format reward (any text in the answer block) and, with ``reward="binary"`` (the
default), ``ThresholdCurriculum(grade_closeness)``: full credit within ``(1 - tau) (K - 1)`` grades,
the schedule tightening that tolerance as it raises tau (:mod:`medloc.grades`); with
``reward="fuzzy"``, VRFT-Aug's multi-grade fuzzy reward (1 for the exact grade, 0.5 one grade off, 0
beyond; the schedule then only tracks and logs, as with grounding's ``soft-iou``). Columns: ``grade``
(the true grade's index) and ``grades`` (the labels in order). Held-out metrics add ``within_1``
and ``mae`` (mean absolute grade error over readable answers).

Example:
    >>> row = {"question": "What is the size grade?", "grades": ["0", "1"], "grade": 1}
    >>> print(TASK.question_text(row, AnswerSetup(reasoning="before", descriptions={"0": "under 19 px"})))
    What is the size grade? Grades: 0, 1.
    Known classes:
    0: under 19 px
    Think in <think></think>, then answer <answer>grade</answer> with one grade.
    >>> metrics = TASK.score(["1", "0", "oops"], [row] * 3, AnswerSetup()).metrics
    >>> metrics["accuracy"], metrics["within_1"], metrics["mae"]
    (0.3333333333333333, 0.6666666666666666, 0.5)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from medloc.grades import gold_grade, grade_closeness, make_fuzzy_grade_reward, parse_grade, tolerance_at
from medloc.rewards import has_text, make_format_reward
from medloc.tasks.base import AnswerSetup
from medloc.tasks.questions import QuestionTask, row_field


class GradeTask(QuestionTask):
    """Graded labels (see the module docs)."""

    name = "grade"
    truth_keys = ("grade", "grades")
    heldout_metrics = ("accuracy", "within_1", "mae", "valid_rate")
    curriculum_name = "grade_curriculum"
    reward_kinds = ("binary", "fuzzy")
    """``binary``: 1[closeness >= tau]; ``fuzzy``: VRFT-Aug's partial credit by grade distance (tolerance 1)."""

    def question_lines(self, row: Mapping[str, Any]) -> tuple[list[str], list[str], str]:
        """The question and the grades on one line."""
        labels = [str(grade) for grade in row_field(row, "grades")]
        return [f"{str(row_field(row, 'question')).strip()} Grades: {', '.join(labels)}."], labels, \
            "<answer>grade</answer> with one grade"

    def reference_value(self, row: Mapping[str, Any]) -> str:
        """The true grade's label."""
        return str(row_field(row, "grades")[int(row_field(row, "grade"))])

    def rationale(self, row: Mapping[str, Any]) -> str:
        """The true grade, in words.

        Example:
            >>> TASK.rationale({"grades": ["none", "mild"], "grade": 1})
            'grade mild'
        """
        return f"grade {self.reference_value(row)}"

    def judge(self, answer: Any, row: Mapping[str, Any], index: int) -> tuple[bool, bool, float]:
        """Whether the answer names a grade, the right one, and how many grades off it is."""
        truth = gold_grade(row["grade"], row["grades"], index)
        predicted = parse_grade(answer, row["grades"])
        if predicted is None:
            return False, False, float("inf")
        return True, predicted == truth, float(abs(predicted - truth))

    def extra_metrics(self, correct: np.ndarray, valid: np.ndarray, errors: np.ndarray) -> dict[str, float]:
        """``within_1`` (at most one grade off) and ``mae`` (mean absolute error of readable answers)."""
        n = correct.size
        return {"within_1": float((valid & (errors <= 1)).mean()) if n else 0.0,
                "mae": float(errors[valid].mean()) if valid.any() else float("nan")}

    def curriculum(self, schedule: Any, setup: AnswerSetup, tensorboard_writer: Any = None) -> Any:
        """``ThresholdCurriculum(grade_closeness)`` on the run's schedule."""
        from medloc.curriculum import ThresholdCurriculum

        return ThresholdCurriculum(grade_closeness, schedule, name=self.curriculum_name,
                                   tensorboard_writer=tensorboard_writer)

    def reward_functions(self, setup: AnswerSetup, curriculum: Any, reward: str = "binary") -> list[Callable]:
        """The format reward (text in the answer block) and the curriculum's ``1[closeness >= tau]``
        (``binary``) or the fuzzy grade reward (``fuzzy``; the curriculum still sees every batch, so the
        logs show the hit rate at its tau).

        Example:
            >>> from medloc.curriculum import ThresholdCurriculum
            >>> from medloc.grades import grade_closeness
            >>> curriculum = ThresholdCurriculum(grade_closeness, "fixed", threshold=1.0)
            >>> fuzzy = TASK.reward_functions(AnswerSetup(), curriculum, "fuzzy")[1]
            >>> fuzzy.__name__, fuzzy(["1", "2", "3"], grade=[1] * 3, grades=[["0", "1", "2", "3"]] * 3)
            ('fuzzy_grade_reward_tol1', [1.0, 0.5, 0.0])
        """
        if reward not in self.reward_kinds:
            raise ValueError(f"unknown grade reward {reward!r}; expected one of {', '.join(self.reward_kinds)}")
        if reward == "binary":
            return [make_format_reward(setup.reasoning, has_text), curriculum.reward]
        credit = make_fuzzy_grade_reward(tolerance=1)

        def fuzzy(completions: Sequence[Any], **columns: Any) -> list[float]:
            curriculum.observed_scores(completions, **columns)  # the schedule tracks and logs its tau
            return credit(completions, **columns)

        fuzzy.__name__ = credit.__name__
        return [make_format_reward(setup.reasoning, has_text), fuzzy]

    def threshold_note(self, start: float, final: float, rows: Sequence[Mapping[str, Any]]) -> str:
        """The tolerance in grades at the first and the last tau.

        Example:
            >>> TASK.threshold_note(0.3, 0.45, [{"grades": ["0", "1", "2", "3"]}])
            ' (tolerance 2.10 -> 1.65 grades)'
        """
        grades = max((len(row["grades"]) for row in rows), default=0)
        if not grades:
            return ""
        return f" (tolerance {tolerance_at(start, grades):.2f} -> {tolerance_at(final, grades):.2f} grades)"


TASK = GradeTask()
