"""What every reader shares: the report, skip/raise policy, phrase template, progress."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from grounding_data.checks import check_box, image_size
from grounding_data.errors import ConversionReport, DataError
from grounding_data.rows import GroundingRow

T = TypeVar("T")
DEFAULT_TEMPLATE = "Locate the {label}."


def no_progress(items: Sequence[T], label: str) -> Iterable[T]:
    """The default progress hook: iterate silently."""
    return items


@dataclass
class ReadContext:
    """Options common to all readers and the report they fill.

    Example::

        >>> ctx = ReadContext(ConversionReport("rsna"))
        >>> ctx.phrase("lung opacity")
        'Locate the lung opacity.'
    """

    report: ConversionReport
    skip_bad: bool = False
    template: str = DEFAULT_TEMPLATE
    clip_boxes: bool = False
    progress: Callable[[Sequence, str], Iterable] = no_progress
    _sizes: dict = field(default_factory=dict)

    def skip_or_raise(self, error: DataError) -> None:
        """Raise ``error``, or with ``skip_bad`` count it in the report as a skipped row."""
        if not self.skip_bad:
            raise error
        self.report.skip(error)

    def phrase(self, label: str) -> str:
        """The referring phrase for a class label, from the template."""
        return self.template.format(label=label)

    def image_size(self, path: Path, file: str | Path, row: int | str | None) -> tuple[int, int]:
        """``checks.image_size`` with a cache (several rows often share one image)."""
        if path not in self._sizes:
            try:
                self._sizes[path] = image_size(path, file, row)
            except DataError as err:
                self._sizes[path] = err
        size = self._sizes[path]
        if isinstance(size, DataError):
            raise DataError(size.reason, size.detail, file, row)
        return size

    def boxes(self, boxes_with_rows: list[tuple[list[float], int | str]], width: int, height: int,
              file: str | Path) -> list[list[float]]:
        """Check each (box, row) pair against the image size (see ``checks.check_box``)."""
        return [check_box(box, width, height, file, row, self.clip_boxes, self.report)
                for box, row in boxes_with_rows]

    def build(self, items: Sequence[T | DataError], make_row: Callable[[T], GroundingRow | dict],
              label: str) -> Iterator[GroundingRow | dict]:
        """Turn each item into a row (a :class:`GroundingRow`, or a question row's dict); a ``DataError``
        (raised by ``make_row`` or given as the item itself, for rows found bad while indexing) raises,
        or is skipped and counted."""
        for item in self.progress(items, label):
            try:
                if isinstance(item, DataError):
                    raise item
                row = make_row(item)
            except DataError as err:
                self.skip_or_raise(err)
                continue
            self.report.keep(len(row.boxes) if isinstance(row, GroundingRow) else 0)
            yield row
