"""Validation shared by all readers: image files and boxes.

Every check raises :class:`DataError` naming the file and row; nothing is clipped
unless asked, and clipping is counted in the report.

Example::

    >>> check_box([10, 10, 5, 20], 100, 100, "a.csv", 2)
    Traceback (most recent call last):
    ...
    grounding_data.errors.DataError: a.csv, line 2: inverted box: [10.0, 10.0, 5.0, 20.0] has x2 < x1 or y2 < y1
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from grounding_data.dicom import DICOM_SUFFIXES, dicom_size, is_dicom_path, read_dicom
from grounding_data.errors import ConversionReport, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def image_size(path: Path, file: str | Path, row: int | str | None) -> tuple[int, int]:
    """(width, height) of the image at ``path``, read from its header (DICOM: ``Columns x Rows``).

    Raises ``DataError`` "missing image" or "unreadable image" naming ``file``/``row``
    (the annotation that points at the image); a DICOM whose compression pydicom cannot
    decode raises "unsupported DICOM compression" with the package to install.

    Example::

        >>> image_size(Path("x.png"), "labels.csv", 2)  # doctest: +SKIP
        (1024, 1024)
    """
    if not path.is_file():
        raise DataError("missing image", f"no file {path}", file, row)
    if is_dicom_path(path):
        return dicom_size(path, file, row)
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError("unreadable image", f"{path}: {exc}", file, row) from exc


def decode_image(path: Path, file: str | Path, row: int | str | None) -> None:
    """Decode the whole image at ``path``, not only its header (:func:`image_size` reads just that).

    A file removed, truncated or corrupted after conversion fails here, naming ``file``/``row``,
    instead of inside a training step. Raises ``DataError`` "missing image" or "unreadable image".

    Example::

        >>> decode_image(Path("gone.png"), "rows.jsonl", "row id 'a'")
        Traceback (most recent call last):
        ...
        grounding_data.errors.DataError: rows.jsonl, row id 'a': missing image: no file gone.png
    """
    if not path.is_file():
        raise DataError("missing image", f"no file {path}", file, row)
    if is_dicom_path(path):
        read_dicom(path, file, row)
        return
    try:
        with Image.open(path) as im:
            im.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError("unreadable image", f"{path}: {exc}", file, row) from exc


def find_image(folder: Path, stem: str, file: str | Path, row: int | str | None) -> Path:
    """The image file named ``stem`` in ``folder``: a PNG/JPEG copy if there is one, else the DICOM.

    Looks for ``stem`` + .png/.jpg/.jpeg, then + .dcm/.dicom (read by :mod:`grounding_data.dicom`).

    Example::

        >>> find_image(Path("train"), "000434271f63", "train.csv", 2)  # doctest: +SKIP
        PosixPath('train/000434271f63.png')
    """
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    for suffix in DICOM_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    raise DataError("missing image", f"no {stem}.png/.jpg/.jpeg/.dcm/.dicom in {folder}", file, row)


def box_from_xywh(values: list[float]) -> list[float]:
    """[x, y, w, h] -> [x1, y1, x2, y2].

    Example::

        >>> box_from_xywh([1, 2, 3, 4])
        [1.0, 2.0, 4.0, 6.0]
    """
    x, y, w, h = (float(v) for v in values)
    return [x, y, x + w, y + h]


def parse_numbers(values: list[str], names: list[str], file: str | Path, row: int | str) -> list[float]:
    """Parse CSV cells as floats; empty or non-numeric cells raise "bad coordinate".

    Example::

        >>> parse_numbers(["1", "2.5"], ["x", "y"], "a.csv", 2)
        [1.0, 2.5]
    """
    out = []
    for value, name in zip(values, names):
        try:
            out.append(float(value))
        except (TypeError, ValueError):
            raise DataError("bad coordinate", f"{name}={value!r} is not a number", file, row) from None
    return out


def check_box(box: list[float], width: int, height: int, file: str | Path, row: int | str | None,
              clip: bool = False, report: ConversionReport | None = None) -> list[float]:
    """Validate one [x1, y1, x2, y2] pixel box against a width x height image.

    Raises "NaN coordinate", "inverted box", "zero-area box" or "box outside image".
    With ``clip=True`` a box reaching outside is clipped to the image instead, and
    counted in ``report.notes["boxes clipped to the image"]``.

    Example::

        >>> check_box([0, 0, 10, 10], 8, 8, "a.csv", 3, clip=True)
        [0.0, 0.0, 8.0, 8.0]
    """
    box = [float(v) for v in box]
    if len(box) != 4:
        raise DataError("bad box", f"{box} does not have 4 numbers", file, row)
    if not all(math.isfinite(v) for v in box):
        raise DataError("NaN coordinate", f"{box} has a NaN or infinite coordinate", file, row)
    x1, y1, x2, y2 = box
    if x2 < x1 or y2 < y1:
        raise DataError("inverted box", f"{box} has x2 < x1 or y2 < y1", file, row)
    if x2 == x1 or y2 == y1:
        raise DataError("zero-area box", f"{box} has zero width or height", file, row)
    inside = 0 <= x1 and 0 <= y1 and x2 <= width and y2 <= height
    if inside:
        return box
    if not clip:
        raise DataError("box outside image", f"{box} reaches outside the {width}x{height} image", file, row)
    w, h = float(width), float(height)
    clipped = [min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h)]
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise DataError("box outside image", f"{box} lies entirely outside the {width}x{height} image", file, row)
    if report is not None:
        report.note("boxes clipped to the image")
    return clipped
