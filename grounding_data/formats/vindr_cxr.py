"""VinDr-CXR: ``annotations_train.csv`` / ``annotations_test.csv`` (PhysioNet:
``image_id,rad_id,class_name,x_min,y_min,x_max,y_max``) or Kaggle's ``train.csv``
(``image_id,class_name,class_id,rad_id,x_min,...``), told apart by the header.

Images are the released DICOMs ``<image_id>.dicom`` in ``train/`` or ``test/`` (read with
pydicom, see :mod:`grounding_data.dicom`), or full-resolution PNG/JPEG copies ``<image_id>.png``
next to them (preferred); boxes are in DICOM pixels.
"No finding" lines have no box: they are counted, not turned into rows.

Several radiologists read each training image. ``radiologists`` decides the rows:
- ``"merge"`` (default): one row per (image, finding); boxes of different
  radiologists overlapping with IoU >= ``merge_iou`` are fused into their mean box
  (counted as "boxes merged across radiologists"); a box only one reader drew is kept.
- ``"pool"``: one row per (image, finding) with every radiologist's box as is.
- ``"each"``: one row per (image, finding, radiologist).

Example::

    >>> rows = list(read_vindr_cxr(Path("vindr"), ReadContext(ConversionReport("vindr-cxr")), split="train"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from grounding_data.checks import parse_numbers
from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.formats._csv import read_csv
from grounding_data.formats._groups import BoxGroup, group_row
from grounding_data.rows import GroundingRow
from grounding_data.union_find import union_find_roots

SPLITS = ("train", "test")
COORDS = ["x_min", "y_min", "x_max", "y_max"]
COLUMNS = ["image_id", "rad_id", "class_name", *COORDS]
CSV_NAMES = {"train": ["annotations/annotations_train.csv", "annotations_train.csv", "train.csv"],
             "test": ["annotations/annotations_test.csv", "annotations_test.csv"]}
RADIOLOGIST_MODES = ("merge", "pool", "each")
NO_FINDING = "no finding"


def read_vindr_cxr(root: Path, ctx: ReadContext, split: str | None = None, csv: str | None = None,
                   image_dir: str | None = None, radiologists: str = "merge",
                   merge_iou: float = 0.5) -> Iterator[GroundingRow]:
    """Rows of VinDr-CXR (``split`` "train", "test", or None for every annotation CSV found).

    Options: ``csv`` (one annotation file; its split's image folder is used unless
    ``image_dir`` is given), ``image_dir``, ``radiologists`` and ``merge_iou`` (see module
    doc). Row id: ``image_id/class_name`` (``/rad_id`` added with ``radiologists="each"``).
    """
    if radiologists not in RADIOLOGIST_MODES:
        raise ValueError(f"radiologists must be one of {RADIOLOGIST_MODES}, got {radiologists!r}")
    sources = [(Path(csv), split or "train")] if csv else _find_csvs(root, split)
    groups: dict[tuple[str, ...], BoxGroup] = {}
    readers: dict[str, list[str]] = {}  # group id -> rad_id of each of its boxes, in order
    for csv_path, part in sources:
        lines = read_csv(csv_path, COLUMNS)
        header_has_class_id = "class_id" in lines[0][1]
        ctx.report.note(f"read {csv_path.name} as the {'Kaggle' if header_has_class_id else 'PhysioNet'} variant")
        folder = Path(image_dir) if image_dir else root / part
        for line_no, rec in lines:
            if rec["class_name"].strip().lower() == NO_FINDING:
                ctx.report.note("no finding lines (not grounding rows)")
                continue
            key = (rec["image_id"], rec["class_name"]) + ((rec["rad_id"],) if radiologists == "each" else ())
            if key not in groups:
                groups[key] = BoxGroup("/".join(key), ctx.phrase(rec["class_name"]), (folder, rec["image_id"]),
                                       csv_path, line_no)
            if not any(rec[c] for c in COORDS):
                groups[key].add(DataError("missing coordinates", f"{rec['class_name']} line has no box",
                                          csv_path, line_no), line_no)
                continue
            try:
                groups[key].add(parse_numbers([rec[c] for c in COORDS], COORDS, csv_path, line_no), line_no)
                readers.setdefault(groups[key].id, []).append(rec["rad_id"])
            except DataError as err:
                groups[key].add(err, line_no)

    def make_row(group: BoxGroup) -> GroundingRow:
        row = group_row(group, ctx, "vindr-cxr")
        if radiologists == "merge":
            merged = merge_readers(row.boxes, readers[group.id], merge_iou)
            ctx.report.note("boxes merged across radiologists", len(row.boxes) - len(merged))
            row.boxes = merged
        return row

    return ctx.build(list(groups.values()), make_row, "vindr-cxr")


def merge_readers(boxes: list[list[float]], readers: list[str], iou: float) -> list[list[float]]:
    """Fuse boxes of different readers that overlap with IoU >= ``iou`` (linked
    transitively) into their coordinate mean; boxes of one reader are never fused.

    Example::

        >>> merge_readers([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], ["R1", "R2", "R1"], 0.5)
        [[0.5, 0.5, 10.5, 10.5], [50.0, 50.0, 60.0, 60.0]]
    """
    import torch  # here, not at the top: listing the formats loads no torch
    from torchvision.ops import box_iou

    t = torch.tensor(boxes, dtype=torch.float64)
    same_reader = torch.tensor([[a == b for b in readers] for a in readers])
    linked = (box_iou(t, t) >= iou) & ~same_reader
    clusters: dict[int, list[int]] = {}
    for i, root in enumerate(union_find_roots(len(boxes), linked.nonzero().tolist())):
        clusters.setdefault(root, []).append(i)
    return [t[members].mean(0).tolist() for members in sorted(clusters.values())]


def _find_csvs(root: Path, split: str | None) -> list[tuple[Path, str]]:
    found = []
    for part in [split] if split else SPLITS:
        path = next((root / n for n in CSV_NAMES[part] if (root / n).is_file()), None)
        if path is not None:
            found.append((path, part))
        elif split:
            raise DataError("missing file", f"no VinDr-CXR {part} annotations; looked for {CSV_NAMES[part]}", root)
    if not found:
        raise DataError("missing file", f"no VinDr-CXR annotations; looked for {sum(CSV_NAMES.values(), [])}",
                        root)
    return found
