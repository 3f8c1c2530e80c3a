"""HAM10000 dermoscopy: ``HAM10000_metadata.csv`` + ``ISIC_XXXXXXX.jpg`` images +
``ISIC_XXXXXXX_segmentation.png`` lesion masks (boxes derived from the masks).

Images and masks are found anywhere under the root (the release splits images over
``HAM10000_images_part_1/`` and ``_part_2/``; masks live in
``HAM10000_segmentations_lesion_tschandl/``). One row per image.

Example::

    >>> rows = list(read_ham10000(Path("HAM10000"), ReadContext(ConversionReport("ham10000"))))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.formats._csv import first_existing, read_csv
from grounding_data.formats._masked import MaskedImage, masked_row
from grounding_data.rows import GroundingRow

COLUMNS = ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"]
DIAGNOSES = {
    "akiec": "actinic keratosis", "bcc": "basal cell carcinoma", "bkl": "benign keratosis-like lesion",
    "df": "dermatofibroma", "mel": "melanoma", "nv": "melanocytic nevus", "vasc": "vascular lesion",
}


def read_ham10000(root: Path, ctx: ReadContext, split: str | None = None, metadata: str | None = None,
                  threshold: int = 128, components: str = "enclose", min_component_pixels: int = 1,
                  label: str = "skin lesion", use_dx: bool = False) -> Iterator[GroundingRow]:
    """Rows of HAM10000 under ``root``.

    Options: ``metadata`` (CSV path, default ``HAM10000_metadata.csv`` found under root),
    ``threshold``/``components``/``min_component_pixels`` (mask to boxes), ``label`` (the
    phrase's label, default "skin lesion"), ``use_dx`` (label = the diagnosis, e.g.
    "melanoma", instead). A missing image or mask is a bad row.
    """
    csv_path = Path(metadata) if metadata else _find_metadata(root)
    lines = read_csv(csv_path, COLUMNS)
    images = {p.stem: p for p in root.rglob("ISIC_*.jpg")}
    masks = {p.stem.removesuffix("_segmentation"): p for p in root.rglob("ISIC_*_segmentation.png")}
    items = []
    for line_no, rec in lines:
        image_id = rec["image_id"]
        if use_dx and rec["dx"] not in DIAGNOSES:
            items.append(DataError("unknown diagnosis", f"dx={rec['dx']!r}; known {sorted(DIAGNOSES)}",
                                   csv_path, line_no))
            continue
        phrase = ctx.phrase(DIAGNOSES[rec["dx"]] if use_dx else label)
        items.append(MaskedImage(images.get(image_id, root / f"{image_id}.jpg"),
                                 masks.get(image_id, root / f"{image_id}_segmentation.png"), phrase, image_id))
    make = partial(masked_row, ctx=ctx, source="ham10000", threshold=threshold, components=components,
                   min_component_pixels=min_component_pixels)
    return ctx.build(items, make, "ham10000")


def _find_metadata(root: Path) -> Path:
    found = sorted(root.rglob("HAM10000_metadata*.csv"))
    return found[0] if found else first_existing(root, ["HAM10000_metadata.csv"], "HAM10000 metadata CSV")

