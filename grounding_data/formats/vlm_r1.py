"""VLM-R1 jsonl: ``{"id", "image": "rel/path" | ["rel/path"], "conversations":
[{"from": "human", "value": "<image>..."}, {"from": "gpt", "value": "..."}]}`` with
image paths relative to a separate image folder.

The phrase is the human turn without ``<image>``; the gpt turn holds the box(es), as
any of: ``[x1, y1, x2, y2]``, ``[[...], [...]]``, JSON ``{"bbox_2d": [...], ...}`` (or
a list of them), optionally inside ``<answer>...</answer>``, or Qwen2-VL's
``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` (always 0..1000, converted to pixels and
counted). Plain numbers are pixels of the original image unless ``frame`` says
"unit" (0..1) or "grid-N" (0..N).

Example::

    >>> rows = list(read_vlm_r1(Path("rec.jsonl"), ReadContext(ConversionReport("vlm-r1")), image_root="coco"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grounding_data.errors import DataError
from grounding_data.formats._annotation_file import locate
from grounding_data.formats._context import ReadContext
from grounding_data.rows import GroundingRow

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|NaN"
QWEN2_BOX = re.compile(rf"<\|box_start\|>\s*\(\s*({NUMBER})\s*,\s*({NUMBER})\s*\)\s*,\s*"
                       rf"\(\s*({NUMBER})\s*,\s*({NUMBER})\s*\)\s*<\|box_end\|>")
BRACKET_BOX = re.compile(rf"\[\s*({NUMBER})\s*,\s*({NUMBER})\s*,\s*({NUMBER})\s*,\s*({NUMBER})\s*\]")
ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


@dataclass
class _Sample:
    line: int
    record: dict


def read_vlm_r1(root: Path, ctx: ReadContext, split: str | None = None, annotations: str | None = None,
                image_root: str | None = None, frame: str = "pixels") -> Iterator[GroundingRow]:
    """Rows of a VLM-R1 grounding jsonl. ``root`` is the jsonl or a folder with one;
    ``annotations`` names the jsonl explicitly; ``image_root`` is the image folder
    (default: the jsonl's folder); ``frame`` is "pixels", "unit" or "grid-N".
    Row id: the record's ``id`` (or ``line N``).
    """
    scale_of(frame, 1, 1)
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
    return ctx.build(samples, lambda s: _row(s, path, images, ctx, frame), "vlm-r1")


def _row(sample: _Sample, path: Path, images: Path, ctx: ReadContext, frame: str) -> GroundingRow:
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
    boxes = [[x * sx, y * sy, u * sx, v * sy] for (x, y, u, v), (sx, sy) in _boxes(gpt, frame, width, height, path, line, ctx)]
    boxes = ctx.boxes([(b, line) for b in boxes], width, height, path)
    return GroundingRow(str(image_path), phrase, boxes, width, height, "vlm-r1", str(rec.get("id", f"line {line}")))


def _boxes(answer: str, frame: str, width: int, height: int, path: Path, line: int,
           ctx: ReadContext) -> list[tuple[list[float], tuple[float, float]]]:
    """Each box in the answer with the (x, y) scale taking it to pixels."""
    inner = ANSWER.search(answer)
    text = inner.group(1) if inner else answer
    qwen2 = QWEN2_BOX.findall(text)
    if qwen2:
        ctx.report.note("Qwen2-VL <|box_start|> boxes converted from 0..1000 to pixels", len(qwen2))
        return [([float(v) for v in b], scale_of("grid-1000", width, height)) for b in qwen2]
    scale = scale_of(frame, width, height)
    boxes = _json_boxes(text)
    if boxes is None:
        boxes = [[float(v) for v in b] for b in BRACKET_BOX.findall(text)]
    if not boxes:
        raise DataError("no box in answer", f"no box found in the gpt turn {answer[:80]!r}", path, line)
    return [(b, scale) for b in boxes]


def _json_boxes(text: str) -> list[list[float]] | None:
    try:
        value = json.loads(text.strip())
    except json.JSONDecodeError:
        return None
    items = value if isinstance(value, list) and value and not _is_box(value) else [value]
    boxes = []
    for item in items:
        box = item.get("bbox_2d") if isinstance(item, dict) else item
        if not _is_box(box):
            return None
        boxes.append([float(v) for v in box])
    return boxes


def _is_box(value: object) -> bool:
    return isinstance(value, list) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value)


def scale_of(frame: str, width: int, height: int) -> tuple[float, float]:
    """(x, y) factors taking coordinates written in ``frame`` to pixels.

    Example::

        >>> scale_of("grid-1000", 500, 200)
        (0.5, 0.2)
    """
    if frame == "pixels":
        return 1.0, 1.0
    if frame == "unit":
        return float(width), float(height)
    if frame.startswith("grid-") and frame[5:].isdigit() and int(frame[5:]) > 0:
        n = int(frame[5:])
        return width / n, height / n
    raise ValueError(f"frame must be 'pixels', 'unit' or 'grid-N', got {frame!r}")
