"""Sliding-window performance tracker behind the adaptive schedule.

The tracker keeps the raw per-completion IoUs of the last ``window`` observations (training
steps), so every statistic can be evaluated at *any* threshold: the current one for the
update rule, the next one for the reward-density guard, and after a raise the kept half of
the window is re-scored at the new threshold instead of carrying stale hits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def as_iou_array(ious: Sequence[float] | np.ndarray) -> np.ndarray:
    """Validate one step's IoUs: a 1-D array of finite floats in [0, 1].

    Example:
        >>> as_iou_array([0.2, 0.9]).tolist()
        [0.2, 0.9]
    """
    array = np.asarray(ious, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"ious must be a flat sequence of per-completion IoUs, got shape {array.shape}")
    if array.size and (not np.all(np.isfinite(array)) or array.min() < 0.0 or array.max() > 1.0):
        raise ValueError("ious must be finite values in [0, 1] (score unparseable answers as 0.0)")
    return array


def as_group_array(groups: Sequence[int] | np.ndarray | None, size: int) -> np.ndarray | None:
    """Validate one step's group ids (one integer per completion; equal ids = one prompt).

    Example:
        >>> as_group_array([0, 0, 1, 1], 4).tolist()
        [0, 0, 1, 1]
    """
    if groups is None:
        return None
    array = np.asarray(groups)
    if array.shape != (size,):
        raise ValueError(f"groups must hold one group id per completion ({size}), got shape {array.shape}")
    if size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"groups must be integer group ids, got dtype {array.dtype}")
    return array.astype(np.int64)


@dataclass(frozen=True)
class WindowStats:
    """What the window says about the policy at one threshold.

    Attributes:
        hit_rate: mean binary reward ``IoU >= threshold`` over every completion in the window (r_bar).
        reward_std: standard deviation of the per-step hit rates across the window (sigma_r):
            how stable performance is from step to step.
        margin: mean of ``IoU - threshold`` over every completion in the window (m_bar).
        informative_share: share of groups (prompts) whose binary rewards are not all equal,
            i.e. groups that carry a GRPO advantage; ``None`` when no group ids were observed.
        steps: observations in the window.
        completions: completions in the window.
    """

    hit_rate: float
    reward_std: float
    margin: float
    informative_share: float | None
    steps: int
    completions: int

    def as_dict(self) -> dict[str, Any]:
        """The stats as a plain dict (for logging and JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class GroupShares:
    """How a threshold splits groups (the completions of one prompt) by their binary rewards.

    Attributes:
        informative: share of groups with mixed rewards: they carry a GRPO advantage.
        starved: share of groups where every completion scores 0.
        saturated: share of groups where every completion scores 1.
    """

    informative: float
    starved: float
    saturated: float


def group_shares(ious: np.ndarray, groups: np.ndarray, threshold: float) -> GroupShares:
    """Split groups into informative / starved / saturated at ``threshold``.

    Example:
        >>> group_shares(np.array([0.9, 0.1, 0.2, 0.1]), np.array([0, 0, 1, 1]), 0.5)
        GroupShares(informative=0.5, starved=0.5, saturated=0.0)
    """
    if ious.size == 0:
        return GroupShares(0.0, 0.0, 0.0)
    hits = ious >= threshold
    _, inverse = np.unique(groups, return_inverse=True)
    group_hits = np.bincount(inverse, weights=hits)
    group_sizes = np.bincount(inverse)
    return GroupShares(
        informative=float(np.mean((group_hits > 0) & (group_hits < group_sizes))),
        starved=float(np.mean(group_hits == 0)),
        saturated=float(np.mean(group_hits == group_sizes)),
    )


class PerformanceTracker:
    """Keeps the last ``window`` steps of per-completion IoUs (and group ids).

    Follows the torchmetrics pattern: :meth:`update` adds a step, :meth:`compute` summarises
    the window at a threshold, :meth:`reset` empties it. :meth:`drop_oldest` implements the
    "semi-preserved refresh" applied after each threshold raise.

    Example:
        >>> tracker = PerformanceTracker(window=2)
        >>> tracker.update([0.9, 0.4], groups=[0, 0])
        >>> tracker.update([0.7, 0.8], groups=[1, 1])
        >>> stats = tracker.compute(threshold=0.5)
        >>> stats.hit_rate, stats.informative_share
        (0.75, 0.5)
        >>> tracker.group_shares(threshold=0.85)
        GroupShares(informative=0.5, starved=0.5, saturated=0.0)
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self._ious: deque[np.ndarray] = deque(maxlen=window)
        self._groups: deque[np.ndarray | None] = deque(maxlen=window)

    def __len__(self) -> int:
        return len(self._ious)

    @property
    def is_full(self) -> bool:
        """Whether the window holds ``window`` steps."""
        return len(self._ious) == self.window

    def update(self, ious: Sequence[float] | np.ndarray, groups: Sequence[int] | np.ndarray | None = None) -> None:
        """Add one step's per-completion IoUs (and optional group ids), evicting the oldest step."""
        array = as_iou_array(ious)
        self._ious.append(array)
        self._groups.append(as_group_array(groups, array.size))

    def compute(self, threshold: float) -> WindowStats:
        """Summarise the window at ``threshold`` (see :class:`WindowStats`)."""
        steps = [ious for ious in self._ious if ious.size]
        if not steps:
            return WindowStats(0.0, 0.0, 0.0, None, len(self._ious), 0)
        pooled = np.concatenate(steps)
        step_hit_rates = np.array([np.mean(ious >= threshold) for ious in steps])
        return WindowStats(
            hit_rate=float(np.mean(pooled >= threshold)),
            reward_std=float(np.std(step_hit_rates)),
            margin=float(np.mean(pooled - threshold)),
            informative_share=None if (shares := self.group_shares(threshold)) is None else shares.informative,
            steps=len(self._ious),
            completions=int(pooled.size),
        )

    def group_shares(self, threshold: float) -> GroupShares | None:
        """How the window's groups would split at ``threshold`` (see :class:`GroupShares`).

        Group ids are compared within one step only. ``None`` if any step in the window was
        observed without group ids.
        """
        if not self._ious or any(groups is None for groups in self._groups):
            return None
        offset = 0
        ious_parts, group_parts = [], []
        for ious, groups in zip(self._ious, self._groups):
            if ious.size:
                _, local = np.unique(groups, return_inverse=True)
                ious_parts.append(ious)
                group_parts.append(local + offset)
                offset += int(local.max()) + 1
        if not ious_parts:
            return None
        return group_shares(np.concatenate(ious_parts), np.concatenate(group_parts), threshold)

    def drop_oldest(self, fraction: float) -> int:
        """Drop the oldest ``floor(fraction * len(self))`` steps; return how many were dropped."""
        count = int(fraction * len(self._ious))
        for _ in range(count):
            self._ious.popleft()
            self._groups.popleft()
        return count

    def reset(self) -> None:
        """Empty the window."""
        self._ious.clear()
        self._groups.clear()

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable contents of the window."""
        return {
            "window": self.window,
            "ious": [ious.tolist() for ious in self._ious],
            "groups": [None if groups is None else groups.tolist() for groups in self._groups],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the window written by :meth:`state_dict` (lists from JSON are fine)."""
        if int(state["window"]) != self.window:
            raise ValueError(
                f"tracker state has window {state['window']} but this tracker has window {self.window}"
            )
        self.reset()
        for ious, groups in zip(state["ious"], state["groups"]):
            self.update(ious, groups)
