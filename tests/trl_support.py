"""Shared set-up for tests that run a real TRL GRPOTrainer on the built-in tiny VLM."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from PIL import Image
from trl import GRPOConfig, GRPOTrainer

from medloc.builtin.tiny_model import build_tiny_vlm
from medloc.curriculum import ThresholdCurriculum

IMAGE_SIZE = 56


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
