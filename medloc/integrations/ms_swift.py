"""ms-swift glue: an ``ORM`` reward plugin and a trainer callback sharing one :class:`IoUCurriculum`.

ms-swift's GRPO trainer is a transformers ``Trainer``: reward plugins (``ORM`` classes, built
with ``args``) are called as ``reward(completions, trainer_state=..., **dataset columns)``,
and callbacks named with ``--callbacks`` are built as ``callback(args, trainer)``. Both
classes here use the same :class:`medloc.IoUCurriculum`, built by the callback (which sees the
trainer), so the callback's hooks (training/evaluation mode, checkpoint state, TensorBoard) serve
the reward ms-swift calls, with every guarantee IoUCurriculum gives under TRL. The ``medloc/*``
metrics go into the trainer's own metric log (``trainer._metrics["train"]``, what ms-swift
averages and reports).

What it refuses, before training (ms-swift 4.6's code paths):

- ``--dynamic_sample true``: DAPO resampling calls the reward again for every resample round
  (``GRPOTrainer._dynamic_sampling``), so the schedule would step several times per optimizer step
  and one batch would mix thresholds;
- the Megatron backend (``megatron rlhf``): it builds callbacks from ``megatron_callbacks_map``
  as ``callback(trainer)`` and has no transformers ``TrainerState`` to keep the schedule in;
- ``--reward_funcs medloc_iou`` without ``--callbacks medloc_curriculum`` (evaluation batches
  could not be told apart);
- a plugin file loaded by an ms-swift without ``swift.rewards`` / ``swift.callbacks`` (3.x):
  :func:`register` raises naming the installed version.

With ``MEDLOC_FRAME=qwen2.5-vl`` the frame is the image ms-swift's Qwen2-VL template makes:
``--max_pixels`` (the template's own rescale), then qwen_vl_utils' ``fetch_image`` with the limits
ms-swift set from ``MAX_PIXELS`` / ``MIN_PIXELS`` (the processor does not resize again);
``MEDLOC_FRAME_OPTIONS`` limits must agree with them.

The plugin file ms-swift loads is :mod:`medloc.integrations.swift_plugin`; settings come from
environment variables (:func:`medloc.integrations.schedule_driver.settings_from_env`).

Example:
    >>> from types import SimpleNamespace
    >>> reset()
    >>> args = SimpleNamespace(num_generations=2, callbacks=["medloc_curriculum"], dynamic_sample=False)
    >>> reward = MedlocIoUReward(args)
    >>> _ = MedlocCurriculumCallback(args, SimpleNamespace(template=SimpleNamespace(max_pixels=None)))
    >>> reward(["[0, 0, 10, 10]", "no box"], boxes=[[[0, 0, 10, 10]]] * 2, width=[64] * 2, height=[64] * 2)
    [1.0, 0.0]
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Sequence
from typing import Any

from transformers import TrainerCallback

from grounding_data.frames import CoordinateFrame, get_frame
from medloc.curriculum import IoUCurriculum
from medloc.integrations.pixel_limits import AspectRescale, TrainerQwenFrame, checked_limits, qwen_vl_utils_limits
from medloc.integrations.schedule_driver import settings_from_env

REWARD_NAME = "medloc_iou"
CALLBACK_NAME = "medloc_curriculum"

_curricula: dict[str, IoUCurriculum] = {}
_trainers: dict[str, Any] = {}


def reset() -> None:
    """Forget the shared curriculum and trainer (a new run in the same process, tests)."""
    _curricula.clear()
    _trainers.clear()


def check_swift_args(args: Any) -> None:
    """Refuse, before training, the ms-swift settings the curriculum cannot follow (see the module docstring).

    Example:
        >>> from types import SimpleNamespace
        >>> check_swift_args(SimpleNamespace(callbacks=["medloc_curriculum"], dynamic_sample=True))
        Traceback (most recent call last):
        ...
        ValueError: medloc_iou: --dynamic_sample true is not supported: ms-swift calls the reward again for every resample round, so the schedule would step several times per optimizer step and mix thresholds in one batch; turn it off (zero-variance groups are what the curriculum's schedules reduce)
    """
    if any(cls.__module__.startswith("swift.megatron") for cls in type(args).__mro__):
        raise ValueError(f"{REWARD_NAME}: ms-swift's Megatron backend (megatron rlhf) is not supported: its "
                         f"callbacks get no transformers TrainerState to keep the schedule in; use swift rlhf")
    if getattr(args, "dynamic_sample", False):
        raise ValueError(f"{REWARD_NAME}: --dynamic_sample true is not supported: ms-swift calls the reward again "
                         f"for every resample round, so the schedule would step several times per optimizer step "
                         f"and mix thresholds in one batch; turn it off (zero-variance groups are what the "
                         f"curriculum's schedules reduce)")
    if CALLBACK_NAME not in (getattr(args, "callbacks", None) or []):
        raise ValueError(f"{REWARD_NAME} needs --callbacks {CALLBACK_NAME}: the callback tells evaluation batches "
                         f"from training ones and keeps the schedule in every checkpoint")


def swift_frame(settings: dict[str, Any], trainer: Any) -> CoordinateFrame:
    """The frame answers are read in: for ``qwen2.5-vl``, the image ms-swift's Qwen2-VL template makes."""
    if settings["frame"] != "qwen2.5-vl":
        return get_frame(settings["frame"], **settings["frame_options"])
    vision_process = sys.modules.get("qwen_vl_utils.vision_process")
    if vision_process is None or not hasattr(vision_process, "_patch"):
        raise ValueError("MEDLOC_FRAME=qwen2.5-vl: ms-swift has not set up qwen_vl_utils (no Qwen2-VL/Qwen2.5-VL "
                         "model loaded?), so the image size the model sees is unknown")
    limits = checked_limits(settings["frame_options"], qwen_vl_utils_limits(),
                            "ms-swift's qwen_vl_utils settings (MAX_PIXELS / MIN_PIXELS)")
    template_max = getattr(getattr(trainer, "template", None), "max_pixels", None)
    return TrainerQwenFrame(**limits, pre_resize=(AspectRescale(template_max),) if template_max else ())


def shared_curriculum(args: Any = None, trainer: Any = None) -> IoUCurriculum:
    """The process-wide curriculum, built by the callback from the environment, ``args`` and the trainer."""
    if REWARD_NAME not in _curricula:
        if trainer is None:
            raise RuntimeError(f"{REWARD_NAME} was called before the {CALLBACK_NAME} callback was built: "
                               f"pass --callbacks {CALLBACK_NAME}")
        settings = settings_from_env()
        _curricula[REWARD_NAME] = IoUCurriculum(settings["schedule"], frame=swift_frame(settings, trainer),
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
    without ms-swift; :func:`register` puts it into ``swift.rewards.orms``. Built with the
    trainer's ``args``, it refuses unsupported settings at once (:func:`check_swift_args`).
    """

    def __init__(self, args: Any = None, **kwargs: Any) -> None:
        check_swift_args(args)
        self.args = args

    @property
    def curriculum(self) -> IoUCurriculum:
        """The curriculum the ``medloc_curriculum`` callback built."""
        return shared_curriculum()

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        """Score; columns ``boxes``, ``width``, ``height`` come from the dataset."""
        kwargs.setdefault("log_metric", _log_metric)
        return self.curriculum.reward(completions, **kwargs)


class MedlocCurriculumCallback(TrainerCallback):
    """ms-swift callback (``--callbacks medloc_curriculum``), built by ms-swift as ``(args, trainer)``.

    Builds the shared curriculum (its frame from the trainer's template) and delegates every
    hook to it: it binds the model (training vs evaluation), restores the schedule on resume,
    writes its state into each checkpoint and mirrors the metrics to TensorBoard.
    """

    def __init__(self, args: Any = None, trainer: Any = None) -> None:
        check_swift_args(args)
        self.curriculum = shared_curriculum(args, trainer)
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


class MegatronRefusal:
    """Put into ms-swift's ``megatron_callbacks_map``: ``--callbacks medloc_curriculum`` under Megatron fails clearly."""

    def __init__(self, trainer: Any = None) -> None:
        raise ValueError(f"--callbacks {CALLBACK_NAME}: ms-swift's Megatron backend (megatron rlhf) is not "
                         f"supported: its callbacks get no transformers TrainerState to keep the schedule in; "
                         f"use swift rlhf")


def register() -> bool:
    """Put the reward into ``swift.rewards.orms`` and the callback into ``swift.callbacks.callbacks_map``.

    Returns False (and registers nothing) when ms-swift is not installed; raises ``RuntimeError``
    naming the installed version when ms-swift lacks those tables (3.x keeps them in
    ``swift.plugin``). Under the Megatron backend it also registers :class:`MegatronRefusal`.

    Example:
        >>> import importlib.util
        >>> register() == (importlib.util.find_spec("swift") is not None)
        True
    """
    try:
        version = importlib.metadata.version("ms-swift")
    except importlib.metadata.PackageNotFoundError:
        return False
    try:
        from swift.callbacks import callbacks_map
        from swift.rewards import orms
    except ImportError as error:
        raise RuntimeError(f"medloc's ms-swift plugin needs ms-swift >= 4.0 (swift.rewards.orms, "
                           f"swift.callbacks.callbacks_map); the installed ms-swift {version} has none ({error}). "
                           f"Upgrade: pip install 'medloc[swift]'") from None
    orms[REWARD_NAME] = MedlocIoUReward
    callbacks_map[CALLBACK_NAME] = MedlocCurriculumCallback
    if "swift.megatron" in sys.modules:  # the Megatron backend is running (importing it needs megatron-core)
        from swift.megatron.callbacks import megatron_callbacks_map

        megatron_callbacks_map[CALLBACK_NAME] = MegatronRefusal
    return True
