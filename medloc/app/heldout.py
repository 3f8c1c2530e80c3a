"""A callback that evaluates held-out rows (greedy, the paper's metrics) during GRPO training.

Example:
    >>> callback = HeldoutEvaluation(rows=[], every=50, reasoning="none", frame="grid-100")
    >>> callback.history
    []
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch.utils.tensorboard import SummaryWriter
from transformers import TrainerCallback

from medloc.distributed import gather_shards, shard
from medloc.evaluation import REPORTED_METRICS, EvaluationResult, generate_answers, score_answers
from grounding_data.frames import CoordinateFrame

TAG_PREFIX = "heldout/"


class HeldoutEvaluation(TrainerCallback):
    """Evaluate ``rows`` before training (step 0), every ``every`` steps and at the end; log ``heldout/*``.

    The step-0 evaluation is the baseline GRPO is measured against (skipped when resuming).
    With several processes each rank answers its share of the rows (:func:`medloc.distributed.shard`);
    the answers are gathered in row order and every rank scores all of them, so the metrics are
    those of one process answering every row, and every rank holds them.

    Args:
        rows: held-out rows (``image``, ``phrase``, ``boxes``, ``width``, ``height``).
        every: steps between evaluations; 0 evaluates only at the end of training.
        reasoning: prompt layout used for generation.
        frame: the frame the model writes coordinates in.
        log_dir: TensorBoard folder; nothing is written when None.
        max_new_tokens: generation budget per answer.
    """

    reported_metrics: tuple[str, ...] = REPORTED_METRICS
    """The metrics written to TensorBoard as ``heldout/<key>``."""

    def __init__(
        self,
        rows: Sequence[Mapping[str, Any]],
        every: int,
        reasoning: str,
        frame: str | CoordinateFrame,
        log_dir: str | None = None,
        max_new_tokens: int = 40,
    ) -> None:
        self.rows = rows
        self.every = every
        self.reasoning = reasoning
        self.frame = frame
        self.log_dir = log_dir
        self.max_new_tokens = max_new_tokens
        self.history: list[tuple[int, dict[str, float]]] = []
        self.last: EvaluationResult | None = None
        self._writer: SummaryWriter | None = None
        self._model: Any = None
        self._processor: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       processing_class: Any = None, **kwargs: Any) -> None:
        """Bind the model and processor; open the writer on the main process."""
        self._model, self._processor = model, processing_class
        if self.log_dir and state.is_world_process_zero:
            self._writer = SummaryWriter(log_dir=self.log_dir)
        if state.global_step == 0:
            self._evaluate(0)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Evaluate every ``every`` steps (not at the last step: :meth:`on_train_end` does)."""
        if self.every and state.global_step % self.every == 0 and state.global_step < state.max_steps:
            self._evaluate(state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Evaluate the final model and close the writer."""
        if self.rows and (not self.history or self.history[-1][0] != state.global_step):
            self._evaluate(state.global_step)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _answer(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """The bound model's greedy answers to ``rows`` (this rank's share)."""
        return generate_answers(self._model, self._processor, rows, self.reasoning, self.frame,
                                max_new_tokens=self.max_new_tokens)

    def _score_answers(self, answers: Sequence[str]) -> Any:
        """Score the answers to all rows; a result with a ``metrics`` dict."""
        return score_answers(answers, self.rows, self.frame)

    def _score(self) -> Any:
        return self._score_answers(gather_shards(self._answer(shard(self.rows))))

    def _evaluate(self, step: int) -> None:
        if not self.rows or self._model is None:
            return
        self.last = self._score()
        self.history.append((step, self.last.metrics))
        if self._writer is not None:
            for key in self.reported_metrics:
                self._writer.add_scalar(TAG_PREFIX + key, self.last.metrics[key], step)
            self._writer.flush()
