"""``medloc eval --task vqa|grade``: greedy answers to questions, accuracy overall, per modality and type.

Example::

    $ medloc eval --task vqa --model medloc-output/final_model
    $ medloc eval --task vqa --model Qwen/Qwen2.5-VL-3B-Instruct --data med-r1 \\
          --data-root data/Med-R1/Splits --split test --data-option image_root=data/OmniMedVQA
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from medloc.app.key_values import parse_key_values
from medloc.app.settings import SettingsError


def recorded_task(model: str) -> str:
    """The task a medloc-trained model was trained for (``grounding`` for anything else).

    Example:
        >>> recorded_task("/no/such/model")
        'grounding'
    """
    from medloc.app.run_files import read_model_info

    return read_model_info(model).get("task", "grounding")


def _rows(task: str, options: dict[str, Any]) -> list[dict]:
    if options["data"] == "synthetic":
        from grounding_data.synthetic import difficulty
        from grounding_data.synthetic_questions import question_split

        return question_split(task, "heldout", options["rows"], difficulty(options["difficulty"]), seed=options["seed"])
    from grounding_data import DataError
    from grounding_data.question_formats import load_questions, question_formats

    if options["data"] not in question_formats(task):
        raise SettingsError("--data", f"--task {task} reads 'synthetic' or a question format "
                                      f"({', '.join(question_formats(task))}), got {options['data']!r}")
    if not options["data_root"]:
        raise SettingsError("--data-root", f"question format {options['data']!r} needs the dataset file or folder")
    reader_options = parse_key_values("--data-option", options["data_option"])
    if options["split"]:
        reader_options["split"] = options["split"]
    try:
        rows, _ = load_questions(options["data"], options["data_root"], skip_bad=options["skip_bad"],
                                 **reader_options)
    except DataError as error:
        raise click.ClickException(str(error)) from None
    except ValueError as error:
        raise SettingsError("--data-option", str(error)) from None
    return rows[: options["rows"]]


def question_eval(task: str, class_descriptions: str | None, options: dict[str, Any]) -> None:
    """Evaluate ``options["model"]`` on a question task and print (and optionally write) the table."""
    from medloc.priors import read_class_descriptions
    from medloc.app.question_eval import evaluate_questions, table_lines
    from medloc.app.run_files import read_model_info

    if options["rows"] < 1 or options["batch_size"] < 1:
        raise click.UsageError("--rows and --batch-size must be >= 1")
    info = read_model_info(options["model"])
    descriptions_file = class_descriptions or info.get("class_descriptions")
    try:
        rows = _rows(task, options)
        descriptions = read_class_descriptions(descriptions_file) if descriptions_file else None
    except SettingsError as error:
        raise click.UsageError(str(error)) from None
    except ValueError as error:
        raise click.UsageError(f"--class-descriptions: {error}") from None

    from transformers import AutoModelForImageTextToText, AutoProcessor

    try:
        model = AutoModelForImageTextToText.from_pretrained(options["model"])
        processor = AutoProcessor.from_pretrained(options["model"])
    except OSError as error:
        raise click.UsageError(f"--model: cannot load {options['model']!r}: {error}") from None
    reasoning = options["reasoning"] or info.get("reasoning", "none")
    result = evaluate_questions(model, processor, rows, task, reasoning, descriptions,
                                batch_size=options["batch_size"], max_new_tokens=options["max_new_tokens"])
    click.echo(f"{options['model']} on {len(rows)} {task} rows of {options['data']}")
    for line in table_lines(result, task):
        click.echo(f"  {line}")
    if options["json_path"]:
        payload = {
            "model": options["model"], "data": options["data"], "task": task, "metrics": result.metrics,
            "by_modality": result.by_modality, "by_question_type": result.by_question_type,
            "rows": [{"id": row.get("id"), "answer": answer, "correct": correct}
                     for row, answer, correct in zip(rows, result.answers, result.correct)],
        }
        Path(options["json_path"]).write_text(json.dumps(payload, indent=2))
        click.echo(f"  written to {options['json_path']}")
