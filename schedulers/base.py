"""The reward-schedule protocol every medloc schedule follows.

A schedule owns the IoU threshold ``tau`` of the binary grounding reward
``r = 1[IoU >= tau]``. Like ``torch.optim.lr_scheduler``, the protocol is tiny:

- :attr:`RewardSchedule.threshold`: the current tau;
- :meth:`RewardSchedule.observe`: hand in one training step's per-completion IoUs (and the
  group id of each completion when known: equal ids = completions of one prompt);
- :meth:`RewardSchedule.step`: apply the update rule once per training step, return tau;
- :meth:`RewardSchedule.state_dict` / :meth:`RewardSchedule.load_state_dict`: JSON-serialisable
  round trip of everything needed to resume.

Protocol edges:

- every :meth:`~RewardSchedule.observe` call is one observation: two calls before one
  :meth:`~RewardSchedule.step` are two entries of a sliding window (two "window steps"), while
  ``steps_taken`` counts ``step`` calls. medloc's curricula call ``observe`` once per ``step``.
- :meth:`~RewardSchedule.load_state_dict` refuses a state saved with other options (a window of
  30 does not load into a window of 10): the error names each option that differs. An option added
  after a state was saved is read as ``legacy_options[option]``, the behaviour the schedule had
  before the option existed, so an old state loads into a schedule built to behave the same way,
  and the error for one that does not says which value to build with.

Subclasses set ``name`` and implement ``threshold``, ``step`` and the ``_extra_state`` /
``_load_extra_state`` pair; ``observe`` is a no-op by default (time-based schedules ignore
performance).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

STATE_VERSION = 1


class RewardSchedule(ABC):
    """Base class of IoU-threshold schedules.

    Example:
        >>> from schedulers import build
        >>> schedule = build("linear", start=0.3, target=0.8, total_steps=10)
        >>> schedule.observe([0.4, 0.9, 0.0], groups=[0, 0, 0])
        >>> round(schedule.step(), 2)
        0.35
    """

    name: ClassVar[str] = ""
    needs_total_steps: ClassVar[bool] = False
    """True for schedules that need ``total_steps`` (the run's length in schedule steps)."""
    decides_from_scores: ClassVar[bool] = False
    """True for schedules that move tau from the observed IoUs (scores). Such a schedule promises
    never to raise tau while every group is starved (every IoU below tau) and never to raise it
    above the highest IoU it observed; ``tests/test_schedule_invariants.py`` checks every
    registered schedule (plugins included) that sets this."""
    legacy_options: ClassVar[dict[str, Any]] = {}
    """Options added after states were first saved, with the value that reproduces the behaviour
    before they existed: a saved state without such an option is read as having this value."""

    def __init__(self) -> None:
        self.steps_taken = 0

    @property
    @abstractmethod
    def threshold(self) -> float:
        """The current IoU threshold tau in [0, 1]."""

    def observe(self, ious: Sequence[float] | np.ndarray, groups: Sequence[int] | np.ndarray | None = None) -> None:
        """Record one training step's per-completion IoUs (0.0 for unparseable answers).

        Args:
            ious: ``(N,)`` IoUs in [0, 1] of the step's N completions.
            groups: ``(N,)`` integer group ids, equal for completions of the same prompt,
                or ``None`` when the grouping is unknown.
        """

    @abstractmethod
    def step(self) -> float:
        """Apply the update rule for one training step and return the (possibly new) threshold."""

    def options(self) -> dict[str, Any]:
        """The constructor options of this schedule (JSON-serialisable)."""
        return {}

    def metrics(self) -> dict[str, float]:
        """Scalars worth logging at this step; at least ``threshold``."""
        return {"threshold": self.threshold}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as JSON-serialisable data."""
        return {
            "schedule": self.name,
            "version": STATE_VERSION,
            "options": self.options(),
            "steps_taken": self.steps_taken,
            **self._extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict` of a schedule of the same kind and options.

        Raises:
            ValueError: another schedule, another state version, or other options (each named
                with the saved and the current value).

        Example:
            >>> from schedulers import build
            >>> build("fixed", threshold=0.4).load_state_dict(build("fixed", threshold=0.5).state_dict())
            Traceback (most recent call last):
            ...
            ValueError: cannot load a state of schedule 'fixed' saved with other options: threshold 0.5 (this schedule: 0.4)
        """
        if state.get("schedule") != self.name:
            raise ValueError(
                f"cannot load a state of schedule {state.get('schedule')!r} into schedule {self.name!r}"
            )
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported schedule state version {state.get('version')!r}")
        current = json.loads(json.dumps(self.options()))
        added = {key: value for key, value in json.loads(json.dumps(self.legacy_options)).items()
                 if key not in state["options"]}
        saved = {**added, **state["options"]}
        differing = [key for key in sorted(set(saved) | set(current)) if saved.get(key) != current.get(key)]
        if differing:
            raise ValueError(
                f"cannot load a state of schedule {self.name!r} saved with other options: "
                + ", ".join(f"{key} {saved.get(key)!r} (this schedule: {current.get(key)!r})"
                            + (" [the state predates this option; build with that value to resume it]"
                               if key in added else "") for key in differing)
            )
        self.steps_taken = int(state["steps_taken"])
        self._load_extra_state(state)

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self.options().items())
        return f"{type(self).__name__}({options})"
