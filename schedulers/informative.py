"""A schedule of medloc's own: put tau where GRPO gets the most advantage signal, never lower it.

GRPO learns only from groups whose rewards differ. At a threshold t, a group whose share of
completions with ``IoU >= t`` is p has reward variance p(1 - p). This schedule looks at the IoUs of
the last ``window`` steps and moves tau towards the threshold that maximises the mean within-group
variance (so most groups stay informative), by at most ``max_increment`` per step, never lowering
it and never passing ``target``. As the model's IoUs rise, so does that threshold: the curriculum
follows the model without hand-set hit-rate, stability or margin levels.

Among thresholds with equally much variance (often none: every group saturated, or every
completion of a group at the same IoU) it takes the highest one that starves no group that hits
at tau, provided some group still hits there; failing that, the lowest. So saturated groups push
tau up, a window where every group is starved (every IoU below tau) leaves tau where it is, and
tau never passes the highest IoU in the window.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from schedulers._validation import check_positive_int, check_start_target, check_unit_interval
from schedulers.base import RewardSchedule
from schedulers.tracker import PerformanceTracker


class InformativeSchedule(RewardSchedule):
    """Raise tau towards the threshold of maximal within-group reward variance.

    Args:
        start: tau at the beginning. Default 0.3.
        target: the final tau; never exceeded. Default 0.8.
        window: steps of IoUs the choice is made on; no move before the window is full. Default 10.
        resolution: spacing of the candidate thresholds between tau and ``target``. Default 0.05.
        max_increment: the most tau rises in one step. Default 0.05.

    Example:
        >>> schedule = InformativeSchedule(window=1)
        >>> schedule.observe([0.9, 0.45, 0.6, 0.2], groups=[0, 0, 1, 1])
        >>> schedule.step()
        0.35
    """

    name = "informative"
    decides_from_scores = True

    def __init__(self, start: float = 0.3, target: float = 0.8, window: int = 10, resolution: float = 0.05,
                 max_increment: float = 0.05) -> None:
        super().__init__()
        self.start, self.target = check_start_target(self.name, start, target)
        self.window = check_positive_int(self.name, "window", window)
        self.resolution = check_unit_interval(self.name, "resolution", resolution)
        self.max_increment = check_unit_interval(self.name, "max_increment", max_increment)
        for option in ("resolution", "max_increment"):
            if getattr(self, option) <= 0:
                raise ValueError(f"{self.name}: option '{option}' must be > 0")
        self.tracker = PerformanceTracker(self.window)
        self._threshold = self.start
        self.best_threshold: float | None = None

    @property
    def threshold(self) -> float:
        return self._threshold

    def candidates(self) -> np.ndarray:
        """Thresholds considered: tau, tau + resolution, ..., up to ``target``."""
        count = int(np.floor((self.target - self._threshold) / self.resolution + 1e-9)) + 1
        return np.round(self._threshold + self.resolution * np.arange(count), 10)

    def observe(self, ious, groups=None) -> None:
        self.tracker.update(ious, groups)

    def step(self) -> float:
        self.steps_taken += 1
        if not self.tracker.is_full or self._threshold >= self.target:
            return self._threshold
        candidates = self.candidates()
        variances = np.array([self.tracker.group_reward_variance(t) for t in candidates])
        tied = candidates[variances >= variances.max() - 1e-12]
        starved_now = self._starved_share(self._threshold)
        harmless = [t for t in tied if self._starved_share(t) <= starved_now and self._starved_share(t) < 1.0]
        best = float(harmless[-1] if harmless else tied[0])
        self.best_threshold = best
        self._threshold = round(min(best, self._threshold + self.max_increment, self.target), 10)
        return self._threshold

    def _starved_share(self, threshold: float) -> float:
        """Share of the window's groups with no completion at or above ``threshold`` (the window is one
        group when group ids are unknown)."""
        shares = self.tracker.group_shares(threshold)
        if shares is None:
            ious = self.tracker.compute(threshold)
            return float(ious.hit_rate == 0.0)
        return shares.starved

    def metrics(self) -> dict[str, float]:
        values = {"threshold": self._threshold}
        if self.best_threshold is not None:
            values["best_threshold"] = self.best_threshold
            values["window_reward_variance"] = self.tracker.group_reward_variance(self._threshold)
        return values

    def options(self) -> dict[str, Any]:
        return {"start": self.start, "target": self.target, "window": self.window,
                "resolution": self.resolution, "max_increment": self.max_increment}

    def _extra_state(self) -> dict[str, Any]:
        return {"threshold": self._threshold, "tracker": self.tracker.state_dict(),
                "best_threshold": self.best_threshold}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._threshold = float(state["threshold"])
        self.tracker.load_state_dict(state["tracker"])
        self.best_threshold = state.get("best_threshold")
