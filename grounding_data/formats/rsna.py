"""RSNA pneumonia detection: ``stage_2_train_labels.csv`` (``patientId,x,y,width,height,
Target``; Target 0 lines have no box; a patient can have several lines) with the 1024x1024
images in ``stage_2_train_images/<patientId>.dcm`` as released (read with pydicom, see
:mod:`grounding_data.dicom`), or PNG/JPEG copies ``<patientId>.png`` next to them (preferred).

One row per positive patient, all its boxes together; Target 0 patients are counted
("no finding"), not turned into rows.

Example::

    >>> rows = list(read_rsna(Path("rsna"), ReadContext(ConversionReport("rsna"))))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from grounding_data.checks import box_from_xywh, parse_numbers
from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.formats._csv import read_csv
from grounding_data.formats._groups import BoxGroup, group_row
from grounding_data.rows import GroundingRow

COLUMNS = ["patientId", "x", "y", "width", "height", "Target"]


def read_rsna(root: Path, ctx: ReadContext, split: str | None = None, csv: str | None = None,
              image_dir: str | None = None, label: str = "lung opacity") -> Iterator[GroundingRow]:
    """Rows of RSNA pneumonia. Options: ``csv`` (default root/stage_2_train_labels.csv),
    ``image_dir`` (default root/stage_2_train_images), ``label`` (phrase label, default
    "lung opacity"). Row id: the patientId. A patient with both Target 0 and 1 is bad.
    """
    csv_path = Path(csv) if csv else root / "stage_2_train_labels.csv"
    folder = Path(image_dir) if image_dir else root / "stage_2_train_images"
    groups: dict[str, BoxGroup] = {}
    negatives: dict[str, int] = {}
    for line_no, rec in read_csv(csv_path, COLUMNS):
        pid, target = rec["patientId"], rec["Target"]
        if target == "0":
            negatives.setdefault(pid, line_no)
            continue
        if pid not in groups:
            groups[pid] = BoxGroup(pid, ctx.phrase(label), (folder, pid), csv_path, line_no)
        if target != "1":
            groups[pid].add(DataError("bad Target", f"Target={target!r}, expected 0 or 1", csv_path, line_no),
                            line_no)
            continue
        try:
            names = ["x", "y", "width", "height"]
            groups[pid].add(box_from_xywh(parse_numbers([rec[c] for c in names], names, csv_path, line_no)),
                            line_no)
        except DataError as err:
            groups[pid].add(err, line_no)
    for pid, line_no in negatives.items():
        if pid in groups:
            groups[pid].add(DataError("inconsistent Target", f"patient {pid} also has Target 0",
                                      csv_path, line_no), line_no)
        else:
            ctx.report.note("no finding patients (Target 0, not grounding rows)")
    return ctx.build(list(groups.values()), lambda g: group_row(g, ctx, "rsna"), "rsna")
