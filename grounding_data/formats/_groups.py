"""Grouping annotation lines so that one phrase on one image carries all its boxes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grounding_data.checks import find_image
from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.rows import GroundingRow


@dataclass
class BoxGroup:
    """Boxes of one (image, phrase) collected from annotation lines.

    ``image`` is a path, or ``(folder, stem)`` to look up as PNG/JPEG when the row is
    built. ``size`` is the (width, height) the annotation claims, checked against the
    image. ``error`` is the first problem found while grouping (the row is then bad).
    """

    id: str
    phrase: str
    image: Path | tuple[Path, str]
    file: Path
    row: int | str
    boxes: list[tuple[list[float], int | str]] = field(default_factory=list)
    size: tuple[int, int] | None = None
    error: DataError | None = None

    def add(self, box: list[float] | DataError, row: int | str) -> None:
        """Add a box from ``row``, or remember the first error."""
        if isinstance(box, DataError):
            self.error = self.error or box
        else:
            self.boxes.append((box, row))


def group_row(group: BoxGroup, ctx: ReadContext, source: str) -> GroundingRow:
    """Validate a group (image present and readable, sizes agree, boxes valid) into a row."""
    if group.error:
        raise group.error
    image = group.image
    if isinstance(image, tuple):
        image = find_image(image[0], image[1], group.file, group.row)
    width, height = ctx.image_size(image, group.file, group.row)
    if group.size is not None and group.size != (width, height):
        raise DataError("image size mismatch", f"{image} is {width}x{height}, annotation says "
                        f"{group.size[0]}x{group.size[1]}", group.file, group.row)
    boxes = ctx.boxes(group.boxes, width, height, group.file)
    return GroundingRow(str(image), group.phrase, boxes, width, height, source, group.id)
