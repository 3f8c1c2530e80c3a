"""What ``medloc train`` shows while it runs: one progress bar, a line per threshold raise, and a
jsonl file with every logged metric.

The bar carries the few numbers that matter (tau, hit rate, mean reward, the last held-out A@0.5);
everything TRL logs goes to ``<output_dir>/metrics.jsonl`` (and to TensorBoard), not the terminal.

Example:
    >>> class Curriculum: threshold = 0.3
    >>> progress = TrainingProgress(Curriculum(), jsonl_path=None, show=False)
    >>> progress.raises
    []
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm
from transformers import TrainerCallback

from medloc.curriculum_core import METRIC_PREFIX

BAR_KEYS = {METRIC_PREFIX + "threshold": "tau", METRIC_PREFIX + "hit_rate": "hit", "reward": "reward"}
"""Logged metric -> its short name on the progress bar."""


def _logged_by(line: str, step: int) -> bool:
    """Whether a jsonl line is a complete record of a step up to ``step`` (a line cut by a crash is not)."""
    try:
        return json.loads(line)["step"] <= step
    except (ValueError, KeyError, TypeError):
        return False


class HasThreshold(Protocol):
    threshold: float


class TrainingProgress(TrainerCallback):
    """Progress bar, raise lines and a metrics jsonl for a GRPO run with a reward curriculum.

    Args:
        curriculum: anything with a ``threshold`` (an ``IoUCurriculum``), or None for a run without
            one (``--task vqa``).
        jsonl_path: file that gets one JSON line per logged step (``None``: none).
        show: draw the bar and print raise lines (False: record only, for ``--quiet``).
        heldout_history: the held-out evaluation's ``history`` list of ``(step, metrics)``; its last
            ``heldout_metric`` is shown on the bar.
        echo: how event lines are printed (default: above the bar).
        heldout_metric: the held-out metric on the bar (``A@0.5``; ``accuracy`` for questions).

    Attributes:
        raises: ``(step, old_tau, new_tau)`` for every raise seen.
        trajectory: ``(step, tau)`` at the start and after every optimizer step.
    """

    def __init__(self, curriculum: HasThreshold | None, jsonl_path: str | Path | None, show: bool = True,
                 heldout_history: Sequence[tuple[int, dict[str, float]]] | None = None,
                 echo: Callable[[str], None] | None = None, heldout_metric: str = "A@0.5") -> None:
        self.curriculum = curriculum
        self.jsonl_path = Path(jsonl_path) if jsonl_path else None
        self.show = show
        self.heldout_history = heldout_history
        self.echo = echo
        self.heldout_metric = heldout_metric
        self.raises: list[tuple[int, float, float]] = []
        self.trajectory: list[tuple[int, float]] = []
        self._bar: tqdm | None = None
        self._tau = self._threshold()
        self._latest: dict[str, float] = {}

    def _print(self, line: str) -> None:
        if not self.show:
            return
        if self.echo is not None:
            self.echo(line)
        elif self._bar is not None:
            self._bar.write(line)
        else:
            print(line, flush=True)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Open the bar (main process only) at the current step; remember the starting tau.

        On resume, lines the jsonl holds for steps after the checkpoint (logged before a crash)
        are dropped: the resumed run logs those steps again.
        """
        self._tau = self._threshold()
        if self._tau is not None:
            self.trajectory.append((state.global_step, self._tau))
        if state.global_step and state.is_world_process_zero and self.jsonl_path and self.jsonl_path.is_file():
            lines = self.jsonl_path.read_text().splitlines(keepends=True)
            self.jsonl_path.write_text("".join(line for line in lines if _logged_by(line, state.global_step)))
        if self.show and state.is_world_process_zero:
            self._bar = tqdm(total=state.max_steps, initial=state.global_step, desc="GRPO", unit="step",
                             dynamic_ncols=True)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Append the logged metrics to the jsonl file and keep the bar's numbers."""
        if not logs or not state.is_world_process_zero:
            return
        numbers = {key: float(value) for key, value in logs.items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
        self._latest.update({short: numbers[key] for key, short in BAR_KEYS.items() if key in numbers})
        if self.jsonl_path is not None:
            self.jsonl_path.parent.mkdir(parents=True, exist_ok=True)
            with self.jsonl_path.open("a") as file:
                file.write(json.dumps({"step": state.global_step, **numbers}) + "\n")

    def _threshold(self) -> float | None:
        return None if self.curriculum is None else self.curriculum.threshold

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Advance the bar; print a line when tau was raised."""
        tau = self._threshold()
        if tau is not None:
            if tau > self._tau + 1e-12:
                self.raises.append((state.global_step, self._tau, tau))
                if state.is_world_process_zero:
                    self._print(f"step {state.global_step}: tau raised {self._tau:.2f} -> {tau:.2f}")
            self._tau = tau
            self.trajectory.append((state.global_step, tau))
        if self._bar is None:
            return
        postfix = {name: f"{value:.2f}" for name, value in self._latest.items() if name != "tau"}
        if tau is not None:
            postfix = {"tau": f"{tau:.2f}", **postfix}
        if self.heldout_history and self.heldout_metric in self.heldout_history[-1][1]:
            postfix[self.heldout_metric] = f"{self.heldout_history[-1][1][self.heldout_metric]:.3f}"
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(state.global_step - self._bar.n)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
