"""What a ``medloc train`` run writes where, and the model-info file saved next to a trained model.

Example:
    >>> import tempfile
    >>> from grounding_data.frames import get_frame
    >>> folder = tempfile.mkdtemp()
    >>> write_model_info(folder, get_frame("grid-100"), "none")
    >>> read_model_info(folder)
    {'frame': 'grid-100', 'reasoning': 'none'}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grounding_data.frames import CoordinateFrame
from medloc.builtin import warmstart

TENSORBOARD_SUBDIR = "tensorboard"
FINAL_MODEL_SUBDIR = "final_model"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
"""Every metric logged during GRPO, one JSON line per logged step."""
MODEL_INFO_FILE = "medloc.json"
"""Written next to a trained model: the frame and reasoning layout it answers in."""


def write_model_info(model_dir: str | Path, frame: CoordinateFrame, reasoning: str) -> None:
    """Record how the model at ``model_dir`` writes boxes, for ``medloc eval``."""
    Path(model_dir, MODEL_INFO_FILE).write_text(json.dumps({"frame": frame.name, "reasoning": reasoning}))


def read_model_info(model_dir: str | Path) -> dict[str, Any]:
    """``frame`` and ``reasoning`` recorded with a model by medloc (empty if none).

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
