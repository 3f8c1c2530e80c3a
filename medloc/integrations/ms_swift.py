"""ms-swift glue: an ``ORM`` reward plugin and a trainer callback sharing one :class:`IoUCurriculum`.

ms-swift's GRPO trainer is a transformers ``Trainer``: reward plugins (``ORM`` classes, built
with ``args``) are called as ``reward(completions, trainer_state=..., **dataset columns)``,
and callbacks named with ``--callbacks`` are built as ``callback(args, trainer)``. Both
classes here look up the same :class:`medloc.IoUCurriculum` by name, so the callback's hooks
(training/evaluation mode, checkpoint state, TensorBoard) serve the reward ms-swift calls, with
every guarantee IoUCurriculum gives under TRL. The ``medloc/*`` metrics go into the trainer's
own metric log (``trainer._metrics["train"]``, what ms-swift averages and reports).

The plugin file ms-swift loads is :mod:`medloc.integrations.swift_plugin`; settings come from
environment variables (:func:`medloc.integrations.schedule_driver.settings_from_env`).

Example:
    >>> reset()
    >>> reward = MedlocIoUReward()
    >>> reward(["[0, 0, 10, 10]", "no box"], boxes=[[[0, 0, 10, 10]]] * 2, width=[64] * 2, height=[64] * 2)
    [1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import TrainerCallback

from medloc.curriculum import IoUCurriculum
from grounding_data.frames import get_frame
from medloc.integrations.schedule_driver import settings_from_env

REWARD_NAME = "medloc_iou"
CALLBACK_NAME = "medloc_curriculum"

_curricula: dict[str, IoUCurriculum] = {}
_trainers: dict[str, Any] = {}


def reset() -> None:
    """Forget the shared curriculum and trainer (a new run in the same process, tests)."""
    _curricula.clear()
    _trainers.clear()


def shared_curriculum(args: Any = None) -> IoUCurriculum:
    """The process-wide curriculum, built at first use from the environment and ``args.num_generations``."""
    if REWARD_NAME not in _curricula:
        settings = settings_from_env()
        _curricula[REWARD_NAME] = IoUCurriculum(settings["schedule"],
                                                frame=get_frame(settings["frame"], **settings["frame_options"]),
                                                num_generations=getattr(args, "num_generations", None),
                                                **settings["schedule_options"])
    return _curricula[REWARD_NAME]


def _log_metric(name: str, value: float) -> None:
    trainer = _trainers.get(REWARD_NAME)
    metrics = getattr(trainer, "_metrics", None)
    if isinstance(metrics, dict) and "train" in metrics:
        metrics["train"][name].append(value)


class MedlocIoUReward:
    """ms-swift ORM (``--reward_funcs medloc_iou``): ``1[IoU >= tau]`` from the shared curriculum.

    Subclasses nothing from ms-swift (its ``ORM`` base only stores ``args``), so it imports
    without ms-swift; :func:`register` puts it into ``swift.rewards.orms``.
    """

    def __init__(self, args: Any = None, **kwargs: Any) -> None:
        self.args = args
        self.curriculum = shared_curriculum(args)

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        """Score; columns ``boxes``, ``width``, ``height`` come from the dataset."""
        kwargs.setdefault("log_metric", _log_metric)
        return self.curriculum.reward(completions, **kwargs)


class MedlocCurriculumCallback(TrainerCallback):
    """ms-swift callback (``--callbacks medloc_curriculum``), built by ms-swift as ``(args, trainer)``.

    Delegates every hook to the shared curriculum: it binds the model (training vs
    evaluation), restores the schedule on resume, writes its state into each checkpoint
    and mirrors the metrics to TensorBoard.
    """

    def __init__(self, args: Any = None, trainer: Any = None) -> None:
        self.curriculum = shared_curriculum(args)
        _trainers[REWARD_NAME] = trainer

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """See :meth:`IoUCurriculum.on_train_begin`."""
        self.curriculum.on_train_begin(args, state, control, **kwargs)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """See :meth:`IoUCurriculum.on_step_end`."""
        self.curriculum.on_step_end(args, state, control, **kwargs)

    def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """See :meth:`IoUCurriculum.on_log`."""
        self.curriculum.on_log(args, state, control, **kwargs)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """See :meth:`IoUCurriculum.on_train_end`."""
        self.curriculum.on_train_end(args, state, control, **kwargs)


def register() -> bool:
    """Put the reward into ``swift.rewards.orms`` and the callback into ``swift.callbacks.callbacks_map``.

    Returns False (and registers nothing) when ms-swift is not installed.

    Example:
        >>> import importlib.util
        >>> register() == (importlib.util.find_spec("swift") is not None)
        True
    """
    try:
        from swift.callbacks import callbacks_map
        from swift.rewards import orms
    except ImportError:
        return False
    orms[REWARD_NAME] = MedlocIoUReward
    callbacks_map[CALLBACK_NAME] = MedlocCurriculumCallback
    return True
