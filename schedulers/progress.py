"""A progress-based step schedule: tau jumps at fixed fractions of the run (V-Triune style).

V-Triune sets its detection IoU threshold by the share of training done (0.85 for the first 10%
of steps, 0.95 up to 25%, then 0.99), whatever the model does. This is that kind of schedule,
with levels on medloc's scale: the kind of baseline MedLoc-R1 argues against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schedulers._validation import check_levels, level_at
from schedulers.time_based import TimeBasedSchedule

DEFAULT_LEVELS = ((0.0, 0.3), (0.1, 0.5), (0.25, 0.8))
"""V-Triune's breakpoints (10% and 25% of the run) with the paper's start and end thresholds."""


class ProgressSchedule(TimeBasedSchedule):
    """tau is a step function of ``progress = steps_taken / total_steps``.

    Args:
        total_steps: schedule steps of the run (>= 1); required (``IoUCurriculum`` and
            ``medloc train`` fill in the run's length).
        levels: ``[[from_progress, tau], ...]``: tau from each fraction of the run on. Default
            ``[[0.0, 0.3], [0.1, 0.5], [0.25, 0.8]]``.

    Example:
        >>> schedule = ProgressSchedule(total_steps=10)
        >>> [schedule.step() for _ in range(4)]
        [0.5, 0.5, 0.8, 0.8]
    """

    name = "progress"

    def __init__(self, total_steps: int, levels: Sequence[Sequence[float]] = DEFAULT_LEVELS) -> None:
        self.levels = check_levels(self.name, "levels", levels, key="from_progress")
        values = [tau for _, tau in self.levels]
        super().__init__(total_steps, start=values[0], target=max(values))

    @property
    def threshold(self) -> float:
        return level_at(self.levels, self.progress)

    def options(self) -> dict[str, Any]:
        return {"total_steps": self.total_steps, "levels": [list(level) for level in self.levels]}
