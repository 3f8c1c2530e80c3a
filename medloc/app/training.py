"""The whole ``medloc train`` job: data, model (warm start for the built-in), GRPO with the
reward curriculum, held-out evaluation, summary.

Example:
    >>> settings = TrainSettings(max_steps=2).validate()  # doctest: +SKIP
    >>> summary = run_training(settings)  # doctest: +SKIP
    >>> summary.final_threshold  # doctest: +SKIP
    0.3
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import AutoModelForImageTextToText, AutoProcessor
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from medloc.app.grpo_config import grpo_arguments
from medloc.app.heldout import HeldoutEvaluation
from medloc.app.model_frame import run_frame
from medloc.app.model_setup import prepare_model
from medloc.app.progress import TrainingProgress
from medloc.app.question_training import run_question_training
from medloc.app.run_data import load_data, training_dataset
from medloc.app.run_files import FINAL_MODEL_SUBDIR, METRICS_FILE, SUMMARY_FILE, TENSORBOARD_SUBDIR, write_model_info
from medloc.app.settings import TrainSettings, flag
from medloc.app.summary import TrainSummary
from medloc.app.vision_optimizer import vision_lr_scale, vision_scaled_optimizer
from medloc.checkpoints import resume_checkpoint
from medloc.curriculum import IoUCurriculum
from medloc.rewards import make_format_reward
from medloc.trainer import ResumableGRPOTrainer


def grounding_reward(kind: str, curriculum: IoUCurriculum) -> Any:
    """The grounding reward of a run: the curriculum's binary reward, or the raw IoU (``soft-iou``).

    With ``soft-iou`` the curriculum still sees every training batch, so the logs show the hit
    rate and zero-variance share at its threshold, but its reward is not used.

    Example:
        >>> curriculum = IoUCurriculum("fixed", threshold=0.5)
        >>> reward = grounding_reward("soft-iou", curriculum)
        >>> reward(["[0, 0, 5, 10]"], boxes=[[[0, 0, 10, 10]]], width=[100], height=[100])
        [0.5]
    """
    if kind == "binary":
        return curriculum.reward

    def soft_iou(completions: Sequence[Any], **columns: Any) -> list[float]:
        return curriculum.observed_scores(completions, **columns).tolist()  # one parse for reward and schedule

    return soft_iou


def run_training(settings: TrainSettings, progress: bool = True, resume: bool = False) -> TrainSummary:
    """Run the job described by validated ``settings``; return (and write) its summary.

    ``--task vqa`` / ``--task grade`` runs go to :func:`medloc.app.question_training.run_question_training`.
    """
    if settings.task != "grounding":
        return run_question_training(settings, progress, resume)
    started = time.time()
    output_dir = Path(settings.output_dir).expanduser()
    tensorboard_dir = output_dir / TENSORBOARD_SUBDIR
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(tensorboard_dir)
    args = grpo_arguments(settings, output_dir)  # fails on bad --grpo values before any model is built
    schedule_options = settings.run_schedule_options()
    builtin_defaults = {key: value for key, value in schedule_options.items() if key not in settings.schedule_options}
    if progress and builtin_defaults:
        shown = ", ".join(f"{key} {value:g}" for key, value in builtin_defaults.items())
        flags = ", ".join(flag(key) for key in builtin_defaults)
        print(f"Schedule {settings.schedule!r} with the built-in model's {shown} ({flags} to change)", flush=True)
    schedule_probe = IoUCurriculum(settings.schedule, **schedule_options)
    schedule_probe.fit_to_run(args, args.max_steps)  # a checkpoint's schedule state must match this run's
    checkpoint = resume_checkpoint(output_dir, {schedule_probe.state_key: schedule_probe.schedule}) if resume else None
    train_rows, heldout_rows, data_report = load_data(settings)
    model_path, warm_metrics = prepare_model(settings, progress)
    model = AutoModelForImageTextToText.from_pretrained(model_path, dtype="auto")
    optimizer = vision_scaled_optimizer(model, args, vision_lr_scale(settings))
    processor = AutoProcessor.from_pretrained(model_path)
    frame = run_frame(settings, model, processor)

    curriculum = IoUCurriculum(settings.schedule, frame=frame, **schedule_options)
    heldout = HeldoutEvaluation(
        heldout_rows, settings.eval_every, settings.reasoning, frame, log_dir=str(tensorboard_dir),
        max_new_tokens=settings.max_completion_length,
    )
    progress_display = TrainingProgress(curriculum, output_dir / METRICS_FILE, show=progress,
                                        heldout_history=heldout.history)
    trainer = ResumableGRPOTrainer(
        model=model,
        processing_class=processor,
        reward_funcs=[make_format_reward(settings.reasoning), grounding_reward(settings.reward, curriculum)],
        args=args,
        train_dataset=training_dataset(train_rows, settings.reasoning, frame),
        callbacks=[curriculum, heldout, progress_display],
        optimizers=(optimizer, None),
    )
    trainer.remove_callback(ProgressCallback)  # TRL's bar prints every metrics dict; medloc's shows the few that matter
    trainer.remove_callback(PrinterCallback)
    start_threshold = curriculum.threshold
    if checkpoint is None and trainer.accelerator.is_main_process:
        (output_dir / METRICS_FILE).unlink(missing_ok=True)  # a fresh run starts a fresh log
    trainer.train(resume_from_checkpoint=None if checkpoint is None else str(checkpoint))
    final_model_dir = output_dir / FINAL_MODEL_SUBDIR
    trainer.save_model(str(final_model_dir))
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(final_model_dir)
        write_model_info(final_model_dir, frame, settings.reasoning)

    summary = TrainSummary(
        schedule=settings.schedule,
        steps=trainer.state.global_step,
        seconds=time.time() - started,
        start_threshold=start_threshold,
        final_threshold=curriculum.threshold,
        threshold_trajectory=progress_display.trajectory,
        raises=progress_display.raises,
        heldout=heldout.history[-1][1] if heldout.history else {},
        heldout_history=heldout.history,
        output_dir=str(output_dir),
        tensorboard_dir=str(tensorboard_dir),
        final_model_dir=str(final_model_dir),
        metrics_file=str(output_dir / METRICS_FILE),
        reward=settings.reward,
        warm_start=warm_metrics,
        data_report=data_report,
    )
    if trainer.accelerator.is_main_process:
        (output_dir / SUMMARY_FILE).write_text(json.dumps(dataclasses.asdict(summary), indent=2, default=str))
    return summary
