"""TensorBoard views of the curriculum: a ``medloc/`` section and a custom-scalars layout.

TRL's ``TensorBoardCallback`` writes every logged metric under ``train/``. medloc mirrors its
own metrics into a ``medloc/`` section and registers a custom-scalars layout that draws the
threshold next to the hit rate, and the share of zero-variance groups next to the reward.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from torch.utils.tensorboard import SummaryWriter

METRIC_PREFIX = "medloc/"

LAYOUT = {
    "medloc curriculum": {
        "threshold vs hit rate": ["Multiline", ["medloc/threshold", "medloc/hit_rate", "medloc/window_hit_rate"]],
        "reward density": [
            "Multiline",
            ["medloc/zero_variance_share", "medloc/starved_share", "medloc/hit_rate", "train/reward"],
        ],
        "update rule": [
            "Multiline",
            ["medloc/condition_hit_rate", "medloc/condition_reward_std", "medloc/condition_margin", "medloc/condition_density"],
        ],
        "window": ["Multiline", ["medloc/window_reward_std", "medloc/window_margin", "medloc/mean_iou"]],
    }
}


def default_log_dir(output_dir: str) -> str:
    """Where medloc writes its events: TRL's own TensorBoard dir if set, else ``runs/medloc``.

    Example:
        >>> default_log_dir("out").endswith(os.path.join("runs", "medloc")) or "TENSORBOARD_LOGGING_DIR" in os.environ
        True
    """
    return os.environ.get("TENSORBOARD_LOGGING_DIR") or os.path.join(output_dir, "runs", "medloc")


class CurriculumWriter:
    """Writes ``medloc/*`` scalars (and the layout, once) to TensorBoard event files.

    Example:
        >>> import tempfile
        >>> writer = CurriculumWriter(tempfile.mkdtemp())
        >>> writer.write({"medloc/threshold": 0.3, "loss": 1.0}, step=1)
        1
        >>> writer.close()
    """

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self._writer = SummaryWriter(log_dir=log_dir)
        self._writer.add_custom_scalars(LAYOUT)

    def write(self, logs: Mapping[str, object], step: int) -> int:
        """Write the ``medloc/*`` entries of a ``logs`` dict; return how many were written."""
        written = 0
        for key, value in logs.items():
            if key.startswith(METRIC_PREFIX) and isinstance(value, (int, float)):
                self._writer.add_scalar(key, value, step)
                written += 1
        if written:
            self._writer.flush()
        return written

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()
