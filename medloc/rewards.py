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

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from grounding_data.answer_format import answer_in_layout, check_reasoning, has_box
from grounding_data.frames import CoordinateFrame, get_frame
from medloc.parsing import completion_text
from medloc.scoring import completion_ious, ious_from_columns, threshold_rewards

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
