"""What the adapters of trainers without TRL callbacks share: an IoU curriculum with a frame, the
ground truth as one string per sample, and settings from the environment.

A :class:`ScheduleDriver` is the curriculum core (:class:`medloc.curriculum_core.CurriculumCore`:
rewards at tau, one schedule step per training batch, the ``medloc/*`` metrics) with a coordinate
frame: an adapter hands it completions and ground truth to get IoUs, the binary rewards at the
current tau, and, for a *training* batch, the batch's IoUs with group ids to learn from. Deciding
what a training batch is, gathering it and storing the state is the adapter's job (see
:mod:`medloc.integrations`).

Trainers that pass ground truth as one string per sample (EasyR1, verl) use the JSON form
:func:`ground_truth_json` writes and :func:`parse_ground_truth` reads.

Example:
    >>> driver = ScheduleDriver("fixed", threshold=0.5)
    >>> ious = driver.ious(["[0, 0, 10, 10]", "[0, 0, 4, 10]"], [[[0, 0, 10, 10]]] * 2, [64] * 2, [64] * 2)
    >>> driver.rewards(ious).tolist()
    [1.0, 0.0]
    >>> metrics = driver.learn(ious, group_ids(["a", "a"]))
    >>> metrics["medloc/hit_rate"], metrics["medloc/zero_variance_share"]
    (0.5, 0.0)
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from grounding_data.frames import CoordinateFrame, get_frame
from medloc.curriculum_core import CurriculumCore
from medloc.scoring import completion_ious
from schedulers import RewardSchedule

ENV_SCHEDULE, ENV_SCHEDULE_OPTIONS, ENV_FRAME, ENV_FRAME_OPTIONS = (
    "MEDLOC_SCHEDULE", "MEDLOC_SCHEDULE_OPTIONS", "MEDLOC_FRAME", "MEDLOC_FRAME_OPTIONS")


def _json_object(name: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}={text!r} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object, got {text!r}")
    return value


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Curriculum settings for trainers whose command line cannot pass them (``trl grpo``, ms-swift).

    ``MEDLOC_SCHEDULE`` (default ``adaptive``), ``MEDLOC_SCHEDULE_OPTIONS`` (JSON object),
    ``MEDLOC_FRAME`` (default ``pixels``), ``MEDLOC_FRAME_OPTIONS`` (JSON object). Bad JSON
    raises ``ValueError`` naming the variable.

    Example:
        >>> settings_from_env({"MEDLOC_SCHEDULE": "fixed", "MEDLOC_SCHEDULE_OPTIONS": '{"threshold": 0.5}'})
        {'schedule': 'fixed', 'schedule_options': {'threshold': 0.5}, 'frame': 'pixels', 'frame_options': {}}
    """
    env = os.environ if environ is None else environ
    return {
        "schedule": env.get(ENV_SCHEDULE, "adaptive"),
        "schedule_options": _json_object(ENV_SCHEDULE_OPTIONS, env.get(ENV_SCHEDULE_OPTIONS, "")),
        "frame": env.get(ENV_FRAME, "pixels"),
        "frame_options": _json_object(ENV_FRAME_OPTIONS, env.get(ENV_FRAME_OPTIONS, "")),
    }


def group_ids(keys: Sequence[Hashable]) -> np.ndarray:
    """Integer group ids from per-completion keys (a uid, a prompt id): equal keys, equal ids.

    Example:
        >>> group_ids(["u7", "u7", "u2", "u7"]).tolist()
        [0, 0, 1, 0]
    """
    seen: dict[Hashable, int] = {}
    return np.array([seen.setdefault(key, len(seen)) for key in keys], dtype=np.int64)


def ground_truth_json(row: Mapping[str, Any]) -> str:
    """The ground truth of a unified row as the one string EasyR1 / verl carry per sample.

    Holds ``boxes``, ``width``, ``height`` and the row ``id`` (so that two rows with equal
    boxes stay two groups).

    Example:
        >>> ground_truth_json({"boxes": [[1, 2, 30, 40]], "width": 64, "height": 48, "id": "p1"})
        '{"boxes": [[1, 2, 30, 40]], "width": 64, "height": 48, "id": "p1"}'
    """
    return json.dumps({"boxes": row["boxes"], "width": row["width"], "height": row["height"],
                       "id": str(row.get("id", ""))})


def parse_ground_truth(value: str | Mapping[str, Any], index: int) -> tuple[list[list[float]], float, float]:
    """``(boxes, width, height)`` from a :func:`ground_truth_json` string (or its dict).

    Raises ``ValueError`` naming the sample ``index`` and the expected form.

    Example:
        >>> parse_ground_truth('{"boxes": [[1, 2, 30, 40]], "width": 64, "height": 48}', 0)
        ([[1, 2, 30, 40]], 64, 48)
    """
    expected = 'expected {"boxes": [[x1, y1, x2, y2], ...], "width": W, "height": H} (see ground_truth_json)'
    record = value
    if isinstance(value, (str, bytes)):
        try:
            record = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"sample {index}: ground truth {value!r} is not JSON; {expected}") from None
    if not isinstance(record, Mapping) or not all(key in record for key in ("boxes", "width", "height")):
        raise ValueError(f"sample {index}: ground truth {value!r} lacks boxes/width/height; {expected}")
    width, height = record["width"], record["height"]
    if not all(isinstance(v, (int, float)) and v > 0 for v in (width, height)):
        raise ValueError(f"sample {index}: ground truth width/height must be positive numbers, "
                         f"got {width!r}x{height!r}")
    return record["boxes"], width, height


class ScheduleDriver(CurriculumCore):
    """One IoU curriculum without a trainer: the curriculum core plus a coordinate frame.

    Args:
        schedule: a schedule name from :func:`schedulers.available` or a schedule object.
        frame: how the model writes coordinates (see :mod:`grounding_data.frames`): a name or a frame
            object (the adapters pass the ``qwen2.5-vl`` frame built from their trainer's pixel limits,
            :mod:`medloc.integrations.pixel_limits`). Default ``"pixels"``.
        frame_options: options of a frame given by name, e.g. ``{"max_pixels": 1003520}`` for ``"qwen2.5-vl"``.
        total_steps: run length in training batches, for ``linear`` / ``cosine`` without the option
            (without either, building them fails naming ``total_steps``).
        **options: the schedule's options.

    Example:
        >>> driver = ScheduleDriver("adaptive", frame="grid-100", window=2)
        >>> driver.threshold
        0.3
    """

    def __init__(self, schedule: str | RewardSchedule = "adaptive", frame: str | CoordinateFrame = "pixels",
                 frame_options: Mapping[str, int] | None = None, total_steps: int | None = None,
                 **options: Any) -> None:
        super().__init__(schedule, score_name="iou", total_steps=total_steps, **options)
        self.frame = get_frame(frame, **dict(frame_options or {}))

    def ious(self, completions: Sequence[Any], boxes: Sequence[Any], widths: Sequence[float],
             heights: Sequence[float]) -> np.ndarray:
        """``(N,)`` IoUs of the completions with their ground truth (invalid answers: 0)."""
        return completion_ious(completions, boxes, widths, heights, self.frame)
