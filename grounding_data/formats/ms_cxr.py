"""MS-CXR phrase grounding: ``MS_CXR_Local_Alignment_v1.1.0.csv`` (one line per box,
x,y,w,h in original pixels) over MIMIC-CXR-JPG images (``path`` column).

Lines sharing (dicom_id, label_text) become one row whose phrase is the label_text.

Example::

    >>> rows = list(read_ms_cxr(Path("ms-cxr"), ReadContext(ConversionReport("ms-cxr")), split="test"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from grounding_data.checks import box_from_xywh, parse_numbers
from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.formats._csv import read_csv
from grounding_data.formats._groups import BoxGroup, group_row
from grounding_data.rows import GroundingRow

COLUMNS = ["dicom_id", "category_name", "label_text", "path", "x", "y", "w", "h",
           "image_width", "image_height", "split"]
SPLITS = ("train", "val", "test")


def read_ms_cxr(root: Path, ctx: ReadContext, split: str | None = None, csv: str | None = None,
                image_root: str | None = None) -> Iterator[GroundingRow]:
    """Rows of MS-CXR. Options: ``csv`` (default: the newest
    ``MS_CXR_Local_Alignment_v*.csv`` in root), ``image_root`` (folder the ``path``
    column is relative to; default root). Row id: ``dicom_id#k`` (k-th phrase of the image).
    """
    csv_path = Path(csv) if csv else _find_csv(root)
    images = Path(image_root) if image_root else root
    groups: dict[tuple[str, str], BoxGroup] = {}
    per_image: Counter = Counter()
    for line_no, rec in read_csv(csv_path, COLUMNS):
        if split and rec["split"] != split:
            continue
        key = (rec["dicom_id"], rec["label_text"])
        if key not in groups:
            groups[key] = BoxGroup(f"{key[0]}#{per_image[key[0]]}", key[1], images / rec["path"], csv_path, line_no)
            per_image[key[0]] += 1
        group = groups[key]
        try:
            xywh = parse_numbers([rec[c] for c in "xywh"], list("xywh"), csv_path, line_no)
            size = parse_numbers([rec["image_width"], rec["image_height"]], ["image_width", "image_height"],
                                 csv_path, line_no)
            group.size = (int(size[0]), int(size[1]))
            group.add(box_from_xywh(xywh), line_no)
        except DataError as err:
            group.add(err, line_no)
    return ctx.build(list(groups.values()), lambda g: group_row(g, ctx, "ms-cxr"), "ms-cxr")


def _find_csv(root: Path) -> Path:
    found = sorted(root.glob("MS_CXR_Local_Alignment_v*.csv"))
    if not found:
        raise DataError("missing file", "no MS_CXR_Local_Alignment_v*.csv", root)
    return found[-1]
