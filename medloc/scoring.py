"""Batch scoring of grounding answers, numpy end to end: the ground truth of a batch flattened, the
image sizes read, every completion parsed once and scored by the IoU of its box(es) with the truth.

The TRL reward callables (:mod:`medloc.rewards`), the curricula, the trainer adapters, evaluation
and the built-in warm start's probe all score here; :func:`score_completions` also returns which
answers held a valid box and the boxes read, so nothing parses an answer twice.

Example:
    >>> completion_ious(["[0, 0, 10, 10]", "<answer>[0, 0, 5, 10]</answer>", "oops"],
    ...                 [[[0, 0, 10, 10]]] * 3, [100] * 3, [100] * 3).tolist()
    [1.0, 0.5, 0.0]
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grounding_data.answer_format import valid_box_mask
from grounding_data.frames import CoordinateFrame
from medloc.boxes import grouped_union_iou
from medloc.parsing import parse_batch

__all__ = [
    "BoxScores",
    "score_completions",
    "completion_ious",
    "scores_from_columns",
    "ious_from_columns",
    "sizes_from_columns",
    "image_size",
    "threshold_rewards",
]


def _is_box(value: Any) -> bool:
    try:
        return np.asarray(value, dtype=np.float64).shape == (4,)
    except (TypeError, ValueError):
        return False


def _ground_truth(boxes: Sequence[Any], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Flatten per-row ground-truth boxes into ``(G, 4)`` boxes and ``(G,)`` row indices."""
    if len(boxes) != n:
        raise ValueError(f"'boxes' has {len(boxes)} rows but there are {n} completions")
    if n == 0:
        return np.empty((0, 4), dtype=np.float64), np.empty(0, dtype=np.int64)
    try:  # fast path: every row holds the same number of boxes (usually one)
        gt = np.array(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        gt = None
    if gt is not None and gt.ndim == 3 and gt.shape[1] > 0 and gt.shape[2] == 4:
        row_idx = np.repeat(np.arange(n, dtype=np.int64), gt.shape[1])
        gt = gt.reshape(-1, 4)
    elif gt is not None and gt.ndim == 2 and gt.shape[1] == 4:
        row_idx = np.arange(n, dtype=np.int64)  # one flat box per row
    else:
        gt, row_idx = _ragged_ground_truth(boxes)
    ok = valid_box_mask(gt)
    if not ok.all():
        bad = int(row_idx[np.flatnonzero(~ok)[0]])
        raise ValueError(
            f"row {bad}: ground-truth boxes must be finite (x1, y1, x2, y2) with x2 > x1 and y2 > y1, "
            f"got {boxes[bad]!r}"
        )
    return gt, row_idx


def _ragged_ground_truth(boxes: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    coords: list[Any] = []
    rows: list[int] = []
    for i, row in enumerate(boxes):
        if isinstance(row, np.ndarray) or hasattr(row, "tolist"):
            row = row.tolist()
        if len(row) == 4 and not isinstance(row[0], (list, tuple)):
            row = [row]  # one flat box
        if len(row) == 0:
            raise ValueError(f"row {i}: 'boxes' is empty; a grounding row needs at least one ground-truth box")
        coords.extend(row)
        rows.extend([i] * len(row))
    try:
        gt = np.array(coords, dtype=np.float64)
        well_formed = gt.ndim == 2 and gt.shape[1] == 4
    except (TypeError, ValueError):
        well_formed = False
    if not well_formed:
        bad = next((r for r, c in zip(rows, coords) if not _is_box(c)), rows[0])
        raise ValueError(f"row {bad}: 'boxes' must be a list of [x1, y1, x2, y2] boxes, got {boxes[bad]!r}")
    return gt, np.array(rows, dtype=np.int64)


@dataclass(frozen=True)
class BoxScores:
    """A batch of grounding answers scored once: IoUs, validity and the boxes read.

    Attributes:
        ious: ``(N,)`` float64 in [0, 1], the IoU of each answer's box(es) with its row's ground
            truth (0 for an answer without a valid box).
        valid: ``(N,)`` bool, whether each answer held a valid box.
        boxes: ``(P, 4)`` the valid answers' boxes in pixels; ``box_rows``: ``(P,)`` their rows.
    """

    ious: np.ndarray
    valid: np.ndarray
    boxes: np.ndarray
    box_rows: np.ndarray


def score_completions(
    completions: Sequence[Any],
    boxes: Sequence[Any],
    widths: Sequence[float],
    heights: Sequence[float],
    frame: str | CoordinateFrame = "pixels",
) -> BoxScores:
    """Parse each completion once and score it against its row's ground truth (see :func:`completion_ious`).

    Example:
        >>> scores = score_completions(["[0, 0, 5, 10]", "no box"], [[[0, 0, 10, 10]]] * 2, [100] * 2, [100] * 2)
        >>> scores.ious.tolist(), scores.valid.tolist(), scores.boxes.tolist()
        ([0.5, 0.0], [True, False], [[0.0, 0.0, 5.0, 10.0]])
    """
    n = len(completions)
    pred, pred_rows = parse_batch(completions, widths, heights, frame)
    gt, gt_rows = _ground_truth(boxes, n)
    ious = np.clip(grouped_union_iou(pred, pred_rows, gt, gt_rows, n), 0.0, 1.0)
    valid = np.bincount(pred_rows, minlength=n) > 0
    return BoxScores(ious, valid, pred, pred_rows)


def completion_ious(
    completions: Sequence[Any],
    boxes: Sequence[Any],
    widths: Sequence[float],
    heights: Sequence[float],
    frame: str | CoordinateFrame = "pixels",
) -> np.ndarray:
    """IoU of each completion's box(es) with its row's ground truth, vectorised.

    Several boxes on either side are scored as the IoU of their unions (exact). Invalid or
    missing answers score 0.0 (see :mod:`medloc.parsing` for what is invalid).

    Args:
        completions: strings or chat-message lists, one per row.
        boxes: per row, ground-truth ``[[x1, y1, x2, y2], ...]`` (or one flat box) in pixels.
        widths: per row, the width of the image the ground truth is given in.
        heights: per row, its height.
        frame: the frame the model writes in (see :func:`grounding_data.frames.get_frame`).

    Returns:
        ``(N,)`` float64 array in ``[0, 1]``.

    Raises:
        ValueError: bad ground truth (empty, malformed, inverted boxes; non-positive image
            size), naming the row. Model output never raises.

    Example:
        >>> completion_ious(["[0, 0, 10, 10]", "<answer>[0, 0, 5, 10]</answer>", "oops"],
        ...                 [[[0, 0, 10, 10]]] * 3, [100] * 3, [100] * 3).tolist()
        [1.0, 0.5, 0.0]
    """
    return score_completions(completions, boxes, widths, heights, frame).ious


def image_size(image: Any) -> tuple[int, int]:
    """``(width, height)`` of a PIL image, a path, an undecoded ``datasets`` image dict, or a list's first.

    Example:
        >>> from PIL import Image
        >>> image_size([Image.new("L", (64, 48))])
        (64, 48)
    """
    if isinstance(image, (list, tuple)) and image:
        return image_size(image[0])
    if isinstance(image, dict):  # datasets.Image(decode=False): {"bytes": ..., "path": ...}
        image = io.BytesIO(image["bytes"]) if image.get("bytes") else image.get("path")
    if hasattr(image, "size") and not isinstance(image, (str, bytes, io.BytesIO)):
        return image.size
    from PIL import Image

    with Image.open(image) as opened:
        return opened.size


def sizes_from_columns(kwargs: dict[str, Any]) -> tuple[Sequence[float], Sequence[float]]:
    """Per-row image sizes from TRL's columns: ``width`` and ``height``, else the size of each ``image``.

    Example:
        >>> sizes_from_columns({"width": [64], "height": [48]})
        ([64], [48])
    """
    if kwargs.get("width") is not None and kwargs.get("height") is not None:
        return kwargs["width"], kwargs["height"]
    images = kwargs.get("image", kwargs.get("images"))
    if images is None:
        raise ValueError("grounding rewards need per-row 'width' and 'height' columns, or an 'image' column")
    sizes = [image_size(image) for image in images]
    return [w for w, _ in sizes], [h for _, h in sizes]


def scores_from_columns(completions: Sequence[Any], frame: str | CoordinateFrame, kwargs: dict[str, Any]) -> BoxScores:
    """:func:`score_completions` reading TRL's per-row columns: ``boxes`` and ``width``/``height`` (or ``image``).

    Example:
        >>> scores_from_columns(["[0, 0, 5, 10]", "[9, 9]"], "pixels",
        ...                     {"boxes": [[[0, 0, 10, 10]]] * 2, "width": [100] * 2, "height": [100] * 2}).valid.tolist()
        [True, False]
    """
    if "boxes" not in kwargs:
        raise ValueError("grounding rewards need a per-row 'boxes' column (ground truth in pixels)")
    widths, heights = sizes_from_columns(kwargs)
    return score_completions(completions, kwargs["boxes"], widths, heights, frame)


def ious_from_columns(completions: Sequence[Any], frame: str | CoordinateFrame, kwargs: dict[str, Any]) -> np.ndarray:
    """``completion_ious`` reading TRL's per-row columns: ``boxes`` and ``width``/``height`` (or ``image``).

    Example:
        >>> ious_from_columns(["[0, 0, 5, 10]"], "pixels",
        ...                   {"boxes": [[[0, 0, 10, 10]]], "width": [100], "height": [100]}).tolist()
        [0.5]
    """
    return scores_from_columns(completions, frame, kwargs).ious


def threshold_rewards(scores: np.ndarray, threshold: float) -> np.ndarray:
    """The binary reward rule ``1[score >= threshold]`` (inclusive), as float64.

    Shared by :class:`medloc.rewards.BinaryIoUReward` and the curricula (:mod:`medloc.curriculum_core`).

    Example:
        >>> threshold_rewards(np.array([0.49, 0.5, 0.9]), 0.5).tolist()
        [0.0, 1.0, 1.0]
    """
    return (np.asarray(scores) >= threshold).astype(np.float64)
