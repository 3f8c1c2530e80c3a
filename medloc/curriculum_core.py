"""The curriculum core every trainer path shares: one schedule fed by batches of scores.

A :class:`CurriculumCore` owns one reward schedule (:mod:`schedulers`). A trainer adapter hands it
the scores of a batch (IoUs, grade closeness, any [0, 1] score) to get the binary rewards
``1[score >= tau]`` at the current tau, and, for a *training* batch, the scores of every process
with group ids: the core observes them, steps the schedule once and returns the ``medloc/*``
metrics of that step (at the tau the batch was scored with). Deciding what a training batch is and
where the state is stored is the adapter's job:

- the TRL callback :class:`medloc.curriculum.ThresholdCurriculum` (and :class:`~medloc.IoUCurriculum`,
  which the ms-swift plugin wraps) and the reward-only ``trl grpo`` entry point
  (:mod:`medloc.integrations.trl_cli`) learn from :meth:`CurriculumCore.learn_from_processes`;
- the EasyR1 and verl adapters (through :class:`medloc.integrations.schedule_driver.ScheduleDriver`)
  learn from :meth:`CurriculumCore.learn` with the groups they read from their batches;
- ``medloc train`` checks the settings with :func:`check_schedule_options` and builds the run's one
  schedule with :func:`build_schedule` and :func:`generation_batches`.

One schedule step is one generation batch (TRL computes rewards once per generation batch), so a
schedule that ``needs_total_steps`` (``linear``, ``cosine``) spans :func:`generation_batches` of the run.

Example:
    >>> core = CurriculumCore("fixed", score_name="iou", threshold=0.5)
    >>> core.rewards(np.array([0.4, 0.9])).tolist()
    [0.0, 1.0]
    >>> metrics = core.learn(np.array([0.4, 0.9]), groups=np.array([0, 0]))
    >>> metrics["medloc/hit_rate"], metrics["medloc/mean_iou"], metrics["medloc/zero_variance_share"]
    (0.5, 0.65, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

import schedulers
from medloc.scoring import threshold_rewards
from schedulers import RewardSchedule
from schedulers.tracker import group_shares

__all__ = [
    "METRIC_PREFIX",
    "STATE_KEY_PREFIX",
    "CurriculumCore",
    "build_schedule",
    "check_schedule_options",
    "generation_batches",
]

METRIC_PREFIX = "medloc/"
"""Every metric a curriculum logs is ``medloc/<name>`` (TRL's TensorBoard shows ``train/medloc/<name>``)."""
STATE_KEY_PREFIX = "medloc:"
"""A curriculum's state is kept in ``TrainerState.stateful_callbacks["medloc:<name>"]``."""


def _needs_total_steps(name: str, options: Mapping[str, Any]) -> bool:
    return bool(getattr(schedulers.schedule_class(name), "needs_total_steps", False)) and "total_steps" not in options


def build_schedule(schedule: str | RewardSchedule, total_steps: int | None = None, **options: Any) -> RewardSchedule:
    """A schedule from a name and options (or a ready object); ``total_steps`` fills in time-based ones.

    ``linear`` / ``cosine`` need ``total_steps`` (in schedule steps = generation batches): given
    as an option or here; without either, building fails naming the option.

    Example:
        >>> build_schedule("linear", total_steps=10).options()["total_steps"]
        10
        >>> build_schedule("linear")
        Traceback (most recent call last):
        ...
        ValueError: schedule 'linear' needs 'total_steps' (the number of training batches)
    """
    if isinstance(schedule, RewardSchedule):
        if options:
            raise ValueError(f"options {sorted(options)} given with a schedule object")
        return schedule
    if not isinstance(schedule, str):
        raise TypeError(f"'schedule' must be a name or a RewardSchedule, got {type(schedule).__name__}")
    if _needs_total_steps(schedule, options):
        if total_steps is None:
            raise ValueError(f"schedule {schedule!r} needs 'total_steps' (the number of training batches)")
        options = {**options, "total_steps": int(total_steps)}
    return schedulers.build(schedule, **options)


def check_schedule_options(schedule: str, options: Mapping[str, Any]) -> None:
    """Raise the schedule's own ``ValueError`` / ``TypeError`` if ``options`` do not build it (the run's
    length stands in for a missing ``total_steps``); a settings check before any training.

    Example:
        >>> check_schedule_options("fixed", {"window": 3})
        Traceback (most recent call last):
        ...
        ValueError: unknown option(s) 'window' for schedule 'fixed'; allowed: threshold
    """
    build_schedule(schedule, total_steps=1, **options)


def generation_batches(args: Any, max_steps: int) -> int:
    """Generation batches (schedule steps) in ``max_steps`` optimizer steps of a GRPO config.

    ``max_steps x gradient_accumulation_steps / (steps_per_generation x num_iterations)``, rounded up;
    TRL's defaults (``steps_per_generation = gradient_accumulation_steps``, one iteration) give
    one batch per optimizer step.

    Example:
        >>> from types import SimpleNamespace
        >>> generation_batches(SimpleNamespace(gradient_accumulation_steps=4), 10)
        10
        >>> generation_batches(SimpleNamespace(num_iterations=2), 10)
        5
    """
    accumulation = getattr(args, "gradient_accumulation_steps", 1) or 1
    per_generation = getattr(args, "steps_per_generation", None) or accumulation
    iterations = getattr(args, "num_iterations", 1) or 1
    return max(1, math.ceil(max_steps * accumulation / (per_generation * iterations)))


class CurriculumCore:
    """One schedule fed by batches of [0, 1] scores: rewards at tau, learning, metrics, state.

    Args:
        schedule: a schedule name from :func:`schedulers.available` or a
            :class:`schedulers.RewardSchedule` instance. Default ``"adaptive"``.
        score_name: how the score is called in the metrics (``medloc/mean_<score_name>``).
        total_steps: the run's length in generation batches, for a schedule that
            ``needs_total_steps`` built by name without it.
        fit_later: without ``total_steps``, build such a schedule at its start and rebuild it once
            when :meth:`fit_to_run` learns the run's length (a TRL callback learns it when training
            starts); otherwise a missing ``total_steps`` is an error naming it.
        **options: the schedule's options (:func:`schedulers.build`).

    Example:
        >>> core = CurriculumCore("linear", fit_later=True, start=0.2, target=0.8)
        >>> core.fit_to_run(None, 4)
        >>> core.schedule.total_steps, core.threshold
        (4, 0.2)
    """

    def __init__(self, schedule: str | RewardSchedule = "adaptive", *, score_name: str = "score",
                 total_steps: int | None = None, fit_later: bool = False, **options: Any) -> None:
        self._refit = (fit_later and total_steps is None and isinstance(schedule, str)
                       and _needs_total_steps(schedule, options))
        self.schedule = build_schedule(schedule, 1 if self._refit else total_steps, **options)
        self.score_name = score_name

    @property
    def threshold(self) -> float:
        """The current tau."""
        return self.schedule.threshold

    def fit_to_run(self, args: Any, max_steps: int) -> None:
        """Span a schedule built by name without ``total_steps`` over the run's generation batches
        (:func:`generation_batches` of ``max_steps``); nothing to do for any other schedule.
        """
        if self._refit and max_steps:
            total = generation_batches(args, max_steps)
            self.schedule = schedulers.build(self.schedule.name, **{**self.schedule.options(), "total_steps": total})
            self._refit = False

    def rewards(self, scores: np.ndarray) -> np.ndarray:
        """``1[score >= tau]`` at the current tau."""
        return threshold_rewards(scores, self.threshold)

    def learn(self, scores: np.ndarray, groups: np.ndarray | None = None) -> dict[str, float]:
        """Observe one training batch, step the schedule once, return the step's ``medloc/*`` metrics.

        ``medloc/threshold`` is the tau the batch was scored with; the schedule's own metrics
        (window statistics, conditions, ``raised``) describe the decision just taken.
        """
        scores = np.asarray(scores, dtype=np.float64)
        tau = self.threshold
        self.schedule.observe(scores, groups)
        self.schedule.step()
        metrics = {METRIC_PREFIX + key: float(value) for key, value in self.schedule.metrics().items()}
        metrics[METRIC_PREFIX + "threshold"] = tau  # the tau this batch was rewarded at
        metrics[METRIC_PREFIX + "hit_rate"] = float(threshold_rewards(scores, tau).mean()) if scores.size else 0.0
        metrics[METRIC_PREFIX + f"mean_{self.score_name}"] = float(scores.mean()) if scores.size else 0.0
        if groups is not None and scores.size:
            shares = group_shares(scores, np.asarray(groups, dtype=np.int64), tau)  # right for any scale_rewards
            metrics[METRIC_PREFIX + "zero_variance_share"] = 1.0 - shares.informative
            metrics[METRIC_PREFIX + "starved_share"] = shares.starved
        return metrics

    def learn_from_processes(self, local_scores: np.ndarray, num_generations: int | None) -> dict[str, float]:
        """:meth:`learn` from the scores of every process (``accelerate``'s ``gather_object``, rank order =
        TRL's global order), grouped as ``num_generations`` consecutive completions.
        """
        from accelerate.utils import gather_object

        scores = np.asarray(gather_object(np.asarray(local_scores).tolist()), dtype=np.float64)
        groups = None if not num_generations else np.arange(scores.size) // int(num_generations)
        return self.learn(scores, groups)

    def state_dict(self) -> dict[str, Any]:
        """The schedule's JSON-serialisable state."""
        return self.schedule.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict`."""
        self.schedule.load_state_dict(state)
