"""IoU-threshold schedules for binary grounding rewards, in plain Python and numpy.

Every schedule follows :class:`RewardSchedule` (``threshold``, ``observe``, ``step``,
``state_dict``, ``load_state_dict``) and can be used with any GRPO trainer.

Example:
    >>> import schedulers
    >>> schedule = schedulers.build("adaptive", window=30)
    >>> schedule.observe([0.35, 0.8, 0.1], groups=[0, 0, 0])
    >>> schedule.step()
    0.3
"""

from schedulers.adaptive import AdaptiveSchedule, Decision
from schedulers.base import RewardSchedule
from schedulers.fixed import FixedSchedule
from schedulers.informative import InformativeSchedule
from schedulers.progress import ProgressSchedule
from schedulers.registry import ENTRY_POINT_GROUP, available, build, schedule_class, schedule_options
from schedulers.time_based import CosineSchedule, LinearSchedule
from schedulers.tracker import GroupShares, PerformanceTracker, WindowStats

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdaptiveSchedule",
    "CosineSchedule",
    "Decision",
    "FixedSchedule",
    "GroupShares",
    "InformativeSchedule",
    "LinearSchedule",
    "PerformanceTracker",
    "ProgressSchedule",
    "RewardSchedule",
    "WindowStats",
    "available",
    "build",
    "schedule_class",
    "schedule_options",
]
