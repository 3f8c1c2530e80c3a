"""Build schedules by name: the built-ins plus third-party schedules from entry points.

A third-party package registers a schedule class (a :class:`~schedulers.base.RewardSchedule`
subclass) in its ``pyproject.toml``::

    [project.entry-points."medloc.schedulers"]
    warmup-step = "my_package.schedules:WarmupStepSchedule"

after which ``schedulers.build("warmup-step", ...)`` and ``medloc train --schedule warmup-step``
work like the built-ins.
"""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from typing import Any

from schedulers.adaptive import AdaptiveSchedule
from schedulers.base import RewardSchedule
from schedulers.fixed import FixedSchedule
from schedulers.informative import InformativeSchedule
from schedulers.progress import ProgressSchedule
from schedulers.time_based import CosineSchedule, LinearSchedule

ENTRY_POINT_GROUP = "medloc.schedulers"

BUILTIN_SCHEDULES: dict[str, type[RewardSchedule]] = {
    schedule.name: schedule for schedule in (
        FixedSchedule, LinearSchedule, CosineSchedule, ProgressSchedule, AdaptiveSchedule, InformativeSchedule
    )
}


def _plugin_entry_points() -> dict[str, Any]:
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Names :func:`build` accepts: built-ins first, then installed plugins, sorted.

    Example:
        >>> available()[:6]
        ['fixed', 'linear', 'cosine', 'progress', 'adaptive', 'informative']
    """
    plugins = sorted(name for name in _plugin_entry_points() if name not in BUILTIN_SCHEDULES)
    return [*BUILTIN_SCHEDULES, *plugins]


def schedule_class(name: str) -> type[RewardSchedule]:
    """The class registered under ``name`` (built-in or plugin).

    Example:
        >>> schedule_class("adaptive").__name__
        'AdaptiveSchedule'
    """
    if name in BUILTIN_SCHEDULES:
        return BUILTIN_SCHEDULES[name]
    point = _plugin_entry_points().get(name)
    if point is None:
        raise ValueError(f"unknown schedule {name!r}; available: {', '.join(available())}")
    try:
        loaded = point.load()
    except Exception as error:  # a broken plugin must name itself, not crash obscurely
        raise ValueError(f"schedule {name!r} (entry point {point.value!r}) failed to load: {error}") from error
    if not (inspect.isclass(loaded) and issubclass(loaded, RewardSchedule)):
        raise ValueError(
            f"schedule {name!r} (entry point {point.value!r}) must be a subclass of "
            "schedulers.RewardSchedule"
        )
    return loaded


def schedule_options(name: str) -> dict[str, Any]:
    """The options of schedule ``name`` with their defaults (``inspect.Parameter.empty`` if required).

    Example:
        >>> schedule_options("fixed")
        {'threshold': 0.5}
    """
    signature = inspect.signature(schedule_class(name).__init__)
    return {
        parameter.name: parameter.default
        for parameter in list(signature.parameters.values())[1:]
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    }


def build(name: str, **options: Any) -> RewardSchedule:
    """Build the schedule registered as ``name`` with ``options``.

    Unknown names and unknown options raise ``ValueError`` naming what is allowed.

    Example:
        >>> build("adaptive", start=0.3, target=0.8, window=30).threshold
        0.3
    """
    allowed = schedule_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for schedule {name!r}; "
            f"allowed: {', '.join(allowed) or 'none'}"
        )
    missing = sorted(key for key, default in allowed.items() if default is inspect.Parameter.empty and key not in options)
    if missing:
        raise ValueError(f"schedule {name!r} needs option(s) {', '.join(map(repr, missing))}")
    return schedule_class(name)(**options)
