"""The MedLoc-R1 performance-aware IoU-threshold curriculum.

A sliding window over the last ``window`` training steps tracks the hit rate r_bar, the
step-to-step reward standard deviation sigma_r and the mean margin m_bar = mean(IoU - tau).
tau is raised only when every condition holds::

    r_bar >= min_hit_rate(tau)  and  sigma_r <= max_reward_std(tau)  and  m_bar >= min_margin

then ``tau <- min(tau + delta(tau), target)`` and the oldest ``refresh_fraction`` of the window
is dropped ("semi-preserved refresh"), so the next raise needs fresh evidence at the new tau
without starting blind. The kept steps are re-scored at the new tau.

Beyond the paper, ``density_guard`` checks on the window's IoUs how many groups would still
carry a GRPO advantage (non-zero reward variance) at the *next* tau, and holds while fewer than
``min_informative_share`` would *and* more groups would be starved (every completion 0) than
saturated (every completion 1). The second clause matters: a model that already hits every box
has all-ones groups, which carry no advantage either, and raising tau is what gives them
variance again; all-zeros groups are the starvation the curriculum exists to avoid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from schedulers._validation import (
    check_choice,
    check_levels,
    check_positive_int,
    check_start_target,
    check_unit_interval,
    level_at,
)
from schedulers.base import RewardSchedule
from schedulers.increments import INCREMENT_MODES, decayed_increment, piecewise_increment
from schedulers.tracker import GroupShares, PerformanceTracker, WindowStats

DEFAULT_MIN_HIT_RATE = ((0.0, 0.70), (0.45, 0.60), (0.65, 0.50))
DEFAULT_MAX_REWARD_STD = ((0.0, 0.20), (0.45, 0.30), (0.65, 0.40))
PORT_MIN_HIT_RATE = ((0.0, 0.80), (0.6, 0.75), (0.75, 0.55))
PORT_MAX_REWARD_STD = ((0.0, 0.20), (0.6, 0.35), (0.75, 0.40))
PORT_BREAKPOINTS = (0.55, 0.75)
"""The first defaults (an unofficial port): P, S and breakpoints. The defaults relax P and move the
levels to the breakpoints; the study compares both (experiments/results/compare_schedules.md)."""
CONDITIONS = ("hit_rate", "reward_std", "margin", "density")


@dataclass(frozen=True)
class Decision:
    """What the update rule decided at one step, and why.

    Attributes:
        step: the step count after this decision (1 for the first ``step()`` call).
        threshold: tau the decision was evaluated at.
        candidate: the tau a raise would move to.
        raised: whether tau moved to ``candidate``.
        reason: ``"raised"``, ``"at_target"``, ``"window_not_full"`` or ``"conditions_not_met"``.
        conditions: for each of ``hit_rate``, ``reward_std``, ``margin``, ``density``: True/False,
            or None when not evaluated (window not full, guard off, group ids unknown).
        stats: the window statistics at ``threshold`` (None before the window filled).
        candidate_shares: how the window's groups would split at ``candidate`` (None when group
            ids are unknown or the window is not full).
    """

    step: int
    threshold: float
    candidate: float
    raised: bool
    reason: str
    conditions: dict[str, bool | None] = field(default_factory=dict)
    stats: WindowStats | None = None
    candidate_shares: GroupShares | None = None

    def as_dict(self) -> dict[str, Any]:
        """The decision as JSON-serialisable data."""
        return asdict(self)


class AdaptiveSchedule(RewardSchedule):
    """Raise tau from ``start`` to ``target`` when the sliding window shows the model is ready.

    Args:
        start: tau at the beginning (loose, dense reward). Default 0.3.
        target: the final, strict tau; never exceeded. Default 0.8.
        window: N, steps in the sliding window; a decision needs a full window. Default 30.
        min_hit_rate: P(tau), minimum window hit rate, as ``[[from_tau, value], ...]``
            (piecewise constant, relaxed as tau rises). Default
            ``[[0.0, 0.70], [0.45, 0.60], [0.65, 0.50]]`` (the unofficial port's ``PORT_MIN_HIT_RATE``,
            0.80 / 0.75 / 0.55 from 0 / 0.6 / 0.75, held tau at 0.3 on the tiny model while most
            groups were saturated; levels now start at the piecewise breakpoints).
        max_reward_std: S(tau), maximum std of the per-step hit rates across the window,
            same format (widened as tau rises). Default ``[[0.0, 0.20], [0.45, 0.30], [0.65, 0.40]]``.
        min_margin: Delta, minimum mean ``IoU - tau`` over the window. Default 0.10.
        increment: ``"piecewise"`` (default), ``"linear"`` or ``"cosine"``: how delta(tau) is chosen.
        increments: piecewise deltas, one per band of tau. Default ``[0.15, 0.10, 0.05]``.
        breakpoints: where the piecewise bands start, one fewer than ``increments``.
            Default ``[0.45, 0.65]``: tau goes 0.3 -> 0.45 -> 0.55 -> 0.65 -> 0.7 -> 0.75 -> 0.8, so
            every increment and every P / S level is used (with the port's ``[0.55, 0.75]`` the
            0.05 increment and the last level were never reached).
        initial_increment: delta_0 of the ``linear`` / ``cosine`` decays. Default 0.2.
        min_increment: the delta the decays reach at ``target``. Default 0.05.
        refresh_fraction: share of the window (oldest first) dropped after a raise. Default 0.5.
        density_guard: hold while fewer than ``min_informative_share`` of the window's groups
            would have non-zero reward variance at the next tau and the rest would be mostly
            starved (all 0) rather than saturated (all 1). Needs group ids in
            :meth:`observe`; without them the guard is not evaluated. Default True.
        min_informative_share: the guard's floor. Default 0.25.

    Example:
        >>> schedule = AdaptiveSchedule(window=2)
        >>> for _ in range(2):
        ...     schedule.observe([0.9, 0.4, 0.5, 0.85], groups=[0, 0, 1, 1])
        ...     tau = schedule.step()
        >>> tau, schedule.last_decision.reason
        (0.45, 'raised')
    """

    name = "adaptive"

    def __init__(
        self,
        start: float = 0.3,
        target: float = 0.8,
        window: int = 30,
        min_hit_rate: Sequence[Sequence[float]] = DEFAULT_MIN_HIT_RATE,
        max_reward_std: Sequence[Sequence[float]] = DEFAULT_MAX_REWARD_STD,
        min_margin: float = 0.10,
        increment: str = "piecewise",
        increments: Sequence[float] = (0.15, 0.10, 0.05),
        breakpoints: Sequence[float] = (0.45, 0.65),
        initial_increment: float = 0.2,
        min_increment: float = 0.05,
        refresh_fraction: float = 0.5,
        density_guard: bool = True,
        min_informative_share: float = 0.25,
    ) -> None:
        super().__init__()
        self.start, self.target = check_start_target(self.name, start, target)
        self.window = check_positive_int(self.name, "window", window)
        self.min_hit_rate = check_levels(self.name, "min_hit_rate", min_hit_rate)
        self.max_reward_std = check_levels(self.name, "max_reward_std", max_reward_std)
        self.min_margin = check_unit_interval(self.name, "min_margin", min_margin)
        self.increment = check_choice(self.name, "increment", increment, INCREMENT_MODES)
        self.increments = tuple(
            check_unit_interval(self.name, f"increments[{i}]", value) for i, value in enumerate(increments)
        )
        self.breakpoints = tuple(
            check_unit_interval(self.name, f"breakpoints[{i}]", value) for i, value in enumerate(breakpoints)
        )
        if len(self.increments) != len(self.breakpoints) + 1:
            raise ValueError(
                f"{self.name}: option 'increments' needs exactly one more value than 'breakpoints' "
                f"(got {len(self.increments)} increments and {len(self.breakpoints)} breakpoints)"
            )
        if list(self.breakpoints) != sorted(set(self.breakpoints)):
            raise ValueError(f"{self.name}: option 'breakpoints' must be strictly increasing")
        self.initial_increment = check_unit_interval(self.name, "initial_increment", initial_increment)
        self.min_increment = check_unit_interval(self.name, "min_increment", min_increment)
        for option, values in (("increments", self.increments), ("min_increment", (self.min_increment,))):
            if self.start < self.target and min(values) <= 0.0:
                raise ValueError(f"{self.name}: option '{option}' must be > 0 or tau can never reach 'target'")
        if self.initial_increment < self.min_increment:
            raise ValueError(f"{self.name}: option 'initial_increment' must be >= 'min_increment'")
        self.refresh_fraction = check_unit_interval(self.name, "refresh_fraction", refresh_fraction)
        if not isinstance(density_guard, bool):
            raise ValueError(f"{self.name}: option 'density_guard' must be true or false, got {density_guard!r}")
        self.density_guard = density_guard
        self.min_informative_share = check_unit_interval(self.name, "min_informative_share", min_informative_share)
        self.tracker = PerformanceTracker(self.window)
        self._threshold = self.start
        self.last_decision: Decision | None = None

    @property
    def threshold(self) -> float:
        return self._threshold

    def delta(self, tau: float) -> float:
        """The increment a raise from ``tau`` would apply (before capping at ``target``).

        Example:
            >>> AdaptiveSchedule().delta(0.3)
            0.15
        """
        if self.increment == "piecewise":
            return piecewise_increment(tau, self.increments, self.breakpoints)
        return decayed_increment(
            tau, self.start, self.target, self.initial_increment, self.min_increment, self.increment
        )

    def candidate(self) -> float:
        """The tau the next raise would move to."""
        return round(min(self._threshold + self.delta(self._threshold), self.target), 10)

    def observe(self, ious: Sequence[float] | np.ndarray, groups: Sequence[int] | np.ndarray | None = None) -> None:
        self.tracker.update(ious, groups)

    def step(self) -> float:
        self.steps_taken += 1
        self.last_decision = self._decide()
        if self.last_decision.raised:
            self._threshold = self.last_decision.candidate
            self.tracker.drop_oldest(self.refresh_fraction)
        return self._threshold

    def _decide(self) -> Decision:
        tau, candidate = self._threshold, self.candidate()
        if tau >= self.target:
            return Decision(self.steps_taken, tau, candidate, False, "at_target", dict.fromkeys(CONDITIONS))
        if not self.tracker.is_full:
            return Decision(self.steps_taken, tau, candidate, False, "window_not_full", dict.fromkeys(CONDITIONS))
        stats = self.tracker.compute(tau)
        candidate_shares = self.tracker.group_shares(candidate)
        conditions: dict[str, bool | None] = {
            "hit_rate": stats.hit_rate >= level_at(self.min_hit_rate, tau),
            "reward_std": stats.reward_std <= level_at(self.max_reward_std, tau),
            "margin": stats.margin >= self.min_margin,
            "density": self._density_holds(candidate_shares),
        }
        raised = all(held is not False for held in conditions.values())
        reason = "raised" if raised else "conditions_not_met"
        return Decision(self.steps_taken, tau, candidate, raised, reason, conditions, stats, candidate_shares)

    def _density_holds(self, shares: GroupShares | None) -> bool | None:
        """The guard: False when raising would starve groups below ``min_informative_share``."""
        if not self.density_guard or shares is None:
            return None
        return shares.informative >= self.min_informative_share or shares.starved <= shares.saturated

    def metrics(self) -> dict[str, float]:
        """threshold, window statistics and, per condition, 1.0/0.0 if evaluated at the last step."""
        values: dict[str, float] = {"threshold": self._threshold}
        decision = self.last_decision
        if decision is None:
            return values
        values["raised"] = float(decision.raised)
        if decision.stats is not None:
            values["window_hit_rate"] = decision.stats.hit_rate
            values["window_reward_std"] = decision.stats.reward_std
            values["window_margin"] = decision.stats.margin
        if decision.candidate_shares is not None:
            values["next_informative_share"] = decision.candidate_shares.informative
            values["next_starved_share"] = decision.candidate_shares.starved
        for condition, held in decision.conditions.items():
            if held is not None:
                values[f"condition_{condition}"] = float(held)
        return values

    def options(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "target": self.target,
            "window": self.window,
            "min_hit_rate": [list(level) for level in self.min_hit_rate],
            "max_reward_std": [list(level) for level in self.max_reward_std],
            "min_margin": self.min_margin,
            "increment": self.increment,
            "increments": list(self.increments),
            "breakpoints": list(self.breakpoints),
            "initial_increment": self.initial_increment,
            "min_increment": self.min_increment,
            "refresh_fraction": self.refresh_fraction,
            "density_guard": self.density_guard,
            "min_informative_share": self.min_informative_share,
        }

    def _extra_state(self) -> dict[str, Any]:
        return {
            "threshold": self._threshold,
            "tracker": self.tracker.state_dict(),
            "last_decision": None if self.last_decision is None else self.last_decision.as_dict(),
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._threshold = float(state["threshold"])
        self.tracker.load_state_dict(state["tracker"])
        decision = state.get("last_decision")
        if decision is None:
            self.last_decision = None
        else:
            stats, shares = decision.get("stats"), decision.get("candidate_shares")
            self.last_decision = Decision(
                **{
                    **decision,
                    "stats": None if stats is None else WindowStats(**stats),
                    "candidate_shares": None if shares is None else GroupShares(**shares),
                }
            )
