"""COCO-style instances JSON: ``images`` (id, file_name, width, height), ``annotations``
(image_id, category_id, bbox = [x, y, w, h], iscrowd), ``categories`` (id, name).

One row per (image, category) with all its boxes; phrase from the template with the
category name. Crowd annotations are skipped and counted unless ``include_crowd``.

Example::

    >>> rows = list(read_coco(Path("coco"), ReadContext(ConversionReport("coco")),
    ...                       annotations="annotations/instances_val2017.json", image_root="coco/val2017"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from grounding_data.checks import box_from_xywh
from grounding_data.errors import DataError
from grounding_data.formats._annotation_file import locate
from grounding_data.formats._context import ReadContext
from grounding_data.formats._groups import BoxGroup, group_row
from grounding_data.rows import GroundingRow


def read_coco(root: Path, ctx: ReadContext, split: str | None = None, annotations: str | None = None,
              image_root: str | None = None, include_crowd: bool = False) -> Iterator[GroundingRow]:
    """Rows of a COCO instances file. ``root`` is the JSON or a folder with one;
    ``annotations`` names it explicitly; ``image_root`` is the folder ``file_name`` is
    relative to. Row id: ``image_id/category_id``.
    """
    path, images = locate(root, annotations, image_root, ".json")
    if path.stat().st_size == 0:
        raise DataError("empty file", "no content", path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError("invalid JSON", str(exc), path) from None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data, dict) or k not in data]
    if missing:
        raise DataError("wrong columns", f"missing top-level keys {missing}", path)
    if not data["annotations"]:
        raise DataError("empty file", "no annotations", path)
    try:
        image_info = {im["id"]: im for im in data["images"]}
        names = {c["id"]: c["name"] for c in data["categories"]}
    except (KeyError, TypeError) as exc:
        raise DataError("wrong columns", f"images need id/file_name/width/height, categories id/name ({exc})",
                        path) from None
    groups: dict[tuple, BoxGroup] = {}
    bad: list[DataError] = []
    for index, ann in enumerate(data["annotations"]):
        where = f"annotation id {ann.get('id', f'#{index}')}" if isinstance(ann, dict) else f"annotation #{index}"
        if not isinstance(ann, dict) or not {"image_id", "category_id", "bbox"} <= set(ann):
            bad.append(DataError("wrong columns", "an annotation needs image_id, category_id and bbox", path, where))
            continue
        if ann.get("iscrowd") and not include_crowd:
            ctx.report.note("crowd annotations skipped")
            continue
        key = (ann["image_id"], ann["category_id"])
        if key not in groups:
            im, name = image_info.get(key[0]), names.get(key[1])
            if im is not None and not {"file_name", "width", "height"} <= set(im):
                bad.append(DataError("wrong columns", f"image {key[0]} needs file_name, width and height",
                                     path, where))
                continue
            if im is None or name is None:
                bad.append(DataError("unknown id", f"image_id {key[0]} or category_id {key[1]} is not listed",
                                     path, where))
                continue
            groups[key] = BoxGroup(f"{key[0]}/{key[1]}", ctx.phrase(name), images / im["file_name"], path, where,
                                   size=(im["width"], im["height"]))
        bbox = ann["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            groups[key].add(DataError("bad box", f"bbox {bbox!r} is not [x, y, w, h]", path, where), where)
        else:
            groups[key].add(box_from_xywh(bbox), where)
    ctx.report.note("images without annotations", len(set(image_info) - {key[0] for key in groups}))
    return ctx.build([*groups.values(), *bad], lambda g: group_row(g, ctx, "coco"), "coco")
