"""TRL-style reward functions for visual grounding (image + phrase -> box).

Every reward has the GRPOTrainer signature ``(completions, **kwargs) -> list[float]``; the
dataset columns arrive as per-row lists: ``boxes`` (ground-truth ``[[x1, y1, x2, y2], ...]``
in pixels of the image handed to the processor), ``width`` and ``height`` (that image's
size; without them the size of ``image`` is used). Rewards are always finite and in
``[0, 1]``; a malformed completion scores 0 and never raises.

The factories return picklable callables with a meaningful ``__name__`` (TRL logs each
reward as ``rewards/<__name__>/mean``):

Example:
    >>> from trl import GRPOTrainer  # doctest: +SKIP
    >>> reward_funcs = [make_binary_iou_reward(0.5, frame="qwen2.5-vl"), make_format_reward("before")]
    >>> [f.__name__ for f in reward_funcs]
    ['binary_iou_reward_t0.5_qwen2.5-vl', 'format_reward_before']
"""

from __future__ import annotations

import io
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from grounding_data.answer_format import answer_in_layout, check_reasoning, has_box
from medloc.boxes import grouped_union_iou
from grounding_data.frames import CoordinateFrame, get_frame
from medloc.parsing import completion_text, parse_batch

__all__ = [
    "completion_ious",
    "threshold_rewards",
    "binary_iou_reward",
    "soft_iou_reward",
    "make_binary_iou_reward",
    "make_soft_iou_reward",
    "make_format_reward",
    "BinaryIoUReward",
    "SoftIoUReward",
    "FormatReward",
    "CheckedReward",
    "has_box",
    "has_text",
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
    ok = np.isfinite(gt).all(axis=1) & (gt[:, 2] > gt[:, 0]) & (gt[:, 3] > gt[:, 1])
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
        widths, heights: per row, the size of the image the ground truth is given in.
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
    n = len(completions)
    pred, pred_rows = parse_batch(completions, widths, heights, frame)
    gt, gt_rows = _ground_truth(boxes, n)
    ious = grouped_union_iou(pred, pred_rows, gt, gt_rows, n).numpy()
    return np.clip(np.nan_to_num(ious, nan=0.0, posinf=0.0, neginf=0.0), 0.0, 1.0)


def _image_size(image: Any) -> tuple[int, int]:
    """``(width, height)`` of a PIL image, a path, an undecoded ``datasets`` image dict, or a list's first."""
    if isinstance(image, (list, tuple)) and image:
        return _image_size(image[0])
    if isinstance(image, dict):  # datasets.Image(decode=False): {"bytes": ..., "path": ...}
        image = io.BytesIO(image["bytes"]) if image.get("bytes") else image.get("path")
    if hasattr(image, "size") and not isinstance(image, (str, bytes, io.BytesIO)):
        return image.size
    from PIL import Image

    with Image.open(image) as opened:
        return opened.size


def _sizes_from_columns(n: int, kwargs: dict[str, Any]) -> tuple[Sequence[float], Sequence[float]]:
    if kwargs.get("width") is not None and kwargs.get("height") is not None:
        return kwargs["width"], kwargs["height"]
    images = kwargs.get("image", kwargs.get("images"))
    if images is None:
        raise ValueError("grounding rewards need per-row 'width' and 'height' columns, or an 'image' column")
    sizes = [_image_size(image) for image in images]
    return [w for w, _ in sizes], [h for _, h in sizes]


def ious_from_columns(completions: Sequence[Any], frame: CoordinateFrame, kwargs: dict[str, Any]) -> np.ndarray:
    """``completion_ious`` reading TRL's per-row columns: ``boxes`` and ``width``/``height`` (or ``image``).

    Example:
        >>> ious_from_columns(["[0, 0, 5, 10]"], get_frame("pixels"),
        ...                   {"boxes": [[[0, 0, 10, 10]]], "width": [100], "height": [100]}).tolist()
        [0.5]
    """
    if "boxes" not in kwargs:
        raise ValueError("grounding rewards need a per-row 'boxes' column (ground truth in pixels)")
    widths, heights = _sizes_from_columns(len(completions), kwargs)
    return completion_ious(completions, kwargs["boxes"], widths, heights, frame)


def threshold_rewards(scores: np.ndarray, threshold: float) -> np.ndarray:
    """The binary reward rule ``1[score >= threshold]`` (inclusive), as float64.

    Shared by :class:`BinaryIoUReward` and the curricula (:mod:`medloc.curriculum`).

    Example:
        >>> threshold_rewards(np.array([0.49, 0.5, 0.9]), 0.5).tolist()
        [0.0, 1.0, 1.0]
    """
    return (np.asarray(scores) >= threshold).astype(np.float64)


def _frame_suffix(frame: CoordinateFrame) -> str:
    return "" if frame.name == "pixels" else f"_{frame.name}"


class BinaryIoUReward:
    """``1.0`` if the answer's IoU with the ground truth is ``>= threshold`` (inclusive), else ``0.0``.

    Build it with :func:`make_binary_iou_reward`. ``threshold`` is a plain attribute: a
    curriculum may change it between generation batches.

    Example:
        >>> reward = BinaryIoUReward(0.5)
        >>> reward(["[0, 0, 10, 10]", "[0, 0, 5, 10]", "[0, 0, 4, 10]"], boxes=[[[0, 0, 10, 10]]] * 3,
        ...        width=[64] * 3, height=[64] * 3)
        [1.0, 1.0, 0.0]
    """

    def __init__(self, threshold: float = 0.5, frame: str | CoordinateFrame = "pixels") -> None:
        if not (isinstance(threshold, (int, float)) and 0.0 < threshold <= 1.0):
            raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}")
        self.threshold = float(threshold)
        self.frame = get_frame(frame)
        self.__name__ = f"binary_iou_reward_t{self.threshold:g}{_frame_suffix(self.frame)}"

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return threshold_rewards(ious_from_columns(completions, self.frame, kwargs), self.threshold).tolist()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threshold={self.threshold:g}, frame={self.frame.name!r})"


class SoftIoUReward:
    """The answer's raw IoU with the ground truth (VLM-R1 style), ``0.0`` for invalid answers.

    Build it with :func:`make_soft_iou_reward`.

    Example:
        >>> SoftIoUReward("unit")(["[0, 0, 0.5, 1]"], boxes=[[[0, 0, 10, 10]]], width=[10], height=[10])
        [0.5]
    """

    def __init__(self, frame: str | CoordinateFrame = "pixels") -> None:
        self.frame = get_frame(frame)
        self.__name__ = f"soft_iou_reward{_frame_suffix(self.frame)}"

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return ious_from_columns(completions, self.frame, kwargs).tolist()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(frame={self.frame.name!r})"


def has_text(answer: str) -> bool:
    """Whether an answer block holds anything but whitespace (a format check for free-form answers).

    Example:
        >>> has_text(" moderate "), has_text("  ")
        (True, False)
    """
    return bool(answer.strip())


class FormatReward:
    """``1.0`` if the completion follows the reasoning layout and its answer passes ``answer_check``.

    Layouts (whitespace allowed around and between blocks, each tag exactly once; the rule is
    :func:`grounding_data.answer_format.answer_in_layout`):

    - ``"before"``: ``<think>...</think><answer>...</answer>``
    - ``"after"``: ``<answer>...</answer><think>...</think>`` (Med-R1 "think after")
    - ``"none"``: ``<answer>...</answer>`` and no ``<think>`` tag

    ``answer_check(answer_text) -> bool`` judges the answer block's content. The default,
    :func:`has_box`, asks for a box in a recognised format (see :mod:`medloc.parsing`) with
    finite numbers and positive area (the image size is not checked here); any other answer
    works too, e.g. :func:`medloc.choices.is_choice` for an option letter or :func:`has_text`.
    Build it with :func:`make_format_reward`.

    Example:
        >>> FormatReward("after")(["<answer>[1, 2, 3, 4]</answer> <think>round, bright</think>",
        ...                        "<think>x</think><answer>[1, 2, 3, 4]</answer>"])
        [1.0, 0.0]
        >>> FormatReward("before", answer_check=has_text)(["<think>faint</think><answer>C</answer>"])
        [1.0]
    """

    def __init__(self, reasoning: str = "before", answer_check: Callable[[str], bool] = has_box) -> None:
        check_reasoning(reasoning)
        if not callable(answer_check):
            raise TypeError(f"answer_check must be callable, got {type(answer_check).__name__}")
        self.reasoning = reasoning
        self.answer_check = answer_check
        self.__name__ = f"format_reward_{reasoning}"

    def score(self, text: str) -> float:
        """The reward of one completion text.

        Example:
            >>> FormatReward("none").score('<answer>{"bbox_2d": [1, 2, 3, 4]}</answer>')
            1.0
        """
        answer = answer_in_layout(text, self.reasoning)
        return 1.0 if answer is not None and self._passes(answer) else 0.0

    def _passes(self, answer: str) -> bool:
        try:
            return bool(self.answer_check(answer))
        except Exception:  # a user's check must not crash training on a strange completion
            return False

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return [self.score(completion_text(completion)) for completion in completions]

    def __repr__(self) -> str:
        check = getattr(self.answer_check, "__name__", repr(self.answer_check))
        return f"{type(self).__name__}(reasoning={self.reasoning!r}, answer_check={check})"


class CheckedReward:
    """A reward function wrapped so that a bad value fails loudly, naming the reward and the row.

    TRL turns a reward's ``None`` into NaN and adds the reward functions up with ``nansum``: a NaN
    (or inf) that a function returns by mistake silently counts as 0 next to medloc's reward.
    Wrapped, a NaN, an inf or a non-number raises ``ValueError`` naming the function, the row of
    the batch (and its ``id`` column when there is one) and the start of the completion. ``None``
    stays TRL's documented "no score for this row" and passes through. medloc's own rewards are
    always finite and never need it.

    Example:
        >>> def risky(completions, **kwargs):
        ...     return [None if c == "skip" else float("nan") if c == "" else 1.0 for c in completions]
        >>> CheckedReward(risky)(["[1, 2, 3, 4]", "skip"])
        [1.0, None]
        >>> CheckedReward(risky)(["ok", ""], id=["a", "b"])
        Traceback (most recent call last):
        ...
        ValueError: reward 'risky' returned nan for row 1 of the batch (id 'b'); completion ''
    """

    def __init__(self, func: Callable[..., Sequence[Any]]) -> None:
        if not callable(func):
            raise TypeError(f"CheckedReward needs a callable, got {type(func).__name__}")
        self.func = func
        self.__name__ = getattr(func, "__name__", type(func).__name__)

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        rewards = list(self.func(completions, **kwargs))
        if len(rewards) != len(completions):
            raise ValueError(
                f"reward {self.__name__!r} returned {len(rewards)} values for {len(completions)} completions"
            )
        ids = kwargs.get("id")
        for row, value in enumerate(rewards):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                where = f"row {row} of the batch" + (f" (id {ids[row]!r})" if ids is not None else "")
                text = completion_text(completions[row])
                raise ValueError(f"reward {self.__name__!r} returned {value!r} for {where}; completion "
                                 f"{text[:80]!r}{'...' if len(text) > 80 else ''}")
        return [None if value is None else float(value) for value in rewards]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__name__})"


def make_binary_iou_reward(threshold: float, frame: str | CoordinateFrame = "pixels") -> BinaryIoUReward:
    """A binary IoU reward ``1[IoU >= threshold]`` named e.g. ``binary_iou_reward_t0.5``.

    The frame (when not ``"pixels"``) is part of the name, e.g. ``binary_iou_reward_t0.3_grid-100``.

    Example:
        >>> reward = make_binary_iou_reward(0.3, frame="grid-100")
        >>> reward.__name__, reward(["[0, 0, 50, 100]"], boxes=[[[0, 0, 200, 100]]], width=[200], height=[100])
        ('binary_iou_reward_t0.3_grid-100', [1.0])
    """
    return BinaryIoUReward(threshold, frame)


def make_soft_iou_reward(frame: str | CoordinateFrame = "pixels") -> SoftIoUReward:
    """A raw-IoU reward (VLM-R1 style) for answers in ``frame``, named e.g. ``soft_iou_reward_unit``.

    Example:
        >>> make_soft_iou_reward("qwen2.5-vl").__name__
        'soft_iou_reward_qwen2.5-vl'
    """
    return SoftIoUReward(frame)


def make_format_reward(reasoning: str, answer_check: Callable[[str], bool] = has_box) -> FormatReward:
    """A format reward for the ``"before"``, ``"after"`` or ``"none"`` layout, named ``format_reward_<layout>``.

    ``answer_check`` judges the answer block (default :func:`has_box`; see :class:`FormatReward`).

    Raises:
        ValueError: an unknown layout (the message lists the allowed ones).

    Example:
        >>> make_format_reward("before")(["<think>a</think>\\n<answer>[1, 2, 3, 4]</answer>", "[1, 2, 3, 4]"])
        [1.0, 0.0]
        >>> from medloc.choices import is_choice
        >>> make_format_reward("none", answer_check=is_choice)(["<answer>(B)</answer>", "<answer>[1, 2]</answer>"])
        [1.0, 0.0]
    """
    return FormatReward(reasoning, answer_check)


def binary_iou_reward(
    completions: Sequence[Any], *, threshold: float = 0.5, frame: str | CoordinateFrame = "pixels", **kwargs: Any
) -> list[float]:
    """``1.0`` if IoU ``>= threshold`` (default 0.5, inclusive) else ``0.0``; answers in ``frame``.

    For another threshold or frame in a trainer, use :func:`make_binary_iou_reward`.

    Example:
        >>> binary_iou_reward([[{"role": "assistant", "content": "<answer>[0, 0, 10, 10]</answer>"}]],
        ...                   boxes=[[[0, 0, 10, 20]]], width=[32], height=[32])
        [1.0]
    """
    return BinaryIoUReward(threshold, frame)(completions, **kwargs)


def soft_iou_reward(
    completions: Sequence[Any], *, frame: str | CoordinateFrame = "pixels", **kwargs: Any
) -> list[float]:
    """The raw IoU of the answer with the ground truth (VLM-R1 style), answers in ``frame``.

    For another frame in a trainer, use :func:`make_soft_iou_reward`.

    Example:
        >>> soft_iou_reward(["[0, 0, 10, 10]", "no box"], boxes=[[[0, 0, 10, 20]]] * 2, width=[32] * 2, height=[32] * 2)
        [0.5, 0.0]
    """
    return SoftIoUReward(frame)(completions, **kwargs)
