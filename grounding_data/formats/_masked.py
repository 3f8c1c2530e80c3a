"""Shared reader for datasets whose boxes come from lesion masks (HAM10000, TN3K).

The mask functions (torch) are imported when a row is read: listing the formats loads no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grounding_data.checks import check_box
from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.rows import GroundingRow


@dataclass
class MaskedImage:
    """An image, its lesion mask, the phrase and the row id."""

    image: Path
    mask: Path
    phrase: str
    id: str


def masked_row(item: MaskedImage, ctx: ReadContext, source: str, threshold: int, components: str,
               min_component_pixels: int) -> GroundingRow:
    """One row per image: boxes from the mask (raises "empty mask", "mask size mismatch")."""
    from grounding_data.masks import boxes_from_mask, load_mask

    width, height = ctx.image_size(item.image, item.mask, item.id)
    mask = load_mask(item.mask, threshold)
    if tuple(mask.shape) != (height, width):
        raise DataError("mask size mismatch", f"mask is {mask.shape[1]}x{mask.shape[0]}, image {item.image} "
                        f"is {width}x{height}", item.mask, item.id)
    if not mask.any():
        raise DataError("empty mask", f"no pixel >= threshold {threshold}", item.mask, item.id)
    boxes, n_components = boxes_from_mask(mask, components, min_component_pixels)
    if components == "enclose" and n_components > 1:
        ctx.report.note("masks with several components (one enclosing box)")
    if components == "each":
        ctx.report.note(f"mask components under {min_component_pixels} pixels dropped", n_components - len(boxes))
    if not boxes:
        raise DataError("empty mask", f"no component of {min_component_pixels}+ pixels", item.mask, item.id)
    boxes = [check_box(b, width, height, item.mask, item.id) for b in boxes]
    return GroundingRow(str(item.image), item.phrase, boxes, width, height, source, item.id)
