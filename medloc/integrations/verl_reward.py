"""A verl reward manager whose binary IoU threshold follows a medloc schedule.

verl 0.9.1 scores samples one at a time (``async run_single``) in reward-loop workers, streamed
during rollout, spread over ``reward.num_workers`` processes. Its v1 trainer puts the trainer's
``global_steps`` into every sample's data (training and validation); a training step is always
``data.train_batch_size`` prompts. :class:`MedlocRewardManager` therefore:

- keeps the schedule in one place: the single reward-loop worker (it refuses to start unless
  ``reward.num_workers=1``; IoU scoring is cheap, one worker keeps up);
- refuses what would break "one schedule step per training step": ``trainer.v1.trainer_mode``
  other than ``sync`` (the asynchronous modes overlap steps) and DAPO
  ``algorithm.filter_groups.enable`` (it generates extra groups per step);
- scores each sample ``1[IoU >= tau]`` at the current tau as it arrives;
- learns only from samples whose ``extra_info.split`` is ``"train"`` (a sample without a split is
  refused, so validation with ``val_kwargs.n > 1`` can never step the schedule);
- collects the IoUs of complete GRPO groups (``rollout.n`` samples sharing a ``uid``) per
  ``global_steps`` value and steps the schedule once per training step: when ``train_batch_size``
  groups of the step are complete, or, if some never complete, when the next step's first
  sample arrives (without ``global_steps``: every ``train_batch_size`` complete groups);
- saves its state next to each ``global_step_N`` checkpoint in ``trainer.default_local_dir``
  (absolute) and restores it following ``trainer.resume_mode`` / ``resume_from_path``;
- with ``frame="qwen2.5-vl"``, reads answers as verl resizes images: qwen_vl_utils'
  ``fetch_image``, then the processor of ``actor_rollout_ref.model.path``;
- reports ``iou``, ``accuracy`` and ``threshold`` per sample as verl reward extra info (verl puts
  them into its validation metrics; its v1 trainer does not aggregate training extra info), and
  each step's ``medloc/*`` metrics on stdout (Ray forwards it to the driver's console) and as one
  line of ``<default_local_dir>/medloc_<name>_metrics.jsonl``.

Ground truth per sample: ``reward_model.ground_truth`` as written by
:func:`medloc.integrations.schedule_driver.ground_truth_json`. Options:
``reward.custom_reward_function.reward_kwargs`` (``schedule``, ``schedule_options``, ``frame``,
``frame_options``, ``name``, ``format_weight``, ``reasoning``).

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

import json
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from grounding_data.frames import CoordinateFrame, get_frame
from medloc.integrations.checkpoint_state import CheckpointState, checkpoint_step
from medloc.integrations.pixel_limits import (
    SmartResize,
    TrainerQwenFrame,
    checked_limits,
    pretrained_processor_limits,
    qwen_vl_utils_limits,
)
from medloc.integrations.schedule_driver import ScheduleDriver, group_ids, parse_ground_truth
from medloc.rewards import FormatReward

try:  # verl is optional: the class follows its contract either way
    from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase
except ImportError:  # pragma: no cover - depends on the environment
    RewardManagerBase = None

_Base: type = object if RewardManagerBase is None else RewardManagerBase

__all__ = ["GroupCollector", "MedlocRewardManager"]

TRACKER = "latest_checkpointed_iteration.txt"  # verl rewrites it after every save


class GroupCollector:
    """Collects per-sample IoUs by group id until a batch's worth of complete groups is in.

    Samples beyond ``group_size`` for one id are ignored (verl pads batches with copies);
    incomplete groups are dropped when a batch is taken (padding, failed sessions).
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


def _get(config: Any, path: str, default: Any = None) -> Any:
    """``config.a.b.c`` with ``default`` for any missing level (OmegaConf or plain mappings)."""
    value = config
    for key in path.split("."):
        value = value.get(key) if hasattr(value, "get") else getattr(value, key, None)
        if value is None:
            return default
    return value


def _resume_step(config: Any, states: CheckpointState) -> int | None:
    """The step verl resumes from (``RayPPOTrainer._load_checkpoint``): ``trainer.resume_mode``."""
    mode = _get(config, "trainer.resume_mode", "auto")
    if mode == "disable":
        return None
    if mode == "resume_path":
        return checkpoint_step(_get(config, "trainer.resume_from_path"))
    return states.saved_step()


def verl_frame(config: Any, options: Mapping[str, Any]) -> CoordinateFrame:
    """The frame answers are read in: for ``qwen2.5-vl``, qwen_vl_utils' resize then the model's processor."""
    frame, frame_options = options.get("frame", "pixels"), dict(options.get("frame_options") or {})
    if frame != "qwen2.5-vl":
        return get_frame(frame, **frame_options)
    model = _get(config, "actor_rollout_ref.model.path")
    limits = checked_limits(frame_options, pretrained_processor_limits(model) if model else None,
                            f"the processor of {model!r}")
    return TrainerQwenFrame(**limits, pre_resize=(SmartResize(**qwen_vl_utils_limits()),))


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
        workers = int(_get(config, "reward.num_workers", 1))
        if workers != 1:
            raise ValueError(f"MedlocRewardManager keeps the schedule in one reward worker: set reward.num_workers=1 "
                             f"(got {workers})")
        mode = _get(config, "trainer.v1.trainer_mode", "sync")
        if mode != "sync":
            raise ValueError(f"MedlocRewardManager steps the schedule once per training step, which needs "
                             f"trainer.v1.trainer_mode=sync (got {mode!r}: asynchronous modes overlap steps)")
        if _get(config, "algorithm.filter_groups.enable", False):
            raise ValueError("MedlocRewardManager does not support algorithm.filter_groups.enable=true (DAPO "
                             "generates extra groups per step, so a step's batch is not the groups scored)")
        options = dict(_get(config, "reward.custom_reward_function.reward_kwargs", {}) or {})
        unknown = sorted(set(options) - {"schedule", "schedule_options", "frame", "frame_options", "name",
                                         "format_weight", "reasoning"})
        if unknown:
            raise ValueError(f"reward.custom_reward_function.reward_kwargs: unknown option(s) {unknown}")
        self.name = str(options.get("name", "iou_curriculum"))
        self.format_weight = float(options.get("format_weight", 0.0))
        if not 0.0 <= self.format_weight <= 1.0:
            raise ValueError(f"reward_kwargs.format_weight must be in [0, 1], got {self.format_weight}")
        self.format_reward = FormatReward(options.get("reasoning", "before")) if self.format_weight else None
        self.driver = ScheduleDriver(options.get("schedule", "adaptive"), verl_frame(config, options),
                                     **dict(options.get("schedule_options") or {}))
        self.collector = GroupCollector(int(_get(config, "actor_rollout_ref.rollout.n", 1)),
                                        int(_get(config, "data.train_batch_size")))
        self.states = CheckpointState(_get(config, "trainer.default_local_dir"), self.name, TRACKER, int)
        saved = self.states.restore(_resume_step(config, self.states))
        if saved is not None:
            self.driver.load_state_dict(saved)
        self.metrics_file = self.states.checkpoint_dir / f"medloc_{self.name}_metrics.jsonl"
        self._step: Any = None  # global_steps of the batch being collected
        self._learned: Any = None  # global_steps of the last batch learned from

    def _response_text(self, item: Any) -> str:
        responses = item.batch["responses"]
        length = int(item.batch["attention_mask"][-responses.shape[-1]:].sum())
        return self.tokenizer.decode(responses[:length], skip_special_tokens=True)

    def _flush(self) -> None:
        """Step once on the complete groups collected, save the state, report the step's metrics."""
        ious, groups = self.collector.take()
        self._learned = self._step
        if not ious.size:
            return
        metrics = self.driver.learn(ious, groups)
        self.states.save_latest(self.driver.state_dict())
        line = {"global_steps": None if self._step is None else int(self._step),
                **{key: round(value, 6) for key, value in metrics.items()}}
        with self.metrics_file.open("a") as out:
            out.write(json.dumps(line) + "\n")
        print(f"medloc {self.name}: {line}", flush=True)

    def score_sample(self, text: str, ground_truth: str | Mapping[str, Any], uid: str, split: str | None,
                     global_steps: Any = None) -> dict[str, Any]:
        """Score one sample at the current tau; collect a training sample and step once per training step."""
        if split is None:
            raise ValueError("sample has no extra_info.split: medloc learns only from rows marked split='train' "
                             "(write extra_info={'split': 'train' or 'test', ...} into the parquet rows)")
        boxes, width, height = parse_ground_truth(ground_truth, 0)
        with self._lock:
            if split == "train":
                self._collect_start(global_steps)
            tau = self.driver.threshold
            iou = float(self.driver.ious([text], [boxes], [width], [height])[0])
            if split == "train" and (global_steps is None or global_steps != self._learned):
                if self.collector.add(uid, iou):
                    self._flush()
        hit = float(iou >= tau)
        info = {"iou": iou, "accuracy": hit, "threshold": tau}
        reward = hit
        if self.format_reward is not None:
            info["format"] = self.format_reward.score(text)
            reward = (1.0 - self.format_weight) * hit + self.format_weight * info["format"]
        return {"reward_score": reward, "reward_extra_info": info}

    def _collect_start(self, global_steps: Any) -> None:
        """A training sample arrives: close an older step's batch, stamp a checkpoint saved since."""
        if global_steps is not None and self._step is not None and global_steps != self._step:
            if self._learned != self._step:
                self._flush()
        if global_steps is None or global_steps != self._step:
            self._step = global_steps
            self.states.stamp_new_checkpoint(self.driver.state_dict())

    async def run_single(self, data: Any) -> dict[str, Any]:
        """verl's per-sample entry point: ``{"reward_score", "reward_extra_info"}``."""
        item = data[-1:][0]  # multi-turn outputs: the last sequence carries the answer
        extra = item.non_tensor_batch.get("extra_info") or {}
        split = extra.get("split") if isinstance(extra, Mapping) else None
        step = item.non_tensor_batch.get("global_steps")
        return self.score_sample(self._response_text(item), item.non_tensor_batch["reward_model"]["ground_truth"],
                                 str(item.non_tensor_batch["uid"]), split, None if step is None else int(step))
