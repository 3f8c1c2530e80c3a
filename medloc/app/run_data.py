"""The rows of a run, for every task, loaded one way: generated (the task's synthetic rows) or read
from a dataset (:func:`grounding_data.load_rows`), split into training and held-out rows, images
checked; the rows ``medloc eval`` scores; and the TRL dataset built from them.

Example:
    >>> train, held = split_rows([{"id": i} for i in range(4)], heldout=1, seed=0)
    >>> len(train), len(held)
    (3, 1)
"""

from __future__ import annotations

import io
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from datasets import Image as ImageFeature

from grounding_data import DataError, GroundingRow, load_rows
from grounding_data.checks import decode_image
from grounding_data.dicom import is_dicom_path, read_dicom
from grounding_data.frames import CoordinateFrame, get_frame
from grounding_data.synthetic import difficulty
from medloc.app.settings import SYNTHETIC, SettingsError, TrainSettings, check_data
from medloc.tasks import DEFAULT_TASK, AnswerSetup, Task, get_task


def split_rows(rows: Sequence[Mapping[str, Any]], heldout: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Shuffle ``rows`` with ``seed`` and hold ``heldout`` of them out (at most half).

    Example:
        >>> train, held = split_rows([{"id": i} for i in range(10)], heldout=3, seed=0)
        >>> len(train), len(held)
        (7, 3)
    """
    order = np.random.default_rng(seed).permutation(len(rows))
    count = min(heldout, len(rows) // 2)
    held = [dict(rows[i]) for i in order[:count]]
    train = [dict(rows[i]) for i in order[count:]]
    return train, held


def sample_rows(rows: Sequence[Mapping[str, Any]], count: int, seed: int) -> list[dict]:
    """``count`` of ``rows`` drawn at random with ``seed`` (all of them if fewer), in their original order.

    A dataset's files are often grouped (Med-R1's test split starts with every CT question), so a
    sample drawn from the whole split covers its modalities and question types; its first rows would not.

    Example:
        >>> [row["id"] for row in sample_rows([{"id": i} for i in range(10)], 3, seed=0)]
        [5, 6, 9]
    """
    if count >= len(rows):
        return [dict(row) for row in rows]
    picked = np.sort(np.random.default_rng(seed).choice(len(rows), size=count, replace=False))
    return [dict(rows[i]) for i in picked]


def dataset_rows(data: str, data_root: str | None, options: Mapping[str, Any],
                 skip_bad: bool) -> tuple[list[dict], Any]:
    """Every row of a dataset (a format or a unified jsonl) as dicts, and the reader's report.

    A bad row raises ``DataError`` naming its file and row (unless ``skip_bad``); a bad reader option
    is a :class:`SettingsError` naming ``--data-option``.
    """
    try:
        rows, report = load_rows(data, data_root, skip_bad=skip_bad, **options)
    except DataError:
        raise  # names its file and row; the commands report it as is
    except ValueError as error:
        raise SettingsError("--data-option", str(error)) from None
    return [row.to_dict() if isinstance(row, GroundingRow) else dict(row) for row in rows], report


def load_data(settings: TrainSettings, task: Task) -> tuple[list[dict], list[dict], dict | None]:
    """Training and held-out rows for the run, and the data report (real datasets only)."""
    if settings.data == SYNTHETIC:
        config = difficulty(settings.difficulty)
        needed = settings.train_rows or settings.max_steps * settings.prompts_per_step
        train = task.synthetic_rows("train", needed, config, settings.seed)
        heldout = task.synthetic_rows("heldout", settings.heldout_rows, config, settings.seed)
        return train, heldout, None
    rows, report = dataset_rows(settings.data, settings.data_root, settings.data_options, settings.skip_bad)
    if len(rows) < 2:
        raise SettingsError("--data", f"{settings.data} gave {len(rows)} usable row(s); need at least 2")
    train, heldout = split_rows(rows, settings.heldout_rows, settings.seed)
    if settings.train_rows is not None:
        train = train[: settings.train_rows]
    train, heldout = (readable_rows(part, settings.data, settings.skip_bad, report) for part in (train, heldout))
    if not train:
        raise SettingsError("--data", f"{settings.data}: no training row has a readable image")
    return train, heldout, report.to_dict()


def evaluation_rows(task: Task, data: str, data_root: str | None, options: Mapping[str, Any], skip_bad: bool,
                    count: int, preset: str = "easy", seed: int = 0) -> list[dict]:
    """The ``count`` rows ``medloc eval`` scores: the task's synthetic held-out split, or a dataset's rows
    sampled with ``seed`` across the whole split (:func:`sample_rows`).

    Example:
        >>> [row["question_type"] for row in evaluation_rows(get_task("vqa"), "synthetic", None, {}, False, 2)]
        ['quadrant', 'count']
    """
    if data == SYNTHETIC:
        return task.synthetic_rows("heldout", count, difficulty(preset), seed)
    check_data(task.name, data, data_root)
    return sample_rows(dataset_rows(data, data_root, options, skip_bad)[0], count, seed)


def readable_rows(rows: Sequence[dict], source: str, skip_bad: bool, report: Any) -> list[dict]:
    """The ``rows`` whose image decodes in full, checked before any model is built.

    An image removed, truncated or corrupted since the rows were converted raises ``DataError``
    naming the row (``source, row id '...'``); with ``skip_bad`` the row is dropped and counted in
    ``report`` (the run summary shows the count).

    Example:
        >>> from PIL import Image
        >>> from grounding_data import ConversionReport
        >>> rows = [{"image": Image.new("L", (8, 8)), "id": "a", "boxes": [[1, 1, 4, 4]]},
        ...         {"image": "/gone.png", "id": "b", "boxes": [[1, 1, 4, 4]]}]
        >>> report = ConversionReport("rows.jsonl", rows=2, boxes=2)
        >>> [row["id"] for row in readable_rows(rows, "rows.jsonl", True, report)], dict(report.skipped)
        (['a'], {'missing image': 1})
    """
    kept = []
    for row in rows:
        if isinstance(row["image"], (str, os.PathLike)):
            try:
                decode_image(Path(row["image"]), source, f"row id {row.get('id')!r}")
            except DataError as error:
                if not skip_bad:
                    raise
                report.skip(error)
                report.rows, report.boxes = report.rows - 1, report.boxes - len(row.get("boxes", ()))
                continue
        kept.append(row)
    return kept


def training_dataset(rows: Sequence[Mapping[str, Any]], reasoning: str = "none",
                     frame: str | CoordinateFrame = "pixels", task: str | Task = DEFAULT_TASK,
                     descriptions: Mapping[str, str] | None = None) -> Dataset:
    """A TRL dataset: ``prompt`` (conversational), ``image`` and the task's truth columns
    (grounding: ``boxes``, ``width``, ``height``; vqa: ``answer``, ``options``; grade: ``grade``, ``grades``).

    Example:
        >>> from PIL import Image
        >>> row = {"image": Image.new("L", (8, 8)), "phrase": "the dot", "boxes": [[1, 1, 4, 4]],
        ...        "width": 8, "height": 8}
        >>> training_dataset([row], "none", "grid-100").column_names
        ['prompt', 'image', 'boxes', 'width', 'height']
        >>> question = {"image": Image.new("L", (8, 8)), "question": "Q?", "options": ["yes", "no"], "answer": "B"}
        >>> training_dataset([question], task="vqa").column_names
        ['prompt', 'image', 'answer', 'options']
    """
    task = get_task(task) if isinstance(task, str) else task
    setup = AnswerSetup(reasoning, get_frame(frame) if task.uses_frame else None, descriptions)
    columns: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        columns["prompt"].append(task.prompt(row, setup))
        columns["image"].append(row["image"])
        for key, value in task.truth_columns(row).items():
            columns[key].append(value)
    if any(isinstance(image, (str, os.PathLike)) and is_dicom_path(image) for image in columns["image"]):
        columns["image"] = [_image_value(image) for image in columns["image"]]
    dataset = Dataset.from_dict(dict(columns))
    if rows and isinstance(rows[0]["image"], (str, os.PathLike)):
        dataset = dataset.cast_column("image", ImageFeature())
    return dataset


def _image_value(image: Any) -> dict[str, Any]:
    """An image path as a ``datasets.Image`` value; a DICOM decoded once (datasets cannot read DICOM)."""
    if not is_dicom_path(image):
        return {"bytes": None, "path": str(image)}
    buffer = io.BytesIO()
    read_dicom(image).save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}
