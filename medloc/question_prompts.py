"""Prompts for multiple-choice and graded rows, and the answers a perfect model writes.

One user turn, the instruction text first and then the image (as for grounding, see
:mod:`medloc.prompts`). The instruction names the reasoning layout (``before`` / ``after`` /
``none``) and, with prior knowledge (:mod:`medloc.priors`), describes each option or grade.

Example:
    >>> row = {"question": "Which quadrant holds the lesion?", "options": ["upper left", "lower right"]}
    >>> print(question_text(row, "vqa", reasoning="none"))
    Which quadrant holds the lesion?
    A) upper left
    B) lower right
    Answer <answer>X</answer> with the letter of one option.
    >>> answer_for(row | {"answer": "B"}, "vqa", reasoning="after", rationale="bottom right")
    '<answer>B</answer><think>bottom right</think>'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from medloc.priors import describe_classes
from grounding_data.answer_format import answer_clause, check_reasoning, layout_answer

QUESTION_TASKS = ("vqa", "grade")


def _check(task: str, reasoning: str) -> None:
    if task not in QUESTION_TASKS:
        raise ValueError(f"task={task!r}: question prompts exist for {', '.join(QUESTION_TASKS)}")
    check_reasoning(reasoning)


def _field(row: Mapping[str, Any], key: str) -> Any:
    if key not in row:
        raise ValueError(f"question prompt: row {row.get('id', '?')!r} has no {key!r}")
    return row[key]


def question_text(row: Mapping[str, Any], task: str, reasoning: str = "none",
                  descriptions: Mapping[str, str] | None = None) -> str:
    """The instruction for a ``vqa`` row (``question``, ``options``) or a ``grade`` row (``question``, ``grades``).

    Example:
        >>> print(question_text({"question": "What is the size grade?", "grades": ["0", "1"]}, "grade",
        ...                     reasoning="before", descriptions={"0": "under 19 px", "1": "19 px or more"}))
        What is the size grade? Grades: 0, 1.
        Known classes:
        0: under 19 px
        1: 19 px or more
        Think in <think></think>, then answer <answer>grade</answer> with one grade.
    """
    _check(task, reasoning)
    question = str(_field(row, "question")).strip()
    if task == "vqa":
        labels = [str(option) for option in _field(row, "options")]
        lines = [question, *(f"{chr(ord('A') + i)}) {option}" for i, option in enumerate(labels))]
        answer = "<answer>X</answer> with the letter of one option"
    else:
        labels = [str(grade) for grade in _field(row, "grades")]
        lines = [f"{question} Grades: {', '.join(labels)}."]
        answer = "<answer>grade</answer> with one grade"
    known = describe_classes(labels, descriptions)
    if known:
        lines += ["Known classes:", *known]
    return "\n".join([*lines, answer_clause(answer, reasoning)])


def question_prompt(row: Mapping[str, Any], task: str, reasoning: str = "none",
                    descriptions: Mapping[str, str] | None = None) -> list[dict]:
    """TRL conversational prompt for a question row: the instruction text, then the image.

    Example:
        >>> [part["type"] for part in question_prompt({"question": "Q?", "options": ["a", "b"]}, "vqa")[0]["content"]]
        ['text', 'image']
    """
    text = question_text(row, task, reasoning, descriptions)
    return [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "image"}]}]


def answer_for(row: Mapping[str, Any], task: str, reasoning: str = "none", rationale: str = "") -> str:
    """The completion a perfect model writes for a row (an SFT target, or a test's known answer).

    Example:
        >>> answer_for({"grades": ["none", "mild"], "grade": 1}, "grade", reasoning="before", rationale="small")
        '<think>small</think><answer>mild</answer>'
    """
    _check(task, reasoning)
    value = _field(row, "answer") if task == "vqa" else _field(row, "grades")[int(_field(row, "grade"))]
    return layout_answer(str(value), reasoning, rationale)
