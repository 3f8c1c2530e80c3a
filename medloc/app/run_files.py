"""What a ``medloc train`` run writes where, and the model-info file saved next to a trained model.

Example:
    >>> import tempfile
    >>> from grounding_data.frames import get_frame
    >>> from medloc.tasks import AnswerSetup
    >>> folder = tempfile.mkdtemp()
    >>> write_model_info(folder, "grounding", AnswerSetup(frame=get_frame("grid-100")))
    >>> read_model_info(folder)
    {'task': 'grounding', 'reasoning': 'none', 'frame': 'grid-100'}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medloc.builtin import warmstart
from medloc.tasks import AnswerSetup

TENSORBOARD_SUBDIR = "tensorboard"
FINAL_MODEL_SUBDIR = "final_model"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
"""Every metric logged during GRPO, one JSON line per logged step."""
MODEL_INFO_FILE = "medloc.json"
"""Written next to a trained model: its task, the reasoning layout, the frame and class descriptions it answers with."""


def write_model_info(model_dir: str | Path, task: str, setup: AnswerSetup, class_descriptions: str | None = None) -> None:
    """Record what the model at ``model_dir`` was trained for and how it answers, for ``medloc eval``."""
    info: dict[str, Any] = {"task": task, "reasoning": setup.reasoning}
    if setup.frame is not None:
        info["frame"] = setup.frame.name
    if class_descriptions:
        info["class_descriptions"] = str(Path(class_descriptions).expanduser().absolute())
    Path(model_dir, MODEL_INFO_FILE).write_text(json.dumps(info))


def read_model_info(model_dir: str | Path) -> dict[str, Any]:
    """``task``, ``reasoning``, ``frame`` and ``class_descriptions`` recorded with a model by medloc (empty if none).

    A warm-started built-in model has no model-info file; its warm-start metrics hold the same keys.

    Example:
        >>> read_model_info("/no/such/model")
        {}
    """
    info_file = Path(model_dir, MODEL_INFO_FILE)
    if info_file.is_file():
        return json.loads(info_file.read_text())
    warm_file = Path(model_dir, warmstart.METRICS_FILE)
    if warm_file.is_file():
        config = json.loads(warm_file.read_text()).get("config", {})
        return {key: config[key] for key in ("frame", "reasoning") if key in config}
    return {}
