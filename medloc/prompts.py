"""Prompts for a grounding row, and the answer text for a box (SFT targets).

The prompt is one user turn: the instruction text first, then the image (a fixed
image-to-answer distance helps small models). The image part is a ``{"type": "image"}``
placeholder that TRL fills from the row's ``image`` column. The instruction names the
reasoning layout ("before" / "after" / "none", see :data:`grounding_data.answer_format.REASONING_LAYOUTS`)
and the coordinate frame the answer is written in (:mod:`grounding_data.frames`).

Example:
    >>> row = {"phrase": "the bright lesion", "width": 112, "height": 112}
    >>> build_prompt(row, reasoning="none", frame="grid-100")[0]["content"][0]["text"]
    'Find the bright lesion. Answer <answer>[x1,y1,x2,y2]</answer> in integers 0-100.'
    >>> answer_text([[13.4, 33.6, 44.8, 68.3]], 112, 112, reasoning="none", frame="grid-100")
    '<answer>[12,30,40,61]</answer>'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from grounding_data.answer_format import answer_clause, layout_answer
from grounding_data.frames import CoordinateFrame, GridFrame, QwenResizedFrame, UnitFrame, get_frame


def coordinate_words(frame: str | CoordinateFrame, width: int, height: int) -> str:
    """How the instruction tells the model to write coordinates in `frame`.

    Example:
        >>> coordinate_words("unit", 640, 480)
        'fractions 0-1'
        >>> coordinate_words("pixels", 640, 480)
        'pixels of the 640x480 image'
    """
    frame = get_frame(frame)
    if isinstance(frame, GridFrame):
        return f"integers 0-{frame.n}"
    if isinstance(frame, UnitFrame):
        return "fractions 0-1"
    if isinstance(frame, QwenResizedFrame):
        width, height = frame.resized_size(width, height)
    return f"pixels of the {width}x{height} image"


def instruction(phrase: str, width: int, height: int, reasoning: str = "none",
                frame: str | CoordinateFrame = "pixels") -> str:
    """The instruction text for `phrase` (without the image).

    Example:
        >>> instruction("the mass", 100, 100, reasoning="before", frame="grid-1000")
        'Find the mass. Think in <think></think>, then answer <answer>[x1,y1,x2,y2]</answer> in integers 0-1000.'
    """
    if not isinstance(phrase, str) or not phrase.strip():
        raise ValueError(f"phrase={phrase!r}: a prompt needs a non-empty phrase")
    clause = answer_clause(f"<answer>[x1,y1,x2,y2]</answer> in {coordinate_words(frame, width, height)}", reasoning)
    return f"Find {phrase.strip().rstrip('.')}. {clause}"


def build_prompt(row: Mapping, reasoning: str = "none", frame: str | CoordinateFrame = "pixels") -> list[dict]:
    """TRL conversational prompt for a row with `phrase`, `width`, `height` (text, then image).

    Example:
        >>> msgs = build_prompt({"phrase": "the nodule", "width": 64, "height": 64})
        >>> [part["type"] for part in msgs[0]["content"]]
        ['text', 'image']
    """
    for key in ("phrase", "width", "height"):
        if key not in row:
            raise ValueError(f"build_prompt: row {row.get('id', '?')!r} has no {key!r}")
    text = instruction(row["phrase"], int(row["width"]), int(row["height"]), reasoning, frame)
    return [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "image"}]}]


def format_boxes(boxes: Sequence[Sequence[float]], width: int, height: int,
                 frame: str | CoordinateFrame = "pixels") -> str:
    """Pixel boxes written in `frame`: integers (grid, pixel frames) or 2-decimal fractions (unit).

    One box is ``[x1,y1,x2,y2]``; several are ``[[...],[...]]``. Values are clamped to the canvas.

    Example:
        >>> format_boxes([[0, 0, 56, 112]], 112, 112, "unit")
        '[0,0,0.5,1]'
        >>> format_boxes([[0, 0, 10, 10], [20, 20, 30, 30]], 100, 100, "grid-100")
        '[[0,0,10,10],[20,20,30,30]]'
    """
    frame = get_frame(frame)
    pixel_boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(pixel_boxes) == 0:
        raise ValueError("format_boxes: no boxes to write")
    encoded = frame.encode(pixel_boxes, width, height)
    upper = frame.encode(np.array([[width, height, width, height]], dtype=np.float64), width, height)[0]
    encoded = np.clip(encoded, 0, upper)
    if isinstance(frame, UnitFrame):
        texts = ["[" + ",".join(f"{v:.2f}".rstrip("0").rstrip(".") for v in box) + "]" for box in encoded]
    else:
        texts = ["[" + ",".join(str(int(round(v))) for v in box) + "]" for box in encoded]
    return texts[0] if len(texts) == 1 else "[" + ",".join(texts) + "]"


def answer_text(boxes: Sequence[Sequence[float]], width: int, height: int, reasoning: str = "none",
                frame: str | CoordinateFrame = "pixels", rationale: str = "") -> str:
    """The completion a perfect model would write for pixel `boxes` (an SFT target).

    Example:
        >>> answer_text([[0, 0, 50, 50]], 100, 100, reasoning="after", rationale="upper left")
        '<answer>[0,0,50,50]</answer><think>upper left</think>'
    """
    return layout_answer(format_boxes(boxes, width, height, frame), reasoning, rationale)


def location_words(box: Sequence[float], width: int, height: int) -> str:
    """Where a pixel box lies, in words (a simple rationale for think layouts).

    Example:
        >>> location_words([0, 0, 20, 20], 100, 100)
        'upper left'
    """
    cx, cy = (box[0] + box[2]) / 2 / width, (box[1] + box[3]) / 2 / height
    vertical = "upper" if cy < 1 / 3 else "lower" if cy > 2 / 3 else "middle"
    horizontal = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "centre"
    return "centre" if (vertical, horizontal) == ("middle", "centre") else f"{vertical} {horizontal}"
