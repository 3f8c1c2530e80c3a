"""Find the box(es) a model wrote, and map them to pixels of the ground truth's image.

Formats recognised (inside the last ``<answer>...</answer>`` block when there is one,
else anywhere in the text), first match wins in this order:

1. Qwen2-VL tokens ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>``: always grid-1000,
   whatever frame is asked for.
2. JSON ``"bbox_2d": [x1, y1, x2, y2]`` (a dict, a list of dicts, ```` ```json ```` fences,
   trailing commas: only the key and its list are read, so almost-JSON works too).
3. Plain lists ``[x1, y1, x2, y2]``: ints or floats, any spacing; several lists are several
   boxes (``[[..], [..]]`` included).
4. Bare corner pairs ``(x1,y1),(x2,y2)``: what Qwen2-VL's format becomes once the special
   tokens are dropped by ``batch_decode(..., skip_special_tokens=True)`` (TRL does this);
   read in the frame asked for, so pass ``frame="grid-1000"`` for Qwen2-VL.

All boxes of the winning format are the answer (their union is scored). The answer is
"no valid box" (an empty ``(0, 4)`` array) if nothing parses or if *any* box is inverted
(``x2 < x1``), degenerate (zero area), NaN/inf, or absurd (a coordinate more than one image
size outside the image, i.e. beyond ``2 x width`` or below ``-width``). It is also "no valid
box" when the text searched (the answer block, or the whole text without one) is longer than
``MAX_TEXT_CHARS`` or holds more than ``MAX_BOXES`` boxes: a runaway completion costs
milliseconds, not seconds, and scores 0. Nothing here raises on model output.

Example:
    >>> parse_boxes('<think>the left lobe</think><answer>{"bbox_2d": [10, 20, 50, 80]}</answer>', 100, 100)
    array([[10., 20., 50., 80.]])
    >>> parse_boxes("<answer>[0.1, 0.2, 0.5, 0.8]</answer>", 200, 100, frame="unit")
    array([[ 20.,  20., 100.,  80.]])
    >>> parse_boxes("no box here", 100, 100)
    array([], shape=(0, 4), dtype=float64)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np

from medloc.frames import CoordinateFrame, get_frame

__all__ = [
    "completion_text",
    "extract_answer",
    "find_boxes",
    "parse_boxes",
    "parse_batch",
    "ABSURD_MARGIN",
    "MAX_BOXES",
    "MAX_TEXT_CHARS",
]

ABSURD_MARGIN = 1.0
"""A box is absurd if it reaches more than this many image sizes outside the image."""
MAX_TEXT_CHARS = 1_000_000
"""Longer answer texts are not searched (no valid box); far beyond any generation budget."""
MAX_BOXES = 100
"""An answer with more boxes is no valid box (box spam; it also bounds the cost of the union)."""

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
_ANSWER_START = len(_ANSWER_OPEN)
_QWEN2_GRID = 1000.0

Box = tuple[float, float, float, float]


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or chat messages as TRL passes them.

    Messages are ``{"role", "content"}`` dicts whose content is a string or a list of
    ``{"type": "text", "text": ...}`` parts (other parts are skipped). The assistant
    messages' texts are joined with newlines. Anything else gives ``""``.

    Example:
        >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "[1, 2, 3, 4]"}]}])
        '[1, 2, 3, 4]'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)):
        return ""
    texts = []
    for message in completion:
        if not isinstance(message, dict) or message.get("role", "assistant") != "assistant":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, (list, tuple)):
            texts.extend(
                part["text"]
                for part in content
                if isinstance(part, dict) and part.get("type", "text") == "text" and isinstance(part.get("text"), str)
            )
    return texts[0] if len(texts) == 1 else "\n".join(texts)


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
    start += _ANSWER_START
    end = text.find(_ANSWER_CLOSE, start)
    return text[start:] if end < 0 else text[start:end]


def find_boxes(text: str) -> tuple[list[Box], bool]:
    """The raw numbers of every box of the first format found in ``text``.

    No answer-block selection, frame mapping or validity check (see :func:`parse_boxes`).

    Returns:
        ``(boxes, qwen2_grid)``: the ``(x1, y1, x2, y2)`` tuples as written, and whether
        they came from Qwen2-VL ``<|box_start|>`` tokens (hence grid-1000).

    Example:
        >>> find_boxes("<|box_start|>(10,20),(300,400)<|box_end|>")
        ([(10.0, 20.0, 300.0, 400.0)], True)
        >>> find_boxes('```json\\n[{"bbox_2d": [1, 2, 3, 4]}, {"bbox_2d": [5, 6, 7.5, 8]}]\\n```')
        ([(1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.5, 8.0)], False)
    """
    boxes = _find(text)
    return list(boxes), type(boxes) is _Grid1000Boxes


class _Grid1000Boxes(list):
    """Boxes read from Qwen2-VL box tokens (always grid-1000); a list tag, cheap to test."""


def _find(text: str) -> list[Box]:
    if len(text) > MAX_TEXT_CHARS:
        return []
    boxes = _find_first_format(text)
    return boxes if len(boxes) <= MAX_BOXES else []


def _find_first_format(text: str) -> list[Box]:
    if "<|box_start|>" in text:
        found = _QWEN2_TOKENS.findall(text)
        if found:
            return _Grid1000Boxes(_to_floats(found))
    if "bbox_2d" in text:
        boxes = _to_floats(_BBOX_2D.findall(text))
        if boxes:
            return boxes
    if "[" in text:
        boxes = _to_floats(_LIST.findall(text))
        if boxes:
            return boxes
    if "(" in text:
        return _to_floats(_CORNERS.findall(text))
    return []


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


def _valid_boxes(boxes: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Per-box mask: finite, positive area, not absurdly far outside the image."""
    x1, y1, x2, y2 = boxes.T
    with np.errstate(invalid="ignore", over="ignore"):
        return (
            np.isfinite(boxes).all(axis=1)
            & (x2 > x1)
            & (y2 > y1)
            & (x1 >= -ABSURD_MARGIN * width)
            & (y1 >= -ABSURD_MARGIN * height)
            & (x2 <= (1.0 + ABSURD_MARGIN) * width)
            & (y2 <= (1.0 + ABSURD_MARGIN) * height)
        )


def _image_sizes(widths: Sequence[float], heights: Sequence[float], n: int) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(widths, dtype=np.float64).reshape(-1)
    h = np.asarray(heights, dtype=np.float64).reshape(-1)
    if len(w) != n or len(h) != n:
        raise ValueError(
            f"need one width and one height per completion: {n} completions, {len(w)} widths, {len(h)} heights"
        )
    bad = ~(np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"row {row}: image size must be positive and finite, got width={w[row]}, height={h[row]}")
    return w, h


def parse_batch(
    completions: Sequence[Any],
    widths: Sequence[float],
    heights: Sequence[float],
    frame: str | CoordinateFrame = "pixels",
) -> tuple[np.ndarray, np.ndarray]:
    """Parse many completions at once into pixel boxes, flat with a row index per box.

    Rows with no valid box contribute nothing. This is the vectorised path behind
    :func:`parse_boxes` and the rewards (frame mapping and checks run once per batch).

    Args:
        completions: strings or chat-message lists, one per row.
        widths, heights: the ground truth's image size per row, in pixels.
        frame: the frame the model writes in (see :func:`medloc.frames.get_frame`).

    Returns:
        ``(boxes, rows)``: ``(P, 4)`` float64 pixel boxes and ``(P,)`` int64 row indices.

    Raises:
        ValueError: a non-positive or non-finite image size (names the row), or lengths that
            differ. Model output never raises.

    Example:
        >>> boxes, rows = parse_batch(["[0, 0, 500, 500]", "junk", "<answer>[5, 5, 10, 10]</answer>"],
        ...                           [100, 100, 100], [50, 50, 50], frame="grid-1000")
        >>> boxes.tolist(), rows.tolist()
        ([[0.0, 0.0, 50.0, 25.0], [0.5, 0.25, 1.0, 0.5]], [0, 2])
    """
    frame = get_frame(frame)
    n = len(completions)
    w, h = _image_sizes(widths, heights, n)
    per_row: list[list[Box]] = []
    append = per_row.append
    for completion in completions:
        # inlined fast path for TRL's [{"role": "assistant", "content": str}]; else the general reader
        message = completion[0] if type(completion) is list and len(completion) == 1 else None
        is_reply = type(message) is dict and message.get("role", "assistant") == "assistant"
        text = message.get("content") if is_reply else None
        if type(text) is not str:
            text = completion_text(completion)
        start = text.rfind(_ANSWER_OPEN)
        if start >= 0:
            end = text.find(_ANSWER_CLOSE, start)
            text = text[start + _ANSWER_START :] if end < 0 else text[start + _ANSWER_START : end]
        append(_find(text))
    counts = np.fromiter(map(len, per_row), dtype=np.int64, count=n)
    if not counts.any():
        return np.empty((0, 4), dtype=np.float64), np.empty(0, dtype=np.int64)
    boxes = np.array(list(chain.from_iterable(per_row)), dtype=np.float64)
    row_idx = np.repeat(np.arange(n, dtype=np.int64), counts)
    qwen2_rows = [i for i, found in enumerate(per_row) if type(found) is _Grid1000Boxes]
    sx, sy = (np.array(np.broadcast_to(s, (n,)), dtype=np.float64) for s in frame.scales(w, h))
    if qwen2_rows:
        sx[qwen2_rows] = w[qwen2_rows] / _QWEN2_GRID
        sy[qwen2_rows] = h[qwen2_rows] / _QWEN2_GRID
    box_sx, box_sy = sx[row_idx], sy[row_idx]
    with np.errstate(invalid="ignore", over="ignore"):
        boxes *= np.stack([box_sx, box_sy, box_sx, box_sy], axis=1)
    valid = _valid_boxes(boxes, w[row_idx], h[row_idx])
    if valid.all():
        return boxes, row_idx
    row_ok = np.ones(n, dtype=bool)
    row_ok[row_idx[~valid]] = False
    keep = row_ok[row_idx]
    return boxes[keep], row_idx[keep]


def parse_boxes(
    completion: Any,
    width: float,
    height: float,
    frame: str | CoordinateFrame = "pixels",
) -> np.ndarray:
    """The box(es) of one completion in pixels of a ``width`` x ``height`` image.

    Args:
        completion: a string or a list of chat messages.
        width, height: size of the image the ground truth is given in.
        frame: the frame the model writes in (Qwen2-VL box tokens are always grid-1000).

    Returns:
        ``(K, 4)`` float64 ``(x1, y1, x2, y2)`` pixel boxes; ``(0, 4)`` for "no valid box".

    Example:
        >>> parse_boxes("<|box_start|>(100,100),(500,500)<|box_end|>", 640, 480, frame="qwen2.5-vl")
        array([[ 64.,  48., 320., 240.]])
        >>> parse_boxes("[30, 10, 20, 40]", 100, 100)  # inverted
        array([], shape=(0, 4), dtype=float64)
    """
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        raise ValueError(f"image size must be positive and finite, got width={width}, height={height}")
    boxes, _ = parse_batch([completion], [width], [height], frame)
    return boxes
