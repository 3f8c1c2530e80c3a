"""Kvasir-SEG colonoscopy polyps as released: ``images/<id>.jpg``, ``masks/<id>.jpg`` (JPEG masks,
thresholded) and ``kavsir_bboxes.json`` (``{id: {"height", "width", "bbox": [{"label", "xmin", "ymin",
"xmax", "ymax"}, ...]}}``, pixels of the image).

The json boxes are the ground truth: one row per image with all its boxes (id = the image id). Each
row is checked against its mask: the mask's 8-connected components (``grounding_data.masks``, as the
other mask formats derive boxes) are matched greedily to the json boxes by IoU, and an image with a
box left unmatched at ``check_iou`` is counted (with examples) in the report; that is a warning, not
an error. An image in ``images/`` without a json entry takes its boxes from its mask, one per
component, and is counted.

Example::

    >>> rows = list(read_kvasir_seg(Path("kvasir-seg"), ReadContext(ConversionReport("kvasir-seg"))))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from grounding_data.checks import IMAGE_SUFFIXES
from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.formats._csv import first_existing
from grounding_data.formats._groups import BoxGroup, group_row
from grounding_data.formats._masked import MaskedImage, masked_row
from grounding_data.rows import GroundingRow

SOURCE = "kvasir-seg"
BOX_FILES = ["kavsir_bboxes.json", "kvasir_bboxes.json"]  # the release spells it "kavsir"
BOX_KEYS = ("xmin", "ymin", "xmax", "ymax")


def read_kvasir_seg(root: Path, ctx: ReadContext, split: str | None = None, threshold: int = 128,
                    min_component_pixels: int = 16, check_iou: float = 0.9, check_masks: bool = True,
                    label: str = "polyp") -> Iterator[GroundingRow]:
    """Rows of Kvasir-SEG under ``root`` (no splits: the release has none).

    Options: ``threshold`` (mask foreground grey level), ``min_component_pixels`` (smaller mask
    components, JPEG specks, are ignored), ``check_iou`` (a json box and a mask box agree at this
    IoU), ``check_masks`` (false: skip the mask check, faster), ``label`` (the phrase's label).
    A json entry whose image file is missing, whose ``width``/``height`` differ from the image or
    whose boxes are malformed is a bad row naming the json file and the image id.
    """
    path = first_existing(root, BOX_FILES, "Kvasir-SEG box file")
    entries = _load(path)
    image_dir, mask_dir = root / "images", root / "masks"
    phrase = ctx.phrase(label)
    items: list[BoxGroup | MaskedImage | DataError] = []
    for image_id, entry in entries.items():
        group = BoxGroup(image_id, phrase, image_dir / f"{image_id}.jpg", path, image_id)
        _add_entry(group, entry, path)
        items.append(group)
    extra = sorted(p for p in image_dir.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.stem not in entries)
    items += [MaskedImage(p, mask_dir / f"{p.stem}.jpg", phrase, p.stem) for p in extra]

    def make_row(item: BoxGroup | MaskedImage) -> GroundingRow:
        if isinstance(item, MaskedImage):
            row = masked_row(item, ctx, SOURCE, threshold, "each", min_component_pixels)
            ctx.report.note("images without a json entry (boxes from the mask)", example=item.id)
            return row
        row = group_row(item, ctx, SOURCE)
        if check_masks:
            check_mask(row, mask_dir / f"{row.id}.jpg", ctx, threshold, min_component_pixels, check_iou)
        return row

    return ctx.build(items, make_row, SOURCE)


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError("invalid JSON", str(exc), path) from None
    if not isinstance(data, dict) or not data:
        raise DataError("empty file", "expected a non-empty object {image id: {height, width, bbox}}", path)
    return data


def _add_entry(group: BoxGroup, entry: object, path: Path) -> None:
    """Fill ``group`` with the entry's size and boxes, or its first error."""
    complete = isinstance(entry, dict) and {"height", "width", "bbox"} <= set(entry)
    if not complete or not isinstance(entry["bbox"], list) or not entry["bbox"]:
        group.add(DataError("wrong columns", "an entry needs height, width and a non-empty bbox list",
                            path, group.id), group.id)
        return
    group.size = (entry["width"], entry["height"])
    for index, box in enumerate(entry["bbox"]):
        where = f"{group.id} box {index}"
        if not isinstance(box, dict) or not all(isinstance(box.get(k), (int, float)) for k in BOX_KEYS):
            group.add(DataError("bad box", f"{box!r} needs numeric {', '.join(BOX_KEYS)}", path, where), where)
        else:
            group.add([box[k] for k in BOX_KEYS], where)


def check_mask(row: GroundingRow, mask_path: Path, ctx: ReadContext, threshold: int, min_component_pixels: int,
               iou: float) -> None:
    """Compare ``row.boxes`` with the boxes of the mask's components; count what disagrees in the report.

    The mask must exist and have the image's size (else counted, not checked); components under
    ``min_component_pixels`` are ignored; an image disagrees when a json box or a mask box is left
    unmatched by :func:`greedy_matches` at ``iou``.

    Example::

        >>> check_mask(row, Path("kvasir-seg/masks/cju2igw4gvxds0878808qj398.jpg"), ctx, 128, 16, 0.9)  # doctest: +SKIP
        >>> ctx.report.examples["images whose json and mask boxes disagree (IoU < 0.9)"]  # doctest: +SKIP
        ['cju2igw4gvxds0878808qj398: json [[0.0, 0.0, 535.0, 545.0]], mask [[68, 0, 535, 546]]']
    """
    from grounding_data.masks import boxes_from_mask, load_mask

    if not mask_path.is_file():
        ctx.report.note("images without a mask (boxes not checked)", example=row.id)
        return
    mask = load_mask(mask_path, threshold)
    if tuple(mask.shape) != (row.height, row.width):
        ctx.report.note("masks of another size than the image (boxes not checked)",
                        example=f"{row.id}: mask {mask.shape[1]}x{mask.shape[0]}, image {row.width}x{row.height}")
        return
    boxes, n_components = boxes_from_mask(mask, "each", min_component_pixels)
    ctx.report.note(f"mask components under {min_component_pixels} pixels ignored", n_components - len(boxes))
    matches = greedy_matches(row.boxes, boxes, iou)
    if len(matches) < max(len(row.boxes), len(boxes)):
        shown = [[round(v) for v in b] for b in boxes]
        ctx.report.note(f"images whose json and mask boxes disagree (IoU < {iou})",
                        example=f"{row.id}: json {row.boxes}, mask {shown}")


def greedy_matches(a: list[list[float]], b: list[list[float]], iou: float) -> list[tuple[int, int]]:
    """Pairs (i, j) of boxes ``a[i]``, ``b[j]`` matched one-to-one, highest IoU first, each pair with IoU >= ``iou``.

    Example::

        >>> greedy_matches([[0, 0, 10, 10], [20, 20, 30, 30]], [[21, 20, 30, 30], [0, 0, 10, 9]], 0.85)
        [(0, 1), (1, 0)]
        >>> greedy_matches([[0, 0, 10, 10]], [[0, 0, 10, 5]], 0.9)
        []
    """
    import torch  # here, not at the top: listing the formats loads no torch
    from torchvision.ops import box_iou

    if not a or not b:
        return []
    ious = box_iou(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
    matches = []
    while True:
        best = int(ious.argmax())
        i, j = divmod(best, ious.shape[1])
        if ious[i, j] < iou:
            return sorted(matches)
        matches.append((i, j))
        ious[i, :] = -1
        ious[:, j] = -1
