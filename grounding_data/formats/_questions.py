"""What the question readers (``med-r1``, ``omnimedvqa``, ``graded-jsonl``) share: their files, fields and images.

Multiple-choice rows hold ``image`` (path), ``question``, ``options``, ``answer`` (letter),
``modality``, ``question_type`` (OmniMedVQA's names, typos fixed: :func:`clean_label`), ``source``,
``id``; graded rows hold ``grades`` and ``grade`` (index) instead of ``options`` and ``answer``.
Image paths are relative to the ``image_root`` option (default: ``root`` when it is a folder, else
the file's folder). A bad item raises :class:`DataError` naming the file and the item (1-based),
or with ``skip_bad`` is skipped and counted.

Example::

    >>> item_label(0)
    'item 1'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grounding_data.errors import DataError

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""Option letters in order: option 0 is ``A``."""
UNKNOWN = "unknown"
"""The modality or question type of a row whose source does not say."""
LABEL_FIXES = {
    "CT(Computed Tomography)": "CT (Computed Tomography)",
    "MR (Mag-netic Resonance Imaging)": "MR (Magnetic Resonance Imaging)",
    "OCT (Optical Coherence Tomography": "OCT (Optical Coherence Tomography)",
    "ultrasound": "Ultrasound",
}
"""OmniMedVQA's modality names as released (also Med-R1's file names) -> the names rows carry."""


def clean_label(name: str) -> str:
    """A modality or question-type name with OmniMedVQA's typos fixed (:data:`LABEL_FIXES`), stripped.

    Example::

        >>> clean_label("MR (Mag-netic Resonance Imaging)"), clean_label(" X-Ray ")
        ('MR (Magnetic Resonance Imaging)', 'X-Ray')
    """
    name = name.strip()
    return LABEL_FIXES.get(name, name)


def image_base(root: Path, image_root: str | None) -> Path:
    """The folder image paths are relative to: ``image_root``, else ``root`` (a folder) or its folder.

    Raises:
        ValueError: ``root`` does not exist.

    Example::

        >>> image_base(Path("/"), "/data/images")
        PosixPath('/data/images')
    """
    if not root.exists():
        raise ValueError(f"{root} does not exist")
    if image_root is not None:
        return Path(image_root).expanduser().absolute()
    return root if root.is_dir() else root.parent


def item_label(index: int) -> str:
    return f"item {index + 1}"


def json_list(file: Path) -> list[Any]:
    try:
        content = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError("unreadable file", str(error), file) from None
    if not isinstance(content, list):
        raise DataError("not a list", f"expected a json list of questions, got {type(content).__name__}", file)
    return content


def image_path(value: Any, image_root: Path, file: Path, row: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError("missing field", f"no image path, got {value!r}", file, row)
    path = image_root / value
    if not path.is_file():
        raise DataError("missing image", f"no file {path}", file, row)
    return str(path)


def text_field(item: Mapping[str, Any], key: str, file: Path, row: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataError("missing field", f"{key!r} must be a non-empty string, got {value!r}", file, row)
    return value.strip()


def question_files(root: Path, split: str | None) -> list[Path]:
    if root.is_file():
        return [root]
    files = sorted(root.rglob("*.json"))
    if split is not None:
        files = [file for file in files
                 if file.stem.endswith(f"_{split}") or split in file.relative_to(root).parts[:-1]]
    if not files:
        raise DataError("no files", f"no .json question files{'' if split is None else f' for split {split!r}'}", root)
    return files
