"""A callback that evaluates held-out rows during GRPO training, for any task (greedy answers, the task's metrics).

Example:
    >>> from medloc.tasks import AnswerSetup, get_task
    >>> callback = HeldoutEvaluation(rows=[], every=50, task=get_task("grade"), setup=AnswerSetup())
    >>> callback.history, callback.reported_metrics
    ([], ('accuracy', 'within_1', 'mae', 'valid_rate'))
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from transformers import TrainerCallback

from medloc.distributed import gather_shards, shard
from medloc.evaluation import generate_answers
from medloc.tasks import AnswerSetup, Task, TaskResult

TAG_PREFIX = "heldout/"
STATE_KEY = "medloc:heldout"
"""Where the evaluations so far are kept in ``TrainerState.stateful_callbacks`` (so a resumed run has them)."""


class HeldoutEvaluation(TrainerCallback):
    """Evaluate ``rows`` before training (step 0), every ``every`` steps and at the end; log ``heldout/*``.

    The step-0 evaluation is the baseline GRPO is measured against. The history is kept in the
    trainer state (``medloc:heldout``), so a resumed run has the evaluations before its checkpoint.
    With several processes each rank answers its share of the rows (:func:`medloc.distributed.shard`);
    the answers are gathered in row order and every rank scores all of them, so the metrics are
    those of one process answering every row, and every rank holds them.

    Args:
        rows: held-out rows of the task.
        every: steps between evaluations; 0 evaluates only at the end of training.
        task: the run's task (its prompt, scoring and metrics; see :mod:`medloc.tasks`).
        setup: how the run asks and reads (reasoning layout, frame, class descriptions).
        writer: the run's TensorBoard ``SummaryWriter`` (left open); nothing is written when None.
        max_new_tokens: generation budget per answer.
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]], every: int, task: Task, setup: AnswerSetup,
                 writer: Any = None, max_new_tokens: int = 40) -> None:
        self.rows = rows
        self.every = every
        self.task = task
        self.setup = setup
        self.writer = writer
        self.max_new_tokens = max_new_tokens
        self.reported_metrics = task.heldout_metrics
        self.history: list[tuple[int, dict[str, float]]] = []
        self.last: TaskResult | None = None
        self.seconds = 0.0
        """Time spent evaluating in this process (part of the GRPO time)."""
        self._model: Any = None
        self._processor: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       processing_class: Any = None, **kwargs: Any) -> None:
        """Bind the model and processor; evaluate the starting model, or restore the evaluations before a
        resumed run's checkpoint."""
        self._model, self._processor = model, processing_class
        if state.global_step == 0:
            self._evaluate(0, state)
        else:
            saved = (state.stateful_callbacks or {}).get(STATE_KEY) or []
            self.history[:] = [(int(step), dict(metrics)) for step, metrics in saved]

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Evaluate every ``every`` steps (not at the last step: :meth:`on_train_end` does)."""
        if self.every and state.global_step % self.every == 0 and state.global_step < state.max_steps:
            self._evaluate(state.global_step, state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Evaluate the final model."""
        if self.rows and (not self.history or self.history[-1][0] != state.global_step):
            self._evaluate(state.global_step, state)

    def _answer(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """The bound model's greedy answers to ``rows`` (this rank's share)."""
        return generate_answers(self._model, self._processor, rows, max_new_tokens=self.max_new_tokens,
                                prompt=lambda row: self.task.prompt(row, self.setup))

    def _score_answers(self, answers: Sequence[str]) -> TaskResult:
        """Score the answers to all rows with the task."""
        return self.task.score(answers, self.rows, self.setup)

    def _evaluate(self, step: int, state: Any) -> None:
        if not self.rows or self._model is None:
            return
        started = time.time()
        self.last = self._score_answers(gather_shards(self._answer(shard(self.rows))))
        self.history.append((step, self.last.metrics))
        if state.stateful_callbacks is None:
            state.stateful_callbacks = {}
        state.stateful_callbacks[STATE_KEY] = self.history
        if self.writer is not None and state.is_world_process_zero:
            for key in self.reported_metrics:
                self.writer.add_scalar(TAG_PREFIX + key, self.last.metrics[key], step)
            self.writer.flush()
        self.seconds += time.time() - started
