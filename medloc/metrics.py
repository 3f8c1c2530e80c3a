"""Grounding evaluation metrics: A@t, pseudo-mAP, mIoU and the well-formed answer rate.

With one box per phrase and no confidence scores there is no real AP; following
MedLoc-R1, "pseudo-mAP" is the mean of A@t over t = 0.50, 0.55, ..., 0.95, where A@t is
the share of predictions with IoU ``>= t`` (inclusive). Invalid answers count with IoU 0.

Example:
    >>> metric = GroundingMetrics()
    >>> metric.update([0.9, 0.5, 0.2, 0.0], valid=[True, True, True, False])
    >>> result = metric.compute()
    >>> result["A@0.5"], result["A@0.8"], result["format_valid_rate"], result["n"]
    (0.5, 0.25, 0.75, 4)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["GroundingMetrics", "accuracy_at", "pseudo_map", "PSEUDO_MAP_THRESHOLDS"]

PSEUDO_MAP_THRESHOLDS = tuple(round(0.50 + 0.05 * k, 2) for k in range(10))
"""IoU thresholds averaged by pseudo-mAP: 0.5, 0.55, ..., 0.95 (exact decimals)."""

IoUs = Sequence[float] | np.ndarray | torch.Tensor


def _as_ious(ious: IoUs) -> np.ndarray:
    if isinstance(ious, torch.Tensor):
        ious = ious.detach().cpu().numpy()
    values = np.asarray(ious, dtype=np.float64).reshape(-1)
    bad = ~(np.isfinite(values) & (values >= 0.0) & (values <= 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"ious[{i}] = {values[i]!r}: IoUs must be finite and in [0, 1]")
    return values


def accuracy_at(ious: IoUs, threshold: float) -> float:
    """A@t: the share of IoUs ``>= threshold`` (inclusive); NaN for no IoUs.

    Example:
        >>> accuracy_at([0.5, 0.49, 0.8, 0.1], 0.5)
        0.5
    """
    values = _as_ious(ious)
    return float(np.mean(values >= threshold)) if len(values) else math.nan


def pseudo_map(ious: IoUs) -> float:
    """Mean of A@t over t = 0.50, 0.55, ..., 0.95; NaN for no IoUs.

    Example:
        >>> pseudo_map([1.0, 0.7, 0.0])  # 1.0 passes all 10 thresholds, 0.7 passes 5
        0.5
    """
    metric = GroundingMetrics()
    metric.update(ious)
    return float(metric.compute()["pseudo_mAP"])


class GroundingMetrics:
    """Accumulates IoUs over batches and reports grounding metrics (torchmetrics style).

    State is a handful of counts (exact, constant memory): hits per threshold, the IoU sum,
    the number of rows and of well-formed answers.

    Args:
        accuracy_thresholds: the A@t reported as ``"A@<t>"`` keys (default 0.5 and 0.8).

    ``compute()`` returns ``{"A@0.5", "A@0.8", "pseudo_mAP", "mIoU", "format_valid_rate",
    "n"}``: rates in [0, 1] (NaN before any update), ``"n"`` the number of rows.
    ``format_valid_rate`` counts only rows whose validity was given (NaN if never given).

    Example:
        >>> metric = GroundingMetrics(accuracy_thresholds=(0.3, 0.5))
        >>> metric.update(torch.tensor([0.3, 0.6]))
        >>> {k: v for k, v in metric.compute().items() if k.startswith("A@")}
        {'A@0.3': 1.0, 'A@0.5': 0.5}
        >>> metric.reset(); metric.compute()["n"]
        0
    """

    def __init__(self, accuracy_thresholds: Sequence[float] = (0.5, 0.8)) -> None:
        thresholds = tuple(float(t) for t in accuracy_thresholds)
        if not all(0.0 < t <= 1.0 for t in thresholds):
            raise ValueError(f"accuracy_thresholds must lie in (0, 1], got {accuracy_thresholds!r}")
        self.accuracy_thresholds = thresholds
        self._thresholds = np.array(sorted(set(thresholds) | set(PSEUDO_MAP_THRESHOLDS)), dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far."""
        self._hits = np.zeros(len(self._thresholds), dtype=np.int64)
        self._iou_sum = 0.0
        self._n = 0
        self._n_valid = 0
        self._n_validity_known = 0

    def update(self, ious: IoUs, valid: Sequence[bool] | np.ndarray | torch.Tensor | None = None) -> None:
        """Add a batch of per-row IoUs (and optionally whether each answer was well-formed).

        Rows marked invalid count with IoU 0 whatever value is given.

        Args:
            ious: ``(N,)`` IoUs in [0, 1].
            valid: ``(N,)`` booleans, True where the answer held a valid box.

        Example:
            >>> metric = GroundingMetrics()
            >>> metric.update([0.9, 0.9], valid=[True, False])
            >>> metric.compute()["mIoU"]
            0.45
        """
        values = _as_ious(ious)
        if valid is not None:
            if isinstance(valid, torch.Tensor):
                valid = valid.detach().cpu().numpy()
            flags = np.asarray(valid, dtype=bool).reshape(-1)
            if len(flags) != len(values):
                raise ValueError(f"valid has {len(flags)} entries but ious has {len(values)}")
            values = np.where(flags, values, 0.0)
            self._n_valid += int(flags.sum())
            self._n_validity_known += len(flags)
        self._hits += (values[:, None] >= self._thresholds[None, :]).sum(axis=0)
        self._iou_sum += float(values.sum())
        self._n += len(values)

    def compute(self) -> dict[str, float | int]:
        """The metrics over every row seen since the last reset.

        Example:
            >>> metric = GroundingMetrics()
            >>> metric.update([1.0, 0.75, 0.5, 0.0])
            >>> metric.compute()["pseudo_mAP"]
            0.425
        """
        n = self._n
        hits = dict(zip(self._thresholds.tolist(), self._hits.tolist()))
        result: dict[str, float | int] = {
            f"A@{t:g}": hits[t] / n if n else math.nan for t in self.accuracy_thresholds
        }
        map_hits = int(self._hits[np.isin(self._thresholds, PSEUDO_MAP_THRESHOLDS)].sum())
        result["pseudo_mAP"] = map_hits / (n * len(PSEUDO_MAP_THRESHOLDS)) if n else math.nan
        result["mIoU"] = self._iou_sum / n if n else math.nan
        result["format_valid_rate"] = (
            self._n_valid / self._n_validity_known if self._n_validity_known else math.nan
        )
        result["n"] = n
        return result
