"""medloc: reward curricula for GRPO fine-tuning of vision-language models on medical visual grounding.

The two-line drop-in for an existing TRL script::

    from medloc import IoUCurriculum
    curriculum = IoUCurriculum(schedule="adaptive")
    trainer = GRPOTrainer(model, reward_funcs=[think_format_reward, curriculum.reward],
                          args=args, train_dataset=ds, callbacks=[curriculum])

Names are imported lazily, so ``import medloc`` (and the CLI's ``--help``) stays fast.

The top level is the library a TRL script imports; the ``medloc`` command line lives in
:mod:`medloc.app` and the built-in tiny model in :mod:`medloc.builtin`. The library imports
neither.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "IoUCurriculum": "medloc.curriculum",
    "ThresholdCurriculum": "medloc.curriculum",
    "completion_ious": "medloc.scoring",
    "make_binary_iou_reward": "medloc.rewards",
    "make_soft_iou_reward": "medloc.rewards",
    "make_format_reward": "medloc.rewards",
    "binary_iou_reward": "medloc.rewards",
    "soft_iou_reward": "medloc.rewards",
    "CheckedReward": "medloc.rewards",
    "ResumableGRPOTrainer": "medloc.trainer",
    "pad_left": "medloc.padding",
    "parse_boxes": "medloc.parsing",
    "get_frame": "grounding_data.frames",
    "GroundingMetrics": "medloc.metrics",
    "accuracy_at": "medloc.metrics",
    "pseudo_map": "medloc.metrics",
    "evaluate": "medloc.evaluation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'medloc' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
