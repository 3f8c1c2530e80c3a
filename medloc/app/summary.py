"""The summary of a run, for every task: printed when ``medloc train`` ends and written to ``summary.json``.

The task supplies what differs (:mod:`medloc.tasks`): the held-out table and what the threshold's
move means; everything else (steps and time, the threshold and its raises, skipped data rows, a
stalled warm start, where the files are) is the same for every task.

Example:
    >>> summary = TrainSummary("grounding", "fixed", 3, 65.0, 0.5, 0.5, [], [], "", {}, [], [], "o", "o/tb", "o/m",
    ...                        "o/metrics.jsonl")
    >>> summary.lines()[:2]
    ["medloc train finished: 3 GRPO steps in 1m05s, schedule 'fixed'", '  threshold: 0.50 -> 0.50, never raised']
"""

from __future__ import annotations

import dataclasses
from typing import Any

from medloc.tasks import DEFAULT_TASK


@dataclasses.dataclass
class TrainSummary:
    """What a run did; printed at the end and written to ``<output_dir>/summary.json``.

    ``schedule`` and the thresholds are ``None`` for a task without a curriculum (``vqa``);
    ``heldout_lines`` is the task's held-out table, ``threshold_note`` what tau means for the task.
    """

    task: str
    schedule: str | None
    steps: int
    seconds: float
    start_threshold: float | None
    final_threshold: float | None
    threshold_trajectory: list[tuple[int, float]]
    raises: list[tuple[int, float, float]]
    threshold_note: str
    heldout: dict[str, float]
    heldout_history: list[tuple[int, dict[str, float]]]
    heldout_lines: list[str]
    output_dir: str
    tensorboard_dir: str
    final_model_dir: str
    metrics_file: str
    reward: str = "binary"
    warm_start: dict[str, Any] | None = None
    data_report: dict[str, Any] | None = None

    def lines(self) -> list[str]:
        """The human-readable summary.

        Example:
            >>> summary = TrainSummary("grade", "adaptive", 3, 65.0, 0.3, 0.45, [], [(2, 0.3, 0.45)],
            ...                        " (tolerance 2.10 -> 1.65 grades)", {}, [], [], "o", "o/tb", "o/m", "o/m.jsonl")
            >>> print("\\n".join(summary.lines()[:2]))
            medloc train finished: 3 GRPO steps in 1m05s, task 'grade', schedule 'adaptive'
              threshold: 0.30 -> 0.45 (tolerance 2.10 -> 1.65 grades), raised at step 2 (0.30->0.45)
        """
        minutes, seconds = divmod(int(round(self.seconds)), 60)
        head = f"medloc train finished: {self.steps} GRPO steps in {minutes}m{seconds:02d}s"
        head += "" if self.task == DEFAULT_TASK else f", task {self.task!r}"
        head += "" if self.schedule is None else f", schedule {self.schedule!r}"
        lines = [head + ("" if self.reward == "binary" else f", reward {self.reward!r}")]
        if self.start_threshold is not None and self.final_threshold is not None:
            raised = ", ".join(f"raised at step {step} ({old:.2f}->{new:.2f})" for step, old, new in self.raises)
            lines.append(f"  threshold: {self.start_threshold:.2f} -> {self.final_threshold:.2f}{self.threshold_note}, "
                         + (raised or "never raised"))
        skipped = (self.data_report or {}).get("skipped") or {}
        if skipped:
            lines.append(f"  data: {self.data_report['rows']} rows kept, {sum(skipped.values())} skipped ("
                         + ", ".join(f"{reason}: {count}" for reason, count in skipped.items()) + ")")
        lines += self.heldout_lines
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
