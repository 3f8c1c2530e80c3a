"""The format registry: one reader per released dataset format, for the task its rows serve.

Every reader is ``reader(root: Path, ctx: ReadContext, split: str | None, **options)`` and yields
rows: :class:`GroundingRow` for a grounding format, dicts for a question format (``vqa``: question,
options, answer letter; ``grade``: question, grades, grade index; see
:mod:`grounding_data.formats._questions`). Its keyword options, with their types and defaults, are
the format's own options (``-o KEY=VALUE``, :func:`grounding_data.format_options`). A new format is
a reader module here and one :class:`FormatSpec` line below.

Example::

    >>> sorted(FORMATS)[:3]
    ['chestx-ray8', 'coco', 'graded-jsonl']
    >>> FORMATS["med-r1"].task
    'vqa'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from grounding_data.formats.chestx_ray8 import read_chestx_ray8
from grounding_data.formats.coco import read_coco
from grounding_data.formats.graded_jsonl import read_graded_jsonl
from grounding_data.formats.ham10000 import read_ham10000
from grounding_data.formats.kvasir_seg import read_kvasir_seg
from grounding_data.formats.med_r1 import read_med_r1
from grounding_data.formats.ms_cxr import read_ms_cxr
from grounding_data.formats.omnimedvqa import read_omnimedvqa
from grounding_data.formats.rsna import read_rsna
from grounding_data.formats.tn3k import read_tn3k
from grounding_data.formats.vindr_cxr import read_vindr_cxr
from grounding_data.formats.vlm_r1 import read_vlm_r1
from grounding_data.rows import GroundingRow

GROUNDING = "grounding"
"""The task of grounding formats (and of a unified jsonl file): image + phrase -> boxes."""


@dataclass(frozen=True)
class FormatSpec:
    """A format: its reader, a one-line description, the splits it knows and the task its rows are for."""

    name: str
    reader: Callable[..., Iterator[GroundingRow | dict]]
    description: str
    splits: tuple[str, ...] = ()
    task: str = GROUNDING


FORMATS: dict[str, FormatSpec] = {spec.name: spec for spec in [
    FormatSpec("ham10000", read_ham10000, "HAM10000 dermoscopy; boxes from lesion masks"),
    FormatSpec("tn3k", read_tn3k, "TN3K thyroid ultrasound; boxes from JPEG masks", ("trainval", "test")),
    FormatSpec("kvasir-seg", read_kvasir_seg, "Kvasir-SEG colonoscopy polyps; kavsir_bboxes.json boxes checked "
               "against the masks"),
    FormatSpec("ms-cxr", read_ms_cxr, "MS-CXR phrase grounding on MIMIC-CXR-JPG", ("train", "val", "test")),
    FormatSpec("chestx-ray8", read_chestx_ray8, "NIH ChestX-ray8 BBox_List_2017.csv", ("train_val", "test")),
    FormatSpec("vindr-cxr", read_vindr_cxr, "VinDr-CXR (PhysioNet or Kaggle CSV)", ("train", "test")),
    FormatSpec("rsna", read_rsna, "RSNA pneumonia stage_2_train_labels.csv"),
    FormatSpec("vlm-r1", read_vlm_r1, "VLM-R1 grounding jsonl + image folder"),
    FormatSpec("coco", read_coco, "COCO instances JSON (categories as phrases)"),
    FormatSpec("med-r1", read_med_r1, "Med-R1 VQA split files (Splits/{modality,question_type}/{train,test})",
               ("train", "test"), task="vqa"),
    FormatSpec("omnimedvqa", read_omnimedvqa, "OmniMedVQA QA_information json (multiple choice)", task="vqa"),
    FormatSpec("graded-jsonl", read_graded_jsonl, "graded labels: one {image, grade} json per line", task="grade"),
]}
