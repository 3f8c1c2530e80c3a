"""Multiple-choice answers (Med-R1): read the chosen option, and the 1/0 accuracy reward.

The chosen option is read from the last ``<answer>`` block (else the whole text), first rule
that matches wins:

1. a lone letter: ``C``, ``(C)``, ``C)``, ``C.``, ``c``;
2. the text of exactly one option, e.g. ``Stage Ib`` for option ``B) Stage Ib`` (case,
   punctuation and spacing ignored);
3. ``answer is C`` / ``answer: (C)`` / ``option C`` / ``choice C``;
4. a leading letter before the option text: ``C. text``, ``C) text``, ``(C) text``;
5. the text of one option inside a longer answer (whole words; when several options occur, the
   one whose text holds all the others, e.g. ``No, it's normal`` over ``No``).

With the options known, only their letters count (``E`` with four options reads as nothing).
Nothing here raises on model output.

Example:
    >>> parse_choice("<think>round, bright</think><answer> The answer is (B) </answer>")
    'B'
    >>> parse_choice("<answer>stage ib</answer>", ["Stage IIa", "Stage Ib", "Stage IV"])
    'B'
    >>> choice_reward(["C", "C) a bad image", "A", "junk"], answer=["C"] * 4)
    [1.0, 1.0, 0.0, 0.0]
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

from grounding_data.labels import find_label
from grounding_data.answer_format import extract_answer
from medloc.parsing import completion_text

__all__ = [
    "LETTERS",
    "option_letters",
    "parse_choice",
    "is_choice",
    "ChoiceReward",
    "choice_reward",
    "make_choice_reward",
]

LETTERS = string.ascii_uppercase
"""Option letters in order: option 0 is ``A``."""

_LONE_LETTER = re.compile(r"\W*\(?\s*([A-Za-z])\s*\)?\W*")
_ANSWER_IS = re.compile(
    r"(?i:\b(?:answer|option|choice))\s*(?:(?i:is)\s*)?[:=]?\s*(?:(?i:option)\s*)?\(?([A-Z])(?![A-Za-z])"
)
_LEADING_LETTER = re.compile(r"\W*\(?([A-Z])\s*[).:\]]\s*\S")


def option_letters(n: int) -> str:
    """The letters of ``n`` options.

    Example:
        >>> option_letters(4)
        'ABCD'
    """
    if not 0 <= n <= len(LETTERS):
        raise ValueError(f"a question has 0 to {len(LETTERS)} options, got {n}")
    return LETTERS[:n]


def parse_choice(completion: Any, options: Sequence[str] | None = None) -> str | None:
    """The option letter a completion chose, or ``None`` when it chose none (see the module docs).

    Args:
        completion: a string or TRL chat messages.
        options: the option texts in letter order; without them only letters are read.

    Example:
        >>> [parse_choice(text) for text in ["C", "(C)", "C)", "C. a bad image", "The answer is C", "maybe"]]
        ['C', 'C', 'C', 'C', 'C', None]
        >>> parse_choice("E", ["yes", "no"]) is None
        True
    """
    answer = extract_answer(completion_text(completion)).strip()
    valid = option_letters(len(options)) if options is not None else LETTERS
    if options is not None and len(options) == 0:
        return None
    match = _LONE_LETTER.fullmatch(answer)
    if match:
        letter = match.group(1).upper()
        return letter if letter in valid else None
    if options is not None:
        index = find_label(answer, options)
        if index is not None:
            return LETTERS[index]
    for pattern in (_ANSWER_IS, _LEADING_LETTER):
        match = pattern.search(answer) if pattern is _ANSWER_IS else pattern.match(answer)
        if match and match.group(1) in valid:
            return match.group(1)
    if options is not None:
        index = find_label(answer, options, contained=True)
        if index is not None:
            return LETTERS[index]
    return None


def is_choice(answer: str) -> bool:
    """Whether an answer block's text names an option letter (the format check of the VQA task).

    Example:
        >>> is_choice("(B)"), is_choice("no idea")
        (True, False)
    """
    return parse_choice(answer) is not None


def _gold_letters(answers: Sequence[Any], options: Sequence[Any] | None) -> list[str]:
    letters = []
    for row, gold in enumerate(answers):
        row_options = None if options is None else options[row]
        letter = parse_choice(str(gold), row_options)
        if letter is None:
            raise ValueError(f"row {row}: the 'answer' column must name an option letter, got {gold!r}")
        letters.append(letter)
    return letters


class ChoiceReward:
    """``1.0`` if the completion chose the row's ``answer`` option, else ``0.0`` (Med-R1's accuracy reward).

    Reads the ``answer`` column (the right letter; ``"C"`` or ``"<answer> C </answer>"``) and,
    when present, the ``options`` column (per row the option texts in letter order), so an
    answer written as the option's text counts too. Build it with :func:`make_choice_reward`.

    Example:
        >>> ChoiceReward()(["<answer>Stage Ib</answer>", "A"], answer=["B", "B"],
        ...                options=[["Stage IV", "Stage Ib"]] * 2)
        [1.0, 0.0]
    """

    __name__ = "choice_reward"

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        if "answer" not in kwargs:
            raise ValueError("the choice reward needs a per-row 'answer' column (the right option letter)")
        options = kwargs.get("options")
        gold = _gold_letters(kwargs["answer"], options)
        if len(gold) != len(completions):
            raise ValueError(f"'answer' has {len(gold)} rows but there are {len(completions)} completions")
        return [
            1.0 if parse_choice(completion, None if options is None else options[row]) == gold[row] else 0.0
            for row, completion in enumerate(completions)
        ]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def make_choice_reward() -> ChoiceReward:
    """The multiple-choice accuracy reward, named ``choice_reward`` in TRL's logs.

    Example:
        >>> make_choice_reward().__name__
        'choice_reward'
    """
    return ChoiceReward()


def choice_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """``1.0`` for the right option (``answer`` column, optional ``options`` column), else ``0.0``.

    Example:
        >>> choice_reward([[{"role": "assistant", "content": "<answer>B</answer>"}]], answer=["<answer> B </answer>"])
        [1.0]
    """
    return ChoiceReward()(completions, **kwargs)
