"""TensorBoard views of the curriculum: a custom-scalars layout, and the scalars when TRL does not write them.

``medloc train`` opens one ``SummaryWriter`` per run and hands it to TRL's TensorBoard callback,
to the curriculum (its layout) and to the held-out evaluation: one event file per run. A TRL
script's curriculum writes into a folder of its own (:func:`default_log_dir`).

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
from typing import Any

from torch.utils.tensorboard import SummaryWriter

from medloc.curriculum_core import METRIC_PREFIX

TRL_PREFIX = "train/"
"""Where TRL's TensorBoard callback puts training metrics."""

_CURRICULUM = {
    "threshold vs hit rate": ["threshold", "hit_rate", "window_hit_rate"],
    "reward density": ["zero_variance_share", "starved_share", "hit_rate"],
    "update rule": ["condition_hit_rate", "condition_reward_std", "condition_margin", "condition_density"],
    "window": ["window_reward_std", "window_margin", "mean_iou"],
}
CHARTS = {title: [METRIC_PREFIX + name for name in names] for title, names in _CURRICULUM.items()}
CHARTS["reward density"].append("reward")  # TRL's mean reward, next to the shares of dead groups
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
    ``target`` is a folder (a writer of its own, closed by :meth:`close`) or an open
    ``SummaryWriter`` shared with others (left open).

    Example:
        >>> import tempfile
        >>> writer = CurriculumWriter(tempfile.mkdtemp(), mirror=True)
        >>> writer.write({"medloc/threshold": 0.3, "loss": 1.0}, step=1)
        1
        >>> CurriculumWriter(tempfile.mkdtemp(), mirror=False).write({"medloc/threshold": 0.3}, step=1)
        0
        >>> writer.close()
    """

    def __init__(self, target: str | os.PathLike[str] | Any, mirror: bool) -> None:
        self.mirror = mirror
        self._owned = isinstance(target, (str, os.PathLike))
        self._writer = SummaryWriter(log_dir=str(target)) if self._owned else target
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
        """Flush, and close the event file if it is this writer's own."""
        if self._owned:
            self._writer.close()
        else:
            self._writer.flush()
