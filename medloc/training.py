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
import io
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import PartialState
from datasets import Dataset
from datasets import Image as ImageFeature
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from grounding_data.dicom import is_dicom_path, read_dicom
from medloc.checkpoints import resume_checkpoint
from medloc.curriculum import IoUCurriculum
from medloc.frames import CoordinateFrame, get_frame
from medloc.heldout import HeldoutEvaluation
from medloc.progress import TrainingProgress
from medloc.prompts import build_prompt
from medloc.rewards import make_format_reward
from medloc.settings import SYNTHETIC, SettingsError, TrainSettings
from medloc.tiny_model import is_builtin_model

logger = logging.getLogger(__name__)

TENSORBOARD_SUBDIR = "tensorboard"
FINAL_MODEL_SUBDIR = "final_model"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
"""Every metric logged during GRPO, one JSON line per logged step."""
MODEL_INFO_FILE = "medloc.json"
"""Written next to a trained model: the frame and reasoning layout it answers in."""


def write_model_info(model_dir: str | Path, frame: CoordinateFrame, reasoning: str) -> None:
    """Record how the model at ``model_dir`` writes boxes, for ``medloc eval``."""
    Path(model_dir, MODEL_INFO_FILE).write_text(json.dumps({"frame": frame.name, "reasoning": reasoning}))


def read_model_info(model_dir: str | Path) -> dict[str, Any]:
    """``frame`` and ``reasoning`` recorded with a model by medloc (empty if none).

    Example:
        >>> read_model_info("/no/such/model")
        {}
    """
    info_file = Path(model_dir, MODEL_INFO_FILE)
    if info_file.is_file():
        return json.loads(info_file.read_text())
    from medloc.warmstart import METRICS_FILE

    warm_file = Path(model_dir, METRICS_FILE)
    if warm_file.is_file():
        config = json.loads(warm_file.read_text()).get("config", {})
        return {key: config[key] for key in ("frame", "reasoning") if key in config}
    return {}


@dataclasses.dataclass
class TrainSummary:
    """What a run did; printed at the end and written to ``<output_dir>/summary.json``."""

    schedule: str
    steps: int
    seconds: float
    start_threshold: float
    final_threshold: float
    threshold_trajectory: list[tuple[int, float]]
    raises: list[tuple[int, float, float]]
    heldout: dict[str, float]
    heldout_history: list[tuple[int, dict[str, float]]]
    output_dir: str
    tensorboard_dir: str
    final_model_dir: str
    metrics_file: str
    reward: str = "binary"
    warm_start: dict[str, Any] | None = None
    data_report: dict[str, Any] | None = None

    def lines(self) -> list[str]:
        """The human-readable summary."""
        minutes, seconds = divmod(int(round(self.seconds)), 60)
        lines = [
            f"medloc train finished: {self.steps} GRPO steps in {minutes}m{seconds:02d}s, schedule {self.schedule!r}"
            + ("" if self.reward == "binary" else f", reward {self.reward!r}"),
            f"  threshold: {self.start_threshold:.2f} -> {self.final_threshold:.2f}, "
            + (", ".join(f"raised at step {step} ({old:.2f}->{new:.2f})" for step, old, new in self.raises)
               or "never raised"),
        ]
        skipped = (self.data_report or {}).get("skipped") or {}
        if skipped:
            lines.append(f"  data: {self.data_report['rows']} rows kept, {sum(skipped.values())} skipped ("
                         + ", ".join(f"{reason}: {count}" for reason, count in skipped.items()) + ")")
        if self.heldout:
            before = self.heldout_history[0][1] if self.heldout_history and self.heldout_history[0][0] == 0 else None
            lines.append(f"  held-out ({int(self.heldout['n'])} rows)    A@0.5   A@0.8    mIoU  pseudo-mAP  valid")
            for label, metrics in (("before GRPO", before), ("after GRPO", self.heldout)):
                if metrics:
                    lines.append(f"    {label:<18}{metrics['A@0.5']:>7.3f}{metrics['A@0.8']:>8.3f}{metrics['mIoU']:>8.3f}"
                                 f"{metrics['pseudo_mAP']:>12.3f}{metrics['format_valid_rate']:>7.2f}")
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


def split_rows(rows: Sequence[Mapping[str, Any]], heldout: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Shuffle ``rows`` with ``seed`` and hold ``heldout`` of them out (at most half).

    Example:
        >>> train, held = split_rows([{"id": i} for i in range(10)], heldout=3, seed=0)
        >>> len(train), len(held)
        (7, 3)
    """
    order = np.random.default_rng(seed).permutation(len(rows))
    count = min(heldout, len(rows) // 2)
    held = [dict(rows[i]) for i in order[:count]]
    train = [dict(rows[i]) for i in order[count:]]
    return train, held


def load_data(settings: TrainSettings, synthetic_config: Any = None) -> tuple[list[dict], list[dict], dict | None]:
    """Training and held-out rows for the run, and the data report (real datasets only)."""
    if settings.data == SYNTHETIC:
        from grounding_data.synthetic import generate_split

        needed = settings.train_rows or settings.max_steps * settings.prompts_per_step
        train = generate_split("train", needed, synthetic_config, seed=settings.seed)
        heldout = generate_split("heldout", settings.heldout_rows, synthetic_config, seed=settings.seed)
        return train, heldout, None
    from grounding_data import load_rows

    rows, report = load_rows(
        settings.data, settings.data_root, skip_bad=settings.skip_bad, **settings.data_options
    )
    if len(rows) < 2:
        raise SettingsError("--data", f"{settings.data} gave {len(rows)} usable row(s); need at least 2")
    train, heldout = split_rows([row.to_dict() for row in rows], settings.heldout_rows, settings.seed)
    if settings.train_rows is not None:
        train = train[: settings.train_rows]
    train, heldout = (readable_rows(part, settings.data, settings.skip_bad, report) for part in (train, heldout))
    if not train:
        raise SettingsError("--data", f"{settings.data}: no training row has a readable image")
    return train, heldout, report.to_dict()


def readable_rows(rows: Sequence[dict], source: str, skip_bad: bool, report: Any) -> list[dict]:
    """The ``rows`` whose image decodes in full, checked before any model is built.

    An image removed, truncated or corrupted since the rows were converted raises ``DataError``
    naming the row (``source, row id '...'``); with ``skip_bad`` the row is dropped and counted in
    ``report`` (the run summary shows the count).

    Example:
        >>> from PIL import Image
        >>> from grounding_data import ConversionReport
        >>> rows = [{"image": Image.new("L", (8, 8)), "id": "a", "boxes": [[1, 1, 4, 4]]},
        ...         {"image": "/gone.png", "id": "b", "boxes": [[1, 1, 4, 4]]}]
        >>> report = ConversionReport("rows.jsonl", rows=2, boxes=2)
        >>> [row["id"] for row in readable_rows(rows, "rows.jsonl", True, report)], dict(report.skipped)
        (['a'], {'missing image': 1})
    """
    from grounding_data import DataError
    from grounding_data.checks import decode_image

    kept = []
    for row in rows:
        if isinstance(row["image"], (str, os.PathLike)):
            try:
                decode_image(Path(row["image"]), source, f"row id {row.get('id')!r}")
            except DataError as error:
                if not skip_bad:
                    raise
                report.skip(error)
                report.rows, report.boxes = report.rows - 1, report.boxes - len(row["boxes"])
                continue
        kept.append(row)
    return kept


def training_dataset(rows: Sequence[Mapping[str, Any]], reasoning: str, frame: str | CoordinateFrame) -> Dataset:
    """A TRL dataset: ``prompt`` (conversational), ``image``, ``boxes``, ``width``, ``height``.

    Example:
        >>> from PIL import Image
        >>> row = {"image": Image.new("L", (8, 8)), "phrase": "the dot", "boxes": [[1, 1, 4, 4]],
        ...        "width": 8, "height": 8}
        >>> training_dataset([row], "none", "grid-100").column_names
        ['prompt', 'image', 'boxes', 'width', 'height']
    """
    columns: dict[str, list[Any]] = {"prompt": [], "image": [], "boxes": [], "width": [], "height": []}
    for row in rows:
        columns["prompt"].append(build_prompt(row, reasoning, frame))
        columns["image"].append(row["image"])
        columns["boxes"].append([list(map(float, box)) for box in row["boxes"]])
        columns["width"].append(int(row["width"]))
        columns["height"].append(int(row["height"]))
    if any(isinstance(image, (str, os.PathLike)) and is_dicom_path(image) for image in columns["image"]):
        columns["image"] = [_image_value(image) for image in columns["image"]]
    dataset = Dataset.from_dict(columns)
    if rows and isinstance(rows[0]["image"], (str, os.PathLike)):
        dataset = dataset.cast_column("image", ImageFeature())
    return dataset


def _image_value(image: Any) -> dict[str, Any]:
    """An image path as a ``datasets.Image`` value; a DICOM decoded once (datasets cannot read DICOM)."""
    if not is_dicom_path(image):
        return {"bytes": None, "path": str(image)}
    buffer = io.BytesIO()
    read_dicom(image).save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def model_frame(model: Any, processor: Any) -> CoordinateFrame:
    """The frame a pretrained model writes boxes in, from its ``model_type``.

    Qwen2-VL: 0..1000 grid; Qwen2.5-VL: pixels of the processor's resized image; Qwen3-VL: 0..1000.
    """
    model_type = getattr(model.config, "model_type", "")
    if model_type in ("qwen2_5_vl",):
        image_processor = getattr(processor, "image_processor", None)
        size = getattr(image_processor, "size", None) or {}
        options = {}
        if size.get("shortest_edge") and size.get("longest_edge"):
            options = {"min_pixels": int(size["shortest_edge"]), "max_pixels": int(size["longest_edge"])}
        return get_frame("qwen2.5-vl", **options)
    if model_type in ("qwen2_vl", "qwen3_vl", "qwen3_vl_moe"):
        return get_frame("grid-1000")
    logger.warning("Unknown model type %r: assuming boxes in pixels; set --frame to override.", model_type)
    return get_frame("pixels")


def warm_start_config(settings: TrainSettings) -> Any:
    """The warm-start recipe of the built-in model for these settings (also its synthetic data)."""
    from medloc.warmstart import PRESET_RECIPES, WarmStartConfig

    from grounding_data.synthetic import difficulty

    options: dict[str, Any] = {"reasoning": settings.reasoning, "synthetic": difficulty(settings.difficulty),
                               **PRESET_RECIPES.get(settings.difficulty, {})}
    if settings.frame:
        options["frame"] = settings.frame
    if settings.warm_start_steps:
        options["max_steps"] = settings.warm_start_steps
        options["lead_in_steps"] = min(options.get("lead_in_steps", 0), settings.warm_start_steps // 2)
    if settings.warm_start_margin is not None:
        options["label_margin"] = settings.warm_start_margin
    return WarmStartConfig(**options)


def prepare_model(settings: TrainSettings, progress: bool) -> tuple[str, dict[str, Any] | None]:
    """The model folder or hub id to train, and the warm-start probe metrics (built-in model only)."""
    if not is_builtin_model(settings.model):
        return settings.model, None
    if not settings.warm_start:
        from medloc.tiny_model import build_tiny_vlm

        path = Path(settings.output_dir).expanduser() / "untrained_model"
        if PartialState().is_main_process:
            model, processor = build_tiny_vlm(seed=settings.seed)
            model.save_pretrained(path)
            processor.save_pretrained(path)
        PartialState().wait_for_everyone()
        return str(path), None
    from medloc.warmstart import METRICS_FILE, warm_start

    from accelerate.state import AcceleratorState

    with PartialState().main_process_first():
        path = warm_start(Path(settings.cache_dir).expanduser() / "warmstart", warm_start_config(settings),
                          seed=settings.seed, progress=progress and PartialState().is_main_process, keep_stalled=True)
    AcceleratorState._reset_state()  # the warm start's trainer fixed its mixed precision; GRPO sets its own
    metrics = json.loads((Path(path) / METRICS_FILE).read_text())
    keys = ("mIoU", "A@0.5", "A@0.8", "format_valid_rate", "constant_box_mIoU", "stalled")
    return str(path), {key: metrics[key] for key in keys if key in metrics}


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


def vision_lr_scale(settings: TrainSettings) -> float:
    """The vision tower's learning-rate multiple: ``--vision-lr-scale``, else 0 (frozen) for the
    built-in model and 1 for other models.

    Example:
        >>> vision_lr_scale(TrainSettings()), vision_lr_scale(TrainSettings(model="Qwen/Qwen2.5-VL-3B-Instruct"))
        (0.0, 1.0)
    """
    if settings.vision_lr_scale is not None:
        return float(settings.vision_lr_scale)
    return 0.0 if is_builtin_model(settings.model) else 1.0


def vision_tower(model: Any) -> Any:
    """The vision encoder of a Qwen-VL-style model (``model.model.visual`` or ``model.visual``)."""
    inner = getattr(model, "model", model)
    tower = getattr(inner, "visual", None) or getattr(model, "visual", None)
    if tower is None:
        raise SettingsError("--vision-lr-scale", f"{type(model).__name__} has no 'visual' module")
    return tower


def vision_scaled_optimizer(model: Any, args: Any, scale: float) -> torch.optim.Optimizer | None:
    """AdamW with the vision tower at ``scale`` x the learning rate (None: scale 1, TRL's own optimizer).

    At scale 0 the tower is frozen (``requires_grad`` off) and TRL's optimizer skips it.
    """
    if scale == 1.0:
        return None
    tower = vision_tower(model)
    if scale == 0.0:
        tower.requires_grad_(False)
        return None
    vision_ids = {id(p) for p in tower.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) not in vision_ids], "lr": args.learning_rate},
        {"params": [p for p in trainable if id(p) in vision_ids], "lr": args.learning_rate * scale},
    ]
    return torch.optim.AdamW(groups, betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon,
                             weight_decay=args.weight_decay)


def grpo_arguments(settings: TrainSettings, output_dir: Path) -> Any:
    """The ``GRPOConfig`` of the run; ``settings.grpo`` overrides everything medloc sets."""
    from trl import GRPOConfig

    options: dict[str, Any] = dict(
        output_dir=str(output_dir),
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.prompts_per_step * settings.num_generations,
        num_generations=settings.num_generations,
        learning_rate=settings.learning_rate,
        temperature=settings.temperature,
        beta=settings.beta,
        max_completion_length=settings.max_completion_length,
        seed=settings.seed,
        logging_steps=1,
        save_strategy="steps",
        save_steps=max(1, settings.max_steps // 3),
        save_total_limit=2,
        report_to=["tensorboard"],
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    # the current name of TRL's gradient_checkpointing default (the old name warns at every save);
    # a 0.3M-parameter model does not need it, a real VLM does
    options["activation_checkpointing"] = not is_builtin_model(settings.model)
    if is_builtin_model(settings.model):
        # float32 like its warm start; a short warmup avoids the dip Adam's first full-size steps
        # cause in held-out mIoU (experiments/results/warmstart_findings.md)
        options.update(bf16=False, fp16=False, warmup_steps=0.1)
    options.update(settings.grpo)
    try:
        config = GRPOConfig(**options)
    except (TypeError, ValueError) as error:
        raise SettingsError("--grpo", f"GRPOConfig rejected the settings: {error}") from None
    if config.scale_rewards not in ("group", "batch", "none"):  # TRL checks this only at the first step
        raise SettingsError("--grpo", f"scale_rewards must be group, batch or none, got {config.scale_rewards!r}")
    return config


def run_training(settings: TrainSettings, progress: bool = True, resume: bool = False) -> TrainSummary:
    """Run the job described by validated ``settings``; return (and write) its summary.

    ``--task vqa`` / ``--task grade`` runs go to :func:`medloc.question_training.run_question_training`.
    """
    if settings.task != "grounding":
        from medloc.question_training import run_question_training

        return run_question_training(settings, progress, resume)
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from medloc.trainer import ResumableGRPOTrainer

    started = time.time()
    output_dir = Path(settings.output_dir).expanduser()
    tensorboard_dir = output_dir / TENSORBOARD_SUBDIR
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(tensorboard_dir)
    args = grpo_arguments(settings, output_dir)  # fails on bad --grpo values before any model is built
    schedule_probe = IoUCurriculum(settings.schedule, **settings.schedule_options)
    checkpoint = resume_checkpoint(output_dir, {schedule_probe.state_key: schedule_probe.schedule}) if resume else None

    from grounding_data.synthetic import difficulty

    builtin = warm_start_config(settings) if is_builtin_model(settings.model) else None
    train_rows, heldout_rows, data_report = load_data(settings, difficulty(settings.difficulty))
    model_path, warm_metrics = prepare_model(settings, progress)
    model = AutoModelForImageTextToText.from_pretrained(model_path, dtype="auto")
    optimizer = vision_scaled_optimizer(model, args, vision_lr_scale(settings))
    processor = AutoProcessor.from_pretrained(model_path)
    if settings.frame:
        frame = get_frame(settings.frame)
    elif builtin is not None:
        frame = get_frame(builtin.frame)
    else:
        frame = model_frame(model, processor)

    curriculum = IoUCurriculum(settings.schedule, frame=frame, **settings.schedule_options)
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
