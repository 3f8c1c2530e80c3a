"""Time-based schedules: tau moves from ``start`` to ``target`` over ``total_steps`` steps,
whatever the model does (the "curriculum without feedback" baselines)."""

from __future__ import annotations

import math
from typing import Any

from schedulers._validation import check_positive_int, check_start_target
from schedulers.base import RewardSchedule


class TimeBasedSchedule(RewardSchedule):
    """Shared machinery: tau is a function of ``progress = min(steps_taken / total_steps, 1)``.

    ``needs_total_steps`` tells trainers glue (``IoUCurriculum``, ``medloc train``) to fill in
    ``total_steps`` with the run's length when the user gives none.
    """

    needs_total_steps = True

    def __init__(self, total_steps: int, start: float = 0.3, target: float = 0.8) -> None:
        super().__init__()
        self.start, self.target = check_start_target(self.name, start, target)
        self.total_steps = check_positive_int(self.name, "total_steps", total_steps)

    @property
    def progress(self) -> float:
        """Fraction of the step budget used, in [0, 1]."""
        return min(self.steps_taken / self.total_steps, 1.0)

    @property
    def threshold(self) -> float:
        return round(self.start + (self.target - self.start) * self._shape(self.progress), 10)

    def _shape(self, progress: float) -> float:
        raise NotImplementedError

    def step(self) -> float:
        self.steps_taken += 1
        return self.threshold

    def options(self) -> dict[str, Any]:
        return {"total_steps": self.total_steps, "start": self.start, "target": self.target}


class LinearSchedule(TimeBasedSchedule):
    """Raise tau linearly from ``start`` to ``target`` over ``total_steps`` steps, then hold.

    Args:
        start: tau before the first step, in [0, 1]. Default 0.3.
        target: tau reached after ``total_steps`` steps, in [start, 1]. Default 0.8.
        total_steps: step budget of the ramp (>= 1); required.

    Example:
        >>> schedule = LinearSchedule(start=0.3, target=0.8, total_steps=5)
        >>> [round(schedule.step(), 2) for _ in range(6)]
        [0.4, 0.5, 0.6, 0.7, 0.8, 0.8]
    """

    name = "linear"

    def _shape(self, progress: float) -> float:
        return progress


class CosineSchedule(TimeBasedSchedule):
    """Raise tau from ``start`` to ``target`` along half a cosine: slow, fast, slow.

    Args:
        start: tau before the first step, in [0, 1]. Default 0.3.
        target: tau reached after ``total_steps`` steps, in [start, 1]. Default 0.8.
        total_steps: step budget of the ramp (>= 1); required.

    Example:
        >>> schedule = CosineSchedule(start=0.3, target=0.8, total_steps=2)
        >>> [round(schedule.step(), 2) for _ in range(3)]
        [0.55, 0.8, 0.8]
    """

    name = "cosine"

    def _shape(self, progress: float) -> float:
        return (1.0 - math.cos(math.pi * progress)) / 2.0
