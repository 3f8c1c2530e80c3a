"""TN3K thyroid-nodule ultrasound: ``{trainval,test}-image/NNNN.jpg`` with JPEG masks
in ``{trainval,test}-mask/NNNN.jpg`` (thresholded; boxes derived from the masks).

Example::

    >>> rows = list(read_tn3k(Path("TN3K"), ReadContext(ConversionReport("tn3k")), split="test"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.formats._masked import MaskedImage, masked_row
from grounding_data.rows import GroundingRow

SPLITS = ("trainval", "test")


def read_tn3k(root: Path, ctx: ReadContext, split: str | None = None, threshold: int = 128,
              components: str = "enclose", min_component_pixels: int = 1,
              label: str = "thyroid nodule") -> Iterator[GroundingRow]:
    """Rows of TN3K under ``root`` (``split`` "trainval", "test" or None for both).

    One row per image (id ``split/NNNN``); options as for HAM10000. An image without a
    mask is a bad row ("missing mask").
    """
    items = []
    for name in [split] if split else SPLITS:
        image_dir, mask_dir = root / f"{name}-image", root / f"{name}-mask"
        if not image_dir.is_dir():
            if split:
                raise DataError("missing folder", f"no {image_dir.name}/ folder", root)
            continue
        for image in sorted(p for p in image_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
            mask = next((mask_dir / (image.stem + s) for s in (".jpg", ".png", image.suffix)
                         if (mask_dir / (image.stem + s)).is_file()), mask_dir / image.name)
            items.append(MaskedImage(image, mask, ctx.phrase(label), f"{name}/{image.stem}"))
    if not items:
        raise DataError("empty dataset", "no images in trainval-image/ or test-image/", root)
    make = partial(masked_row, ctx=ctx, source="tn3k", threshold=threshold, components=components,
                   min_component_pixels=min_component_pixels)
    return ctx.build(items, make, "tn3k")
