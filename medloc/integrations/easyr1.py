"""EasyR1 batch reward function: ``worker.reward.reward_function=<this file>:compute_score``.

EasyR1 loads this file in two Ray actors, one scoring training batches and one scoring
validation, built from the same ``worker.reward`` config (so with the same kwargs), and calls
``compute_score(reward_inputs, **kwargs)`` once per batch with the whole batch
(``REWARD_TYPE = "batch"``); each input carries ``response``, ``response_length`` and
``ground_truth`` and nothing else: no step number, no group id, no train/validation flag. So:

- the rows say which split they belong to: write each ground truth with
  :func:`ground_truth_json` ``(row, split="train")`` for ``data.train_files`` and
  ``split="val"`` for ``data.val_files``. Only a call whose samples are all ``train`` and hold
  GRPO groups (several responses sharing a ground truth) steps the schedule, once; validation,
  even with ``val_override_config.n > 1``, only scores. A ground truth without a split is refused;
- the schedule lives in module state (it persists across steps in the actor); group structure
  comes from the ground truth (it holds the row id), whatever order batch balancing leaves;
- ``checkpoint_dir`` (required, absolute: ``trainer.save_checkpoint_path``) holds the state:
  the training actor writes it with its owner id after every step and stamps each checkpoint
  EasyR1 saves (see :mod:`medloc.integrations.checkpoint_state`); the validation actor follows
  it and never writes; a second process trying to learn is an error;
- resume follows EasyR1's rule: ``resume_from`` (= ``trainer.load_checkpoint_path``) if set,
  else the checkpoint ``checkpoint_tracker.json`` names when ``find_last_checkpoint`` (= the
  trainer's, default True), else a fresh start; stamps of newer checkpoints are deleted;
- with ``frame="qwen2.5-vl"`` the frame is EasyR1's own resize (``data.min_pixels`` /
  ``data.max_pixels``, passed as ``min_pixels`` / ``max_pixels``) followed by the processor's
  ``smart_resize`` with the limits of ``processor`` (= ``worker.actor.model.model_path``);
  missing either fails at the first call, before any update;
- each response's scores carry ``overall``, ``accuracy`` (``1[IoU >= tau]``), ``iou``,
  ``threshold`` and the step's ``medloc/*`` metrics, so EasyR1 logs ``reward/medloc/threshold``.

Other options: ``schedule`` (default ``"adaptive"``), ``schedule_options``, ``frame`` (default
``"pixels"``), ``frame_options`` (explicit limits, checked against the processor's), ``name``,
``format_weight`` (share of ``overall`` given to the format reward, default 0), ``reasoning``.

Example:
    >>> import tempfile
    >>> gt = ground_truth_json({"boxes": [[0, 0, 10, 10]], "width": 64, "height": 64, "id": "r1"}, split="train")
    >>> batch = [{"response": "[0, 0, 10, 10]", "response_length": 5, "ground_truth": gt},
    ...          {"response": "[30, 30, 40, 40]", "response_length": 5, "ground_truth": gt}]
    >>> scores = compute_score(batch, schedule="fixed", schedule_options={"threshold": 0.5},
    ...                        checkpoint_dir=tempfile.mkdtemp(), name="doctest")
    >>> [s["overall"] for s in scores], scores[0]["medloc/hit_rate"]
    ([1.0, 0.0], 0.5)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from grounding_data.frames import CoordinateFrame, get_frame
from medloc.integrations import schedule_driver
from medloc.integrations.checkpoint_state import CheckpointState, checkpoint_step
from medloc.integrations.pixel_limits import AreaResize, TrainerQwenFrame, checked_limits, pretrained_processor_limits
from medloc.integrations.schedule_driver import ScheduleDriver, group_ids, parse_ground_truth
from medloc.rewards import FormatReward

__all__ = ["REWARD_NAME", "REWARD_TYPE", "SPLITS", "compute_score", "ground_truth_json", "reset"]

logger = logging.getLogger(__name__)

REWARD_NAME = "medloc_iou_curriculum"
REWARD_TYPE = "batch"
SPLITS = ("train", "val")
TRACKER = "checkpoint_tracker.json"  # EasyR1's CHECKPOINT_TRACKER, rewritten after every save


def ground_truth_json(row: Mapping[str, Any], split: str) -> str:
    """A row's ground truth for EasyR1: boxes, size, row id and the ``split`` (``"train"`` or ``"val"``).

    Example:
        >>> ground_truth_json({"boxes": [[1, 2, 30, 40]], "width": 64, "height": 48, "id": "p1"}, "val")
        '{"boxes": [[1, 2, 30, 40]], "width": 64, "height": 48, "id": "p1", "split": "val"}'
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return json.dumps({**json.loads(schedule_driver.ground_truth_json(row)), "split": split})


def _split(truth: str | Mapping[str, Any], index: int) -> str:
    record = json.loads(truth) if isinstance(truth, (str, bytes)) else truth
    split = record.get("split") if isinstance(record, Mapping) else None
    if split not in SPLITS:
        raise ValueError(f"sample {index}: ground truth has split {split!r}; write it with "
                         f"medloc.integrations.easyr1.ground_truth_json(row, split='train' or 'val') so that "
                         f"validation batches (val_override_config.n > 1 makes groups) never step the schedule")
    return split


def _last_saved_step(text: str) -> int:
    return int(json.loads(text)["last_global_step"])


def easyr1_frame(settings: Mapping[str, Any]) -> CoordinateFrame:
    """The frame answers are read in: for ``qwen2.5-vl``, EasyR1's resize then the processor's."""
    if settings["frame"] != "qwen2.5-vl":
        return get_frame(settings["frame"], **settings["frame_options"])
    missing = [key for key in ("min_pixels", "max_pixels") if settings[key] is None]
    if missing:
        raise ValueError(f"compute_score: frame 'qwen2.5-vl' needs {missing} (EasyR1's data.min_pixels / "
                         f"data.max_pixels, which resize every image before the processor)")
    found = pretrained_processor_limits(settings["processor"]) if settings["processor"] else None
    limits = checked_limits(settings["frame_options"], found, f"the processor of {settings['processor']!r}"
                            if settings["processor"] else "EasyR1's reward worker (give processor=model_path)")
    return TrainerQwenFrame(**limits, pre_resize=(AreaResize(settings["min_pixels"], settings["max_pixels"]),))


class _Curriculum:
    """One named curriculum living in this process: the driver, its state files, its settings."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.driver = ScheduleDriver(settings["schedule"], easyr1_frame(settings), **settings["schedule_options"])
        self.format_reward = FormatReward(settings["reasoning"]) if settings["format_weight"] else None
        self.states = CheckpointState(settings["checkpoint_dir"], settings["name"], TRACKER, _last_saved_step)
        saved = self.states.restore(self._resume_step())
        if saved is not None:
            self.driver.load_state_dict(saved)
            logger.warning("medloc: restored %r at tau=%.3f", settings["name"], self.driver.threshold)

    def _resume_step(self) -> int | None:
        """The step EasyR1 resumes from (its ``_load_checkpoint``): explicit path, else the tracker's, else none."""
        if self.settings["resume_from"]:
            return checkpoint_step(self.settings["resume_from"])
        if self.settings["find_last_checkpoint"]:
            step = self.states.saved_step()
            if step is not None and self.states.stamp_file(step).parent.is_dir():
                return step
        return None

    def follow(self) -> None:
        """Take the learning process's latest state (this process only scores)."""
        latest = self.states.changed_latest()
        if latest is not None:
            self.driver.load_state_dict(latest)

    def learn(self, ious: np.ndarray, groups: np.ndarray) -> dict[str, float]:
        """Stamp a checkpoint saved since the last step, step once, save the latest state."""
        self.states.stamp_new_checkpoint(self.driver.state_dict())
        metrics = self.driver.learn(ious, groups)
        self.states.save_latest(self.driver.state_dict())
        return metrics


_CURRICULA: dict[str, _Curriculum] = {}


def reset() -> None:
    """Forget every curriculum of this process (for tests and notebooks).

    Example:
        >>> import tempfile
        >>> gt = ground_truth_json({"boxes": [[0, 0, 10, 10]], "width": 64, "height": 64, "id": "r1"}, "val")
        >>> _ = compute_score([{"response": "[0, 0, 10, 10]", "response_length": 5, "ground_truth": gt}],
        ...                   checkpoint_dir=tempfile.mkdtemp(), schedule="fixed", name="forgotten")
        >>> "forgotten" in _CURRICULA, reset(), "forgotten" in _CURRICULA
        (True, None, False)
    """
    _CURRICULA.clear()


def _curriculum(settings: dict[str, Any]) -> _Curriculum:
    current = _CURRICULA.get(settings["name"])
    if current is None:
        current = _CURRICULA[settings["name"]] = _Curriculum(settings)
    elif current.settings != settings:
        raise ValueError(f"compute_score: curriculum {settings['name']!r} was started with {current.settings}, "
                         f"now called with {settings}; give different settings different names")
    return current


def compute_score(
    reward_inputs: Sequence[Mapping[str, Any]],
    *,
    checkpoint_dir: str | None = None,
    schedule: str = "adaptive",
    schedule_options: Mapping[str, Any] | None = None,
    frame: str = "pixels",
    frame_options: Mapping[str, int] | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    processor: str | None = None,
    name: str = "iou_curriculum",
    resume_from: str | None = None,
    find_last_checkpoint: bool = True,
    format_weight: float = 0.0,
    reasoning: str = "before",
) -> list[dict[str, float]]:
    """Score one EasyR1 batch with ``1[IoU >= tau]`` and, for a training batch, step the schedule once.

    Raises ``ValueError`` naming the sample for a malformed ``ground_truth`` and naming the
    option for bad settings.
    """
    if not checkpoint_dir:
        raise ValueError("compute_score: checkpoint_dir is required (trainer.save_checkpoint_path, absolute): the "
                         "validation actor reads tau from it and a resume restores it")
    if not 0.0 <= format_weight <= 1.0:
        raise ValueError(f"compute_score: format_weight must be in [0, 1], got {format_weight!r}")
    settings = {"schedule": schedule, "schedule_options": dict(schedule_options or {}), "frame": frame,
                "frame_options": dict(frame_options or {}), "min_pixels": min_pixels, "max_pixels": max_pixels,
                "processor": processor, "name": name, "checkpoint_dir": checkpoint_dir, "resume_from": resume_from,
                "find_last_checkpoint": bool(find_last_checkpoint), "format_weight": float(format_weight),
                "reasoning": reasoning}
    curriculum = _curriculum(settings)
    truths = [item["ground_truth"] for item in reward_inputs]
    parsed = [parse_ground_truth(truth, i) for i, truth in enumerate(truths)]
    splits = {_split(truth, i) for i, truth in enumerate(truths)}
    groups = group_ids([str(truth) for truth in truths])
    training = splits == {"train"} and bool(groups.size) and int(np.bincount(groups).max()) > 1
    if not training:
        curriculum.follow()
    texts = [item["response"] for item in reward_inputs]
    tau = curriculum.driver.threshold
    ious = curriculum.driver.ious(texts, [p[0] for p in parsed], [p[1] for p in parsed], [p[2] for p in parsed])
    hits = curriculum.driver.rewards(ious)
    metrics = curriculum.learn(ious, groups) if training else {}
    scores = []
    for text, iou, hit in zip(texts, ious.tolist(), hits.tolist()):
        score = {"overall": hit, "accuracy": hit, "iou": iou, "threshold": tau, **metrics}
        if curriculum.format_reward is not None:
            score["format"] = curriculum.format_reward.score(text)
            score["overall"] = (1.0 - format_weight) * hit + format_weight * score["format"]
        scores.append(score)
    return scores
