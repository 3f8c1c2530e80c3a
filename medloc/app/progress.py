"""What ``medloc train`` shows while it runs: one progress bar, a line per threshold raise, and a
jsonl file with every logged metric.

The bar carries the few numbers that matter, each named in a legend printed above it: tau, the
step's hit rate (the share of completions scoring at least tau: the curriculum's reward), each
other reward on its own (the format reward apart, so ``hit=0.44 format=1.00`` reads as a reward of
1.44), and the latest held-out value with the step it was measured at. Everything TRL logs goes to
``<output_dir>/metrics.jsonl`` (and to TensorBoard), not the terminal.

The threshold's trajectory and raises are kept in the trainer state (``medloc:progress``), so a
resumed run reports them from step 0.

Example:
    >>> class Curriculum: threshold = 0.3
    >>> progress = TrainingProgress(Curriculum(), jsonl_path=None, show=False)
    >>> progress.raises
    []
    >>> bar_legend("iou", ["format_reward_none", "iou_curriculum"], "iou_curriculum", "A@0.5")
    'tau = IoU threshold of the last logged step; hit = share of its completions with IoU >= tau (the IoU \
reward, 0-1); format = format reward (1: a well-formed answer); reward per completion = hit + format; held-out \
A@0.5 (step): the latest held-out evaluation and its step'
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

STATE_KEY = "medloc:progress"
"""Where the trajectory and raises are kept in ``TrainerState.stateful_callbacks`` (so in every checkpoint)."""
HIT_KEY = METRIC_PREFIX + "hit_rate"
TAU_KEY = METRIC_PREFIX + "threshold"
"""The tau a logged step's completions were rewarded at (the bar pairs it with that step's hit rate)."""
REWARD_KEY = "rewards/{}/mean"
"""TRL's logged mean of one reward function."""
_REWARD_LABELS = {
    "format_reward": ("format", "format reward (1: a well-formed answer)"),
    "soft_iou": ("iou", "soft IoU reward (the IoU itself, 0-1)"),
    "choice_reward": ("correct", "choice reward (1: the right option)"),
}
"""Reward function name (prefix) -> its label on the bar and what it pays."""


def _score_label(metric_name: str) -> str:
    return {"iou": "IoU", "grade_closeness": "closeness"}.get(metric_name, metric_name)


def reward_label(name: str, curriculum_reward: str | None) -> tuple[str, str] | None:
    """``(label, meaning)`` of a reward function on the bar; None for the curriculum's own reward,
    whose mean is the hit rate (shown as ``hit``).

    Example:
        >>> reward_label("format_reward_after", None)
        ('format', 'format reward (1: a well-formed answer)')
        >>> reward_label("iou_curriculum", "iou_curriculum") is None
        True
    """
    if name == curriculum_reward:
        return None
    return next((label for prefix, label in _REWARD_LABELS.items() if name.startswith(prefix)), (name, name))


def bar_legend(metric_name: str | None, reward_names: Sequence[str], curriculum_reward: str | None,
               heldout_metric: str) -> str:
    """The line printed above the bar saying what each of its numbers is (see the module's example)."""
    parts, summed = [], []
    if curriculum_reward is not None:
        score = _score_label(metric_name or "score")
        parts.append(f"tau = {score} threshold of the last logged step")
        rewarded = curriculum_reward in reward_names
        parts.append(f"hit = share of its completions with {score} >= tau"
                     + (f" (the {score} reward, 0-1)" if rewarded else " (tracked; not the reward)"))
        summed += ["hit"] if rewarded else []
    for name in reward_names:
        labelled = reward_label(name, curriculum_reward)
        if labelled is not None:
            parts.append(f"{labelled[0]} = {labelled[1]}")
            summed.append(labelled[0])
    if len(summed) > 1:
        parts.append("reward per completion = " + " + ".join(summed))
    parts.append(f"held-out {heldout_metric} (step): the latest held-out evaluation and its step")
    return "; ".join(parts)


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
            ``heldout_metric`` is shown on the bar with its step.
        echo: how event lines are printed (default: above the bar).
        heldout_metric: the held-out metric on the bar (``A@0.5``; ``accuracy`` for questions).
        reward_names: the run's reward functions (TRL logs ``rewards/<name>/mean``); each but the
            curriculum's own is shown on the bar.

    Attributes:
        raises: ``(step, old_tau, new_tau)`` for every raise, from step 0 (also after a resume).
        trajectory: ``(step, tau)`` at the start and after every optimizer step, from step 0.
    """

    def __init__(self, curriculum: HasThreshold | None, jsonl_path: str | Path | None, show: bool = True,
                 heldout_history: Sequence[tuple[int, dict[str, float]]] | None = None,
                 echo: Callable[[str], None] | None = None, heldout_metric: str = "A@0.5",
                 reward_names: Sequence[str] = ()) -> None:
        self.curriculum = curriculum
        self.jsonl_path = Path(jsonl_path) if jsonl_path else None
        self.show = show
        self.heldout_history = heldout_history
        self.echo = echo
        self.heldout_metric = heldout_metric
        self.curriculum_reward = getattr(curriculum, "name", None) if curriculum is not None else None
        self.reward_names = list(reward_names)
        self.raises: list[tuple[int, float, float]] = []
        self.trajectory: list[tuple[int, float]] = []
        self._bar: tqdm | None = None
        self._tau = self._threshold()
        self._logged_tau: float | None = None
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

    def legend(self) -> str:
        """What the bar's numbers are (printed when the bar opens)."""
        metric_name = getattr(self.curriculum, "metric_name", None)
        return "Bar: " + bar_legend(metric_name, self.reward_names, self.curriculum_reward, self.heldout_metric)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Open the bar (main process only) at the current step; remember the starting tau.

        On resume, the trajectory and raises before the checkpoint come back from the trainer state,
        and lines the jsonl holds for steps after the checkpoint (logged before a crash) are dropped:
        the resumed run logs those steps again.
        """
        self._tau = self._threshold()
        saved = (state.stateful_callbacks or {}).get(STATE_KEY) if state.global_step else None
        if saved:
            self.trajectory = [(int(step), float(tau)) for step, tau in saved.get("trajectory", [])]
            self.raises = [(int(step), float(old), float(new)) for step, old, new in saved.get("raises", [])]
        elif self._tau is not None:
            self.trajectory.append((state.global_step, self._tau))
        if state.global_step and state.is_world_process_zero and self.jsonl_path and self.jsonl_path.is_file():
            lines = self.jsonl_path.read_text().splitlines(keepends=True)
            self.jsonl_path.write_text("".join(line for line in lines if _logged_by(line, state.global_step)))
        if self.show and state.is_world_process_zero:
            self._print(self.legend())
            self._bar = tqdm(total=state.max_steps, initial=state.global_step, desc="GRPO", unit="step",
                             dynamic_ncols=True)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Append the logged metrics to the jsonl file and keep the bar's numbers."""
        if not logs or not state.is_world_process_zero:
            return
        numbers = {key: float(value) for key, value in logs.items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
        if TAU_KEY in numbers:
            self._logged_tau = numbers[TAU_KEY]
        if HIT_KEY in numbers:
            self._latest["hit"] = numbers[HIT_KEY]
        for name in self.reward_names:
            labelled = reward_label(name, self.curriculum_reward)
            if labelled is not None and REWARD_KEY.format(name) in numbers:
                self._latest[labelled[0]] = numbers[REWARD_KEY.format(name)]
        if self.jsonl_path is not None:
            self.jsonl_path.parent.mkdir(parents=True, exist_ok=True)
            with self.jsonl_path.open("a") as file:
                file.write(json.dumps({"step": state.global_step, **numbers}) + "\n")

    def _threshold(self) -> float | None:
        return None if self.curriculum is None else self.curriculum.threshold

    def postfix(self) -> str:
        """The bar's numbers: ``tau=0.45 hit=0.44 format=1.00 | held-out A@0.5=0.859 (step 150)``.

        Example:
            >>> progress = TrainingProgress(None, None, show=False, heldout_history=[(50, {"accuracy": 0.5})],
            ...                             heldout_metric="accuracy", reward_names=["choice_reward"])
            >>> progress._latest["correct"] = 0.25
            >>> progress.postfix()
            'correct=0.25 | held-out accuracy=0.500 (step 50)'
        """
        tau = self._logged_tau if self._logged_tau is not None else self._tau
        parts = [] if tau is None or self.curriculum is None else [f"tau={tau:.2f}"]
        parts += [f"{name}={value:.2f}" for name, value in self._latest.items()]
        text = " ".join(parts)
        if self.heldout_history and self.heldout_metric in self.heldout_history[-1][1]:
            step, metrics = self.heldout_history[-1]
            text += f" | held-out {self.heldout_metric}={metrics[self.heldout_metric]:.3f} (step {step})"
        return text

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Record tau (kept in the trainer state); print a line when it was raised; advance the bar."""
        tau = self._threshold()
        if tau is not None:
            if tau > self._tau + 1e-12:
                self.raises.append((state.global_step, self._tau, tau))
                if state.is_world_process_zero:
                    self._print(f"step {state.global_step}: tau raised {self._tau:.2f} -> {tau:.2f}")
            self._tau = tau
            self.trajectory.append((state.global_step, tau))
            if state.stateful_callbacks is None:
                state.stateful_callbacks = {}
            state.stateful_callbacks[STATE_KEY] = {"trajectory": self.trajectory, "raises": self.raises}
        if self._bar is None:
            return
        self._bar.set_postfix_str(self.postfix(), refresh=False)
        self._bar.update(state.global_step - self._bar.n)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close the bar, showing the final numbers (the held-out evaluation at the end included)."""
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.close()
            self._bar = None
