"""EasyR1 batch reward function: ``worker.reward.reward_function=<this file>:compute_score``.

EasyR1 loads this file in a Ray actor and calls ``compute_score(reward_inputs, **kwargs)``
once per rollout batch with the whole batch (``REWARD_TYPE = "batch"``); each input carries
``response``, ``response_length`` and ``ground_truth`` and nothing else: no step number, no
group id, no train/validation flag. So this module:

- keeps the schedule in module state (it persists across steps in the actor) and steps it
  once per call that holds GRPO groups (several responses sharing a ground truth);
- reads group structure from the ground truth: responses with equal ``ground_truth``
  strings are one prompt's group (make them unique per prompt with :func:`ground_truth_json`,
  which includes the row id), whatever order EasyR1's batch balancing leaves them in;
- never learns from a call in which no two responses share a ground truth: EasyR1 scores
  validation in a second actor with ``val_override_config.n: 1``; that actor follows the
  training actor's tau through the state file instead;
- returns, per response, ``overall`` (the reward), ``accuracy`` (``1[IoU >= tau]``), ``iou``,
  ``threshold`` and the step's ``medloc/*`` metrics, so EasyR1 logs tau with its other scores
  (``reward/medloc/threshold``, ...);
- with ``checkpoint_dir`` (= ``trainer.save_checkpoint_path``), saves its state next to
  every ``global_step_N`` checkpoint and restores it on resume (see
  :mod:`medloc.integrations.checkpoint_state`; ``resume_from`` for an explicit
  ``trainer.load_checkpoint_path``).

Options come from ``worker.reward.reward_function_kwargs``: ``schedule`` (default
``"adaptive"``), ``schedule_options`` (mapping), ``frame`` (default ``"pixels"``),
``frame_options``, ``name``, ``checkpoint_dir``, ``resume_from``, ``format_weight`` (share of
``overall`` given to the format reward, default 0) and ``reasoning`` (its layout).

Example:
    >>> gt = ground_truth_json({"boxes": [[0, 0, 10, 10]], "width": 64, "height": 64, "id": "r1"})
    >>> batch = [{"response": "[0, 0, 10, 10]", "response_length": 5, "ground_truth": gt},
    ...          {"response": "[30, 30, 40, 40]", "response_length": 5, "ground_truth": gt}]
    >>> scores = compute_score(batch, schedule="fixed", schedule_options={"threshold": 0.5}, name="doctest")
    >>> [s["overall"] for s in scores], scores[0]["medloc/hit_rate"]
    ([1.0, 0.0], 0.5)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from medloc.integrations.checkpoint_state import CheckpointState
from medloc.integrations.schedule_driver import ScheduleDriver, ground_truth_json, group_ids, parse_ground_truth
from medloc.rewards import FormatReward

__all__ = ["REWARD_NAME", "REWARD_TYPE", "compute_score", "ground_truth_json", "reset"]

logger = logging.getLogger(__name__)

REWARD_NAME = "medloc_iou_curriculum"
REWARD_TYPE = "batch"


class _Curriculum:
    """One named curriculum living in this process: the driver, its state files, its settings."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.driver = ScheduleDriver(settings["schedule"], settings["frame"], settings["frame_options"],
                                     **settings["schedule_options"])
        self.format_reward = FormatReward(settings["reasoning"]) if settings["format_weight"] else None
        directory = settings["checkpoint_dir"]
        self.states = CheckpointState(directory, settings["name"]) if directory else None
        if self.states is not None:
            saved = self.states.restore(settings["resume_from"])
            if saved is not None:
                self.driver.load_state_dict(saved)
                logger.info("medloc: restored %r at tau=%.3f", settings["name"], self.driver.threshold)

    def follow(self) -> None:
        """Take the learning process's latest state (this process only scores)."""
        if self.states is not None:
            latest = self.states.changed_latest()
            if latest is not None:
                self.driver.load_state_dict(latest)

    def learn(self, ious: np.ndarray, groups: np.ndarray) -> dict[str, float]:
        """Stamp the newest checkpoint, step once, save the latest state."""
        if self.states is not None:
            self.states.stamp(self.driver.state_dict())
        metrics = self.driver.learn(ious, groups)
        if self.states is not None:
            self.states.save_latest(self.driver.state_dict())
        return metrics


_CURRICULA: dict[str, _Curriculum] = {}


def reset() -> None:
    """Forget every curriculum of this process (for tests and notebooks).

    Example:
        >>> gt = ground_truth_json({"boxes": [[0, 0, 10, 10]], "width": 64, "height": 64, "id": "r1"})
        >>> _ = compute_score([{"response": "[0, 0, 10, 10]", "response_length": 5, "ground_truth": gt}],
        ...                   schedule="fixed", name="forgotten")
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
    schedule: str = "adaptive",
    schedule_options: Mapping[str, Any] | None = None,
    frame: str = "pixels",
    frame_options: Mapping[str, int] | None = None,
    name: str = "iou_curriculum",
    checkpoint_dir: str | None = None,
    resume_from: str | None = None,
    format_weight: float = 0.0,
    reasoning: str = "before",
) -> list[dict[str, float]]:
    """Score one EasyR1 batch with ``1[IoU >= tau]`` and, for a training batch, step the schedule once.

    Raises ``ValueError`` naming the sample for a malformed ``ground_truth`` and naming the
    option for bad settings.
    """
    if not 0.0 <= format_weight <= 1.0:
        raise ValueError(f"compute_score: format_weight must be in [0, 1], got {format_weight!r}")
    settings = {"schedule": schedule, "schedule_options": dict(schedule_options or {}), "frame": frame,
                "frame_options": dict(frame_options or {}), "name": name, "checkpoint_dir": checkpoint_dir,
                "resume_from": resume_from, "format_weight": float(format_weight), "reasoning": reasoning}
    curriculum = _curriculum(settings)
    truths = [item["ground_truth"] for item in reward_inputs]
    parsed = [parse_ground_truth(truth, i) for i, truth in enumerate(truths)]
    groups = group_ids([str(truth) for truth in truths])
    training = bool(groups.size) and int(np.bincount(groups).max()) > 1
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
