"""The format registry: one reader per released dataset format.

Example::

    >>> sorted(FORMATS)[:3]
    ['chestx-ray8', 'coco', 'ham10000']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from grounding_data.formats.chestx_ray8 import read_chestx_ray8
from grounding_data.formats.coco import read_coco
from grounding_data.formats.ham10000 import read_ham10000
from grounding_data.formats.ms_cxr import read_ms_cxr
from grounding_data.formats.rsna import read_rsna
from grounding_data.formats.tn3k import read_tn3k
from grounding_data.formats.vindr_cxr import read_vindr_cxr
from grounding_data.formats.vlm_r1 import read_vlm_r1
from grounding_data.rows import GroundingRow


@dataclass(frozen=True)
class FormatSpec:
    """A format: its reader, a one-line description and the splits it knows."""

    name: str
    reader: Callable[..., Iterator[GroundingRow]]
    description: str
    splits: tuple[str, ...] = ()


FORMATS: dict[str, FormatSpec] = {spec.name: spec for spec in [
    FormatSpec("ham10000", read_ham10000, "HAM10000 dermoscopy; boxes from lesion masks"),
    FormatSpec("tn3k", read_tn3k, "TN3K thyroid ultrasound; boxes from JPEG masks", ("trainval", "test")),
    FormatSpec("ms-cxr", read_ms_cxr, "MS-CXR phrase grounding on MIMIC-CXR-JPG", ("train", "val", "test")),
    FormatSpec("chestx-ray8", read_chestx_ray8, "NIH ChestX-ray8 BBox_List_2017.csv", ("train_val", "test")),
    FormatSpec("vindr-cxr", read_vindr_cxr, "VinDr-CXR (PhysioNet or Kaggle CSV)", ("train", "test")),
    FormatSpec("rsna", read_rsna, "RSNA pneumonia stage_2_train_labels.csv"),
    FormatSpec("vlm-r1", read_vlm_r1, "VLM-R1 grounding jsonl + image folder"),
    FormatSpec("coco", read_coco, "COCO instances JSON (categories as phrases)"),
]}
