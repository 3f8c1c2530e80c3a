"""The model card of a ``medloc train`` run: ``README.md`` in the run folder and in ``final_model/``.

It replaces TRL's default card (which names no base model for a local one, shows a generic
text-generation example and a placeholder licence): it says what ran (base model, task, data,
rewards, the schedule with every option and the steps at which tau was raised, the GRPO settings,
the seed, the command line, library versions), the held-out metrics before and after GRPO, and how
to load, evaluate and re-run the model. The run writes it at every checkpoint (marked "in
progress", so a run cut short still says what it was) and at the end. The front matter is the
Hugging Face Hub's model-card metadata (``huggingface_hub.ModelCardData``).

Example:
    >>> from medloc.app.summary import TrainSummary
    >>> summary = TrainSummary("grounding", "fixed", 3, 65.0, 0.5, 0.5, [(0, 0.5), (3, 0.5)], [], "", {},
    ...     [(0, {"A@0.5": 0.25, "n": 4}), (3, {"A@0.5": 0.5, "n": 4})], [], "run", "run/tensorboard",
    ...     "run/final_model", "run/metrics.jsonl", seed=0, max_steps=3,
    ...     settings={"model": "Qwen/Qwen2-VL-2B-Instruct", "data": "rows.jsonl", "reasoning": "none"},
    ...     schedule_options={"threshold": 0.5}, command="medloc train --schedule fixed")
    >>> card = model_card(summary, heldout_metrics=["A@0.5"])
    >>> "base_model: Qwen/Qwen2-VL-2B-Instruct" in card, "| A@0.5 | 0.250 | 0.500 |" in card
    (True, True)
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from medloc.app.summary import TrainSummary, duration
from medloc.builtin import is_builtin_model
from medloc.tasks import TASKS

LIBRARIES = ("medloc", "torch", "transformers", "trl", "accelerate")
GRPO_SETTINGS = (("num_generations", "completions per prompt"), ("prompts_per_step", "prompts per step and device"),
                 ("learning_rate", "learning rate"), ("vision_lr_scale", "vision tower learning-rate multiple"),
                 ("temperature", "sampling temperature"), ("beta", "KL coefficient"),
                 ("max_completion_length", "max completion tokens"))
"""GRPO settings the card lists: ``(setting, what it is)``."""


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a run used (``not installed`` where missing).

    Example:
        >>> sorted(library_versions())
        ['accelerate', 'medloc', 'python', 'torch', 'transformers', 'trl']
    """
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _is_hub_id(model: str) -> bool:
    return not is_builtin_model(model) and not Path(model).expanduser().exists() and model.count("/") == 1


def _base_model(settings: dict[str, Any], warm_start: dict[str, Any] | None) -> str:
    model = settings.get("model") or "medloc/tiny-qwen2-vl"
    if not is_builtin_model(model):
        return f"`{model}`"
    text = f"`{model}`, the built-in tiny Qwen2-VL-architecture model built locally by medloc"
    if warm_start and "mIoU" in warm_start:
        data = (f"{warm_start['rows']} of the dataset's training rows" if "rows" in warm_start
                else "synthetic lesion images")
        text += (f", warm-started (supervised) on {data} (its probe on the warm start's own held-out "
                 f"rows: mIoU {warm_start['mIoU']:.3f}, A@0.5 {warm_start['A@0.5']:.3f}"
                 + ("; the warm start STALLED)" if warm_start.get("stalled") else ")"))
    elif warm_start:
        text += (f", warm-started (supervised) on synthetic lesion images, then on synthetic {warm_start['task']} "
                 f"questions (its probe on the warm start's own held-out rows: accuracy {warm_start['accuracy']:.3f}, "
                 f"valid-answer rate {warm_start['valid_rate']:.2f}"
                 + ("; the warm start STALLED)" if warm_start.get("stalled") else ")"))
    return text


def _data(settings: dict[str, Any], data_report: dict[str, Any] | None) -> str:
    data = settings.get("data", "synthetic")
    if data == "synthetic":
        text = f"synthetic lesion images, preset `{settings.get('difficulty', 'easy')}` (medloc's generator)"
    elif settings.get("data_root"):
        text = f"dataset format `{data}` read from `{settings['data_root']}`"
    else:
        text = f"unified jsonl `{data}`"
    options = settings.get("data_options") or {}
    if options:
        text += " with " + ", ".join(f"`{key}={value}`" for key, value in options.items())
    text += f"; {settings.get('heldout_rows', '?')} rows held out for evaluation"
    skipped = (data_report or {}).get("skipped") or {}
    if skipped:
        text += f"; {sum(skipped.values())} bad rows skipped"
    return text


def _rewards(summary: TrainSummary, settings: dict[str, Any]) -> str:
    layout = f"the format reward (reasoning layout `{settings.get('reasoning', 'none')}`)"
    if summary.schedule is None:
        return f"{layout} + the task's reward (1 for the right answer)"
    if summary.reward == "binary":
        return f"{layout} + `1[score >= tau]`, tau from the schedule"
    return f"{layout} + `{summary.reward}` (the schedule tracks tau but does not set the reward)"


def _schedule(summary: TrainSummary) -> str:
    options = ", ".join(f"`{key}={value}`" for key, value in summary.schedule_options.items())
    raises = ", ".join(f"step {step} ({old:.2f} -> {new:.2f})" for step, old, new in summary.raises)
    text = f"`{summary.schedule}` ({options})" if options else f"`{summary.schedule}`"
    if summary.start_threshold is not None and summary.final_threshold is not None:
        text += (f"; tau {summary.start_threshold:.2f} -> {summary.final_threshold:.2f}{summary.threshold_note}, "
                 + (f"raised at {raises}" if raises else "never raised"))
    return text


def _heldout_table(summary: TrainSummary, heldout_metrics: Sequence[str]) -> list[str]:
    history = summary.heldout_history
    if not history:
        return ["No held-out evaluation ran."]
    first_step, first = history[0]
    last_step, last = history[-1]
    columns = [(f"before GRPO (step {first_step})", first)] if first_step == 0 else []
    if last_step != 0:
        columns.append((f"after GRPO (step {last_step})", last))
    lines = [f"On {int(last.get('n', 0))} held-out rows, greedy answers:", "",
             "| metric | " + " | ".join(title for title, _ in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for key in heldout_metrics:
        if all(key in metrics for _, metrics in columns):
            lines.append(f"| {key} | " + " | ".join(f"{metrics[key]:.3f}" for _, metrics in columns) + " |")
    return lines


def model_card(summary: TrainSummary, heldout_metrics: Sequence[str], in_progress: bool = False) -> str:
    """The card's markdown for a run described by ``summary`` (see the module docs).

    ``heldout_metrics`` are the task's held-out metrics, in table order; ``in_progress`` marks a card
    written at a checkpoint (``summary.steps`` of ``summary.max_steps`` done).
    """
    from huggingface_hub import ModelCardData

    settings = summary.settings
    model = settings.get("model") or "medloc/tiny-qwen2-vl"
    task_what = TASKS.get(summary.task, ("", summary.task))[1]
    tags = ["medloc", "grpo", "trl", "reward-curriculum", summary.task]
    metadata_yaml = ModelCardData(library_name="transformers", pipeline_tag="image-text-to-text", tags=tags,
                                  base_model=model if _is_hub_id(model) else None).to_yaml()
    title = f"{Path(summary.output_dir).name}: `{summary.task}` by GRPO" + (
        f" with the `{summary.schedule}` reward curriculum" if summary.schedule else "")
    lines = ["---", metadata_yaml, "---", "", f"# {title}", ""]
    if in_progress:
        lines += [f"**In progress: {summary.steps} of {summary.max_steps} GRPO steps done** (this card is "
                  "rewritten at every checkpoint and when the run ends).", ""]
    lines += [f"Trained by medloc (`medloc train`) from {_base_model(settings, summary.warm_start)}.",
              "", "## What ran", "", "| | |", "|---|---|",
              f"| task | `{summary.task}` ({task_what}) |",
              f"| data | {_data(settings, summary.data_report)} |",
              f"| rewards | {_rewards(summary, settings)} |"]
    if summary.schedule:
        lines.append(f"| schedule | {_schedule(summary)} |")
    steps = f"{summary.steps}" + (f" of {summary.max_steps}" if summary.max_steps else "")
    grpo = ", ".join(f"{what} {settings[key]}" for key, what in GRPO_SETTINGS if settings.get(key) is not None)
    lines += [f"| GRPO | {steps} steps; {grpo} |" if grpo else f"| GRPO | {steps} steps |",
              f"| seed | {summary.seed} |",
              f"| time | {summary.time_line().removeprefix('time:').strip()} |" if summary.grpo_seconds is not None
              else f"| time | {duration(summary.seconds)} |",
              ]
    if summary.resumed_from_step:
        lines.append(f"| resumed | at step {summary.resumed_from_step} (`--resume`) |")
    final = summary.final_model_dir
    lines += ["", "## Held-out results", "", *_heldout_table(summary, heldout_metrics), "",
              "## Load it", "", "```python", "from transformers import AutoModelForImageTextToText, AutoProcessor",
              "", f'model = AutoModelForImageTextToText.from_pretrained("{final}")',
              f'processor = AutoProcessor.from_pretrained("{final}")', "```", "",
              "`medloc.json` next to the weights records the task, the reasoning layout and the coordinate frame "
              "the model answers in; `medloc eval` reads it.", "",
              "## Evaluate it", "", "```bash", f"medloc eval --model {final}", "```", "",
              "## Run it again", "", "```bash", summary.command or "medloc train", "```", "",
              f"or with the recorded settings, in a new run folder: `medloc train --config "
              f"{Path(summary.output_dir) / 'settings.json'}`.", "",
              "## Library versions", "", ", ".join(f"{name} {version}" for name, version in summary.versions.items()),
              "", "## Files", "",
              "`summary.json` (everything above, as JSON), `settings.json` (the run's settings), `metrics.jsonl` "
              "(every logged metric, one line per step), `tensorboard/` (`tensorboard --logdir "
              f"{summary.tensorboard_dir}`), `final_model/` (the model and this card).", ""]
    return "\n".join(lines)
