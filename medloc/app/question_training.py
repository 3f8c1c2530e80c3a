"""``medloc train --task vqa`` and ``--task grade``: GRPO on multiple-choice questions or graded labels.

The same job as grounding (:mod:`medloc.app.training`: model, warm start of the built-in model,
``GRPOConfig``, held-out evaluations, checkpoints), with the task's columns, prompts, rewards
and metrics:

- ``vqa`` (Med-R1): format reward (the answer names an option) + the 1/0 choice reward;
  held-out accuracy overall, per modality and per question type. No threshold, so the
  schedule is unused.
- ``grade`` (VRFT-Aug): format reward + ``ThresholdCurriculum(grade_closeness)``: full credit
  within ``(1 - tau) (K - 1)`` grades, the schedule tightening that tolerance as it raises tau.

Example:
    >>> settings = TrainSettings(task="grade", max_steps=2, warm_start=False).validate()  # doctest: +SKIP
    >>> run_question_training(settings).final_threshold  # doctest: +SKIP
    0.3
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from accelerate import PartialState
from datasets import Dataset
from datasets import Image as ImageFeature
from transformers import AutoModelForImageTextToText, AutoProcessor
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from medloc.app.grpo_config import grpo_arguments
from medloc.app.heldout import HeldoutEvaluation
from medloc.app.model_setup import prepare_model
from medloc.app.progress import TrainingProgress
from medloc.app.question_eval import REPORTED_METRICS, QuestionResult, score_questions, table_lines
from medloc.app.run_data import split_rows
from medloc.app.run_files import FINAL_MODEL_SUBDIR, METRICS_FILE, MODEL_INFO_FILE, SUMMARY_FILE, TENSORBOARD_SUBDIR
from medloc.app.settings import SYNTHETIC, SettingsError, TrainSettings
from medloc.checkpoints import resume_checkpoint
from medloc.choices import is_choice, make_choice_reward
from medloc.curriculum import ThresholdCurriculum
from medloc.evaluation import generate_answers
from medloc.grades import grade_closeness, tolerance_at
from medloc.priors import read_class_descriptions
from medloc.question_prompts import question_prompt
from medloc.rewards import has_text, make_format_reward
from medloc.trainer import ResumableGRPOTrainer

GRADE_CURRICULUM = "grade_curriculum"


def load_question_data(settings: TrainSettings) -> tuple[list[dict], list[dict], dict | None]:
    """Training and held-out rows of a question task, and the data report (real datasets only)."""
    if settings.data == SYNTHETIC:
        from grounding_data.synthetic import difficulty
        from grounding_data.synthetic_questions import question_split

        config = difficulty(settings.difficulty)
        needed = settings.train_rows or settings.max_steps * settings.prompts_per_step
        train = question_split(settings.task, "train", needed, config, seed=settings.seed)
        heldout = question_split(settings.task, "heldout", settings.heldout_rows, config, seed=settings.seed)
        return train, heldout, None
    from grounding_data import DataError
    from grounding_data.question_formats import load_questions

    try:
        rows, report = load_questions(settings.data, settings.data_root, skip_bad=settings.skip_bad,
                                      **settings.data_options)
    except DataError:
        raise  # names its file and item; medloc train reports it as is
    except ValueError as error:
        raise SettingsError("--data-option", str(error)) from None
    if len(rows) < 2:
        raise SettingsError("--data", f"{settings.data} gave {len(rows)} usable row(s); need at least 2")
    train, heldout = split_rows(rows, settings.heldout_rows, settings.seed)
    if settings.train_rows is not None:
        train = train[: settings.train_rows]
    return train, heldout, report.to_dict()


def question_dataset(rows: Sequence[Mapping[str, Any]], task: str, reasoning: str,
                     descriptions: Mapping[str, str] | None = None) -> Dataset:
    """A TRL dataset: ``prompt``, ``image`` and the truth columns of the task's reward.

    ``vqa``: ``answer`` (letter) and ``options``; ``grade``: ``grade`` (index) and ``grades``.

    Example:
        >>> from PIL import Image
        >>> row = {"image": Image.new("L", (8, 8)), "question": "Q?", "options": ["yes", "no"], "answer": "B"}
        >>> question_dataset([row], "vqa", "none").column_names
        ['prompt', 'image', 'answer', 'options']
    """
    truth = ("answer", "options") if task == "vqa" else ("grade", "grades")
    columns: dict[str, list[Any]] = {"prompt": [], "image": [], truth[0]: [], truth[1]: []}
    for row in rows:
        columns["prompt"].append(question_prompt(row, task, reasoning, descriptions))
        columns["image"].append(row["image"])
        columns[truth[0]].append(row[truth[0]])
        columns[truth[1]].append([str(label) for label in row[truth[1]]])
    dataset = Dataset.from_dict(columns)
    if rows and isinstance(rows[0]["image"], (str, os.PathLike)):
        dataset = dataset.cast_column("image", ImageFeature())
    return dataset


class QuestionHeldout(HeldoutEvaluation):
    """Held-out accuracy of a question task during training (``heldout/accuracy``, ...).

    Example:
        >>> QuestionHeldout([], every=10, task="grade", reasoning="none").reported_metrics
        ('accuracy', 'within_1', 'mae', 'valid_rate')
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]], every: int, task: str, reasoning: str,
                 descriptions: Mapping[str, str] | None = None, log_dir: str | None = None,
                 max_new_tokens: int = 40) -> None:
        super().__init__(rows, every, reasoning, frame="pixels", log_dir=log_dir,  # no boxes: the frame is unused
                         max_new_tokens=max_new_tokens)
        self.task = task
        self.descriptions = descriptions
        self.reported_metrics = REPORTED_METRICS[task]

    def _answer(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        return generate_answers(self._model, self._processor, rows, max_new_tokens=self.max_new_tokens,
                                prompt=lambda row: question_prompt(row, self.task, self.reasoning, self.descriptions))

    def _score_answers(self, answers: Sequence[str]) -> QuestionResult:
        return score_questions(answers, self.rows, self.task)


@dataclasses.dataclass
class QuestionTrainSummary:
    """What a ``vqa`` / ``grade`` run did; printed at the end and written to ``summary.json``."""

    task: str
    schedule: str | None
    steps: int
    seconds: float
    start_threshold: float | None
    final_threshold: float | None
    num_grades: int | None
    heldout: dict[str, float]
    heldout_history: list[tuple[int, dict[str, float]]]
    heldout_table: list[str]
    output_dir: str
    tensorboard_dir: str
    final_model_dir: str
    warm_start: dict[str, Any] | None = None
    data_report: dict[str, Any] | None = None

    def lines(self) -> list[str]:
        """The human-readable summary.

        Example:
            >>> summary = QuestionTrainSummary("grade", "adaptive", 3, 65.0, 0.3, 0.45, 4, {}, [], [], "o", "o/tb",
            ...                                "o/m")
            >>> print("\\n".join(summary.lines()[:2]))
            medloc train finished: 3 GRPO steps in 1m05s, task 'grade', schedule 'adaptive'
              threshold: 0.30 -> 0.45 (tolerance 2.10 -> 1.65 grades)
        """
        minutes, seconds = divmod(int(round(self.seconds)), 60)
        head = f"medloc train finished: {self.steps} GRPO steps in {minutes}m{seconds:02d}s, task {self.task!r}"
        lines = [head + (f", schedule {self.schedule!r}" if self.schedule else "")]
        if self.start_threshold is not None and self.final_threshold is not None and self.num_grades:
            lines.append(
                f"  threshold: {self.start_threshold:.2f} -> {self.final_threshold:.2f} (tolerance "
                f"{tolerance_at(self.start_threshold, self.num_grades):.2f} -> "
                f"{tolerance_at(self.final_threshold, self.num_grades):.2f} grades)"
            )
        if self.heldout:
            lines.append(f"  held-out ({int(self.heldout['n'])} rows):")
            lines += [f"    {line}" for line in self.heldout_table]
        if self.warm_start and self.warm_start.get("stalled"):
            lines.append("  WARNING: the grounding warm start stalled; see README, 'The built-in default'.")
        lines += [
            f"  model:       {self.final_model_dir}",
            f"  view with:   tensorboard --logdir {self.tensorboard_dir}",
        ]
        return lines


def _rewards(settings: TrainSettings) -> tuple[list[Any], ThresholdCurriculum | None]:
    if settings.task == "vqa":
        return [make_format_reward(settings.reasoning, is_choice), make_choice_reward()], None
    curriculum = ThresholdCurriculum(grade_closeness, settings.schedule, name=GRADE_CURRICULUM,
                                     **settings.schedule_options)
    return [make_format_reward(settings.reasoning, has_text), curriculum.reward], curriculum


def run_question_training(settings: TrainSettings, progress: bool = True, resume: bool = False) -> QuestionTrainSummary:
    """Run a validated ``vqa`` / ``grade`` job; return (and write) its summary."""
    started = time.time()
    output_dir = Path(settings.output_dir).expanduser()
    tensorboard_dir = output_dir / TENSORBOARD_SUBDIR
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(tensorboard_dir)
    args = grpo_arguments(settings, output_dir)
    descriptions = read_class_descriptions(settings.class_descriptions) if settings.class_descriptions else None
    train_rows, heldout_rows, data_report = load_question_data(settings)
    model_path, warm_metrics = prepare_model(settings, progress)
    model = AutoModelForImageTextToText.from_pretrained(model_path, dtype="auto")
    processor = AutoProcessor.from_pretrained(model_path)

    reward_funcs, curriculum = _rewards(settings)
    heldout = QuestionHeldout(heldout_rows, settings.eval_every, settings.task, settings.reasoning, descriptions,
                              log_dir=str(tensorboard_dir), max_new_tokens=settings.max_completion_length)
    if curriculum:
        curriculum.fit_to_run(args, args.max_steps)  # a checkpoint's schedule state must match this run's
    schedules = {curriculum.state_key: curriculum.schedule} if curriculum else {}
    checkpoint = resume_checkpoint(output_dir, schedules) if resume else None
    if checkpoint is None and PartialState().is_main_process:
        (output_dir / METRICS_FILE).unlink(missing_ok=True)  # a fresh run starts a fresh log
    display = TrainingProgress(curriculum, output_dir / METRICS_FILE, show=progress, heldout_history=heldout.history,
                               heldout_metric="accuracy")
    trainer = ResumableGRPOTrainer(
        model=model,
        processing_class=processor,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=question_dataset(train_rows, settings.task, settings.reasoning, descriptions),
        callbacks=[heldout] + ([curriculum] if curriculum else []) + [display],
    )
    trainer.remove_callback(ProgressCallback)  # TRL's bar prints every metrics dict; medloc's shows the few that matter
    trainer.remove_callback(PrinterCallback)
    start_threshold = curriculum.threshold if curriculum else None
    trainer.train(resume_from_checkpoint=None if checkpoint is None else str(checkpoint))
    final_model_dir = output_dir / FINAL_MODEL_SUBDIR
    trainer.save_model(str(final_model_dir))
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(final_model_dir)
        info = {"task": settings.task, "reasoning": settings.reasoning}
        if settings.class_descriptions:
            info["class_descriptions"] = str(Path(settings.class_descriptions).expanduser().absolute())
        (final_model_dir / MODEL_INFO_FILE).write_text(json.dumps(info))

    summary = QuestionTrainSummary(
        task=settings.task,
        schedule=settings.schedule if curriculum else None,
        steps=trainer.state.global_step,
        seconds=time.time() - started,
        start_threshold=start_threshold,
        final_threshold=curriculum.threshold if curriculum else None,
        num_grades=max((len(row["grades"]) for row in train_rows), default=None) if curriculum else None,
        heldout=heldout.history[-1][1] if heldout.history else {},
        heldout_history=heldout.history,
        heldout_table=table_lines(heldout.last, settings.task) if heldout.last else [],
        output_dir=str(output_dir),
        tensorboard_dir=str(tensorboard_dir),
        final_model_dir=str(final_model_dir),
        warm_start=warm_metrics,
        data_report=data_report,
    )
    if trainer.accelerator.is_main_process:
        (output_dir / SUMMARY_FILE).write_text(json.dumps(dataclasses.asdict(summary), indent=2, default=str))
    return summary
