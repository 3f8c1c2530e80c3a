"""NIH ChestX-ray8 boxes: ``BBox_List_2017.csv`` (header ``Image Index,Finding Label,
Bbox [x,y,w,h],,,``: the box spreads over 4 unnamed columns; trailing empty columns)
with the 1024x1024 PNGs in ``images/`` (or Kaggle's ``images_*/images/``).

Lines of one (image, finding) become one row; phrase from the template, e.g.
"Locate the Atelectasis.". Splits use ``train_val_list.txt`` / ``test_list.txt``.

Example::

    >>> rows = list(read_chestx_ray8(Path("NIH"), ReadContext(ConversionReport("chestx-ray8"))))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from grounding_data.checks import box_from_xywh, parse_numbers
from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.formats._csv import first_existing, read_csv_lines
from grounding_data.formats._groups import BoxGroup, group_row
from grounding_data.rows import GroundingRow

SPLITS = ("train_val", "test")
HEADER = ["Image Index", "Finding Label", "Bbox [x", "y", "w", "h]"]


def read_chestx_ray8(root: Path, ctx: ReadContext, split: str | None = None, csv: str | None = None,
                     image_dir: str | None = None) -> Iterator[GroundingRow]:
    """Rows of ChestX-ray8 boxes. Options: ``csv`` (default root/BBox_List_2017.csv),
    ``image_dir`` (default: the first of root/images, root/images_*/images, root that
    holds the image). Row id: ``Image Index/Finding Label``.
    """
    csv_path = Path(csv) if csv else first_existing(root, ["BBox_List_2017.csv"], "BBox_List_2017.csv")
    header, lines = read_csv_lines(csv_path)
    if [h.strip() for h in header[:6]] != HEADER or any(h.strip() for h in header[6:]):
        raise DataError("wrong columns", f"expected 'Image Index,Finding Label,Bbox [x,y,w,h],,,'; found "
                        f"{','.join(header)!r}", csv_path, 1)
    keep = _split_images(root, split) if split else None
    folders = [Path(image_dir)] if image_dir else [root / "images", *sorted(root.glob("images_*/images")), root]
    groups: dict[tuple[str, str], BoxGroup] = {}
    for line_no, cells in lines:
        name, label = cells[0].strip(), cells[1].strip() if len(cells) > 1 else ""
        if keep is not None and name not in keep:
            continue
        key = (name, label)
        if key not in groups:
            folder = next((f for f in folders if (f / name).is_file()), folders[0])
            groups[key] = BoxGroup(f"{name}/{label}", ctx.phrase(label), folder / name, csv_path, line_no)
        if len(cells) < 6 or any(c.strip() for c in cells[6:]):
            groups[key].add(DataError("bad row", f"expected 6 filled cells, got {cells}", csv_path, line_no),
                            line_no)
            continue
        try:
            groups[key].add(box_from_xywh(parse_numbers(cells[2:6], list("xywh"), csv_path, line_no)), line_no)
        except DataError as err:
            groups[key].add(err, line_no)
    return ctx.build(list(groups.values()), lambda g: group_row(g, ctx, "chestx-ray8"), "chestx-ray8")


def _split_images(root: Path, split: str) -> set[str]:
    path = first_existing(root, [f"{split}_list.txt"], f"{split}_list.txt (needed for --split {split})")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}
