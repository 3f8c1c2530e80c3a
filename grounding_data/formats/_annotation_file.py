"""Locating the annotation file and image folder of the JSON-based formats."""

from __future__ import annotations

from pathlib import Path

from grounding_data.errors import DataError


def locate(root: Path, annotations: str | None, image_root: str | None, suffix: str) -> tuple[Path, Path]:
    """(annotation file, image folder).

    ``annotations`` (absolute or relative to root) wins; otherwise ``root`` may be the
    annotation file itself, or a folder holding exactly one ``*suffix`` file. Images
    are relative to ``image_root`` (default: root if a folder, else the file's folder).

    Example::

        >>> locate(Path("refcoco/train.jsonl"), None, "coco/train2014", ".jsonl")  # doctest: +SKIP
        (PosixPath('refcoco/train.jsonl'), PosixPath('coco/train2014'))
    """
    if annotations:
        path = Path(annotations)
        path = path if path.is_absolute() else root / path
    elif root.is_file():
        path = root
    else:
        found = sorted(root.glob(f"*{suffix}"))
        if len(found) != 1:
            raise DataError("missing file", f"expected one *{suffix} file in the folder, found "
                            f"{[p.name for p in found]}; pass annotations=FILE", root)
        path = found[0]
    if not path.is_file():
        raise DataError("missing file", "no such file", path)
    images = Path(image_root) if image_root else (root if root.is_dir() else path.parent)
    return path, images
