"""The MedLoc-R1 performance-aware IoU-threshold curriculum, and medloc's extensions of it.

A sliding window over the last ``window`` training steps keeps the raw IoUs. tau is raised only
when every condition holds at the current tau::

    hit rate r_bar >= min_hit_rate(tau)   and   stability   and   margin >= min_margin   [and density]

then ``tau <- min(tau + delta(tau), target)`` and the oldest ``refresh_fraction`` of the window
is dropped ("semi-preserved refresh"), so the next raise needs fresh evidence at the new tau
without starting blind. The kept steps are re-scored at the new tau.

The paper's rule is the preset ``"paper"`` (``AdaptiveSchedule(preset="paper")``,
``--schedule-option preset=paper``): stability is ``sigma_r <= max_reward_std(tau)`` with sigma_r the
std of the per-step hit rates, the margin is the mean ``IoU - tau`` (at least 0.10), the first
decision waits for a full window of 30 steps. The defaults differ, each difference an option
(``PRESETS``; ``experiments/results/adaptive_defaults.md`` gives the simulator's evidence):

- ``window`` 15 and ``min_hit_rate`` 0.60 / 0.50 / 0.40: the paper's window and hit-rate levels
  keep tau below where groups are most informative, most of all when some samples miss entirely.
- ``min_margin`` 0 on the group median: the typical answer must clear tau; a positive Delta on top
  of the hit-rate condition held tau back in every simulated regime.

- ``initial_window``: the start is read from the model. After that many steps, tau jumps to the
  highest level whose conditions already hold (several levels at once), instead of spending a full
  window at ``start`` where a warm-started model may already hit every box.
- ``margin_estimate="group_median"``: the margin is the mean over groups of the group's median IoU
  minus tau. The mean IoU of sampled boxes falls with the sampling spread (temperature): a box
  sampled around a good answer is mostly worse, never much better. The median of a group stays
  near its typical answer, so the same ``min_margin`` means the same thing at any temperature.
- ``stability="trend"``: stable unless the window's hit rate is still rising: the least-squares
  rise across the window is at most ``stability_tolerance`` plus 1.645 standard errors. The paper's
  sigma_r <= S cannot fail at a few dozen completions a step (its sampling noise is below every S);
  ``stability="noise"`` compares sigma_r with the std sampling alone would give instead.
- ``density_guard``: check on the window's IoUs how many groups would still carry a GRPO
  advantage (non-zero reward variance) at the *next* tau, and hold while fewer than
  ``min_informative_share`` would *and* more groups would be starved (every completion 0) than
  saturated (every completion 1). A model that already hits every box has all-ones groups, which
  carry no advantage either, and raising tau is what gives them variance again; all-zeros groups
  are the starvation the curriculum exists to avoid. With group ids the guard keeps tau from ever
  rising above the highest IoU in the window; the paper's rule, without it, can (every IoU 0.42
  passes all three conditions at 0.3 and raises to 0.45, where every group scores 0).
"""

from __future__ import annotations

import math
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

LEVEL_MIN_HIT_RATE = ((0.0, 0.70), (0.45, 0.60), (0.65, 0.50))
DEFAULT_MIN_HIT_RATE = ((0.0, 0.60), (0.45, 0.50), (0.65, 0.40))
LEVEL_MAX_REWARD_STD = ((0.0, 0.20), (0.45, 0.30), (0.65, 0.40))
PORT_MIN_HIT_RATE = ((0.0, 0.80), (0.6, 0.75), (0.75, 0.55))
PORT_MAX_REWARD_STD = ((0.0, 0.20), (0.6, 0.35), (0.75, 0.40))
PORT_BREAKPOINTS = (0.55, 0.75)
MARGIN_ESTIMATES = ("mean", "group_median")
STABILITY_TESTS = ("step_std", "noise", "trend")
STABILITY_CONDITION = {"step_std": "reward_std", "noise": "reward_std", "trend": "trend"}
"""The key under which each stability test reports (``condition_<key>`` in :meth:`AdaptiveSchedule.metrics`)."""
RISE_Z = 1.645
"""One-sided 95% normal quantile: the trend test holds unless the rise is significant at 5%."""
NOISE_Z = 1.645
"""The noise test allows sigma_r up to the sampling noise times (1 + 1.645 / sqrt(2 (steps - 1))),
the one-sided 95% bound of a sample std of that many steps."""

DEFAULT_OPTIONS: dict[str, Any] = {
    "start": 0.3,
    "target": 0.8,
    "window": 15,
    "min_hit_rate": DEFAULT_MIN_HIT_RATE,
    "max_reward_std": LEVEL_MAX_REWARD_STD,
    "min_margin": 0.0,
    "margin_estimate": "group_median",
    "stability": "trend",
    "stability_tolerance": 0.05,
    "initial_window": 5,
    "increment": "piecewise",
    "increments": (0.15, 0.10, 0.05),
    "breakpoints": (0.45, 0.65),
    "initial_increment": 0.2,
    "min_increment": 0.05,
    "refresh_fraction": 0.5,
    "density_guard": True,
    "min_informative_share": 0.25,
}
"""The options ``AdaptiveSchedule()`` runs with (see the class docstring for what each does)."""

PAPER_OPTIONS: dict[str, Any] = {
    **DEFAULT_OPTIONS,
    "window": 30,
    "min_hit_rate": LEVEL_MIN_HIT_RATE,
    "min_margin": 0.10,
    "margin_estimate": "mean",
    "stability": "step_std",
    "initial_window": 0,
    "density_guard": False,
}
"""The paper's rule: window 30, three conditions on a full window (hit rate, std of per-step hit rates,
mean margin >= 0.10), no start read, no density guard. P, S and the breakpoints are not in the paper;
these are medloc's first relaxed levels (0.70 / 0.60 / 0.50 and 0.20 / 0.30 / 0.40 from tau 0 / 0.45 /
0.65), which the 2026-11-23 study ran as ``adaptive``."""

PRESETS: dict[str, dict[str, Any]] = {
    "paper": PAPER_OPTIONS,
    "port": {**PAPER_OPTIONS, "min_hit_rate": PORT_MIN_HIT_RATE, "max_reward_std": PORT_MAX_REWARD_STD,
             "breakpoints": PORT_BREAKPOINTS},
}
"""Named option sets for ``preset``: ``paper`` (above) and ``port`` (the paper's rule with an unofficial
port's P, S and breakpoints, medloc's first defaults)."""


@dataclass(frozen=True)
class Decision:
    """What the update rule decided at one step, and why.

    Attributes:
        step: the step count after this decision (1 for the first ``step()`` call).
        threshold: tau the decision was evaluated at.
        candidate: the tau a raise moves (or would move) to; after a start read that raised
            several levels, the last of them.
        raised: whether tau moved to ``candidate``.
        reason: ``"raised"``, ``"at_target"``, ``"window_not_full"`` or ``"conditions_not_met"``.
        conditions: for each condition (``hit_rate``, the stability test's key, ``margin``,
            ``density``): True/False at ``threshold``, or None when not evaluated (window not
            full, guard off, group ids unknown).
        stats: the window statistics at ``threshold`` (None before a decision could be made).
        candidate_shares: how the window's groups would split at the next level (None when
            group ids are unknown or no decision was made).
        levels: how many levels tau rose (more than 1 only at the start read).
    """

    step: int
    threshold: float
    candidate: float
    raised: bool
    reason: str
    conditions: dict[str, bool | None] = field(default_factory=dict)
    stats: WindowStats | None = None
    candidate_shares: GroupShares | None = None
    levels: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The decision as JSON-serialisable data."""
        return asdict(self)


class AdaptiveSchedule(RewardSchedule):
    """Raise tau from ``start`` to ``target`` when the sliding window shows the model is ready.

    Every option left at ``None`` takes its value from ``preset`` (or, without one, from
    ``DEFAULT_OPTIONS``); options given explicitly win over the preset.

    Args:
        preset: ``"paper"`` (the paper's rule), ``"port"`` (the paper's rule with an unofficial
            port's levels) or None (medloc's defaults). See ``PRESETS``.
        start: tau at the beginning (loose, dense reward). Default 0.3.
        target: the final, strict tau; never exceeded. Default 0.8.
        window: N, steps in the sliding window; a decision needs a full window (except the start
            read). Default 15 (the paper: 30).
        min_hit_rate: P(tau), minimum window hit rate, as ``[[from_tau, value], ...]``
            (piecewise constant, relaxed as tau rises). Default ``[[0.0, 0.60], [0.45, 0.50],
            [0.65, 0.40]]`` (``paper`` preset: 0.70 / 0.60 / 0.50; the port's 0.80 / 0.75 / 0.55 from
            0 / 0.6 / 0.75 held tau at 0.3 on the tiny model while most groups were saturated).
        max_reward_std: S(tau) for ``stability="step_std"``: maximum std of the per-step hit
            rates, same format (widened as tau rises). Default ``[[0.0, 0.20], [0.45, 0.30], [0.65, 0.40]]``.
        min_margin: Delta, minimum margin (see ``margin_estimate``). Default 0.0: the median answer
            clears tau (the paper: 0.10 on the mean).
        margin_estimate: ``"group_median"`` (default; mean over groups of median IoU - tau: does
            not fall with the sampling temperature) or ``"mean"`` (the paper's mean IoU - tau).
        stability: ``"trend"`` (default: the hit rate did not rise across the window by more than
            ``stability_tolerance`` + 1.645 standard errors), ``"noise"`` (sigma_r at most the
            sampling noise's 95% bound + ``stability_tolerance``) or ``"step_std"`` (the paper's:
            sigma_r <= ``max_reward_std(tau)``).
        stability_tolerance: the rise (``trend``) or excess std (``noise``) still called stable.
            Default 0.05.
        initial_window: after this many steps, one start read: tau jumps to the highest level whose
            conditions hold on those steps. 0, or a value not below ``window``, turns it off: the
            first decision waits for a full window and raises one level, as in the paper. Default 5.
        increment: ``"piecewise"`` (default), ``"linear"`` or ``"cosine"``: how delta(tau) is chosen.
        increments: piecewise deltas, one per band of tau. Default ``[0.15, 0.10, 0.05]``.
        breakpoints: where the piecewise bands start, one fewer than ``increments``.
            Default ``[0.45, 0.65]``: tau goes 0.3 -> 0.45 -> 0.55 -> 0.65 -> 0.7 -> 0.75 -> 0.8, so
            every increment and every P / S level is used.
        initial_increment: delta_0 of the ``linear`` / ``cosine`` decays. Default 0.2.
        min_increment: the delta the decays reach at ``target``. Default 0.05.
        refresh_fraction: share of the window (oldest first) dropped after a raise. Default 0.5.
        density_guard: hold while fewer than ``min_informative_share`` of the window's groups
            would have non-zero reward variance at the next tau and the rest would be mostly
            starved (all 0) rather than saturated (all 1). Needs group ids in
            :meth:`observe`; without them the guard is not evaluated. Default True (not in the paper).
        min_informative_share: the guard's floor. Default 0.25.

    Example:
        >>> schedule = AdaptiveSchedule(window=2, initial_window=0)
        >>> for _ in range(2):
        ...     schedule.observe([0.9, 0.85, 0.8, 0.95], groups=[0, 0, 1, 1])
        ...     tau = schedule.step()
        >>> tau, schedule.last_decision.reason
        (0.45, 'raised')
        >>> AdaptiveSchedule(preset="paper").options()["margin_estimate"]
        'mean'
    """

    name = "adaptive"
    decides_from_scores = True
    legacy_options = {"margin_estimate": "mean", "stability": "step_std",
                      "stability_tolerance": DEFAULT_OPTIONS["stability_tolerance"], "initial_window": 0}

    def __init__(
        self,
        preset: str | None = None,
        start: float | None = None,
        target: float | None = None,
        window: int | None = None,
        min_hit_rate: Sequence[Sequence[float]] | None = None,
        max_reward_std: Sequence[Sequence[float]] | None = None,
        min_margin: float | None = None,
        margin_estimate: str | None = None,
        stability: str | None = None,
        stability_tolerance: float | None = None,
        initial_window: int | None = None,
        increment: str | None = None,
        increments: Sequence[float] | None = None,
        breakpoints: Sequence[float] | None = None,
        initial_increment: float | None = None,
        min_increment: float | None = None,
        refresh_fraction: float | None = None,
        density_guard: bool | None = None,
        min_informative_share: float | None = None,
    ) -> None:
        super().__init__()
        given = {key: value for key, value in locals().items()  # the options passed (not None), by name
                 if key in DEFAULT_OPTIONS and value is not None}
        if preset is not None:
            check_choice(self.name, "preset", preset, tuple(PRESETS))
        values = {**(PRESETS[preset] if preset is not None else DEFAULT_OPTIONS), **given}
        self.start, self.target = check_start_target(self.name, values["start"], values["target"])
        self.window = check_positive_int(self.name, "window", values["window"])
        self.min_hit_rate = check_levels(self.name, "min_hit_rate", values["min_hit_rate"])
        self.max_reward_std = check_levels(self.name, "max_reward_std", values["max_reward_std"])
        self.min_margin = check_unit_interval(self.name, "min_margin", values["min_margin"])
        self.margin_estimate = check_choice(self.name, "margin_estimate", values["margin_estimate"], MARGIN_ESTIMATES)
        self.stability = check_choice(self.name, "stability", values["stability"], STABILITY_TESTS)
        self.stability_tolerance = check_unit_interval(self.name, "stability_tolerance", values["stability_tolerance"])
        initial_window = values["initial_window"]
        if isinstance(initial_window, bool) or not isinstance(initial_window, int) or initial_window < 0:
            raise ValueError(f"{self.name}: option 'initial_window' must be an integer >= 0 (0: off), "
                             f"got {initial_window!r}")
        self.initial_window = initial_window
        self.increment = check_choice(self.name, "increment", values["increment"], INCREMENT_MODES)
        self.increments = tuple(
            check_unit_interval(self.name, f"increments[{i}]", value) for i, value in enumerate(values["increments"])
        )
        self.breakpoints = tuple(
            check_unit_interval(self.name, f"breakpoints[{i}]", value) for i, value in enumerate(values["breakpoints"])
        )
        if len(self.increments) != len(self.breakpoints) + 1:
            raise ValueError(
                f"{self.name}: option 'increments' needs exactly one more value than 'breakpoints' "
                f"(got {len(self.increments)} increments and {len(self.breakpoints)} breakpoints)"
            )
        if list(self.breakpoints) != sorted(set(self.breakpoints)):
            raise ValueError(f"{self.name}: option 'breakpoints' must be strictly increasing")
        self.initial_increment = check_unit_interval(self.name, "initial_increment", values["initial_increment"])
        self.min_increment = check_unit_interval(self.name, "min_increment", values["min_increment"])
        for option, steps in (("increments", self.increments), ("min_increment", (self.min_increment,))):
            if self.start < self.target and min(steps) <= 0.0:
                raise ValueError(f"{self.name}: option '{option}' must be > 0 or tau can never reach 'target'")
        if self.initial_increment < self.min_increment:
            raise ValueError(f"{self.name}: option 'initial_increment' must be >= 'min_increment'")
        self.refresh_fraction = check_unit_interval(self.name, "refresh_fraction", values["refresh_fraction"])
        if not isinstance(values["density_guard"], bool):
            raise ValueError(
                f"{self.name}: option 'density_guard' must be true or false, got {values['density_guard']!r}"
            )
        self.density_guard = values["density_guard"]
        self.min_informative_share = check_unit_interval(
            self.name, "min_informative_share", values["min_informative_share"]
        )
        self.tracker = PerformanceTracker(self.window)
        self._threshold = self.start
        self._start_read_done = not 0 < self.initial_window < self.window
        self.last_decision: Decision | None = None

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def conditions(self) -> tuple[str, ...]:
        """The names of the conditions this rule checks, in order.

        Example:
            >>> AdaptiveSchedule(preset="paper").conditions
            ('hit_rate', 'reward_std', 'margin', 'density')
        """
        return ("hit_rate", STABILITY_CONDITION[self.stability], "margin", "density")

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

    def candidate(self, tau: float | None = None) -> float:
        """The tau a raise from ``tau`` (default: the current tau) would move to."""
        tau = self._threshold if tau is None else tau
        return round(min(tau + self.delta(tau), self.target), 10)

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
        tau = self._threshold
        unevaluated = dict.fromkeys(self.conditions)
        if tau >= self.target:
            return Decision(self.steps_taken, tau, self.candidate(), False, "at_target", unevaluated)
        start_read = not self._start_read_done and len(self.tracker) >= self.initial_window
        if not (start_read or self.tracker.is_full):
            return Decision(self.steps_taken, tau, self.candidate(), False, "window_not_full", unevaluated)
        self._start_read_done = True
        stats, shares, conditions = self._evaluate(tau)
        first = Decision(self.steps_taken, tau, self.candidate(), False, "conditions_not_met", conditions, stats, shares)
        if not self._all_hold(conditions):
            return first
        level, levels = self.candidate(), 1
        while start_read and level < self.target and self._all_hold(self._evaluate(level)[2]):
            level, levels = self.candidate(level), levels + 1
        return Decision(self.steps_taken, tau, level, True, "raised", conditions, stats, shares, levels)

    @staticmethod
    def _all_hold(conditions: dict[str, bool | None]) -> bool:
        return all(held is not False for held in conditions.values())

    def _evaluate(self, tau: float) -> tuple[WindowStats, GroupShares | None, dict[str, bool | None]]:
        """The window's statistics at ``tau``, the split at the next level, and each condition."""
        stats = self.tracker.compute(tau)
        shares = self.tracker.group_shares(self.candidate(tau))
        margin = stats.median_margin if self.margin_estimate == "group_median" else stats.margin
        conditions = {
            "hit_rate": bool(stats.hit_rate >= level_at(self.min_hit_rate, tau)),
            STABILITY_CONDITION[self.stability]: bool(self._stable(stats, tau)),
            "margin": bool(margin >= self.min_margin),
            "density": self._density_holds(shares),
        }
        return stats, shares, conditions

    def _stable(self, stats: WindowStats, tau: float) -> bool:
        if self.stability == "step_std":
            return stats.reward_std <= level_at(self.max_reward_std, tau)
        if self.stability == "noise":
            bound = stats.reward_std_noise * (1 + NOISE_Z / math.sqrt(2 * max(stats.steps - 1, 1)))
            return stats.reward_std <= bound + self.stability_tolerance
        if stats.hit_rate_rise is None:  # fewer than 3 steps: no trend to test
            return True
        return stats.hit_rate_rise <= self.stability_tolerance + RISE_Z * stats.hit_rate_rise_se

    def _density_holds(self, shares: GroupShares | None) -> bool | None:
        """The guard: False when raising would starve groups below ``min_informative_share``."""
        if not self.density_guard or shares is None:
            return None
        return shares.informative >= self.min_informative_share or shares.starved <= shares.saturated

    def metrics(self) -> dict[str, float]:
        """threshold, window statistics and, per condition, 1.0/0.0 if evaluated at the last step.

        ``window_margin`` is the margin the rule compares with ``min_margin`` (per ``margin_estimate``);
        ``window_hit_rate_rise`` and ``window_reward_std_noise`` are what the ``trend`` and ``noise``
        stability tests look at.
        """
        values: dict[str, float] = {"threshold": self._threshold}
        decision = self.last_decision
        if decision is None:
            return values
        values["raised"] = float(decision.raised)
        if decision.stats is not None:
            stats = decision.stats
            values["window_hit_rate"] = stats.hit_rate
            values["window_reward_std"] = stats.reward_std
            median = self.margin_estimate == "group_median" and stats.median_margin is not None
            values["window_margin"] = stats.median_margin if median else stats.margin
            if stats.reward_std_noise is not None:
                values["window_reward_std_noise"] = stats.reward_std_noise
            if stats.hit_rate_rise is not None:
                values["window_hit_rate_rise"] = stats.hit_rate_rise
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
            "margin_estimate": self.margin_estimate,
            "stability": self.stability,
            "stability_tolerance": self.stability_tolerance,
            "initial_window": self.initial_window,
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
            "start_read_done": self._start_read_done,
            "last_decision": None if self.last_decision is None else self.last_decision.as_dict(),
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._threshold = float(state["threshold"])
        self.tracker.load_state_dict(state["tracker"])
        self._start_read_done = bool(state.get("start_read_done", True))
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
