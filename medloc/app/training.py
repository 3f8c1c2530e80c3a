"""The whole ``medloc train`` job, for every task: data, model (warm start for the built-in), GRPO with
the task's rewards and curriculum, held-out evaluation, summary.

The task (:mod:`medloc.tasks`) says what differs; this module runs the same steps for all of them:

1. the run's one ``GRPOConfig`` and its one schedule (built once, spanning the run), the
   checkpoint to resume checked against it;
2. the rows (:func:`medloc.app.run_data.load_data`), then the model, its optimizer (the vision
   tower's learning rate, every task) and its frame;
3. one TensorBoard writer for the run (TRL's scalars, the curriculum's layout, the held-out metrics);
4. GRPO (:class:`medloc.trainer.ResumableGRPOTrainer`, writing medloc's model card instead of TRL's at
   every checkpoint), the final model and its model-info file;
5. the summary (:class:`medloc.app.summary.TrainSummary`, also ``summary.json`` and the model card,
   :mod:`medloc.app.model_card`).

The run folder is ``settings.output_dir`` (a new one under ``medloc-runs/`` when it is None; see
:mod:`medloc.app.run_files`); a fresh run records its settings there (``settings.json``).

Example:
    >>> from types import SimpleNamespace
    >>> from medloc.app.settings import TrainSettings
    >>> args = SimpleNamespace(max_steps=8, gradient_accumulation_steps=1)
    >>> run_schedule(TrainSettings(schedule="linear"), args, get_task("vqa")) is None
    True
    >>> run_schedule(TrainSettings(schedule="linear"), args, get_task("grade")).total_steps
    8
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accelerate import PartialState

from medloc.app.grpo_config import grpo_arguments
from medloc.app.heldout import HeldoutEvaluation
from medloc.app.model_frame import run_frame
from medloc.app.model_setup import prepare_model, run_optimizer, vision_lr_scale
from medloc.app.progress import TrainingProgress
from medloc.app.run_data import load_data, training_dataset
from medloc.app.model_card import library_versions, model_card
from medloc.app.run_files import (
    FINAL_MODEL_SUBDIR,
    METRICS_FILE,
    MODEL_CARD_FILE,
    SETTINGS_FILE,
    SUMMARY_FILE,
    TENSORBOARD_SUBDIR,
    new_run_dir,
    write_model_info,
)
from medloc.app.settings import SCHEDULE_FLAGS, SYNTHETIC, TrainSettings, flag
from medloc.app.summary import TrainSummary
from medloc.checkpoints import resume_checkpoint
from medloc.curriculum_core import STATE_KEY_PREFIX, build_schedule, generation_batches
from medloc.priors import read_class_descriptions
from medloc.tasks import AnswerSetup, Task, get_task
from medloc.trainer import ResumableGRPOTrainer
from schedulers import RewardSchedule

__all__ = ["run_training", "prepare_run", "run_schedule", "training_dataset", "PreparedRun", "RunTrainer"]


class RunTrainer(ResumableGRPOTrainer):
    """The trainer of ``medloc train``: TRL writes its default model card into the run folder at every
    checkpoint (``GRPOTrainer._save_checkpoint`` calls ``create_model_card``); a run writes medloc's
    card there instead (:attr:`write_card`, set by :func:`run_training`)."""

    write_card: Callable[[], None] | None = None

    def create_model_card(self, *args: Any, **kwargs: Any) -> None:
        """medloc's card (:mod:`medloc.app.model_card`), written by the main process; never TRL's."""
        if self.write_card is not None and self.is_world_process_zero():
            self.write_card()


def run_schedule(settings: TrainSettings, args: Any, task: Task, progress: bool = False) -> RewardSchedule | None:
    """The run's one schedule (``None`` for a task without a curriculum), spanning its generation batches.

    With ``progress``, says which of the built-in model's schedule defaults the run uses.
    """
    if task.curriculum_name is None:
        return None
    options = settings.run_schedule_options()
    builtin_defaults = {key: value for key, value in options.items() if key not in settings.schedule_options}
    if progress and builtin_defaults:
        shown = ", ".join(f"{key} {value:g}" + (f" ({SCHEDULE_FLAGS[key]})" if key in SCHEDULE_FLAGS else "")
                          for key, value in builtin_defaults.items())
        flags = ", ".join(flag(key) for key in builtin_defaults)
        print(f"Schedule {settings.schedule!r} with the built-in model's {shown}; {flags} to change", flush=True)
    return build_schedule(settings.schedule, total_steps=generation_batches(args, args.max_steps), **options)


@dataclasses.dataclass
class PreparedRun:
    """A run ready to train: its task, trainer, callbacks and rows (what :func:`run_training` then does)."""

    task: Task
    setup: AnswerSetup
    trainer: Any
    curriculum: Any
    heldout: HeldoutEvaluation
    display: TrainingProgress
    checkpoint: Path | None
    train_rows: list[dict]
    warm_metrics: dict[str, Any] | None
    data_report: dict[str, Any] | None
    writer: Any
    processor: Any
    schedule: RewardSchedule | None


def prepare_run(settings: TrainSettings, progress: bool = True, resume: bool = False) -> PreparedRun:
    """Everything up to ``trainer.train()`` for validated ``settings``: bad settings, data or checkpoints
    fail here, before any model is built where they can."""
    settings = run_settings(settings)
    task = get_task(settings.task)
    output_dir = Path(settings.output_dir).expanduser()
    args = grpo_arguments(settings, output_dir)  # fails on bad --grpo values before any model is built
    schedule = run_schedule(settings, args, task, progress)
    states = {STATE_KEY_PREFIX + task.curriculum_name: schedule} if schedule is not None else {}
    checkpoint = resume_checkpoint(output_dir, states) if resume else None  # must match this run's schedule
    descriptions = read_class_descriptions(settings.class_descriptions) if settings.class_descriptions else None
    train_rows, heldout_rows, data_report = load_data(settings, task)
    warm_rows = train_rows if settings.data != SYNTHETIC and task.name == "grounding" else None
    model_path, warm_metrics = prepare_model(settings, progress, warm_rows)

    from transformers import AutoModelForImageTextToText, AutoProcessor
    from transformers.integrations import TensorBoardCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    model = AutoModelForImageTextToText.from_pretrained(model_path, dtype="auto")
    optimizer = run_optimizer(model, args, vision_lr_scale(settings))
    processor = AutoProcessor.from_pretrained(model_path, padding_side="left")  # for GRPO (medloc.padding)
    setup = AnswerSetup(settings.reasoning, run_frame(settings, model, processor) if task.uses_frame else None,
                        descriptions)
    writer = None
    if PartialState().is_main_process:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(output_dir / TENSORBOARD_SUBDIR))
    curriculum = task.curriculum(schedule, setup, tensorboard_writer=writer) if schedule is not None else None
    heldout = HeldoutEvaluation(heldout_rows, settings.eval_every, task, setup, writer=writer,
                                max_new_tokens=settings.max_completion_length)
    reward_funcs = task.reward_functions(setup, curriculum, settings.reward)
    display = TrainingProgress(curriculum, output_dir / METRICS_FILE, show=progress, heldout_history=heldout.history,
                               heldout_metric=task.bar_metric,
                               reward_names=[getattr(f, "__name__", type(f).__name__) for f in reward_funcs])
    trainer = RunTrainer(
        model=model,
        processing_class=processor,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=training_dataset(train_rows, settings.reasoning, setup.frame or "pixels", task, descriptions),
        callbacks=[callback for callback in (curriculum, heldout, display) if callback is not None],
        optimizers=(optimizer, None),
    )
    trainer.remove_callback(ProgressCallback)  # TRL's bar prints every metrics dict; medloc's shows the few that matter
    trainer.remove_callback(PrinterCallback)
    if trainer.pop_callback(TensorBoardCallback) is not None:  # TRL's scalars into the run's one writer, closed last
        trainer.add_callback(TensorBoardCallback(tb_writer=writer))
    return PreparedRun(task, setup, trainer, curriculum, heldout, display, checkpoint, train_rows, warm_metrics,
                       data_report, writer, processor, schedule)


def run_settings(settings: TrainSettings) -> TrainSettings:
    """``settings`` with its run folder: a new one under ``medloc-runs/`` when ``output_dir`` is None.

    Example:
        >>> run_settings(TrainSettings(output_dir="here")).output_dir
        'here'
        >>> run_settings(TrainSettings(task="vqa")).output_dir.startswith("medloc-runs/")
        True
    """
    if settings.output_dir is not None:
        return settings
    schedule = settings.schedule if get_task(settings.task).curriculum_name is not None else None
    return dataclasses.replace(settings, output_dir=str(new_run_dir(settings.task, schedule)))


def recorded_settings(settings: TrainSettings) -> dict[str, Any]:
    """The settings a run records (``settings.json``, ``summary.json``): every setting but its folder, so that
    ``--config settings.json`` runs it again in a new one.

    Example:
        >>> recorded = recorded_settings(TrainSettings(output_dir="run"))
        >>> "output_dir" in recorded, recorded["seed"]
        (False, 0)
    """
    return {key: value for key, value in dataclasses.asdict(settings).items() if key != "output_dir"}


def run_training(settings: TrainSettings, progress: bool = True, resume: bool = False,
                 command: str = "") -> TrainSummary:
    """Run the job described by validated ``settings``; return (and write) its summary and model card.

    ``command`` is the command line that started it (recorded in the summary and the card).
    """
    started = time.time()
    settings = run_settings(settings)
    output_dir = Path(settings.output_dir).expanduser()
    run = prepare_run(settings, progress, resume)  # bad settings, data or checkpoints fail here, leaving no settings
    if run.checkpoint is None and PartialState().is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / SETTINGS_FILE).write_text(json.dumps(recorded_settings(settings), indent=2, default=str))
    trainer, curriculum = run.trainer, run.curriculum
    start_threshold = curriculum.threshold if curriculum is not None else None
    if run.checkpoint is None and trainer.accelerator.is_main_process:
        (output_dir / METRICS_FILE).unlink(missing_ok=True)  # a fresh run starts a fresh log
    resumed_from = trainer_step(run.checkpoint)
    timing = {"started": started, "grpo_started": time.time(), "grpo_seconds": None}
    versions = library_versions()

    def summary() -> TrainSummary:
        return _summary(run, settings, start_threshold, timing, resumed_from, command, versions)

    trainer.write_card = lambda: (output_dir / MODEL_CARD_FILE).write_text(
        model_card(summary(), run.task.heldout_metrics, in_progress=True))
    trainer.train(resume_from_checkpoint=None if run.checkpoint is None else str(run.checkpoint))
    timing["grpo_seconds"] = time.time() - timing["grpo_started"]
    if run.writer is not None:
        run.writer.close()  # TRL's callback closed it after training already; closing twice is harmless
    final_model_dir = output_dir / FINAL_MODEL_SUBDIR
    trainer.save_model(str(final_model_dir))
    result = summary()
    if trainer.accelerator.is_main_process:
        run.processor.save_pretrained(final_model_dir)
        write_model_info(final_model_dir, run.task.name, run.setup, settings.class_descriptions)
        card = model_card(result, run.task.heldout_metrics)
        for folder in (output_dir, final_model_dir):
            (folder / MODEL_CARD_FILE).write_text(card)
        (output_dir / SUMMARY_FILE).write_text(json.dumps(dataclasses.asdict(result), indent=2, default=str))
    return result


def trainer_step(checkpoint: Path | None) -> int | None:
    """The step of a ``checkpoint-N`` folder (None for a fresh run).

    Example:
        >>> trainer_step(Path("run/checkpoint-20")), trainer_step(None)
        (20, None)
    """
    return None if checkpoint is None else int(checkpoint.name.rsplit("-", 1)[1])


def _summary(run: PreparedRun, settings: TrainSettings, start_threshold: float | None, timing: dict[str, Any],
             resumed_from: int | None, command: str, versions: dict[str, str]) -> TrainSummary:
    """The run's summary so far (at a checkpoint) or at its end."""
    output_dir = Path(settings.output_dir).expanduser()
    trajectory, curriculum = run.display.trajectory, run.curriculum
    final_threshold = curriculum.threshold if curriculum is not None else None
    return TrainSummary(
        task=run.task.name,
        schedule=settings.schedule if curriculum is not None else None,
        steps=run.trainer.state.global_step,
        seconds=time.time() - timing["started"],
        start_threshold=trajectory[0][1] if trajectory else start_threshold,
        final_threshold=final_threshold,
        threshold_trajectory=list(trajectory),
        raises=list(run.display.raises),
        threshold_note=run.task.threshold_note(trajectory[0][1] if trajectory else start_threshold, final_threshold,
                                               run.train_rows) if curriculum is not None else "",
        heldout=run.heldout.history[-1][1] if run.heldout.history else {},
        heldout_history=list(run.heldout.history),
        heldout_lines=run.task.summary_lines(run.heldout.history, run.heldout.last),
        output_dir=str(output_dir),
        tensorboard_dir=str(output_dir / TENSORBOARD_SUBDIR),
        final_model_dir=str(output_dir / FINAL_MODEL_SUBDIR),
        metrics_file=str(output_dir / METRICS_FILE),
        reward=settings.reward,
        warm_start=run.warm_metrics,
        data_report=run.data_report,
        seed=settings.seed,
        max_steps=settings.max_steps,
        grpo_seconds=timing["grpo_seconds"] if timing["grpo_seconds"] is not None
        else time.time() - timing["grpo_started"],
        heldout_seconds=run.heldout.seconds,
        resumed_from_step=resumed_from,
        settings=recorded_settings(settings),
        schedule_options=run.schedule.options() if run.schedule is not None else {},
        command=command,
        versions=versions,
        model_card=str(output_dir / MODEL_CARD_FILE),
    )
