"""The trainer-agnostic core every trainer adapter shares: score at tau, learn from a batch.

A :class:`ScheduleDriver` owns one schedule and one coordinate frame. An adapter hands it
completions and ground truth to get IoUs and binary rewards at the current tau, and, for a
*training* batch, the batch's IoUs with group ids: the driver observes them, steps the
schedule once and returns the ``medloc/*`` metrics of that step (at the tau the batch was
scored with). Deciding what a training batch is, gathering it and storing the state is the
adapter's job (see :mod:`medloc.integrations`).

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

import schedulers
from grounding_data.frames import CoordinateFrame, get_frame
from medloc.scoring import completion_ious, threshold_rewards
from schedulers import RewardSchedule
from schedulers.tracker import group_shares

METRIC_PREFIX = "medloc/"
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


def build_schedule(schedule: str | RewardSchedule, total_steps: int | None = None, **options: Any) -> RewardSchedule:
    """A schedule from a name and options (or a ready object); ``total_steps`` fills in time-based ones.

    ``linear`` / ``cosine`` need ``total_steps`` (in schedule steps = training batches): given
    as an option or here; without either, building fails naming the option.

    Example:
        >>> build_schedule("linear", total_steps=10).options()["total_steps"]
        10
    """
    if isinstance(schedule, RewardSchedule):
        if options:
            raise ValueError(f"options {sorted(options)} given with a schedule object")
        return schedule
    if not isinstance(schedule, str):
        raise TypeError(f"'schedule' must be a name or a RewardSchedule, got {type(schedule).__name__}")
    needs_total = getattr(schedulers.schedule_class(schedule), "needs_total_steps", False)
    if needs_total and "total_steps" not in options:
        if total_steps is None:
            raise ValueError(f"schedule {schedule!r} needs 'total_steps' (the number of training batches)")
        options = {**options, "total_steps": int(total_steps)}
    return schedulers.build(schedule, **options)


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


class ScheduleDriver:
    """One IoU curriculum without a trainer: a schedule, a frame, scoring and learning.

    Args:
        schedule: a schedule name from :func:`schedulers.available` or a schedule object.
        frame: how the model writes coordinates (see :mod:`grounding_data.frames`). Default ``"pixels"``.
        frame_options: options of the frame, e.g. ``{"max_pixels": 1003520}`` for ``"qwen2.5-vl"``.
        total_steps: run length in training batches, for ``linear`` / ``cosine`` without the option.
        **options: the schedule's options.

    Example:
        >>> driver = ScheduleDriver("adaptive", frame="grid-100", window=2)
        >>> driver.threshold
        0.3
    """

    def __init__(self, schedule: str | RewardSchedule = "adaptive", frame: str | CoordinateFrame = "pixels",
                 frame_options: Mapping[str, int] | None = None, total_steps: int | None = None,
                 **options: Any) -> None:
        self.schedule = build_schedule(schedule, total_steps, **options)
        self.frame = get_frame(frame, **dict(frame_options or {}))

    @property
    def threshold(self) -> float:
        """The current tau."""
        return self.schedule.threshold

    def ious(self, completions: Sequence[Any], boxes: Sequence[Any], widths: Sequence[float],
             heights: Sequence[float]) -> np.ndarray:
        """``(N,)`` IoUs of the completions with their ground truth (invalid answers: 0)."""
        return completion_ious(completions, boxes, widths, heights, self.frame)

    def rewards(self, ious: np.ndarray) -> np.ndarray:
        """``1[IoU >= tau]`` at the current tau."""
        return threshold_rewards(ious, self.threshold)

    def learn(self, ious: np.ndarray, groups: np.ndarray | None) -> dict[str, float]:
        """Observe one training batch, step the schedule once, return the step's ``medloc/*`` metrics.

        ``medloc/threshold`` is the tau the batch was scored with; the schedule's own metrics
        (window statistics, conditions, ``raised``) describe the decision just taken.
        """
        ious = np.asarray(ious, dtype=np.float64)
        tau = self.threshold
        self.schedule.observe(ious, groups)
        self.schedule.step()
        metrics = {METRIC_PREFIX + key: float(value) for key, value in self.schedule.metrics().items()}
        hits = ious >= tau
        metrics[METRIC_PREFIX + "threshold"] = tau
        metrics[METRIC_PREFIX + "hit_rate"] = float(hits.mean()) if ious.size else 0.0
        metrics[METRIC_PREFIX + "mean_iou"] = float(ious.mean()) if ious.size else 0.0
        if groups is not None and ious.size:
            shares = group_shares(ious, np.asarray(groups, dtype=np.int64), tau)
            metrics[METRIC_PREFIX + "zero_variance_share"] = 1.0 - shares.informative
            metrics[METRIC_PREFIX + "starved_share"] = shares.starved
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """The schedule's JSON-serialisable state."""
        return self.schedule.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict`."""
        self.schedule.load_state_dict(state)
