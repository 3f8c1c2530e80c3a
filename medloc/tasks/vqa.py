"""``vqa`` (Med-R1): multiple-choice questions, answered with an option letter.

Rewards: the format reward (the answer block names an option, :func:`medloc.choices.is_choice`)
and :class:`medloc.choices.ChoiceReward`, 1 for the right option. No threshold, so no curriculum:
the run's schedule is unused. Columns: ``answer`` (the letter) and ``options`` (the texts).

Example:
    >>> row = {"question": "Which quadrant holds the lesion?", "options": ["upper left", "lower right"], "answer": "B"}
    >>> print(TASK.question_text(row, AnswerSetup()))
    Which quadrant holds the lesion?
    A) upper left
    B) lower right
    Answer <answer>X</answer> with the letter of one option.
    >>> TASK.reference_answer(row, AnswerSetup(reasoning="after"), rationale="bottom right")
    '<answer>B</answer><think>bottom right</think>'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from medloc.choices import LETTERS, is_choice, make_choice_reward, parse_choice
from medloc.rewards import make_format_reward
from medloc.tasks.base import AnswerSetup
from medloc.tasks.questions import QuestionTask, row_field


class VqaTask(QuestionTask):
    """Multiple choice (see the module docs)."""

    name = "vqa"
    truth_keys = ("answer", "options")

    def question_lines(self, row: Mapping[str, Any]) -> tuple[list[str], list[str], str]:
        """The question, then one ``X) option`` line per option."""
        labels = [str(option) for option in row_field(row, "options")]
        options = [f"{LETTERS[i]}) {option}" for i, option in enumerate(labels)]
        lines = [str(row_field(row, "question")).strip(), *options]
        return lines, labels, "<answer>X</answer> with the letter of one option"

    def reference_value(self, row: Mapping[str, Any]) -> str:
        """The right letter."""
        return str(row_field(row, "answer"))

    def rationale(self, row: Mapping[str, Any]) -> str:
        """The right option's text.

        Example:
            >>> TASK.rationale({"options": ["yes", "no"], "answer": "B"})
            'no'
        """
        options = row_field(row, "options")
        letter = parse_choice(str(row_field(row, "answer")), options)
        return "" if letter is None else str(options[LETTERS.index(letter)])

    def judge(self, answer: Any, row: Mapping[str, Any], index: int) -> tuple[bool, bool, float]:
        """Whether the answer names an option, and the right one.

        Example:
            >>> TASK.judge("<answer>no</answer>", {"answer": "B", "options": ["yes", "no"]}, 0)
            (True, True, 0.0)
        """
        options = row.get("options")
        truth = parse_choice(str(row["answer"]), options)
        if truth is None:
            raise ValueError(f"row {index}: 'answer' {row['answer']!r} names no option")
        chosen = parse_choice(answer, options)
        return chosen is not None, chosen == truth, 0.0

    def curriculum(self, schedule: Any, setup: AnswerSetup, tensorboard_writer: Any = None) -> None:
        """None: the choice reward has no threshold."""
        return None

    def reward_functions(self, setup: AnswerSetup, curriculum: Any, reward: str = "binary") -> list[Callable]:
        """The format reward (an option letter in the layout) and the choice reward.

        Example:
            >>> [f.__name__ for f in TASK.reward_functions(AnswerSetup(), None)]
            ['format_reward_none', 'choice_reward']
        """
        return [make_format_reward(setup.reasoning, is_choice), make_choice_reward()]


TASK = VqaTask()
