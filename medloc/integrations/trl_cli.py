"""A reward-only curriculum for TRL's own CLI, which takes reward functions but no callbacks.

``trl grpo ... --reward_funcs medloc.integrations.trl_cli.adaptive_iou_reward`` scores each
completion ``1[IoU >= tau]`` (columns ``boxes``, ``width``, ``height`` as for
:class:`medloc.IoUCurriculum`) and keeps the schedule's state in the ``trainer_state`` TRL hands
every reward function, under ``stateful_callbacks["medloc:trl_cli"]``: transformers writes
that into ``trainer_state.json`` at every checkpoint and loads it back on resume, where the
next call restores the schedule from it.

Without a callback the function learns from what TRL passes it:

- training vs evaluation: TRL (1.0 to 1.16 at least, ``GRPOTrainer._calculate_rewards``) passes
  ``log_metric`` as the trainer's bound method ``_log_metric``; no public argument names the
  trainer. Through it the function reads ``trainer.model.training`` (TRL's own test) and never
  learns from evaluation batches. It checks that the object behind ``log_metric`` is the trainer
  that owns the ``trainer_state`` passed with it; if not (another TRL), it raises naming the
  installed TRL instead of learning from batches it cannot tell apart.
- the frame: ``MEDLOC_FRAME=qwen2.5-vl`` reads the pixel limits from that trainer's
  ``processing_class`` (the processor that resizes the images); ``MEDLOC_FRAME_OPTIONS`` limits
  must agree with them.
- gathering: IoUs of all processes are gathered before the schedule decides, in TRL's
  global order (groups = ``num_generations`` consecutive completions), as IoUCurriculum does.
- no TensorBoard section of its own: the ``medloc/*`` metrics go through ``log_metric``.

Settings come from environment variables (the CLI cannot pass arguments to a reward
function): ``MEDLOC_SCHEDULE`` (default ``adaptive``), ``MEDLOC_SCHEDULE_OPTIONS`` (a JSON
object), ``MEDLOC_FRAME`` (default ``pixels``), ``MEDLOC_FRAME_OPTIONS`` (a JSON object).
``linear`` / ``cosine`` without ``total_steps`` span the run.

Example (outside a trainer it only scores, at the schedule's start):
    >>> adaptive_iou_reward(["[0, 0, 10, 10]", "[0, 0, 2, 10]"], boxes=[[[0, 0, 10, 10]]] * 2,
    ...                     width=[64] * 2, height=[64] * 2)
    [1.0, 0.0]
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from accelerate.utils import gather_object

from grounding_data.frames import CoordinateFrame, get_frame
from medloc.integrations.pixel_limits import TrainerQwenFrame, checked_limits, processor_limits
from medloc.integrations.schedule_driver import ScheduleDriver, settings_from_env
from medloc.rewards import ious_from_columns

logger = logging.getLogger(__name__)

STATE_KEY = "medloc:trl_cli"

_bound: tuple[weakref.ref | None, ScheduleDriver | None] = (None, None)


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
    if trainer_state is None:
        settings = settings_from_env()
        return ScheduleDriver(settings["schedule"], trl_frame(settings, trainer), None, 1,
                              **settings["schedule_options"])
    ref, driver = _bound
    if driver is not None and ref is not None and ref() is trainer_state:
        return driver
    max_steps = getattr(trainer_state, "max_steps", 0) or 0
    settings = settings_from_env()
    driver = ScheduleDriver(settings["schedule"], trl_frame(settings, trainer), None,
                            _generation_batches(trainer, max_steps) if max_steps else 1, **settings["schedule_options"])
    saved = (getattr(trainer_state, "stateful_callbacks", None) or {}).get(STATE_KEY)
    if saved is not None:
        driver.load_state_dict(saved)
        logger.info("medloc: restored the %r schedule at tau=%.3f", driver.schedule.name, driver.threshold)
    _bound = (weakref.ref(trainer_state), driver)
    return driver


def trl_frame(settings: dict[str, Any], trainer: Any) -> CoordinateFrame:
    """The frame answers are read in: for ``qwen2.5-vl``, the limits of the trainer's processor."""
    if settings["frame"] != "qwen2.5-vl":
        return get_frame(settings["frame"], **settings["frame_options"])
    processor = getattr(trainer, "processing_class", None)
    found = processor_limits(processor) if processor is not None else None
    return TrainerQwenFrame(**checked_limits(settings["frame_options"], found, "the trainer's processor"))


def trainer_behind(log_metric: Any, trainer_state: Any) -> Any:
    """The ``GRPOTrainer`` whose ``_log_metric`` TRL passed, checked to own ``trainer_state``; None outside a trainer.

    Raises ``RuntimeError`` naming the installed TRL when a ``trainer_state`` comes with a
    ``log_metric`` that is not such a method (the function could not tell evaluation apart).

    Example:
        >>> trainer_behind(None, None) is None
        True
    """
    if trainer_state is None:
        return None
    trainer = getattr(log_metric, "__self__", None)
    model = getattr(trainer, "model", None)
    if getattr(trainer, "state", None) is not trainer_state or not hasattr(model, "training"):
        import importlib.metadata

        try:
            installed = importlib.metadata.version("trl")
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        raise RuntimeError(
            f"medloc.integrations.trl_cli: cannot find the trainer behind log_metric={log_metric!r}, so evaluation "
            f"batches cannot be told from training ones; it needs TRL >= 1.16, < 2 (installed: trl {installed}), "
            f"which passes GRPOTrainer._log_metric")
    return trainer


def adaptive_iou_reward(completions: Sequence[Any], trainer_state: Any = None,
                        log_metric: Callable[[str, float], None] | None = None, **columns: Any) -> list[float]:
    """``1[IoU >= tau]``; on training batches the schedule learns and its state goes into ``trainer_state``.

    Called without ``trainer_state`` (outside a trainer) it only scores, at the schedule's start.
    """
    trainer = trainer_behind(log_metric, trainer_state)
    driver = driver_for(trainer_state, trainer)
    ious = ious_from_columns(completions, driver.frame, columns)
    rewards = driver.rewards(ious)
    if trainer is None or not trainer.model.training:
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
