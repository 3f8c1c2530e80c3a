"""Shared set-up for tests that run a real TRL GRPOTrainer on the built-in tiny VLM."""

from __future__ import annotations

import socket
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from PIL import Image
from trl import GRPOConfig, GRPOTrainer

from medloc.builtin.tiny_model import build_tiny_vlm
from medloc.curriculum import ThresholdCurriculum
from medloc.tasks.grounding import GroundingTask

IMAGE_SIZE = 56
# pseudo IoUs are spread over [0, 1]: rewards vary within groups from the first step (so the
# policy learns before a checkpoint) and tau rises whenever the last 2 steps clear a hit rate of 0.3
RISING = ["--schedule", "adaptive", "--start", "0.3", "--window", "2", "--schedule-option", "min_hit_rate=[[0, 0.3]]",
          "--schedule-option", "max_reward_std=[[0, 0.6]]", "--schedule-option", "min_margin=0.0"]
"""``medloc train`` flags of an adaptive schedule that rises on pseudo IoUs (:func:`pseudo_ious`)."""


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def grounding_dataset(rows: int = 8) -> Dataset:
    """Tiny grey images with one bright square; ``boxes`` in pixels, ``width``/``height`` columns."""
    records: dict[str, list[Any]] = {"prompt": [], "image": [], "boxes": [], "width": [], "height": []}
    for index in range(rows):
        pixels = np.full((IMAGE_SIZE, IMAGE_SIZE), 40, dtype=np.uint8)
        x, y = 4 + 3 * index, 6 + 2 * index
        pixels[y : y + 12, x : x + 12] = 220
        records["prompt"].append(
            [{"role": "user", "content": [{"type": "text", "text": "Box the bright square."}, {"type": "image"}]}]
        )
        records["image"].append(Image.fromarray(pixels).convert("RGB"))
        records["boxes"].append([[x, y, x + 12, y + 12]])
        records["width"].append(IMAGE_SIZE)
        records["height"].append(IMAGE_SIZE)
    return Dataset.from_dict(records)


def pseudo_ious(completions, columns) -> np.ndarray:
    """A deterministic stand-in for the IoU (a curriculum metric): a function of the completion text.

    A random tiny model never writes a box, so real IoUs would all be 0; this keeps the
    schedule's state non-trivial while still depending on what was generated.
    """
    texts = [c if isinstance(c, str) else str(c) for c in completions]
    return np.array([(zlib.crc32(text.encode()) % 1000) / 999 for text in texts])


def strong_ious(completions, columns) -> np.ndarray:
    """Every completion at IoU 0.95 (a curriculum metric): the adaptive schedule's conditions hold at every level."""
    return np.full(len(completions), 0.95)


def iou_curriculum(metric, schedule="adaptive", **options) -> ThresholdCurriculum:
    """A curriculum named and logged as ``IoUCurriculum``'s, scored by ``metric`` instead of the IoU."""
    return ThresholdCurriculum(metric, schedule, name="iou_curriculum", metric_name="iou", **options)


class ScoredGrounding(GroundingTask):
    """The grounding task whose curriculum scores completions with ``metric`` instead of the IoU.

    Registered under ``grounding`` (:func:`medloc.tasks.register_task`), it is what ``medloc train``
    runs: the schedule then learns from scores that depend on the generated text.
    """

    def __init__(self, metric) -> None:
        self.metric = metric

    def curriculum(self, schedule, setup, tensorboard_writer=None):
        return ThresholdCurriculum(self.metric, schedule, name=self.curriculum_name, metric_name="iou",
                                   tensorboard_writer=tensorboard_writer)


def grpo_config(output_dir: Path, **overrides: Any) -> GRPOConfig:
    """A GRPO config sized for 2 CPU cores: 4 prompts x 4 generations, 12 new tokens."""
    options: dict[str, Any] = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=12,
        max_steps=4,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        temperature=1.0,
        dataloader_num_workers=0,
        activation_checkpointing=False,  # TRL defaults the deprecated gradient_checkpointing to True
    )
    options.update(overrides)
    return GRPOConfig(**options)


def make_trainer(
    config: GRPOConfig, curriculum, dataset: Dataset | None = None, eval_dataset: Dataset | None = None
) -> GRPOTrainer:
    model, processor = build_tiny_vlm(seed=0)
    return GRPOTrainer(
        model=model,
        processing_class=processor,
        reward_funcs=[curriculum.reward],
        args=config,
        train_dataset=dataset if dataset is not None else grounding_dataset(),
        eval_dataset=eval_dataset,
        callbacks=[curriculum],
    )
