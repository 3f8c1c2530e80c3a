"""The answer grammar: how an answer is laid out, asked for, and what a valid box in it is.

One home for every rule about the text of an answer, for both sides: the dataset readers
(``vlm-r1``'s answer turns) and medloc's prompts, parser, rewards and evaluation read and write
answers with these functions.

- **Reasoning layouts** (:data:`REASONING_LAYOUTS`): where the rationale goes.
  :func:`layout_answer` writes an answer in a layout, :func:`answer_clause` is the sentence of a
  prompt that asks for it, and :func:`answer_in_layout` reads the answer block back only when the
  text follows the layout exactly (the format reward's test).
- **The answer block**: :func:`extract_answer`, the last ``<answer>...</answer>`` (else the text).
- **Box formats** (:func:`find_boxes`) and the **validity** of the boxes found
  (:func:`valid_box_mask`, :func:`has_box`).

Box formats recognised, first match wins in this order:

1. Qwen2-VL tokens ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>``: always grid-1000.
2. JSON ``"bbox_2d": [x1, y1, x2, y2]`` (a dict, a list of dicts, ```` ```json ```` fences,
   trailing commas: only the key and its list are read, so almost-JSON works too).
3. Plain lists ``[x1, y1, x2, y2]``: ints or floats, any spacing; several lists are several
   boxes (``[[..], [..]]`` included).
4. Bare corner pairs ``(x1,y1),(x2,y2)``: what Qwen2-VL's format becomes once the special
   tokens are dropped by ``batch_decode(..., skip_special_tokens=True)``.

A text longer than ``MAX_TEXT_CHARS`` or with more than ``MAX_BOXES`` boxes has no boxes.

Example:
    >>> find_boxes(extract_answer('<think>left</think><answer>{"bbox_2d": [10, 20, 50, 80]}</answer>'))
    ([(10.0, 20.0, 50.0, 80.0)], False)
    >>> layout_answer("[1,2,3,4]", reasoning="after", rationale="upper left")
    '<answer>[1,2,3,4]</answer><think>upper left</think>'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "REASONING_LAYOUTS",
    "ABSURD_MARGIN",
    "MAX_BOXES",
    "MAX_TEXT_CHARS",
    "QWEN2_GRID",
    "answer_clause",
    "answer_in_layout",
    "check_reasoning",
    "extract_answer",
    "find_boxes",
    "has_box",
    "layout_answer",
    "valid_box_mask",
]

MAX_TEXT_CHARS = 1_000_000
"""Longer answer texts are not searched (no boxes); far beyond any generation budget."""
MAX_BOXES = 100
"""An answer with more boxes has none (box spam; it also bounds the cost of a union)."""
QWEN2_GRID = 1000
"""The grid Qwen2-VL's box tokens are written on."""
ABSURD_MARGIN = 1.0
"""A box is absurd (invalid) if it reaches more than this many image sizes outside the image."""

Box = tuple[float, float, float, float]

_NUM = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
_SEP = r"\s*,\s*"
_QWEN2_TOKENS = re.compile(
    rf"<\|box_start\|>\s*\(\s*{_NUM}{_SEP}{_NUM}\s*\){_SEP}\(\s*{_NUM}{_SEP}{_NUM}\s*\)\s*<\|box_end\|>"
)
_CORNERS = re.compile(rf"\(\s*{_NUM}{_SEP}{_NUM}\s*\){_SEP}\(\s*{_NUM}{_SEP}{_NUM}\s*\)")
# Lists are captured loosely (four comma-separated items without brackets) and read with
# float(), which rejects non-numbers: several times faster than a strict number pattern.
_ITEM = r"([^,\[\]]*)"
_BBOX_2D = re.compile(rf"""bbox_2d["']\s*:\s*\[{_ITEM},{_ITEM},{_ITEM},{_ITEM}\]""")
_LIST = re.compile(rf"\[{_ITEM},{_ITEM},{_ITEM},{_ITEM}\]")

_ANSWER_OPEN, _ANSWER_CLOSE = "<answer>", "</answer>"
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_TAGS = (_THINK_OPEN, _THINK_CLOSE, _ANSWER_OPEN, _ANSWER_CLOSE)
_BLOCK = r"<answer>(.*?)</answer>"
_THOUGHT = r"<think>.*?</think>"


@dataclass(frozen=True)
class _Layout:
    """One reasoning layout: how an answer is written in it, asked for, and recognised."""

    write: str
    """The completion, with ``{answer}`` and ``{rationale}``."""
    ask: str
    """The prompt's sentence, with ``{answer}`` (what to write, e.g. ``<answer>X</answer> with a letter``)."""
    pattern: re.Pattern[str]
    """A completion that follows the layout (whitespace around and between blocks); group 1: the answer."""
    tag_counts: tuple[int, int, int, int]
    """How often each of ``<think>``, ``</think>``, ``<answer>``, ``</answer>`` appears."""


_LAYOUTS = {
    "before": _Layout("<think>{rationale}</think><answer>{answer}</answer>",
                      "Think in <think></think>, then answer {answer}.",
                      re.compile(rf"\s*{_THOUGHT}\s*{_BLOCK}\s*", re.DOTALL), (1, 1, 1, 1)),
    "after": _Layout("<answer>{answer}</answer><think>{rationale}</think>",
                     "Answer {answer}, then explain in <think></think>.",
                     re.compile(rf"\s*{_BLOCK}\s*{_THOUGHT}\s*", re.DOTALL), (1, 1, 1, 1)),
    "none": _Layout("<answer>{answer}</answer>", "Answer {answer}.",
                    re.compile(rf"\s*{_BLOCK}\s*", re.DOTALL), (0, 0, 1, 1)),
}
REASONING_LAYOUTS = tuple(_LAYOUTS)
"""Where the rationale goes: ``<think>`` before the ``<answer>``, after it, or no ``<think>``."""


def check_reasoning(reasoning: str) -> None:
    """Raise ``ValueError`` naming the allowed layouts unless ``reasoning`` is one of :data:`REASONING_LAYOUTS`.

    Example:
        >>> check_reasoning("sideways")
        Traceback (most recent call last):
        ...
        ValueError: unknown reasoning layout 'sideways'; expected one of before, after, none
    """
    if reasoning not in REASONING_LAYOUTS:
        raise ValueError(f"unknown reasoning layout {reasoning!r}; expected one of {', '.join(REASONING_LAYOUTS)}")


def layout_answer(answer: str, reasoning: str = "none", rationale: str = "") -> str:
    """``answer`` in its ``<answer>`` tags, with the rationale before, after or nowhere (``reasoning``).

    Example:
        >>> layout_answer("B", reasoning="before", rationale="because")
        '<think>because</think><answer>B</answer>'
    """
    check_reasoning(reasoning)
    return _LAYOUTS[reasoning].write.format(answer=answer, rationale=rationale)


def answer_clause(answer: str, reasoning: str = "none") -> str:
    """The sentence of a prompt that asks for ``answer`` in the ``reasoning`` layout.

    Example:
        >>> answer_clause("<answer>X</answer> with the letter of one option", "after")
        'Answer <answer>X</answer> with the letter of one option, then explain in <think></think>.'
        >>> answer_clause("<answer>[x1,y1,x2,y2]</answer> in integers 0-100", "none")
        'Answer <answer>[x1,y1,x2,y2]</answer> in integers 0-100.'
    """
    check_reasoning(reasoning)
    return _LAYOUTS[reasoning].ask.format(answer=answer)


def answer_in_layout(text: str, reasoning: str) -> str | None:
    """The answer block's content when ``text`` follows the ``reasoning`` layout exactly, else ``None``.

    Whitespace is allowed around and between the blocks; each tag of the layout appears exactly once
    (``none``: no ``<think>`` tag at all).

    Example:
        >>> answer_in_layout(" <answer>B</answer>\\n<think>round</think>", "after")
        'B'
        >>> answer_in_layout("<think>x</think><answer>B</answer>", "after") is None
        True
    """
    check_reasoning(reasoning)
    layout = _LAYOUTS[reasoning]
    if tuple(text.count(tag) for tag in _TAGS) != layout.tag_counts:
        return None
    match = layout.pattern.fullmatch(text)
    return None if match is None else match.group(1)


def extract_answer(text: str) -> str:
    """The content of the last ``<answer>`` block, or the whole text if there is none.

    An unclosed last block (a truncated generation) runs to the end of the text.

    Example:
        >>> extract_answer("<answer>draft</answer> <answer>[1, 2, 3, 4]</answer>")
        '[1, 2, 3, 4]'
    """
    start = text.rfind(_ANSWER_OPEN)
    if start < 0:
        return text
    start += len(_ANSWER_OPEN)
    end = text.find(_ANSWER_CLOSE, start)
    return text[start:] if end < 0 else text[start:end]


def valid_box_mask(boxes: np.ndarray, width: np.ndarray | float | None = None,
                   height: np.ndarray | float | None = None) -> np.ndarray:
    """Per box, whether it is valid: finite, positive area and, given the image size, not absurdly far
    outside the image (beyond ``ABSURD_MARGIN`` image sizes, i.e. past ``2 x width`` or below ``-width``).

    Args:
        boxes: ``(K, 4)`` ``(x1, y1, x2, y2)`` boxes.
        width: the image width, per box or one for all; ``None`` skips the image check.
        height: the image height, the same way.

    Example:
        >>> valid_box_mask(np.array([[1, 2, 3, 4], [3, 2, 1, 4], [0, 0, 250, 10]]), 100, 100).tolist()
        [True, False, False]
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = boxes.T
    with np.errstate(invalid="ignore", over="ignore"):
        valid = np.isfinite(boxes).all(axis=1) & (x2 > x1) & (y2 > y1)
        if width is not None and height is not None:
            valid &= ((x1 >= -ABSURD_MARGIN * width) & (y1 >= -ABSURD_MARGIN * height)
                      & (x2 <= (1.0 + ABSURD_MARGIN) * width) & (y2 <= (1.0 + ABSURD_MARGIN) * height))
    return valid


def has_box(answer: str) -> bool:
    """Whether an answer block holds a box in a recognised format, every box valid (the image size is
    not checked here): the format reward's check for grounding answers.

    Example:
        >>> has_box("[1, 2, 3, 4]"), has_box("[3, 2, 1, 4]"), has_box("C")
        (True, False, False)
    """
    boxes, _ = find_boxes(answer)
    return bool(boxes) and bool(valid_box_mask(np.array(boxes)).all())


def find_boxes(text: str) -> tuple[list[Box], bool]:
    """The raw numbers of every box of the first format found in ``text``.

    No answer-block selection, frame mapping or validity check (medloc's parser adds those).

    Returns:
        ``(boxes, qwen2_grid)``: the ``(x1, y1, x2, y2)`` tuples as written, and whether
        they came from Qwen2-VL ``<|box_start|>`` tokens (hence grid-1000).

    Example:
        >>> find_boxes("<|box_start|>(10,20),(300,400)<|box_end|>")
        ([(10.0, 20.0, 300.0, 400.0)], True)
        >>> find_boxes('```json\\n[{"bbox_2d": [1, 2, 3, 4]}, {"bbox_2d": [5, 6, 7.5, 8]}]\\n```')
        ([(1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.5, 8.0)], False)
    """
    if len(text) > MAX_TEXT_CHARS:
        return [], False
    boxes, qwen2_grid = _first_format(text)
    return (boxes, qwen2_grid) if len(boxes) <= MAX_BOXES else ([], False)


def _first_format(text: str) -> tuple[list[Box], bool]:
    if "<|box_start|>" in text:
        found = _QWEN2_TOKENS.findall(text)
        if found:
            return _to_floats(found), True
    if "bbox_2d" in text:
        boxes = _to_floats(_BBOX_2D.findall(text))
        if boxes:
            return boxes, False
    if "[" in text:
        boxes = _to_floats(_LIST.findall(text))
        if boxes:
            return boxes, False
    if "(" in text:
        return _to_floats(_CORNERS.findall(text)), False
    return [], False


def _to_floats(found: list[tuple[str, str, str, str]]) -> list[Box]:
    """The four-item groups that are all numbers, as float tuples."""
    try:
        return [(float(a), float(b), float(c), float(d)) for a, b, c, d in found]
    except ValueError:
        boxes = []
        for a, b, c, d in found:
            try:
                boxes.append((float(a), float(b), float(c), float(d)))
            except ValueError:
                continue
        return boxes
