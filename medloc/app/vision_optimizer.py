"""The vision tower's learning rate in a run: a multiple of the GRPO learning rate, 0 freezing it.

Example:
    >>> from medloc.app.settings import TrainSettings
    >>> vision_lr_scale(TrainSettings(vision_lr_scale=0.1))
    0.1
"""

from __future__ import annotations

from typing import Any

import torch

from medloc.app.settings import SettingsError, TrainSettings
from medloc.builtin.tiny_model import is_builtin_model


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


def vision_tower(model: Any) -> Any:
    """The vision encoder of a Qwen-VL-style model (``model.model.visual`` or ``model.visual``)."""
    inner = getattr(model, "model", model)
    tower = getattr(inner, "visual", None) or getattr(model, "visual", None)
    if tower is None:
        raise SettingsError("--vision-lr-scale", f"{type(model).__name__} has no 'visual' module")
    return tower


def vision_scaled_optimizer(model: Any, args: Any, scale: float) -> torch.optim.Optimizer | None:
    """AdamW with the vision tower at ``scale`` x the learning rate (None: scale 1, TRL's own optimizer).

    At scale 0 the tower is frozen (``requires_grad`` off) and TRL's optimizer skips it.
    """
    if scale == 1.0:
        return None
    tower = vision_tower(model)
    if scale == 0.0:
        tower.requires_grad_(False)
        return None
    vision_ids = {id(p) for p in tower.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) not in vision_ids], "lr": args.learning_rate},
        {"params": [p for p in trainable if id(p) in vision_ids], "lr": args.learning_rate * scale},
    ]
    return torch.optim.AdamW(groups, betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon,
                             weight_decay=args.weight_decay)
