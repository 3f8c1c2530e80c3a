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
import math
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from accelerate.utils import gather_object

from medloc.integrations.schedule_driver import ScheduleDriver, settings_from_env
from medloc.scoring import ious_from_columns

logger = logging.getLogger(__name__)

STATE_KEY = "medloc:trl_cli"

_bound: tuple[weakref.ref | None, ScheduleDriver | None] = (None, None)
_warned = False


def _generation_batches(trainer: Any, max_steps: int) -> int:
    args = getattr(trainer, "args", None)
    accumulation = getattr(args, "gradient_accumulation_steps", 1) or 1
    per_generation = getattr(args, "steps_per_generation", None) or accumulation
    iterations = getattr(args, "num_iterations", 1) or 1
    return max(1, math.ceil(max_steps * accumulation / (per_generation * iterations)))


def driver_for(trainer_state: Any, trainer: Any = None) -> ScheduleDriver:
    """The driver bound to this ``TrainerState`` object: built (from the environment) at its
    first sight, restored from its ``stateful_callbacks`` when it carries medloc's state.

    A new ``TrainerState`` means a new run or a resume: TRL builds one per ``train()`` call.
    """
    global _bound
    ref, driver = _bound
    if driver is not None and ref is not None and ref() is trainer_state:
        return driver
    max_steps = getattr(trainer_state, "max_steps", 0) or 0
    settings = settings_from_env()
    driver = ScheduleDriver(settings["schedule"], settings["frame"], settings["frame_options"],
                            _generation_batches(trainer, max_steps) if max_steps else 1, **settings["schedule_options"])
    saved = (getattr(trainer_state, "stateful_callbacks", None) or {}).get(STATE_KEY)
    if saved is not None:
        driver.load_state_dict(saved)
        logger.info("medloc: restored the %r schedule at tau=%.3f", driver.schedule.name, driver.threshold)
    _bound = (weakref.ref(trainer_state), driver)
    return driver


def _is_training(trainer: Any) -> bool:
    global _warned
    model = getattr(trainer, "model", None)
    if model is not None and hasattr(model, "training"):
        return bool(model.training)
    if not _warned:
        logger.warning("medloc.integrations.trl_cli: cannot find the trainer through log_metric, so evaluation "
                       "batches cannot be told apart from training ones; every batch counts as training.")
        _warned = True
    return True


def adaptive_iou_reward(completions: Sequence[Any], trainer_state: Any = None,
                        log_metric: Callable[[str, float], None] | None = None, **columns: Any) -> list[float]:
    """``1[IoU >= tau]``; on training batches the schedule learns and its state goes into ``trainer_state``.

    Called without ``trainer_state`` (outside a trainer) it only scores, at the schedule's start.
    """
    trainer = getattr(log_metric, "__self__", None)
    driver = driver_for(trainer_state, trainer)
    ious = ious_from_columns(completions, driver.frame, columns)
    rewards = driver.rewards(ious)
    if trainer_state is None or not _is_training(trainer):
        return rewards.tolist()
    all_ious = np.asarray(gather_object(ious.tolist()), dtype=np.float64)  # every rank's, in rank order
    group_size = getattr(getattr(trainer, "args", None), "num_generations", None)
    groups = None if not group_size else np.arange(all_ious.size) // int(group_size)
    metrics = driver.learn(all_ious, groups)
    if trainer_state.stateful_callbacks is None:
        trainer_state.stateful_callbacks = {}
    trainer_state.stateful_callbacks[STATE_KEY] = driver.state_dict()
    if log_metric is not None:
        for key, value in metrics.items():
            log_metric(key, value)
    return rewards.tolist()
