"""The model a run trains: a folder or hub id as given, or the built-in model, warm-started (cached)
or saved untrained; and its optimizer, with the vision tower's learning rate (every task).

Example:
    >>> from medloc.app.settings import TrainSettings
    >>> prepare_model(TrainSettings(model="Qwen/Qwen2.5-VL-3B-Instruct"), progress=False)
    ('Qwen/Qwen2.5-VL-3B-Instruct', None)
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from accelerate import PartialState
from accelerate.state import AcceleratorState

from grounding_data.synthetic import difficulty
from medloc.app.run_files import UNTRAINED_MODEL_SUBDIR
from medloc.app.settings import SettingsError, TrainSettings
from medloc.builtin import is_builtin_model
from medloc.builtin.tiny_model import build_tiny_vlm
from medloc.builtin.warmstart import (
    METRICS_FILE,
    MIN_ROWS,
    PRESET_RECIPES,
    TASK_RECIPES,
    WarmStartConfig,
    rows_fingerprint,
    warm_start,
)
from medloc.priors import read_class_descriptions
from medloc.vision_optimizer import vision_scaled_optimizer, vision_tower


def warm_start_config(settings: TrainSettings, rows: Sequence[Mapping] | None = None) -> Any:
    """The warm-start recipe of the built-in model for these settings and their task.

    A question task with a recipe (:data:`medloc.builtin.warmstart.TASK_RECIPES`) gets its own warm
    start on the ``--difficulty`` preset's synthetic questions (in the run's layout, with its
    ``--class-descriptions``), from the grounding warm start (``base``, in the ``none`` layout);
    ``--warm-start-steps`` sets the steps of both. Other tasks get the grounding one
    (:func:`grounding_warm_start_config`).

    Example:
        >>> config = warm_start_config(TrainSettings(task="vqa", reasoning="after"))
        >>> config.task, config.reasoning, config.base.task, config.base.reasoning
        ('vqa', 'after', 'grounding', 'none')
        >>> warm_start_config(TrainSettings(task="grade", warm_start_steps=50)).max_steps
        50
    """
    if settings.task not in TASK_RECIPES:
        return grounding_warm_start_config(settings, rows)
    base = grounding_warm_start_config(dataclasses.replace(settings, reasoning="none"))
    options: dict[str, Any] = {**TASK_RECIPES[settings.task], "task": settings.task, "base": base,
                               "reasoning": settings.reasoning, "synthetic": difficulty(settings.difficulty),
                               "frame": base.frame}
    if settings.class_descriptions:  # the warm start learns the prompts the run will ask
        options["descriptions"] = tuple(sorted(read_class_descriptions(settings.class_descriptions).items()))
    if settings.warm_start_steps:
        options["max_steps"] = settings.warm_start_steps
    return WarmStartConfig(**options)


def grounding_warm_start_config(settings: TrainSettings, rows: Sequence[Mapping] | None = None) -> Any:
    """The grounding warm-start recipe of the built-in model for these settings: on the ``--difficulty``
    preset's synthetic data, or on ``rows`` (a dataset's training rows) with the base recipe.

    Example:
        >>> grounding_warm_start_config(TrainSettings(difficulty="large")).label_margin
        0.3
        >>> rows = [{"id": "a", "image": "a.jpg", "phrase": "the polyp", "boxes": [[1, 2, 3, 4]]}]
        >>> grounding_warm_start_config(TrainSettings(difficulty="large"), rows).label_margin
        0.15
    """
    options: dict[str, Any] = {"reasoning": settings.reasoning}
    if rows is None:
        options.update(synthetic=difficulty(settings.difficulty), **PRESET_RECIPES.get(settings.difficulty, {}))
    else:
        options.update(PRESET_RECIPES["easy"], rows_fingerprint=rows_fingerprint(rows))
    if settings.frame:
        options["frame"] = settings.frame
    if settings.warm_start_steps:
        options["max_steps"] = settings.warm_start_steps
        options["lead_in_steps"] = min(options.get("lead_in_steps", 0), settings.warm_start_steps // 2)
    if settings.warm_start_margin is not None:
        options["label_margin"] = settings.warm_start_margin
    return WarmStartConfig(**options)


def prepare_model(settings: TrainSettings, progress: bool,
                  rows: Sequence[Mapping] | None = None) -> tuple[str, dict[str, Any] | None]:
    """The model folder or hub id to train, and what the warm start did (built-in model only).

    ``rows``: the run's training rows when it reads a grounding dataset: the built-in model's warm
    start then trains on them (held-out rows are a separate split), not on synthetic data.

    The warm start is the task's (:func:`warm_start_config`: ``vqa`` and ``grade`` learn their answers
    from the grounding warm start). Its record holds ``task`` (whose answers it learnt), the probe
    metrics of the warm-started model (grounding: ``mIoU``, ``A@0.5``, ``A@0.8``,
    ``format_valid_rate``, the average-box baseline; a question task: ``accuracy``, ``valid_rate``,
    and for grades ``within_1``, ``mae``), ``stalled``, ``built`` (False when it came from the
    cache), ``seconds`` (this run's time on it, both stages) and ``folder`` (the cached model).
    """
    if not is_builtin_model(settings.model):
        return settings.model, None
    if not settings.warm_start:
        path = Path(settings.output_dir).expanduser() / UNTRAINED_MODEL_SUBDIR
        if PartialState().is_main_process:
            model, processor = build_tiny_vlm(seed=settings.seed)
            model.save_pretrained(path)
            processor.save_pretrained(path)
        PartialState().wait_for_everyone()
        return str(path), None
    if rows is not None and len(rows) < MIN_ROWS:
        raise SettingsError("--data", f"{settings.data}: the built-in model's warm start trains on the training rows "
                            f"and needs at least {MIN_ROWS}, got {len(rows)} (give more rows, --no-warm-start, "
                            "or a --model)")
    started = time.time()
    cache, config = settings.warm_start_cache() / "warmstart", warm_start_config(settings, rows)
    built = not (cache / config.key(settings.seed) / METRICS_FILE).is_file()
    with PartialState().main_process_first():
        path = warm_start(cache, config, seed=settings.seed, progress=progress and PartialState().is_main_process,
                          keep_stalled=True, rows=rows)
    AcceleratorState._reset_state()  # the warm start's trainer fixed its mixed precision; GRPO sets its own
    metrics = json.loads((Path(path) / METRICS_FILE).read_text())
    keys = ("mIoU", "A@0.5", "A@0.8", "format_valid_rate", "constant_box_mIoU", "accuracy", "valid_rate", "within_1",
            "mae", "stalled")
    trained_on = {} if rows is None else {"rows": len(rows)}
    return str(path), {"task": config.task, **trained_on, **{key: metrics[key] for key in keys if key in metrics},
                       "built": built, "seconds": round(time.time() - started, 1), "folder": str(path)}


def vision_lr_scale(settings: TrainSettings) -> float:
    """The vision tower's learning-rate multiple: ``--vision-lr-scale``, else 0 (frozen) for the
    built-in model and 1 for other models.

    Example:
        >>> vision_lr_scale(TrainSettings()), vision_lr_scale(TrainSettings(model="Qwen/Qwen2.5-VL-3B-Instruct"))
        (0.0, 1.0)
    """
    if settings.vision_lr_scale is not None:
        return float(settings.vision_lr_scale)
    return 0.0 if is_builtin_model(settings.model) else 1.0


def run_optimizer(model: Any, args: Any, scale: float) -> torch.optim.Optimizer | None:
    """The run's optimizer: TRL's own (None) at scale 1; at scale 0 the vision tower is frozen
    (``requires_grad`` off) and TRL's optimizer skips it; otherwise AdamW with the tower at
    ``scale`` x the learning rate (:func:`medloc.vision_optimizer.vision_scaled_optimizer`).

    Example:
        >>> from types import SimpleNamespace
        >>> run_optimizer(None, SimpleNamespace(), 1.0) is None
        True
    """
    if scale == 1.0:
        return None
    try:
        if scale == 0.0:
            vision_tower(model).requires_grad_(False)
            return None
        return vision_scaled_optimizer(model, args.learning_rate, scale, weight_decay=args.weight_decay,
                                       betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon)
    except ValueError as error:
        raise SettingsError("--vision-lr-scale", str(error)) from None
