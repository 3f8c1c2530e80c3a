"""A reward-only curriculum for TRL's own CLI, which takes reward functions but no callbacks.

``trl grpo ... --reward_funcs medloc.integrations.trl_cli.adaptive_iou_reward`` scores each
completion ``1[IoU >= tau]`` (columns ``boxes``, ``width``, ``height`` as for
:class:`medloc.IoUCurriculum`) and keeps the schedule's state in the ``trainer_state`` TRL hands
every reward function, under ``stateful_callbacks["medloc:trl_cli"]``: transformers writes
that into ``trainer_state.json`` at every checkpoint and loads it back on resume, where the
next call restores the schedule from it.

Without a callback the function learns from what TRL passes it:

- training vs evaluation: TRL 1.16 passes ``log_metric`` as a bound method of the
  trainer; through it the function reads ``trainer.model.training`` (TRL's own test) and
  never learns from evaluation batches. If a TRL version stops passing it that way, every
  batch counts as training (a warning says so once): then leave evaluation off.
- gathering: IoUs of all processes are gathered before the schedule decides, in TRL's
  global order (groups = ``num_generations`` consecutive completions), as IoUCurriculum does.
- no TensorBoard section of its own: the ``medloc/*`` metrics go through ``log_metric``.

Settings come from environment variables (the CLI cannot pass arguments to a reward
function): ``MEDLOC_SCHEDULE`` (default ``adaptive``), ``MEDLOC_SCHEDULE_OPTIONS`` (a JSON
object), ``MEDLOC_FRAME`` (default ``pixels``), ``MEDLOC_FRAME_OPTIONS`` (a JSON object).
``linear`` / ``cosine`` without ``total_steps`` span the run.

Example:
    >>> from transformers import TrainerState
    >>> state = TrainerState()
    >>> adaptive_iou_reward(["[0, 0, 10, 10]"], trainer_state=state, boxes=[[[0, 0, 10, 10]]],
    ...                     width=[64], height=[64])
    [1.0]
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from medloc.curriculum_core import STATE_KEY_PREFIX, generation_batches
from medloc.integrations.schedule_driver import ScheduleDriver, settings_from_env
from medloc.scoring import ious_from_columns

logger = logging.getLogger(__name__)

STATE_KEY = STATE_KEY_PREFIX + "trl_cli"

Metric = Callable[[Sequence[Any], dict[str, Any]], Any]
"""``metric(completions, columns) -> (N,)`` scores in [0, 1], as for :class:`medloc.ThresholdCurriculum`."""


class TrlCliCurriculum:
    """The reward function ``trl grpo`` calls: ``1[score >= tau]``, the schedule learning on training batches.

    Args:
        metric: the score of each completion, ``metric(completions, columns)``; default: its IoU
            with the row's ``boxes`` in the frame of ``MEDLOC_FRAME``.
        name: the reward's name in TRL's logs.

    The schedule (settings from the environment, see the module docs) is built at the first call
    that brings a new ``TrainerState`` (a new run or a resume) and restored from it when it carries
    medloc's state.
    """

    def __init__(self, metric: Metric | None = None, name: str = "adaptive_iou_reward") -> None:
        self.metric = metric
        self.__name__ = name
        self._bound: tuple[weakref.ref | None, ScheduleDriver | None] = (None, None)
        self._warned = False

    def driver_for(self, trainer_state: Any, trainer: Any = None) -> ScheduleDriver:
        """The driver bound to this ``TrainerState`` object: built (from the environment) at its
        first sight, restored from its ``stateful_callbacks`` when it carries medloc's state.

        A new ``TrainerState`` means a new run or a resume: TRL builds one per ``train()`` call.
        """
        ref, driver = self._bound
        if driver is not None and ref is not None and ref() is trainer_state:
            return driver
        max_steps = getattr(trainer_state, "max_steps", 0) or 0
        settings = settings_from_env()
        total_steps = generation_batches(getattr(trainer, "args", None), max_steps) if max_steps else 1
        driver = ScheduleDriver(settings["schedule"], settings["frame"], settings["frame_options"], total_steps,
                                **settings["schedule_options"])
        saved = (getattr(trainer_state, "stateful_callbacks", None) or {}).get(STATE_KEY)
        if saved is not None:
            driver.load_state_dict(saved)
            logger.info("medloc: restored the %r schedule at tau=%.3f", driver.schedule.name, driver.threshold)
        self._bound = (None if trainer_state is None else weakref.ref(trainer_state), driver)
        return driver

    def _is_training(self, trainer: Any) -> bool:
        model = getattr(trainer, "model", None)
        if model is not None and hasattr(model, "training"):
            return bool(model.training)
        if not self._warned:
            logger.warning("medloc.integrations.trl_cli: cannot find the trainer through log_metric, so evaluation "
                           "batches cannot be told apart from training ones; every batch counts as training.")
            self._warned = True
        return True

    def __call__(self, completions: Sequence[Any], trainer_state: Any = None,
                 log_metric: Callable[[str, float], None] | None = None, **columns: Any) -> list[float]:
        """``1[score >= tau]``; on training batches the schedule learns and its state goes into ``trainer_state``.

        Called without ``trainer_state`` (outside a trainer) it only scores, at the schedule's start.
        """
        trainer = getattr(log_metric, "__self__", None)
        driver = self.driver_for(trainer_state, trainer)
        scores = (ious_from_columns(completions, driver.frame, columns) if self.metric is None
                  else self.metric(completions, columns))
        rewards = driver.rewards(scores)
        if trainer_state is None or not self._is_training(trainer):
            return rewards.tolist()
        group_size = getattr(getattr(trainer, "args", None), "num_generations", None)
        metrics = driver.learn_from_processes(scores, group_size)  # every rank's scores, in rank order
        if trainer_state.stateful_callbacks is None:
            trainer_state.stateful_callbacks = {}
        trainer_state.stateful_callbacks[STATE_KEY] = driver.state_dict()
        if log_metric is not None:
            for key, value in metrics.items():
                log_metric(key, value)
        return rewards.tolist()


adaptive_iou_reward = TrlCliCurriculum()
"""The entry point: ``trl grpo --reward_funcs medloc.integrations.trl_cli.adaptive_iou_reward``."""
