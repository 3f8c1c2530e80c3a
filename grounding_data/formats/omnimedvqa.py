"""OmniMedVQA's ``QA_information/**/<dataset>.json``: json lists of ``question``, ``option_A``..``option_D``,
``gt_answer`` (an option's text), ``modality_type``, ``question_type``, ``image_path``, ``question_id``.

Example::

    >>> import json, tempfile
    >>> from grounding_data import ConversionReport
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "scan.png").write_bytes(b"")
    >>> _ = (folder / "qa.json").write_text(json.dumps([{"question": "Which organ?", "option_A": "liver",
    ...     "option_B": "lung", "gt_answer": "lung", "image_path": "scan.png", "modality_type": "CT"}]))
    >>> [(row["answer"], row["modality"]) for row in read_omnimedvqa(folder, ReadContext(ConversionReport("x")), None)]
    [('B', 'CT')]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.formats._questions import LETTERS, UNKNOWN, clean_label, image_base, image_path, item_label
from grounding_data.formats._questions import json_list, question_files, text_field
from grounding_data.labels import find_label


def read_omnimedvqa(root: Path, ctx: ReadContext, split: str | None, image_root: str | None = None) -> Iterator[dict]:
    """Rows of OmniMedVQA QA files (a file, a ``QA_information`` folder, or the dataset folder)."""
    base = image_base(root, image_root)
    folder = root / "QA_information" if (root / "QA_information").is_dir() else root
    items = [(file, index, item) for file in question_files(folder, None) for index, item in enumerate(json_list(file))]

    def make_row(entry: tuple[Path, int, object]) -> dict:
        file, index, item = entry
        where = item_label(index)
        if not isinstance(item, dict):
            raise DataError("not an object", f"expected a question object, got {item!r}", file, where)
        options = [str(item[f"option_{letter}"]).strip() for letter in LETTERS
                   if f"option_{letter}" in item and str(item[f"option_{letter}"]).strip()]
        if len(options) < 2:
            raise DataError("no options", "fewer than two non-empty option_A, option_B, ...", file, where)
        truth = text_field(item, "gt_answer", file, where)
        position = find_label(truth, options)
        if position is None:
            raise DataError("bad answer", f"gt_answer {truth!r} is none of the options {options}", file, where)
        return {
            "image": image_path(item.get("image_path"), base, file, where),
            "question": text_field(item, "question", file, where), "options": options, "answer": LETTERS[position],
            "modality": clean_label(str(item.get("modality_type") or item.get("modality") or UNKNOWN)),
            "question_type": clean_label(str(item.get("question_type") or UNKNOWN)), "source": "omnimedvqa",
            "id": str(item.get("question_id") or f"{file.stem}-{index}"),
        }

    return ctx.build(items, make_row, "OmniMedVQA questions")
