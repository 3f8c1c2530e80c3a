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

import importlib.metadata
import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from grounding_data.frames import CoordinateFrame, get_frame
from medloc.curriculum_core import STATE_KEY_PREFIX, generation_batches
from medloc.integrations.pixel_limits import TrainerQwenFrame, checked_limits, processor_limits
from medloc.integrations.schedule_driver import ScheduleDriver, settings_from_env
from medloc.scoring import ious_from_columns

logger = logging.getLogger(__name__)

STATE_KEY = STATE_KEY_PREFIX + "trl_cli"

Metric = Callable[[Sequence[Any], dict[str, Any]], Any]
"""``metric(completions, columns) -> (N,)`` scores in [0, 1], as for :class:`medloc.ThresholdCurriculum`."""


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
        try:
            installed = importlib.metadata.version("trl")
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        raise RuntimeError(
            f"medloc.integrations.trl_cli: cannot find the trainer behind log_metric={log_metric!r}, so evaluation "
            f"batches cannot be told from training ones; it needs TRL >= 1.16, < 2 (installed: trl {installed}), "
            f"which passes GRPOTrainer._log_metric")
    return trainer


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

    def driver_for(self, trainer_state: Any, trainer: Any = None) -> ScheduleDriver:
        """The driver bound to this ``TrainerState`` object: built (from the environment and the trainer's
        processor) at its first sight, restored from its ``stateful_callbacks`` when it carries medloc's state.

        A new ``TrainerState`` means a new run or a resume: TRL builds one per ``train()`` call.
        Without one (outside a trainer) a fresh driver scores at the schedule's start.
        """
        ref, driver = self._bound
        if driver is not None and ref is not None and ref() is trainer_state:
            return driver
        max_steps = getattr(trainer_state, "max_steps", 0) or 0
        settings = settings_from_env()
        total_steps = generation_batches(getattr(trainer, "args", None), max_steps) if max_steps else 1
        driver = ScheduleDriver(settings["schedule"], trl_frame(settings, trainer), None, total_steps,
                                **settings["schedule_options"])
        saved = (getattr(trainer_state, "stateful_callbacks", None) or {}).get(STATE_KEY)
        if saved is not None:
            driver.load_state_dict(saved)
            logger.info("medloc: restored the %r schedule at tau=%.3f", driver.schedule.name, driver.threshold)
        self._bound = (None if trainer_state is None else weakref.ref(trainer_state), driver)
        return driver

    def _is_training(self, trainer: Any) -> bool:
        """Whether this batch is a training batch: the model of the trainer behind ``log_metric`` is in
        training mode (TRL's own test); outside a trainer (``None``) it only scores."""
        return trainer is not None and bool(trainer.model.training)

    def __call__(self, completions: Sequence[Any], trainer_state: Any = None,
                 log_metric: Callable[[str, float], None] | None = None, **columns: Any) -> list[float]:
        """``1[score >= tau]``; on training batches the schedule learns and its state goes into ``trainer_state``.

        Called without ``trainer_state`` (outside a trainer) it only scores, at the schedule's start.
        """
        trainer = trainer_behind(log_metric, trainer_state)
        driver = self.driver_for(trainer_state, trainer)
        scores = (ious_from_columns(completions, driver.frame, columns) if self.metric is None
                  else self.metric(completions, columns))
        rewards = driver.rewards(scores)
        if not self._is_training(trainer):
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
