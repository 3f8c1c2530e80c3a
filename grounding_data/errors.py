"""Bad-data errors that name their file and row, and the report of a conversion.

Example::

    >>> report = ConversionReport("rsna")
    >>> report.skip(DataError("missing image", "no file a.png", "labels.csv", 3))
    >>> report.skipped["missing image"]
    1
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


class DataError(ValueError):
    """A problem in a dataset, naming the file and the row (a line number or a label).

    ``reason`` is a short category used to count skipped rows ("missing image",
    "box outside image", ...); the message reads ``FILE, line N: reason: detail``.

    Example::

        >>> str(DataError("NaN coordinate", "x_min is nan", "train.csv", 7))
        'train.csv, line 7: NaN coordinate: x_min is nan'
    """

    def __init__(self, reason: str, detail: str, file: str | Path, row: int | str | None = None):
        self.reason = reason
        self.detail = detail
        self.file = str(file)
        self.row = row
        where = self.file if row is None else f"{self.file}, {_row_label(row)}"
        super().__init__(f"{where}: {reason}: {detail}")


def _row_label(row: int | str) -> str:
    return f"line {row}" if isinstance(row, int) else str(row)


@dataclass
class ConversionReport:
    """What happened while reading a dataset: rows kept, rows skipped by reason, and
    counted events that are not errors (``notes``: "no finding" rows, clipped boxes,
    masks with several components, ...).

    Example::

        >>> r = ConversionReport("vindr-cxr")
        >>> r.note("no finding rows", 4)
        >>> r.summary().splitlines()[0]
        'vindr-cxr: 0 rows, 0 boxes'
    """

    source: str
    rows: int = 0
    boxes: int = 0
    skipped: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)  # per skip reason or note
    max_examples: int = 3

    def keep(self, n_boxes: int) -> None:
        """Count one kept row carrying ``n_boxes`` boxes."""
        self.rows += 1
        self.boxes += n_boxes

    def skip(self, error: DataError) -> None:
        """Count a skipped row under ``error.reason`` and keep its message as an example."""
        self.skipped[error.reason] += 1
        shown = self.examples.setdefault(error.reason, [])
        if len(shown) < self.max_examples:
            shown.append(str(error))

    def note(self, what: str, n: int = 1, example: str | None = None) -> None:
        """Count ``n`` events of kind ``what`` that are reported but not errors; ``example``
        (e.g. the row id and what was seen) is kept, up to ``max_examples`` per kind.

        Example::

            >>> r = ConversionReport("kvasir-seg")
            >>> r.note("boxes disagree with the mask", example="cju0roawvklrq0799vmjorwfv")
            >>> r.summary().splitlines()[1:]
            ['boxes disagree with the mask: 1', '  e.g. cju0roawvklrq0799vmjorwfv']
        """
        if n:
            self.notes[what] += n
            if example is not None:
                shown = self.examples.setdefault(what, [])
                if len(shown) < self.max_examples:
                    shown.append(example)

    @property
    def n_skipped(self) -> int:
        """Total number of skipped rows."""
        return sum(self.skipped.values())

    def summary(self) -> str:
        """A few human-readable lines: kept, skipped by reason (with examples), notes."""
        lines = [f"{self.source}: {self.rows} rows, {self.boxes} boxes"]
        if self.skipped:
            lines.append(f"skipped {self.n_skipped} rows:")
            for reason, n in self.skipped.most_common():
                lines.append(f"  {reason}: {n}")
                lines.extend(f"    e.g. {msg}" for msg in self.examples.get(reason, []))
        for what, n in sorted(self.notes.items()):
            lines.append(f"{what}: {n}")
            lines.extend(f"  e.g. {msg}" for msg in self.examples.get(what, []))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-ready dict of the counts."""
        return {"source": self.source, "rows": self.rows, "boxes": self.boxes,
                "skipped": dict(self.skipped), "notes": dict(self.notes)}
