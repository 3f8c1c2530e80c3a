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
        median_margin: mean over groups of (the group's median IoU - threshold); each step is one
            group when group ids are unknown. Sampling spread pulls a group's mean IoU below its
            typical answer far more than its median (see :mod:`schedulers.adaptive`).
        reward_std_noise: the ``reward_std`` a policy that does not change would show: the std of a
            step's hit rate from sampling alone, sqrt(var(group hit rates) / groups per step)
            (binomial sqrt(p (1 - p) / n) per step without group ids).
        hit_rate_rise: how much the hit rate rose across the window: the least-squares slope of the
            per-step hit rates times (steps - 1); negative when it fell. None below 3 steps.
        hit_rate_rise_se: the standard error of ``hit_rate_rise`` (None below 3 steps).
    """

    hit_rate: float
    reward_std: float
    margin: float
    informative_share: float | None
    steps: int
    completions: int
    median_margin: float | None = None
    reward_std_noise: float | None = None
    hit_rate_rise: float | None = None
    hit_rate_rise_se: float | None = None

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


def group_medians(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The median of ``values`` in each group (groups in ascending id order, empty ids skipped).

    Example:
        >>> group_medians(np.array([0.9, 0.1, 0.5, 0.2, 0.3]), np.array([0, 0, 0, 1, 1])).tolist()
        [0.5, 0.25]
    """
    order = np.lexsort((values, groups))
    sorted_values, sorted_groups = values[order], groups[order]
    firsts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sizes = np.diff(np.r_[firsts, sorted_values.size])
    return (sorted_values[firsts + (sizes - 1) // 2] + sorted_values[firsts + sizes // 2]) / 2


def linear_rise(values: np.ndarray) -> tuple[float, float]:
    """Least-squares change of ``values`` (3 or more) from the first to the last index, and its standard error.

    Example:
        >>> rise, se = linear_rise(np.array([0.1, 0.2, 0.3, 0.4]))
        >>> round(rise, 6), round(se, 6)
        (0.3, 0.0)
    """
    n = values.size
    steps = np.arange(n) - (n - 1) / 2
    spread = float(steps @ steps)
    slope = float(steps @ (values - values.mean())) / spread
    residuals = values - values.mean() - slope * steps
    slope_se = float(np.sqrt(residuals @ residuals / (n - 2) / spread))
    return slope * (n - 1), slope_se * (n - 1)


def group_shares(ious: np.ndarray, groups: np.ndarray, threshold: float) -> GroupShares:
    """Split groups into informative / starved / saturated at ``threshold``.

    Example:
        >>> group_shares(np.array([0.9, 0.1, 0.2, 0.1]), np.array([0, 0, 1, 1]), 0.5)
        GroupShares(informative=0.5, starved=0.5, saturated=0.0)
    """
    if ious.size == 0:
        return GroupShares(0.0, 0.0, 0.0)
    hits = ious >= threshold
    if groups.min() < 0 or groups.max() >= 4 * groups.size:  # sparse or negative ids: densify first
        groups = np.unique(groups, return_inverse=True)[1]
    group_sizes = np.bincount(groups)
    present = group_sizes > 0
    group_hits = np.bincount(groups, weights=hits)[present]
    group_sizes = group_sizes[present]
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
        self._groups: deque[np.ndarray | None] = deque(maxlen=window)  # dense ids 0..k-1 per step
        self._group_counts: deque[int] = deque(maxlen=window)
        self._pooled: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None

    def __len__(self) -> int:
        return len(self._ious)

    @property
    def is_full(self) -> bool:
        """Whether the window holds ``window`` steps."""
        return len(self._ious) == self.window

    def update(self, ious: Sequence[float] | np.ndarray, groups: Sequence[int] | np.ndarray | None = None) -> None:
        """Add one step's per-completion IoUs (and optional group ids), evicting the oldest step."""
        array = as_iou_array(ious)
        group_ids = as_group_array(groups, array.size)
        group_count = 0
        if group_ids is not None and group_ids.size:
            unique, group_ids = np.unique(group_ids, return_inverse=True)
            group_ids, group_count = group_ids.astype(np.int64), unique.size
        self._ious.append(array)
        self._groups.append(group_ids)
        self._group_counts.append(group_count)
        self._pooled = None

    def _pool(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The window as flat arrays: IoUs, step index, window-wide group ids (None if unknown)."""
        if self._pooled is None:
            sizes = [ious.size for ious in self._ious]
            ious = np.concatenate(list(self._ious)) if self._ious else np.zeros(0)
            steps = np.repeat(np.arange(len(sizes)), sizes)
            groups = None
            if self._ious and all(g is not None for g in self._groups):
                offsets = np.repeat(np.cumsum([0, *list(self._group_counts)[:-1]]), sizes)
                groups = np.concatenate(list(self._groups)) + offsets
            self._pooled = (ious, steps, groups)
        return self._pooled

    def compute(self, threshold: float) -> WindowStats:
        """Summarise the window at ``threshold`` (see :class:`WindowStats`)."""
        ious, steps, _ = self._pool()
        if ious.size == 0:
            return WindowStats(0.0, 0.0, 0.0, None, len(self._ious), 0)
        hits = ious >= threshold
        counts = np.bincount(steps, minlength=len(self._ious))
        step_hit_rates = np.bincount(steps, weights=hits, minlength=len(self._ious))[counts > 0] / counts[counts > 0]
        shares = self.group_shares(threshold)
        groups = self._pool()[2]
        if groups is None:  # each step is one group; its hit rate is binomial
            units = steps
            hit_rate = float(hits.mean())
            noise = float(np.sqrt(hit_rate * (1 - hit_rate) / counts[counts > 0].mean()))
        else:
            units = groups
            sizes = np.bincount(groups)
            group_rates = np.bincount(groups, weights=hits)[sizes > 0] / sizes[sizes > 0]
            groups_per_step = group_rates.size / step_hit_rates.size
            spread = float(group_rates.var(ddof=1)) if group_rates.size > 1 else 0.0
            noise = float(np.sqrt(spread / groups_per_step))
        rise, rise_se = linear_rise(step_hit_rates) if step_hit_rates.size >= 3 else (None, None)
        return WindowStats(
            hit_rate=float(hits.mean()),
            reward_std=float(step_hit_rates.std()),
            margin=float(ious.mean() - threshold),
            informative_share=None if shares is None else shares.informative,
            steps=len(self._ious),
            completions=int(ious.size),
            median_margin=float(group_medians(ious, units).mean() - threshold),
            reward_std_noise=noise,
            hit_rate_rise=rise,
            hit_rate_rise_se=rise_se,
        )

    def group_shares(self, threshold: float) -> GroupShares | None:
        """How the window's groups would split at ``threshold`` (see :class:`GroupShares`).

        Group ids are compared within one step only. ``None`` if any step in the window was
        observed without group ids.
        """
        ious, _, groups = self._pool()
        if groups is None or ious.size == 0:
            return None
        return group_shares(ious, groups, threshold)

    def group_reward_variance(self, threshold: float) -> float:
        """Mean over the window's groups of the within-group variance of ``1[IoU >= threshold]``.

        A group whose hit share is p has variance p(1 - p): 0 for starved and saturated groups,
        0.25 at most. It is how much advantage signal GRPO would get at ``threshold``. Without
        group ids the whole window counts as one group.

        Example:
            >>> tracker = PerformanceTracker(window=1)
            >>> tracker.update([0.9, 0.1, 0.2, 0.1], groups=[0, 0, 1, 1])
            >>> tracker.group_reward_variance(0.5)
            0.125
        """
        ious, _, groups = self._pool()
        if ious.size == 0:
            return 0.0
        if groups is None:
            groups = np.zeros(ious.size, dtype=np.int64)
        sizes = np.bincount(groups)
        present = sizes > 0
        share = np.bincount(groups, weights=ious >= threshold)[present] / sizes[present]
        return float(np.mean(share * (1.0 - share)))

    def drop_oldest(self, fraction: float) -> int:
        """Drop the oldest ``floor(fraction * len(self))`` steps; return how many were dropped."""
        count = int(fraction * len(self._ious))
        for _ in range(count):
            self._ious.popleft()
            self._groups.popleft()
            self._group_counts.popleft()
        self._pooled = None
        return count

    def reset(self) -> None:
        """Empty the window."""
        self._ious.clear()
        self._groups.clear()
        self._group_counts.clear()
        self._pooled = None

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
