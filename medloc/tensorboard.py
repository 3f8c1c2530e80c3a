"""TensorBoard views of the curriculum: a custom-scalars layout, and the scalars when TRL does not write them.

TRL's ``TensorBoardCallback`` writes every logged metric, medloc's ``medloc/*`` included, under
``train/`` (``train/medloc/threshold``). medloc adds a custom-scalars layout that draws the
threshold next to the hit rate, and the share of zero-variance groups next to the reward, over
those series: one series per metric. Only when TRL is not reporting to TensorBoard (a
``tensorboard_dir`` given to the curriculum, ``report_to`` without TensorBoard) does medloc write
the ``medloc/*`` scalars itself, and the layout then points at them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from torch.utils.tensorboard import SummaryWriter

METRIC_PREFIX = "medloc/"
TRL_PREFIX = "train/"
"""Where TRL's TensorBoard callback puts training metrics."""

CHARTS = {
    "threshold vs hit rate": ["medloc/threshold", "medloc/hit_rate", "medloc/window_hit_rate"],
    "reward density": ["medloc/zero_variance_share", "medloc/starved_share", "medloc/hit_rate", "reward"],
    "update rule": ["medloc/condition_hit_rate", "medloc/condition_reward_std", "medloc/condition_margin",
                    "medloc/condition_density"],
    "window": ["medloc/window_reward_std", "medloc/window_margin", "medloc/mean_iou"],
}
"""Charts of the layout: title -> logged metric names (as TRL logs them, before its ``train/``)."""


def layout(prefix: str) -> dict[str, dict[str, list]]:
    """The custom-scalars layout over the series named ``prefix + metric``.

    Example:
        >>> layout("train/")["medloc curriculum"]["threshold vs hit rate"][1][0]
        'train/medloc/threshold'
    """
    return {"medloc curriculum": {title: ["Multiline", [prefix + tag for tag in tags]] for title, tags in CHARTS.items()}}


def default_log_dir(output_dir: str) -> str:
    """Where medloc writes its events: TRL's own TensorBoard dir if set, else ``runs/medloc``.

    Example:
        >>> os.environ.pop("TENSORBOARD_LOGGING_DIR", None) and None
        >>> default_log_dir("out") == os.path.join("out", "runs", "medloc")
        True
    """
    return os.environ.get("TENSORBOARD_LOGGING_DIR") or os.path.join(output_dir, "runs", "medloc")


class CurriculumWriter:
    """Writes the layout (once) and, with ``mirror``, the ``medloc/*`` scalars to TensorBoard.

    ``mirror=False`` (TRL writes the scalars under ``train/``): the layout only, over TRL's series.
    ``mirror=True`` (TRL does not report to TensorBoard): the ``medloc/*`` scalars too.

    Example:
        >>> import tempfile
        >>> writer = CurriculumWriter(tempfile.mkdtemp(), mirror=True)
        >>> writer.write({"medloc/threshold": 0.3, "loss": 1.0}, step=1)
        1
        >>> CurriculumWriter(tempfile.mkdtemp(), mirror=False).write({"medloc/threshold": 0.3}, step=1)
        0
        >>> writer.close()
    """

    def __init__(self, log_dir: str, mirror: bool) -> None:
        self.log_dir = log_dir
        self.mirror = mirror
        self._writer = SummaryWriter(log_dir=log_dir)
        self._writer.add_custom_scalars(layout("" if mirror else TRL_PREFIX))
        self._writer.flush()

    def write(self, logs: Mapping[str, object], step: int) -> int:
        """Write the ``medloc/*`` entries of a ``logs`` dict when mirroring; return how many were written."""
        if not self.mirror:
            return 0
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
