"""The summary of a run, for every task: printed when ``medloc train`` ends, written to ``summary.json``
and rendered as the model card (:mod:`medloc.app.model_card`).

The task supplies what differs (:mod:`medloc.tasks`): the held-out table and what the threshold's
move means; everything else (steps, the time of each part, the threshold and its raises, skipped
data rows, a stalled warm start, what ran, where the files are) is the same for every task. After
``--resume`` it describes the whole run: the trajectory, the raises and the held-out evaluations
from step 0 (kept in the checkpoints), the time of this session.

Example:
    >>> summary = TrainSummary("grounding", "fixed", 3, 65.0, 0.5, 0.5, [], [], "", {}, [], [], "o", "o/tb", "o/m",
    ...                        "o/metrics.jsonl", seed=0, grpo_seconds=50.0)
    >>> summary.lines()[:3]
    ["medloc train finished: 3 GRPO steps, schedule 'fixed', seed 0", '  time:      1m05s: GRPO 50s, \
loading data and model, saving 15s', '  threshold: 0.50 -> 0.50, never raised']
"""

from __future__ import annotations

import dataclasses
from typing import Any

from medloc.builtin import BUILTIN_MODEL, is_builtin_model
from medloc.tasks import DEFAULT_TASK, get_task

ONE_ANSWER_SHARE = 0.9
"""A question model that gives the same answer to at least this share of the held-out questions before and
after GRPO is flagged: its greedy answer did not move."""


def duration(seconds: float) -> str:
    """``52s``, ``3m02s`` or ``1h05m``.

    Example:
        >>> duration(52.4), duration(182), duration(3900)
        ('52s', '3m02s', '1h05m')
    """
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


@dataclasses.dataclass
class TrainSummary:
    """What a run did; printed at the end and written to ``<output_dir>/summary.json``.

    ``schedule`` and the thresholds are ``None`` for a task without a curriculum (``vqa``);
    ``heldout_lines`` is the task's held-out table, ``threshold_note`` what tau means for the task.

    Attributes beyond the names': ``seconds`` is this session's wall time, of which
    ``grpo_seconds`` GRPO (held-out evaluations, ``heldout_seconds``, included) and the warm start's
    in ``warm_start["seconds"]`` (``warm_start["built"]``: False when it came from the cache);
    ``resumed_from_step`` is the checkpoint's step after ``--resume`` (the steps before it ran in an
    earlier session); ``settings`` are the run's settings (the ``--config`` keys),
    ``schedule_options`` every option of the schedule as built (defaults included), ``command`` the
    command line, ``versions`` those of Python and the libraries that ran.
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
    seed: int | None = None
    max_steps: int | None = None
    grpo_seconds: float | None = None
    heldout_seconds: float | None = None
    resumed_from_step: int | None = None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    schedule_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    command: str = ""
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    model_card: str = ""

    def time_line(self) -> str:
        """Where the time went: warm start, GRPO (with its held-out evaluations), the rest.

        Example:
            >>> summary = TrainSummary("grounding", "adaptive", 200, 245.0, 0.3, 0.55, [], [], "", {}, [], [], "o",
            ...                        "o/tb", "o/m", "o/m.jsonl", warm_start={"built": True, "seconds": 182.0},
            ...                        grpo_seconds=52.0, heldout_seconds=6.0)
            >>> summary.time_line()
            'time:      4m05s: warm start 3m02s (built once, cached for later runs), GRPO 52s (held-out \
evaluations 6s of it), loading data and model, saving 11s'
        """
        parts = []
        warm_seconds = 0.0
        if self.warm_start and "seconds" in self.warm_start:
            warm_seconds = float(self.warm_start["seconds"])
            how = "built once, cached for later runs" if self.warm_start.get("built") else "from the cache"
            parts.append(f"warm start {duration(warm_seconds)} ({how})")
        if self.grpo_seconds is not None:
            grpo = f"GRPO {duration(self.grpo_seconds)}"
            if self.resumed_from_step:
                grpo += f" for steps {self.resumed_from_step + 1}-{self.steps}"
            if self.heldout_seconds and self.heldout_seconds >= 0.5:
                grpo += f" (held-out evaluations {duration(self.heldout_seconds)} of it)"
            parts.append(grpo)
            parts.append(f"loading data and model, saving {duration(self.seconds - warm_seconds - self.grpo_seconds)}")
        return f"time:      {duration(self.seconds)}" + (": " + ", ".join(parts) if parts else "")

    def warnings(self) -> list[str]:
        """What says the run could not learn: a stalled warm start, a model that never wrote an answer
        the reward can read (held-out valid-answer rate 0 at the end), or a question model that gave one
        answer to (nearly) every held-out question before GRPO and still does after it, with what to try.

        Example:
            >>> summary = TrainSummary("vqa", None, 200, 76.0, None, None, [], [], "", {"valid_rate": 0.0}, [], [],
            ...                        "o", "o/tb", "o/m", "o/m.jsonl", settings={"model": "medloc/tiny-qwen2-vl"})
            >>> print(summary.warnings()[0][:95])
              WARNING: the model never produced an answer the reward can read (held-out valid-answer rate 0
        """
        lines = []
        warm = self.warm_start or {}
        if warm.get("stalled") and "mIoU" in warm:
            lines.append(
                f"  WARNING: the warm start stalled (held-out mIoU {warm['mIoU']:.3f}, average-box baseline "
                f"{warm.get('constant_box_mIoU', float('nan')):.3f}): the model did not learn to localise "
                "before GRPO; see docs/testbed.md, 'The warm start'."
            )
        elif warm.get("stalled"):
            lines.append(
                f"  WARNING: the warm start stalled (held-out valid-answer rate {warm.get('valid_rate', 0.0):.2f}): "
                f"the model did not learn to write {self.task} answers before GRPO; see docs/tasks.md."
            )
        valid = self.heldout.get(get_task(self.task).valid_metric) if self.heldout else None
        if valid == 0:
            builtin = is_builtin_model(self.settings.get("model", BUILTIN_MODEL))
            if builtin and not self.settings.get("warm_start", True):
                hint = "run without --no-warm-start (the warm start teaches the built-in model its answers)"
            elif builtin:
                hint = "give the warm start more steps (--warm-start-steps) or use a real model"
            else:
                hint = ("check that --reasoning matches how the model answers, raise --max-completion-length, "
                        "or fine-tune it on a few answers in the task's format first")
            lines.append(
                "  WARNING: the model never produced an answer the reward can read (held-out valid-answer rate 0 "
                f"after GRPO): every reward was 0, so GRPO had nothing to learn from. Try: {hint}."
            )
        before = self.heldout_history[0][1] if self.heldout_history else {}
        shares = [before.get("top_answer_share"), (self.heldout or {}).get("top_answer_share")]
        if valid and all(share is not None and share >= ONE_ANSWER_SHARE for share in shares):
            lines.append(
                f"  WARNING: the model gave one answer to {shares[1]:.0%} of the held-out questions after GRPO "
                f"({shares[0]:.0%} before): GRPO did not move its greedy answer. Try another --seed or more "
                "--warm-start-steps."
            )
        return lines

    def lines(self) -> list[str]:
        """The human-readable summary.

        Example:
            >>> summary = TrainSummary("grade", "adaptive", 3, 65.0, 0.3, 0.45, [], [(2, 0.3, 0.45)],
            ...                        " (tolerance 2.10 -> 1.65 grades)", {}, [], [], "o", "o/tb", "o/m", "o/m.jsonl")
            >>> print("\\n".join(summary.lines()[:3]))
            medloc train finished: 3 GRPO steps, task 'grade', schedule 'adaptive'
              time:      1m05s
              threshold: 0.30 -> 0.45 (tolerance 2.10 -> 1.65 grades), raised at step 2 (0.30->0.45)
        """
        head = f"medloc train finished: {self.steps} GRPO steps"
        head += "" if self.task == DEFAULT_TASK else f", task {self.task!r}"
        head += "" if self.schedule is None else f", schedule {self.schedule!r}"
        head += "" if self.reward == "binary" else f", reward {self.reward!r}"
        head += "" if self.seed is None else f", seed {self.seed}"
        if self.resumed_from_step:
            head += f" (resumed at step {self.resumed_from_step})"
        lines = [head, "  " + self.time_line()]
        if self.start_threshold is not None and self.final_threshold is not None:
            raised = ", ".join(f"raised at step {step} ({old:.2f}->{new:.2f})" for step, old, new in self.raises)
            lines.append(f"  threshold: {self.start_threshold:.2f} -> {self.final_threshold:.2f}{self.threshold_note}, "
                         + (raised or "never raised"))
        skipped = (self.data_report or {}).get("skipped") or {}
        if skipped:
            lines.append(f"  data: {self.data_report['rows']} rows kept, {sum(skipped.values())} skipped ("
                         + ", ".join(f"{reason}: {count}" for reason, count in skipped.items()) + ")")
        lines += self.heldout_lines
        lines += self.warnings()
        lines.append(f"  run folder: {self.output_dir}" + (" (model card: README.md)" if self.model_card else ""))
        lines.append(f"  model:      {self.final_model_dir}")
        lines.append(f"  evaluate:   medloc eval --model {self.final_model_dir}")
        lines.append(f"  metrics:    {self.metrics_file}")
        lines.append(f"  view with:  tensorboard --logdir {self.tensorboard_dir}"
                     + ("" if self.schedule is None else " (custom scalars tab: tau vs hit rate)"))
        return lines
