"""A verl reward manager whose binary IoU threshold follows a medloc schedule.

verl (0.9) scores samples one at a time (``async run_single``) in reward-loop workers,
streamed during rollout, spread over ``reward.num_workers`` processes, with no step number
and no train/validation flag. :class:`MedlocRewardManager` therefore:

- keeps the schedule in one place: the single reward-loop worker (it refuses to start
  unless ``reward.num_workers=1``; IoU scoring is cheap, one worker keeps up);
- scores each sample ``1[IoU >= tau]`` at the current tau as it arrives;
- collects the IoUs of complete GRPO groups (``actor_rollout_ref.rollout.n`` samples
  sharing a ``uid``) and steps the schedule once when a batch's worth of groups
  (``data.gen_batch_size`` or ``data.train_batch_size`` prompts) is complete, so tau
  changes only between batches;
- never learns from validation: verl's validation rollouts use ``val_kwargs.n`` (1 by
  default), which never completes a group of ``rollout.n >= 2``, and samples whose
  ``extra_info.split`` is set and is not ``"train"`` are not collected either;
- saves its state next to each ``global_step_N`` checkpoint in ``trainer.default_local_dir``
  and restores it following ``trainer.resume_mode`` / ``resume_from_path``.

Ground truth per sample: ``reward_model.ground_truth`` as written by
:func:`medloc.integrations.schedule_driver.ground_truth_json`. Options:
``reward.custom_reward_function.reward_kwargs`` (``schedule``, ``schedule_options``,
``frame``, ``frame_options``, ``name``, ``format_weight``, ``reasoning``).

Load it with ``reward.reward_manager.source=importlib
reward.reward_manager.name=MedlocRewardManager
reward.reward_manager.module.path=pkg://medloc.integrations.verl_reward``.

Example:
    >>> collector = GroupCollector(group_size=2, groups_per_batch=1)
    >>> collector.add("u1", 0.4), collector.add("u1", 0.9)
    (False, True)
    >>> ious, groups = collector.take()
    >>> ious.tolist(), groups.tolist()
    ([0.4, 0.9], [0, 0])
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from medloc.integrations.checkpoint_state import CheckpointState
from medloc.integrations.schedule_driver import ScheduleDriver, group_ids, parse_ground_truth
from medloc.rewards import FormatReward

try:  # verl is optional: the class follows its contract either way
    from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase
except ImportError:  # pragma: no cover - depends on the environment
    RewardManagerBase = None

_Base: type = object if RewardManagerBase is None else RewardManagerBase

logger = logging.getLogger(__name__)

__all__ = ["GroupCollector", "MedlocRewardManager"]


class GroupCollector:
    """Collects per-sample IoUs by group id until a batch's worth of complete groups is in.

    Samples beyond ``group_size`` for one id are ignored (verl pads batches with copies);
    incomplete groups are dropped when a batch is taken (validation samples, padding).
    """

    def __init__(self, group_size: int, groups_per_batch: int) -> None:
        if group_size < 2:
            raise ValueError(f"GRPO needs groups of at least 2 samples per prompt; rollout.n is {group_size}")
        if groups_per_batch < 1:
            raise ValueError(f"groups_per_batch must be >= 1, got {groups_per_batch}")
        self.group_size = group_size
        self.groups_per_batch = groups_per_batch
        self._pending: dict[str, list[float]] = {}
        self._complete: list[tuple[str, list[float]]] = []

    def add(self, uid: str, iou: float) -> bool:
        """Record one sample; True when a batch's worth of groups is complete."""
        members = self._pending.setdefault(uid, [])
        if len(members) < self.group_size:
            members.append(float(iou))
            if len(members) == self.group_size:
                self._complete.append((uid, members))
        return len(self._complete) >= self.groups_per_batch

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """The complete groups' IoUs and group ids; forgets everything collected."""
        ious = [iou for _, members in self._complete for iou in members]
        groups = group_ids([uid for uid, members in self._complete for _ in members])
        self._pending.clear()
        self._complete.clear()
        return np.asarray(ious, dtype=np.float64), groups


def _options(config: Any) -> dict[str, Any]:
    custom = config.reward.get("custom_reward_function") or {}
    return dict(custom.get("reward_kwargs") or {})


def _resume_from(config: Any) -> tuple[bool, str | None]:
    """(restore at all, explicit checkpoint folder) from ``trainer.resume_mode``."""
    mode = config.trainer.get("resume_mode", "auto")
    if mode == "disable":
        return False, None
    if mode == "resume_path":
        return True, config.trainer.get("resume_from_path")
    return True, None


class MedlocRewardManager(_Base):
    """verl reward manager: ``1[IoU >= tau]``, tau held and stepped in the one reward worker.

    Args (verl passes them): ``config`` (the full trainer config), ``tokenizer``,
    ``compute_score`` (unused: the IoU reward is built in), and the reward-router arguments.
    """

    _lock = threading.Lock()

    def __init__(self, config: Any, tokenizer: Any, compute_score: Any = None, reward_router_address: Any = None,
                 reward_model_tokenizer: Any = None, **kwargs: Any) -> None:
        if RewardManagerBase is not None:
            super().__init__(config, tokenizer, compute_score)
        self.config, self.tokenizer = config, tokenizer
        workers = int(config.reward.get("num_workers", 1))
        if workers != 1:
            raise ValueError(f"MedlocRewardManager keeps the schedule in one reward worker: set reward.num_workers=1 "
                             f"(got {workers})")
        options = _options(config)
        unknown = sorted(set(options) - {"schedule", "schedule_options", "frame", "frame_options", "name",
                                         "format_weight", "reasoning"})
        if unknown:
            raise ValueError(f"reward.custom_reward_function.reward_kwargs: unknown option(s) {unknown}")
        self.name = str(options.get("name", "iou_curriculum"))
        self.format_weight = float(options.get("format_weight", 0.0))
        if not 0.0 <= self.format_weight <= 1.0:
            raise ValueError(f"reward_kwargs.format_weight must be in [0, 1], got {self.format_weight}")
        self.format_reward = FormatReward(options.get("reasoning", "before")) if self.format_weight else None
        prompts = config.data.get("gen_batch_size") or config.data.train_batch_size
        self.driver = ScheduleDriver(options.get("schedule", "adaptive"), options.get("frame", "pixels"),
                                     options.get("frame_options"), **dict(options.get("schedule_options") or {}))
        self.collector = GroupCollector(int(config.actor_rollout_ref.rollout.n), int(prompts))
        self.states = CheckpointState(config.trainer.default_local_dir, self.name)
        restore, folder = _resume_from(config)
        saved = self.states.restore(folder) if restore else None
        if saved is not None:
            self.driver.load_state_dict(saved)
        self._batch_started = False

    def _response_text(self, item: Any) -> str:
        responses = item.batch["responses"]
        length = int(item.batch["attention_mask"][-responses.shape[-1]:].sum())
        return self.tokenizer.decode(responses[:length], skip_special_tokens=True)

    def score_sample(self, text: str, ground_truth: str | Mapping[str, Any], uid: str, learn: bool) -> dict[str, Any]:
        """Score one sample at the current tau; collect it and step the schedule when a batch is complete."""
        boxes, width, height = parse_ground_truth(ground_truth, 0)
        with self._lock:
            tau = self.driver.threshold
            iou = float(self.driver.ious([text], [boxes], [width], [height])[0])
            hit = float(iou >= tau)
            if learn:
                if not self._batch_started:
                    self.states.stamp(self.driver.state_dict())
                    self._batch_started = True
                if self.collector.add(uid, iou):
                    metrics = self.driver.learn(*self.collector.take())
                    self.states.save_latest(self.driver.state_dict())
                    self._batch_started = False
                    logger.info("medloc %s: %s", self.name, {k: round(v, 4) for k, v in metrics.items()})
        info = {"iou": iou, "accuracy": hit, "threshold": tau}
        reward = hit
        if self.format_reward is not None:
            info["format"] = self.format_reward.score(text)
            reward = (1.0 - self.format_weight) * hit + self.format_weight * info["format"]
        return {"reward_score": reward, "reward_extra_info": info}

    async def run_single(self, data: Any) -> dict[str, Any]:
        """verl's per-sample entry point: ``{"reward_score", "reward_extra_info"}``."""
        item = data[-1:][0]  # multi-turn outputs: the last sequence carries the answer
        extra = item.non_tensor_batch.get("extra_info") or {}
        split = extra.get("split") if isinstance(extra, Mapping) else None
        return self.score_sample(self._response_text(item), item.non_tensor_batch["reward_model"]["ground_truth"],
                                 str(item.non_tensor_batch["uid"]), learn=split in (None, "train"))
