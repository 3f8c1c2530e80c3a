"""A constant threshold: plain GRPO with ``r = 1[IoU >= threshold]``."""

from __future__ import annotations

from typing import Any

from schedulers._validation import check_unit_interval
from schedulers.base import RewardSchedule


class FixedSchedule(RewardSchedule):
    """Keep tau at ``threshold`` for the whole run (the baseline the curriculum is compared to).

    Args:
        threshold: the IoU threshold in [0, 1]. Default 0.5.

    Example:
        >>> schedule = FixedSchedule(threshold=0.5)
        >>> schedule.step()
        0.5
    """

    name = "fixed"

    def __init__(self, threshold: float = 0.5) -> None:
        super().__init__()
        self._threshold = check_unit_interval(self.name, "threshold", threshold)

    @property
    def threshold(self) -> float:
        return self._threshold

    def step(self) -> float:
        self.steps_taken += 1
        return self._threshold

    def options(self) -> dict[str, Any]:
        return {"threshold": self._threshold}
