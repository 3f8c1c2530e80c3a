"""The summary of a grounding run: printed when ``medloc train`` ends and written to ``summary.json``.

Example:
    >>> summary = TrainSummary("fixed", 3, 65.0, 0.5, 0.5, [], [], {}, [], "o", "o/tb", "o/m", "o/metrics.jsonl")
    >>> summary.lines()[:2]
    ["medloc train finished: 3 GRPO steps in 1m05s, schedule 'fixed'", '  threshold: 0.50 -> 0.50, never raised']
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class TrainSummary:
    """What a run did; printed at the end and written to ``<output_dir>/summary.json``."""

    schedule: str
    steps: int
    seconds: float
    start_threshold: float
    final_threshold: float
    threshold_trajectory: list[tuple[int, float]]
    raises: list[tuple[int, float, float]]
    heldout: dict[str, float]
    heldout_history: list[tuple[int, dict[str, float]]]
    output_dir: str
    tensorboard_dir: str
    final_model_dir: str
    metrics_file: str
    reward: str = "binary"
    warm_start: dict[str, Any] | None = None
    data_report: dict[str, Any] | None = None

    def lines(self) -> list[str]:
        """The human-readable summary."""
        minutes, seconds = divmod(int(round(self.seconds)), 60)
        lines = [
            f"medloc train finished: {self.steps} GRPO steps in {minutes}m{seconds:02d}s, schedule {self.schedule!r}"
            + ("" if self.reward == "binary" else f", reward {self.reward!r}"),
            f"  threshold: {self.start_threshold:.2f} -> {self.final_threshold:.2f}, "
            + (", ".join(f"raised at step {step} ({old:.2f}->{new:.2f})" for step, old, new in self.raises)
               or "never raised"),
        ]
        skipped = (self.data_report or {}).get("skipped") or {}
        if skipped:
            lines.append(f"  data: {self.data_report['rows']} rows kept, {sum(skipped.values())} skipped ("
                         + ", ".join(f"{reason}: {count}" for reason, count in skipped.items()) + ")")
        if self.heldout:
            before = self.heldout_history[0][1] if self.heldout_history and self.heldout_history[0][0] == 0 else None
            lines.append(f"  held-out ({int(self.heldout['n'])} rows)    A@0.5   A@0.8    mIoU  pseudo-mAP  valid")
            for label, metrics in (("before GRPO", before), ("after GRPO", self.heldout)):
                if metrics:
                    lines.append(f"    {label:<18}{metrics['A@0.5']:>7.3f}{metrics['A@0.8']:>8.3f}{metrics['mIoU']:>8.3f}"
                                 f"{metrics['pseudo_mAP']:>12.3f}{metrics['format_valid_rate']:>7.2f}")
        if self.warm_start and self.warm_start.get("stalled"):
            lines.append(
                f"  WARNING: the warm start stalled (held-out mIoU {self.warm_start['mIoU']:.3f}, average-box baseline "
                f"{self.warm_start.get('constant_box_mIoU', float('nan')):.3f}): the model did not learn to localise "
                "before GRPO; see README, 'The built-in default'."
            )
        lines += [
            f"  model:       {self.final_model_dir}",
            f"  metrics:     {self.metrics_file}",
            f"  view with:   tensorboard --logdir {self.tensorboard_dir}",
        ]
        return lines
