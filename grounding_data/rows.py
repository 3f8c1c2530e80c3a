"""The unified grounding row and its jsonl file (one line per phrase).

A row holds the image path, the phrase, all boxes the phrase refers to as
[x1, y1, x2, y2] in pixels of the original image, the image's width and height,
the source format name and an id.

Example::

    >>> row = GroundingRow("img.png", "Locate the nodule.", [[1, 2, 30, 40]], 64, 64, "tn3k", "0001")
    >>> write_jsonl([row], "rows.jsonl")  # doctest: +SKIP
    >>> rows, report = read_jsonl("rows.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from grounding_data.checks import check_box, image_size
from grounding_data.dicom import is_dicom_path, read_dicom
from grounding_data.errors import ConversionReport, DataError

FIELDS = ("image", "phrase", "boxes", "width", "height", "source", "id")


@dataclass
class GroundingRow:
    """One phrase on one image with every box it refers to (original-image pixels).

    Example::

        >>> GroundingRow("a.png", "Locate the mass.", [[0, 0, 5, 5]], 10, 10, "coco", "1").to_dict()["boxes"]
        [[0, 0, 5, 5]]
    """

    image: str
    phrase: str
    boxes: list[list[float]]
    width: int
    height: int
    source: str
    id: str

    def to_dict(self) -> dict:
        """The row as a JSON-ready dict with the unified field names."""
        return asdict(self)


def write_jsonl(rows: list[GroundingRow], path: str | Path) -> int:
    """Write rows to ``path`` as unified jsonl (image paths as stored); return the count.

    Example::

        >>> write_jsonl([], "empty.jsonl")  # doctest: +SKIP
        0
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: str | Path, skip_bad: bool = False, check_images: bool = True,
               report: ConversionReport | None = None) -> tuple[list[GroundingRow], ConversionReport]:
    """Read and validate a unified jsonl file.

    Relative image paths are resolved against the file's folder. Each line is checked:
    valid JSON, exactly the unified fields, a non-empty phrase, boxes inside the image
    (not NaN, inverted or zero-area), the image present, and, with ``check_images``,
    its real size equal to width/height. A bad line raises ``DataError`` naming file
    and line, or with ``skip_bad`` is skipped and counted. An empty file always raises.

    Example::

        >>> rows, report = read_jsonl("rows.jsonl", skip_bad=True)  # doctest: +SKIP
        >>> report.skipped  # doctest: +SKIP
        Counter({'missing image': 2})
    """
    path = Path(path)
    report = report or ConversionReport(str(path))
    if not path.is_file():
        raise DataError("missing file", "no such file", path)
    rows: list[GroundingRow] = []
    n_lines = 0
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            n_lines += 1
            try:
                row = _parse_line(line, path, line_no, check_images)
            except DataError as err:
                if not skip_bad:
                    raise
                report.skip(err)
                continue
            report.keep(len(row.boxes))
            rows.append(row)
    if n_lines == 0:
        raise DataError("empty file", "no rows", path)
    return rows, report


def _parse_line(line: str, path: Path, line_no: int, check_images: bool) -> GroundingRow:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError("invalid JSON", str(exc), path, line_no) from None
    if not isinstance(record, dict):
        raise DataError("invalid JSON", "a line must be a JSON object", path, line_no)
    missing = [k for k in FIELDS if k not in record]
    extra = [k for k in record if k not in FIELDS]
    if missing or extra:
        raise DataError("wrong columns", f"missing {missing}, unexpected {extra}; expected {list(FIELDS)}",
                        path, line_no)
    width, height = record["width"], record["height"]
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise DataError("bad size", f"width/height must be positive integers, got {width!r}x{height!r}",
                        path, line_no)
    if not isinstance(record["phrase"], str) or not record["phrase"].strip():
        raise DataError("empty phrase", "phrase must be a non-empty string", path, line_no)
    boxes = record["boxes"]
    if not isinstance(boxes, list) or not boxes:
        raise DataError("no boxes", "boxes must be a non-empty list of [x1, y1, x2, y2]", path, line_no)
    checked = []
    for box in boxes:
        if not isinstance(box, list) or not all(isinstance(v, (int, float)) for v in box):
            raise DataError("bad box", f"{box!r} is not a list of 4 numbers", path, line_no)
        checked.append(check_box(box, width, height, path, line_no))
    image = Path(record["image"])
    if not image.is_absolute():
        image = path.parent / image
    if check_images:
        size = image_size(image, path, line_no)
        if size != (width, height):
            raise DataError("image size mismatch", f"{image} is {size[0]}x{size[1]}, row says {width}x{height}",
                            path, line_no)
    elif not image.is_file():
        raise DataError("missing image", f"no file {image}", path, line_no)
    return GroundingRow(str(image), record["phrase"], checked, width, height, str(record["source"]),
                        str(record["id"]))


def export_png(rows: Iterator[GroundingRow], out_dir: str | Path, root: str | Path) -> Iterator[GroundingRow]:
    """Rows with their DICOM images written once as PNG under ``out_dir`` and pointed at.

    A DICOM below ``root`` keeps its relative path (``train/a1.dicom`` ->
    ``out_dir/train/a1.png``), others keep their name. Non-DICOM rows pass unchanged. Same
    size as the DICOM, so the boxes need no change.

    Example::

        >>> import tempfile
        >>> from pydicom.data import get_testdata_file
        >>> row = GroundingRow(get_testdata_file("CT_small.dcm"), "the lung", [[1, 2, 30, 40]], 128, 128, "x", "1")
        >>> [Path(copy.image).name for copy in export_png([row], tempfile.mkdtemp(), "/elsewhere")]
        ['CT_small.png']
    """
    out_dir, root = Path(out_dir), Path(root)
    written: dict[Path, Path] = {}
    for row in rows:
        image = Path(row.image)
        if is_dicom_path(image):
            if image not in written:
                relative = image.relative_to(root) if image.is_relative_to(root) else Path(image.name)
                target = (out_dir / relative).with_suffix(".png").absolute()
                target.parent.mkdir(parents=True, exist_ok=True)
                read_dicom(image, image, row.id).save(target)
                written[image] = target
            row.image = str(written[image])
        yield row
