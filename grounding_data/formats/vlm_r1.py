"""VLM-R1 jsonl: ``{"id", "image": "rel/path" | ["rel/path"], "conversations":
[{"from": "human", "value": "<image>..."}, {"from": "gpt", "value": "..."}]}`` with
image paths relative to a separate image folder.

The phrase is the human turn without ``<image>``; the gpt turn holds the box(es), read the
way medloc reads a model's answer (:mod:`grounding_data.answer_format`): inside the last
``<answer>...</answer>`` block if there is one, as ``[x1, y1, x2, y2]``, ``[[...], [...]]``,
JSON ``{"bbox_2d": [...], ...}`` (or a list of them), or Qwen2-VL's
``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` (always 0..1000, converted to pixels and
counted). Plain numbers are pixels of the original image unless ``frame`` names another
coordinate frame (:func:`grounding_data.frames.get_frame`: "unit", "grid-N", "qwen2.5-vl").

Example::

    >>> rows = list(read_vlm_r1(Path("rec.jsonl"), ReadContext(ConversionReport("vlm-r1")), image_root="coco"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grounding_data.answer_format import QWEN2_GRID, extract_answer, find_boxes
from grounding_data.errors import DataError
from grounding_data.frames import CoordinateFrame, GridFrame, get_frame
from grounding_data.formats._annotation_file import locate
from grounding_data.formats._context import ReadContext
from grounding_data.rows import GroundingRow


@dataclass
class _Sample:
    line: int
    record: dict


def read_vlm_r1(root: Path, ctx: ReadContext, split: str | None = None, annotations: str | None = None,
                image_root: str | None = None, frame: str = "pixels") -> Iterator[GroundingRow]:
    """Rows of a VLM-R1 grounding jsonl. ``root`` is the jsonl or a folder with one;
    ``annotations`` names the jsonl explicitly; ``image_root`` is the image folder
    (default: the jsonl's folder); ``frame`` is the coordinate frame of the boxes (default pixels).
    Row id: the record's ``id`` (or ``line N``).
    """
    coordinates = get_frame(frame)
    path, images = locate(root, annotations, image_root, ".jsonl")
    samples = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                samples.append(_Sample(line_no, json.loads(line)))
            except json.JSONDecodeError as exc:
                samples.append(DataError("invalid JSON", str(exc), path, line_no))
    if not samples:
        raise DataError("empty file", "no rows", path)
    return ctx.build(samples, lambda s: _row(s, path, images, ctx, coordinates), "vlm-r1")


def _row(sample: _Sample, path: Path, images: Path, ctx: ReadContext, frame: CoordinateFrame) -> GroundingRow:
    rec, line = sample.record, sample.line
    if not isinstance(rec, dict) or "image" not in rec or "conversations" not in rec:
        raise DataError("wrong columns", 'a record needs "image" and "conversations"', path, line)
    image = rec["image"]
    if isinstance(image, list):
        if len(image) != 1:
            raise DataError("several images", f"grounding needs one image, got {len(image)}", path, line)
        image = image[0]
    turns = rec["conversations"]
    human = next((t.get("value", "") for t in turns if isinstance(t, dict) and t.get("from") == "human"), None)
    gpt = next((t.get("value", "") for t in turns if isinstance(t, dict) and t.get("from") == "gpt"), None)
    if human is None or gpt is None:
        raise DataError("wrong columns", "conversations need a human and a gpt turn", path, line)
    phrase = human.replace("<image>", "").strip()
    if not phrase:
        raise DataError("empty phrase", "the human turn has no text besides <image>", path, line)
    image_path = images / image
    width, height = ctx.image_size(image_path, path, line)
    boxes = ctx.boxes([(b, line) for b in _boxes(gpt, frame, width, height, path, line, ctx)], width, height, path)
    return GroundingRow(str(image_path), phrase, boxes, width, height, "vlm-r1", str(rec.get("id", f"line {line}")))


def _boxes(answer: str, frame: CoordinateFrame, width: int, height: int, path: Path, line: int,
           ctx: ReadContext) -> list[list[float]]:
    """The answer's boxes in pixels (Qwen2-VL box tokens are always grid-1000)."""
    boxes, qwen2_grid = find_boxes(extract_answer(answer))
    if not boxes:
        raise DataError("no box in answer", f"no box found in the gpt turn {answer[:80]!r}", path, line)
    if qwen2_grid:
        ctx.report.note("Qwen2-VL <|box_start|> boxes converted from 0..1000 to pixels", len(boxes))
        frame = GridFrame(QWEN2_GRID)
    return frame.decode(np.array(boxes, dtype=np.float64), width, height).tolist()
