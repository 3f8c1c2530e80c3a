"""Find the box(es) a model wrote, and map them to pixels of the ground truth's image.

The text searched is the last ``<answer>...</answer>`` block when there is one, else the whole
text; the box formats and their order are those of :mod:`grounding_data.answer_format` (Qwen2-VL
box tokens, ``bbox_2d`` JSON, plain lists, bare corner pairs). Qwen2-VL box tokens are always
grid-1000; every other format is read in the frame asked for (pass ``frame="grid-1000"`` for
Qwen2-VL's bare corner pairs).

All boxes of the winning format are the answer (their union is scored). The answer is
"no valid box" (an empty ``(0, 4)`` array) if nothing parses or if *any* box is inverted
(``x2 < x1``), degenerate (zero area), NaN/inf, or absurd (a coordinate more than one image
size outside the image, i.e. beyond ``2 x width`` or below ``-width``). It is also "no valid
box" when the text searched (the answer block, or the whole text without one) is longer than
``answer_format.MAX_TEXT_CHARS`` or holds more than ``MAX_BOXES`` boxes: a runaway completion costs
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
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np

from grounding_data.answer_format import QWEN2_GRID, extract_answer, find_boxes, valid_box_mask
from grounding_data.frames import CoordinateFrame, get_frame

__all__ = [
    "completion_text",
    "parse_boxes",
    "parse_batch",
]

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


def _text(completion: Any) -> str:
    """:func:`completion_text`, with an inlined fast path for TRL's ``[{"role": "assistant", "content": str}]``."""
    message = completion[0] if type(completion) is list and len(completion) == 1 else None
    if type(message) is dict and message.get("role", "assistant") == "assistant" and type(message.get("content")) is str:
        return message["content"]
    return completion_text(completion)


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
        widths: the ground truth's image width per row, in pixels.
        heights: its height per row, in pixels.
        frame: the frame the model writes in (see :func:`grounding_data.frames.get_frame`).

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
    per_row = [find_boxes(extract_answer(_text(completion))) for completion in completions]
    counts = np.fromiter((len(boxes) for boxes, _ in per_row), dtype=np.int64, count=n)
    if not counts.any():
        return np.empty((0, 4), dtype=np.float64), np.empty(0, dtype=np.int64)
    boxes = np.array(list(chain.from_iterable(found for found, _ in per_row)), dtype=np.float64)
    row_idx = np.repeat(np.arange(n, dtype=np.int64), counts)
    qwen2_rows = [i for i, (_, qwen2_grid) in enumerate(per_row) if qwen2_grid]
    sx, sy = (np.array(np.broadcast_to(s, (n,)), dtype=np.float64) for s in frame.scales(w, h))
    if qwen2_rows:
        sx[qwen2_rows] = w[qwen2_rows] / QWEN2_GRID
        sy[qwen2_rows] = h[qwen2_rows] / QWEN2_GRID
    box_sx, box_sy = sx[row_idx], sy[row_idx]
    with np.errstate(invalid="ignore", over="ignore"):
        boxes *= np.stack([box_sx, box_sy, box_sx, box_sy], axis=1)
    valid = valid_box_mask(boxes, w[row_idx], h[row_idx])
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
        width: width of the image the ground truth is given in.
        height: its height.
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
