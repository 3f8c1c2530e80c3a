"""``medloc eval``: greedy answers to held-out rows, scored by the task's metrics (every task).

Grounding: A@0.5, A@0.8, pseudo-mAP, mIoU, the format-valid rate; ``vqa`` / ``grade``: accuracy and
the valid-answer rate overall, per modality and per question type (grades add ``within_1`` and ``mae``).

Example::

    $ medloc eval --model medloc-runs/<run>/final_model
    $ medloc eval --model Qwen/Qwen2.5-VL-3B-Instruct --data tn3k --data-root data/TN3K --split test
    $ medloc eval --task vqa --model Qwen/Qwen2.5-VL-3B-Instruct --data med-r1 \\
          --data-root data/Med-R1/Splits --split test --data-option image_root=data/OmniMedVQA
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from grounding_data.answer_format import REASONING_LAYOUTS
from grounding_data.frames import FRAME_NAMES
from grounding_data.synthetic import DIFFICULTIES
from medloc.app.key_values import parse_key_values
from medloc.app.settings import SettingsError, check_descriptions_task
from medloc.tasks import DEFAULT_TASK, task_names


@click.command()
@click.option("--model", required=True, help="a saved model folder (<run>/final_model, or the run folder itself) or a "
                                              "hub id")
@click.option("--task", type=click.Choice(task_names()), default=None,
              help=f"{', '.join(task_names())} (default: what the model was trained for, else {DEFAULT_TASK})")
@click.option("--class-descriptions", default=None, type=click.Path(dir_okay=False),
              help="vqa/grade: 'label: description' file for the prompts (default: the one the model was "
                   "trained with)")
@click.option("--data", default="synthetic", show_default=True,
              help="synthetic (held-out split), a unified jsonl, or a dataset format (with --data-root)")
@click.option("--data-root", default=None, help="dataset folder for a format given to --data [default: none]")
@click.option("--difficulty", type=click.Choice(list(DIFFICULTIES)), default="easy", show_default=True,
              help="synthetic data preset (with --data synthetic)")
@click.option("--split", default=None, help="dataset split to read (format datasets) [default: all]")
@click.option("--data-option", multiple=True, metavar="KEY=VALUE",
              help="dataset reader option, see `medloc data formats` (repeatable) [default: none]")
@click.option("--skip-bad", is_flag=True, help="skip and count bad dataset rows [default: off]")
@click.option("--rows", type=int, default=128, show_default=True,
              help="rows to evaluate (at most), drawn at random across a dataset's split")
@click.option("--reasoning", type=click.Choice(REASONING_LAYOUTS), default=None,
              help="prompt layout (default: what the model was trained with, else none)")
@click.option("--frame", default=None, help=f"coordinate frame of the model's boxes: {', '.join(FRAME_NAMES)} "
                                            "(default: recorded with the model, else from its type)")
@click.option("--seed", type=int, default=0, show_default=True,
              help="seed of the synthetic held-out split, or of the --rows drawn from a dataset")
@click.option("--batch-size", type=int, default=32, show_default=True, help="rows answered at once")
@click.option("--max-new-tokens", type=int, default=64, show_default=True, help="tokens per answer at most")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="also write metrics and per-row answers to this JSON file [default: none]")
def eval_command(**options: Any) -> None:
    """Evaluate a model's boxes (A@0.5, A@0.8, pseudo-mAP, mIoU, format-valid rate) or answers (accuracy), for
    every task."""
    from grounding_data import DataError
    from medloc.app.run_data import evaluation_rows
    from medloc.app.run_files import model_folder, read_model_info
    from medloc.priors import read_class_descriptions
    from medloc.tasks import get_task

    options["model"] = model_folder(options["model"])
    info = read_model_info(options["model"])
    task = get_task(options["task"] or info.get("task", DEFAULT_TASK))
    if options["rows"] < 1 or options["batch_size"] < 1:
        raise click.UsageError("--rows and --batch-size must be >= 1")
    descriptions_file = options["class_descriptions"]
    descriptions_file = descriptions_file or (info.get("class_descriptions") if task.uses_descriptions else None)
    reader_options = {"split": options["split"]} if options["split"] else {}
    try:
        if options["class_descriptions"]:
            check_descriptions_task(task)
        reader_options = parse_key_values("--data-option", options["data_option"]) | reader_options
        rows = evaluation_rows(task, options["data"], options["data_root"], reader_options, options["skip_bad"],
                               options["rows"], options["difficulty"], options["seed"])
        descriptions = read_class_descriptions(descriptions_file) if descriptions_file else None
    except SettingsError as error:
        raise click.UsageError(str(error)) from None
    except DataError as error:
        raise click.ClickException(str(error)) from None
    except ValueError as error:
        raise click.UsageError(f"--class-descriptions: {error}") from None

    from transformers import AutoModelForImageTextToText, AutoProcessor

    from grounding_data.frames import get_frame
    from medloc.app.model_frame import model_frame
    from medloc.evaluation import evaluate_task
    from medloc.tasks import AnswerSetup

    try:
        model = AutoModelForImageTextToText.from_pretrained(options["model"])
        processor = AutoProcessor.from_pretrained(options["model"])
    except OSError as error:
        raise click.UsageError(f"--model: cannot load {options['model']!r}: {error}") from None
    frame = None
    if task.uses_frame:
        frame_name = options["frame"] or info.get("frame")
        frame = get_frame(frame_name) if frame_name else model_frame(model, processor)
    setup = AnswerSetup(options["reasoning"] or info.get("reasoning", "none"), frame, descriptions)
    result = evaluate_task(model, processor, rows, task, setup, batch_size=options["batch_size"],
                           max_new_tokens=options["max_new_tokens"])
    what = "rows" if task.name == DEFAULT_TASK else f"{task.name} rows"
    click.echo(f"{options['model']} on {len(rows)} {what} of {options['data']}"
               + ("" if frame is None else f" (frame {frame.name})"))
    for line in task.result_lines(result):
        click.echo(f"  {line}")
    if options["json_path"]:
        payload = {"model": options["model"], "data": options["data"], "task": task.name}
        if frame is not None:
            payload["frame"] = frame.name
        Path(options["json_path"]).write_text(json.dumps(payload | result.to_json(rows), indent=2))
        click.echo(f"  written to {options['json_path']}")
