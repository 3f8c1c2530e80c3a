"""Reward curricula as a TRL callback plus reward function: ``ThresholdCurriculum`` and ``IoUCurriculum``.

``ThresholdCurriculum(metric, schedule)`` drives any thresholded reward ``1[score >= tau]``, where
``metric(completions, columns)`` gives a "higher is better" score in [0, 1] per completion (a
grade closeness, an answer F1, ...). ``IoUCurriculum`` is its grounding form: the score is the IoU.

Drop it into an existing ``GRPOTrainer`` script::

    from medloc import IoUCurriculum
    curriculum = IoUCurriculum(schedule="adaptive")
    trainer = GRPOTrainer(model, reward_funcs=[think_format_reward, curriculum.reward],
                          args=args, train_dataset=ds, callbacks=[curriculum])

``curriculum.reward`` scores each completion ``1[IoU >= tau]`` against the row's ``boxes``
column and, on training batches only, feeds the IoUs (scores) of *all* processes (gathered with
``accelerate.utils.gather_object``) to the schedule, then lets it update tau. TRL computes rewards
once per generation batch, so tau changes only between generation batches: one schedule step =
one generation batch (= one optimizer step with TRL's defaults
``steps_per_generation = gradient_accumulation_steps``, ``num_iterations = 1``): one ``observe``
and one ``step`` of the schedule per batch.

The logged ``medloc/threshold`` is the tau the batch was rewarded at (before the schedule's
step), not the schedule's own post-step ``threshold`` metric: a raise shows at the next batch,
the first one rewarded at the new tau. :attr:`ThresholdCurriculum.threshold` is always the
schedule's current (post-step) tau.

The schedule's state is written into ``TrainerState`` at every step, so it lands in each
checkpoint's ``trainer_state.json``; on resume it is restored into *this* object (the one whose
``reward`` TRL calls), whatever ``restore_callback_states_from_checkpoint`` says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from transformers import TrainerCallback

from grounding_data.frames import CoordinateFrame, get_frame
from medloc.checkpoints import load_schedule_state
from medloc.curriculum_core import STATE_KEY_PREFIX, CurriculumCore
from medloc.padding import pad_left
from medloc.scoring import ious_from_columns, threshold_rewards
from medloc.tensorboard import CurriculumWriter, default_log_dir
from schedulers import RewardSchedule

logger = logging.getLogger(__name__)


Metric = Callable[[Sequence[Any], dict[str, Any]], Any]
"""``metric(completions, columns) -> (N,)`` scores in [0, 1], higher is better; ``columns`` are TRL's per-row lists."""


class ThresholdCurriculum(TrainerCallback):
    """A binary reward ``1[score >= tau]`` on any [0, 1] score, tau following a schedule, as a TRL callback.

    The schedule sees the raw scores exactly as :class:`IoUCurriculum`'s sees IoUs: the
    ``adaptive`` rule's hit rate is ``mean(score >= tau)`` and its margin ``mean(score - tau)``.
    Scores outside [0, 1] are clipped and NaN counts as 0, so a sloppy metric never breaks training.

    Args:
        metric: ``metric(completions, columns)`` returning one score in [0, 1] per completion,
            e.g. :func:`medloc.grades.grade_closeness`.
        schedule: a schedule name from :func:`schedulers.available` or a
            :class:`schedulers.RewardSchedule` instance. Default ``"adaptive"``.
        name: the reward's name in TRL's logs and the key of its state in checkpoints; give two
            curricula in one trainer different names. Default ``"threshold_curriculum"``.
        metric_name: how the score is called in the logs (``medloc/mean_<metric_name>``); default:
            the metric's ``__name__`` when it is an identifier (``grade_closeness``), else ``score``.
        num_generations: group size G; read from the GRPO config when the training starts.
        tensorboard_dir: where the custom-scalars layout goes; default: TRL's
            ``TENSORBOARD_LOGGING_DIR`` if set, else ``<output_dir>/runs/medloc``. With TensorBoard
            in ``report_to`` the scalars are TRL's ``train/medloc/*``; without it, giving this
            makes medloc write ``medloc/*`` itself.
        tensorboard_writer: an open ``SummaryWriter`` to write into instead of a folder of its own
            (what ``medloc train`` does: one writer per run); the caller closes it.
        **options: the schedule's options, passed to :func:`schedulers.build`. ``linear`` and
            ``cosine`` (any schedule that ``needs_total_steps``) without ``total_steps`` span the
            whole training run.

    The schedule, its learning and the ``medloc/*`` metrics are :class:`medloc.curriculum_core.CurriculumCore`'s
    (:attr:`core`); this class adds what TRL needs: the reward function, training vs evaluation
    batches, the state in checkpoints and TensorBoard.

    Example:
        >>> closeness = lambda completions, columns: [1.0 if c == columns["truth"][i] else 0.4
        ...                                           for i, c in enumerate(completions)]
        >>> ThresholdCurriculum(closeness, "fixed", threshold=0.3).reward(["a", "b"], truth=["a", "a"])
        [1.0, 1.0]
        >>> ThresholdCurriculum(closeness, "fixed", threshold=0.8).reward(["a", "b"], truth=["a", "a"])
        [1.0, 0.0]
    """

    def __init__(
        self,
        metric: Metric,
        schedule: str | RewardSchedule = "adaptive",
        *,
        name: str = "threshold_curriculum",
        metric_name: str | None = None,
        num_generations: int | None = None,
        tensorboard_dir: str | None = None,
        tensorboard_writer: Any = None,
        **options: Any,
    ) -> None:
        if not callable(metric):
            raise TypeError(f"{type(self).__name__}: 'metric' must be callable, got {type(metric).__name__}")
        self.metric = metric
        default_name = getattr(metric, "__name__", "")
        self.metric_name = metric_name or (default_name if default_name.isidentifier() else "score")
        try:
            self.core = CurriculumCore(schedule, score_name=self.metric_name, fit_later=True, **options)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{type(self).__name__}: {error}") from None
        if not name or not isinstance(name, str):
            raise ValueError(f"{type(self).__name__}: 'name' must be a non-empty string")
        self.name = name
        if num_generations is not None and (not isinstance(num_generations, int) or num_generations < 1):
            raise ValueError(
                f"{type(self).__name__}: 'num_generations' must be an integer >= 1, got {num_generations!r}"
            )
        self.num_generations = num_generations
        self.tensorboard_dir = tensorboard_dir
        self.tensorboard_writer = tensorboard_writer
        self.reward = self._make_reward_function()
        self._model: Any = None
        self._writer: CurriculumWriter | None = None
        self._warned_unregistered = False

    @property
    def schedule(self) -> RewardSchedule:
        """The reward schedule (the core's)."""
        return self.core.schedule

    @property
    def threshold(self) -> float:
        """The current threshold tau."""
        return self.core.threshold

    @property
    def state_key(self) -> str:
        """Key of this curriculum's state in ``TrainerState.stateful_callbacks``."""
        return STATE_KEY_PREFIX + self.name

    def _make_reward_function(self) -> Callable[..., list[float]]:
        def reward(completions: Sequence[Any], **columns: Any) -> list[float]:
            return self._score(completions, columns)

        reward.__name__ = self.name
        reward.__qualname__ = self.name
        reward.__doc__ = (
            f"1[{self.metric_name} >= tau] with tau from the {self.schedule.name!r} schedule "
            f"(medloc {type(self).__name__})."
        )
        return reward

    def _is_training(self) -> bool:
        if self._model is None:
            if not self._warned_unregistered:
                logger.warning(
                    "%s.reward was called but the curriculum is not in the trainer's callbacks: "
                    "it cannot tell training from evaluation batches, so tau stays at %.3f. "
                    "Pass callbacks=[curriculum] to the trainer.",
                    type(self).__name__, self.threshold,
                )
                self._warned_unregistered = True
            return False
        return bool(self._model.training)

    def _scores(self, completions: Sequence[Any], columns: dict[str, Any]) -> np.ndarray:
        scores = np.asarray(self.metric(completions, columns), dtype=np.float64).reshape(-1)
        if scores.size != len(completions):
            raise ValueError(
                f"{type(self).__name__}: the metric returned {scores.size} scores for {len(completions)} completions"
            )
        return np.clip(np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0), 0.0, 1.0)

    def _score(self, completions: Sequence[Any], columns: dict[str, Any]) -> list[float]:
        scores, tau = self._observe(completions, columns)
        return threshold_rewards(scores, tau).tolist()

    def observed_scores(self, completions: Sequence[Any], **columns: Any) -> np.ndarray:
        """The raw scores of ``completions`` (IoUs for :class:`IoUCurriculum`), learned from on
        training batches exactly as :attr:`reward` does: for a run rewarded with the raw score
        (``medloc train --reward soft-iou``) while the schedule still tracks and logs.

        Example:
            >>> curriculum = IoUCurriculum("fixed", threshold=0.5, frame="pixels")
            >>> curriculum.observed_scores(["[0, 0, 5, 10]"], boxes=[[[0, 0, 10, 10]]], width=[100], height=[100])
            array([0.5])
        """
        return self._observe(completions, columns)[0]

    def _observe(self, completions: Sequence[Any], columns: dict[str, Any]) -> tuple[np.ndarray, float]:
        """Scores and the tau they are judged at; on training batches the schedule then learns."""
        scores = self._scores(completions, columns)
        tau = self.threshold
        if self._is_training():
            metrics = self.core.learn_from_processes(scores, self.num_generations)
            log_metric = columns.get("log_metric")
            if log_metric is not None:
                for key, value in metrics.items():
                    log_metric(key, value)
        return scores, tau

    # TrainerCallback hooks -------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        """Bind to the model (train/eval mode), read G, size time-based schedules, restore on resume; make the
        trainer's processor pad on the left (:func:`medloc.padding.pad_left`, huggingface/trl#5785)."""
        self._model = model
        pad_left(kwargs.get("processing_class"))
        if self.num_generations is None:
            self.num_generations = getattr(args, "num_generations", None)
        self.fit_to_run(args, state.max_steps)
        if state.global_step > 0:
            self._restore(state)
        trl_writes = self._trl_reports_tensorboard(args)
        if state.is_world_process_zero and (trl_writes or self.tensorboard_dir or self.tensorboard_writer):
            target = self.tensorboard_writer or self.tensorboard_dir or default_log_dir(args.output_dir)
            self._writer = CurriculumWriter(target, mirror=not trl_writes, score=self.metric_name)

    def fit_to_run(self, args: Any, max_steps: int) -> None:
        """Span a schedule that ``needs_total_steps`` (built by name without ``total_steps``) over the run:
        ``total_steps`` becomes the run's generation batches
        (:func:`medloc.curriculum_core.generation_batches`). Done at ``on_train_begin``.

        Example:
            >>> from types import SimpleNamespace
            >>> curriculum = IoUCurriculum("linear")
            >>> curriculum.fit_to_run(SimpleNamespace(gradient_accumulation_steps=2, steps_per_generation=4), 100)
            >>> curriculum.schedule.total_steps
            50
        """
        self.core.fit_to_run(args, max_steps)

    def _restore(self, state: Any) -> None:
        saved = (state.stateful_callbacks or {}).get(self.state_key)
        if saved is None:
            logger.warning(
                "Resuming at step %d from a checkpoint without medloc state for %r: the %r schedule restarts at tau=%.3f.",
                state.global_step, self.name, self.schedule.name, self.threshold,
            )
            return
        load_schedule_state(self.schedule, saved, f"the checkpoint's trainer_state.json (step {state.global_step}): "
                                                  f"{self.state_key!r}")
        logger.info("Restored %r schedule at tau=%.3f from the checkpoint.", self.schedule.name, self.threshold)

    @staticmethod
    def _trl_reports_tensorboard(args: Any) -> bool:
        report_to = getattr(args, "report_to", None) or []
        report_to = [report_to] if isinstance(report_to, str) else report_to
        return "tensorboard" in report_to or "all" in report_to

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Keep the schedule's state in ``TrainerState`` so every checkpoint carries it."""
        if state.stateful_callbacks is None:
            state.stateful_callbacks = {}
        state.stateful_callbacks[self.state_key] = self.schedule.state_dict()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Write the ``medloc/*`` metrics when TRL does not (see :class:`CurriculumWriter`)."""
        if self._writer is not None and logs:
            self._writer.write(logs, state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class IoUCurriculum(ThresholdCurriculum):
    """A binary IoU reward ``1[IoU >= tau]`` whose threshold follows a schedule, as a TRL callback.

    The grounding form of :class:`ThresholdCurriculum`: the score is the IoU of the answer's
    box(es) with the row's ``boxes`` column; logged as ``medloc/mean_iou``.

    Args:
        schedule: a schedule name from :func:`schedulers.available` or a
            :class:`schedulers.RewardSchedule` instance. Default ``"adaptive"``.
        frame: how the model writes coordinates (see :mod:`grounding_data.frames`): ``"pixels"``,
            ``"unit"``, ``"grid-N"``, ``"qwen2.5-vl"``, or a frame object. Default ``"pixels"``.
        name: the reward's name in TRL's logs and the key of its state in checkpoints; give two
            curricula in one trainer different names. Default ``"iou_curriculum"``.
        num_generations: as for :class:`ThresholdCurriculum`.
        tensorboard_dir: as for :class:`ThresholdCurriculum`.
        tensorboard_writer: as for :class:`ThresholdCurriculum`.
        **options: as for :class:`ThresholdCurriculum`.

    Example:
        >>> curriculum = IoUCurriculum("fixed", threshold=0.5)
        >>> curriculum.reward(["[0, 0, 10, 10]", "junk"], boxes=[[[0, 0, 10, 10]]] * 2, width=[64] * 2, height=[64] * 2)
        [1.0, 0.0]
    """

    def __init__(
        self,
        schedule: str | RewardSchedule = "adaptive",
        *,
        frame: str | CoordinateFrame = "pixels",
        name: str = "iou_curriculum",
        num_generations: int | None = None,
        tensorboard_dir: str | None = None,
        tensorboard_writer: Any = None,
        **options: Any,
    ) -> None:
        self.frame = get_frame(frame)
        super().__init__(
            self._ious, schedule, name=name, metric_name="iou", num_generations=num_generations,
            tensorboard_dir=tensorboard_dir, tensorboard_writer=tensorboard_writer, **options,
        )

    def _ious(self, completions: Sequence[Any], columns: dict[str, Any]) -> np.ndarray:
        return ious_from_columns(completions, self.frame, columns)

    def _scores(self, completions: Sequence[Any], columns: dict[str, Any]) -> np.ndarray:
        return self._ious(completions, columns)  # the scoring module's IoUs: already in [0, 1]
