"""AdamW with the vision tower on its own learning rate (a multiple of the language model's) and weight decay.

Used by ``medloc train`` for every task (``--vision-lr-scale``) and by the built-in model's warm start.

Example:
    >>> from medloc.builtin.tiny_model import build_tiny_vlm
    >>> model, _ = build_tiny_vlm()
    >>> optimizer = vision_scaled_optimizer(model, 1e-3, 0.1, vision_weight_decay=0.1)
    >>> [(group["lr"], group["weight_decay"]) for group in optimizer.param_groups]
    [(0.001, 0.0), (0.0001, 0.1)]
"""

from __future__ import annotations

from typing import Any

import torch


def vision_tower(model: Any) -> torch.nn.Module:
    """The vision encoder of a Qwen-VL-style model (``model.model.visual`` or ``model.visual``).

    Raises:
        ValueError: the model has none.

    Example:
        >>> vision_tower(torch.nn.Linear(2, 2))
        Traceback (most recent call last):
        ...
        ValueError: Linear has no 'visual' module
    """
    inner = getattr(model, "model", model)
    tower = getattr(inner, "visual", None) or getattr(model, "visual", None)
    if tower is None:
        raise ValueError(f"{type(model).__name__} has no 'visual' module")
    return tower


def vision_scaled_optimizer(model: Any, learning_rate: float, vision_lr_scale: float, *, weight_decay: float = 0.0,
                            vision_weight_decay: float | None = None, betas: tuple[float, float] = (0.9, 0.999),
                            eps: float = 1e-8) -> torch.optim.AdamW:
    """AdamW over the trainable parameters: the vision tower's at ``vision_lr_scale`` x ``learning_rate``
    with ``vision_weight_decay`` (default: ``weight_decay``), the others at ``learning_rate``.

    A frozen tower (``requires_grad`` off) gets no group.
    """
    vision_ids = {id(p) for p in vision_tower(model).parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in vision_ids], "lr": learning_rate,
               "weight_decay": weight_decay}]
    vision = [p for p in trainable if id(p) in vision_ids]
    if vision:
        groups.append({"params": vision, "lr": learning_rate * vision_lr_scale,
                       "weight_decay": weight_decay if vision_weight_decay is None else vision_weight_decay})
    return torch.optim.AdamW(groups, betas=betas, eps=eps, weight_decay=weight_decay)
