"""Graded labels in a jsonl file: one ``{"image", "grade"}`` per line (optional ``question``, ``modality``,
``question_type``, ``id``); the ``grades`` option gives the labels in order.

Example::

    >>> import tempfile
    >>> from grounding_data import ConversionReport
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "eye.png").write_bytes(b"")
    >>> _ = (folder / "grades.jsonl").write_text('{"image": "eye.png", "grade": "mild"}\\n')
    >>> rows = read_graded_jsonl(folder / "grades.jsonl", ReadContext(ConversionReport("x")), None,
    ...                          grades=["none", "mild", "severe"])
    >>> [(row["grade"], row["grades"]) for row in rows]
    [(1, ['none', 'mild', 'severe'])]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.formats._questions import UNKNOWN, image_base, image_path
from grounding_data.labels import find_label


def read_graded_jsonl(root: Path, ctx: ReadContext, split: str | None, image_root: str | None = None,
                      grades: list[str] | None = None) -> Iterator[dict]:
    """Graded rows of a jsonl file: ``{"image", "grade"}`` per line, ``grades`` the labels in order."""
    base = image_base(root, image_root)
    labels = [str(label) for label in grades or ()]
    if len(labels) < 2:
        raise ValueError("graded-jsonl needs the grade labels in order, e.g. -o grades=[none,mild,moderate,severe]")
    if root.is_dir():
        raise ValueError(f"graded-jsonl reads one jsonl file, got the folder {root}")
    file = root
    lines = [(number, line) for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1)
             if line.strip()]

    def make_row(entry: tuple[int, str]) -> dict:
        number, line = entry
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError("invalid JSON", str(error), file, number) from None
        if not isinstance(item, dict) or "grade" not in item:
            raise DataError("missing field", "each line needs 'image' and 'grade'", file, number)
        grade = find_label(str(item["grade"]), labels)
        if grade is None:
            raise DataError("bad grade", f"{item['grade']!r} is not one of the grades {labels}", file, number)
        return {
            "image": image_path(item.get("image"), base, file, number), "grades": labels, "grade": grade,
            "question": str(item.get("question") or "What is the grade?"),
            "modality": str(item.get("modality") or UNKNOWN),
            "question_type": str(item.get("question_type") or UNKNOWN), "source": "graded-jsonl",
            "id": str(item.get("id") or f"{file.stem}-{number}"),
        }

    return ctx.build(lines, make_row, "graded rows")
