"""How a grounding answer is written: the reasoning layouts, the ``<answer>`` block and the boxes in it.

One vocabulary for both sides: the dataset readers (``vlm-r1``'s answer turns) and medloc's parser,
rewards and prompts read and write answers with these functions.

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

__all__ = [
    "REASONING_LAYOUTS",
    "MAX_BOXES",
    "MAX_TEXT_CHARS",
    "QWEN2_GRID",
    "check_reasoning",
    "extract_answer",
    "find_boxes",
    "layout_answer",
]

REASONING_LAYOUTS = ("before", "after", "none")
"""Where the rationale goes: ``<think>`` before the ``<answer>``, after it, or no ``<think>``."""
MAX_TEXT_CHARS = 1_000_000
"""Longer answer texts are not searched (no boxes); far beyond any generation budget."""
MAX_BOXES = 100
"""An answer with more boxes has none (box spam; it also bounds the cost of a union)."""
QWEN2_GRID = 1000
"""The grid Qwen2-VL's box tokens are written on."""

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
    tagged = f"{_ANSWER_OPEN}{answer}{_ANSWER_CLOSE}"
    if reasoning == "before":
        return f"<think>{rationale}</think>{tagged}"
    if reasoning == "after":
        return f"{tagged}<think>{rationale}</think>"
    return tagged


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
