"""TensorBoard views of the curriculum: a custom-scalars layout, and the scalars when TRL does not write them.

``medloc train`` opens one ``SummaryWriter`` per run and hands it to TRL's TensorBoard callback,
to the curriculum (its layout) and to the held-out evaluation: one event file per run. A TRL
script's curriculum writes into a folder of its own (:func:`default_log_dir`).

TRL's ``TensorBoardCallback`` writes every logged metric, medloc's ``medloc/*`` included, under
``train/`` (``train/medloc/threshold``). medloc adds a custom-scalars layout over those series (one
series per metric): tau next to the hit rate, the shares of groups without GRPO signal next to the
reward, the adaptive rule's conditions and window statistics. Only when TRL is not reporting to
TensorBoard (a ``tensorboard_dir`` given to the curriculum, ``report_to`` without TensorBoard) does
medloc write the ``medloc/*`` scalars itself, and the layout then points at them.

How the charts read in TensorBoard (2.21):

- a line chart draws exactly its series: each tag is an anchored regular expression
  (:func:`exact`; the custom-scalars plugin matches a tag by regex, from its start);
- line charts are smoothed (the dashboard's Smoothing, 0.6 by default), which turns tau's raises
  into ramps; margin charts are never smoothed, so ``tau, unsmoothed`` draws tau as the step
  function it is, and ``mean IoU over tau`` fills the band between tau and the mean IoU (the margin
  the adaptive rule tests);
- TensorBoard colours series by run (each run folder its own colour, so runs are told apart in
  ``tensorboard --logdir medloc-runs``); within a run each series of a chart has its own marker,
  listed under the chart with its tag.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from torch.utils.tensorboard import SummaryWriter

from medloc.curriculum_core import METRIC_PREFIX

TRL_PREFIX = "train/"
"""Where TRL's TensorBoard callback puts training metrics."""

MULTILINE_CHARTS = {
    "tau vs hit rate (smoothed; Smoothing 0 shows tau's steps)": ["threshold", "hit_rate", "window_hit_rate"],
    "reward density: shares of groups without GRPO signal": ["zero_variance_share", "starved_share", "hit_rate"],
    "update rule: conditions held (1) or not (0)": ["condition_hit_rate", "condition_reward_std", "condition_margin",
                                                     "condition_density"],
    "window statistics": ["window_reward_std", "window_margin", "mean_{score}"],
}
"""Line charts: title -> the curriculum metrics drawn (as TRL logs them, after ``medloc/``)."""
TRL_SERIES = {"reward density: shares of groups without GRPO signal": ["reward"]}
"""TRL's own series added to a chart (its mean reward, next to the shares of dead groups)."""
MARGIN_CHARTS = {
    "tau, unsmoothed": ("threshold", "threshold", "threshold"),
    "mean {score} over tau, unsmoothed (band: the margin)": ("mean_{score}", "threshold", "mean_{score}"),
}
"""Margin charts: title -> (value, lower, upper) metrics. TensorBoard does not smooth margin charts, so
tau's raises stay steps; the second fills the band between tau and the mean score."""


def chart_series(score: str = "iou") -> dict[str, list[str]]:
    """Every chart's exact series (logged metric names, before TRL's ``train/``), line and margin charts.

    Example:
        >>> chart_series()["window statistics"]
        ['medloc/window_reward_std', 'medloc/window_margin', 'medloc/mean_iou']
    """
    series = {title: [METRIC_PREFIX + name.format(score=score) for name in names] + TRL_SERIES.get(title, [])
              for title, names in MULTILINE_CHARTS.items()}
    for title, names in MARGIN_CHARTS.items():
        series[title.format(score=_shown(score))] = sorted({METRIC_PREFIX + name.format(score=score) for name in names})
    return series


def _shown(score: str) -> str:
    return "IoU" if score == "iou" else score.replace("_", " ")


def exact(tag: str) -> str:
    """The regular expression that matches ``tag`` and nothing else (custom-scalar line charts take regexes:
    unanchored, ``train/reward`` would also draw ``train/reward_std`` and ``train/rewards/*``).

    Example:
        >>> print(exact("heldout/A@0.5"))
        ^heldout/A@0\\.5$
    """
    return "^" + re.escape(tag) + "$"


def layout(prefix: str, score: str = "iou") -> dict[str, dict[str, list]]:
    """The custom-scalars layout over the series named ``prefix + metric`` (``score``: the curriculum's score,
    ``mean_<score>``).

    Example:
        >>> charts = layout("train/")["medloc curriculum"]
        >>> charts["tau, unsmoothed"]
        ['Margin', ['train/medloc/threshold', 'train/medloc/threshold', 'train/medloc/threshold']]
        >>> charts["tau vs hit rate (smoothed; Smoothing 0 shows tau's steps)"][1][0]
        '^train/medloc/threshold$'
    """
    charts: dict[str, list] = {}
    for title, names in MULTILINE_CHARTS.items():
        tags = [METRIC_PREFIX + name.format(score=score) for name in names] + TRL_SERIES.get(title, [])
        charts[title] = ["Multiline", [exact(prefix + tag) for tag in tags]]
    for title, names in MARGIN_CHARTS.items():
        charts[title.format(score=_shown(score))] = ["Margin", [prefix + METRIC_PREFIX + name.format(score=score)
                                                                for name in names]]
    return {"medloc curriculum": charts}


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

    def __init__(self, target: str | os.PathLike[str] | Any, mirror: bool, score: str = "iou") -> None:
        self.mirror = mirror
        self._owned = isinstance(target, (str, os.PathLike))
        self._writer = SummaryWriter(log_dir=str(target)) if self._owned else target
        self._writer.add_custom_scalars(layout("" if mirror else TRL_PREFIX, score))
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
