"""Reading annotation CSVs with header checks and line numbers."""

from __future__ import annotations

import csv
from pathlib import Path

from grounding_data.errors import DataError


def read_csv(path: Path, required: list[str]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row dict) for each data line of ``path``; the header must hold
    every ``required`` column ("wrong columns" otherwise); a missing file, an empty
    file or a header without data lines raise ``DataError``.

    Example::

        >>> read_csv(Path("stage_2_train_labels.csv"), ["patientId", "Target"])  # doctest: +SKIP
        [(2, {'patientId': '0004cfab-...', 'x': '', ..., 'Target': '0'}), ...]
    """
    header, lines = read_csv_lines(path)
    names = [h.strip() for h in header]
    missing = [c for c in required if c not in names]
    if missing:
        raise DataError("wrong columns", f"missing {missing}; found {names}", path, 1)
    return [(n, dict(zip(names, (v.strip() for v in values)))) for n, values in lines]


def read_csv_lines(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header cells, [(line number, cells), ...]) of a CSV; blank lines are ignored."""
    if not path.is_file():
        raise DataError("missing file", "no such file", path)
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        rows = [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
    if not rows:
        raise DataError("empty file", "no header and no rows", path)
    if len(rows) == 1:
        raise DataError("empty file", "a header but no data rows", path)
    return rows[0][1], rows[1:]


def first_existing(root: Path, candidates: list[str], what: str) -> Path:
    """The first of ``candidates`` (relative to ``root``) that exists, else "missing file"."""
    for name in candidates:
        if (root / name).is_file():
            return root / name
    raise DataError("missing file", f"no {what} found; looked for {candidates}", root)
