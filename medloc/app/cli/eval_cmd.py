"""``medloc eval``: greedy predictions on held-out rows, scored with the paper's metrics.

Example::

    $ medloc eval --model medloc-output/final_model
    $ medloc eval --model Qwen/Qwen2.5-VL-3B-Instruct --data tn3k --data-root data/TN3K --split test
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from grounding_data.answer_format import REASONING_LAYOUTS
from medloc.app.key_values import parse_key_values
from medloc.app.settings import SettingsError

TABLE_ROWS = (("A@0.5", "A@0.5"), ("A@0.8", "A@0.8"), ("pseudo-mAP", "pseudo_mAP"), ("mIoU", "mIoU"),
              ("format-valid rate", "format_valid_rate"))


@click.command()
@click.option("--model", required=True, help="a saved model folder (e.g. <run>/final_model) or a hub id")
@click.option("--task", type=click.Choice(["grounding", "vqa", "grade"]), default=None,
              help="grounding, vqa or grade (default: what the model was trained for, else grounding)")
@click.option("--class-descriptions", default=None, type=click.Path(dir_okay=False),
              help="vqa/grade: 'label: description' file for the prompts (default: the one the model was "
                   "trained with)")
@click.option("--data", default="synthetic", show_default=True,
              help="synthetic (held-out split), a unified jsonl, or a dataset format (with --data-root)")
@click.option("--data-root", default=None, help="dataset folder for a format given to --data")
@click.option("--difficulty", type=click.Choice(["easy", "standard"]), default="easy", show_default=True,
              help="synthetic data preset (with --data synthetic)")
@click.option("--split", default=None, help="dataset split to read (format datasets)")
@click.option("--data-option", multiple=True, metavar="KEY=VALUE", help="dataset reader option (repeatable)")
@click.option("--skip-bad", is_flag=True, help="skip and count bad dataset rows")
@click.option("--rows", type=int, default=128, show_default=True, help="rows to evaluate (at most)")
@click.option("--reasoning", type=click.Choice(REASONING_LAYOUTS), default=None,
              help="prompt layout (default: what the model was trained with, else none)")
@click.option("--frame", default=None, help="coordinate frame of the model's answers (default: recorded with "
                                            "the model, else from its type)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the synthetic held-out split")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--max-new-tokens", type=int, default=64, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="also write metrics and per-row answers to this JSON file")
def eval_command(**options: Any) -> None:
    """Evaluate a model's boxes (A@0.5, A@0.8, pseudo-mAP, mIoU, format-valid rate) or answers (accuracy)."""
    from medloc.app.cli.question_eval_cmd import question_eval, recorded_task

    task, class_descriptions = options.pop("task") or recorded_task(options["model"]), options.pop("class_descriptions")
    if task != "grounding":
        question_eval(task, class_descriptions, options)
        return
    if class_descriptions:
        raise click.UsageError("--class-descriptions: prior knowledge is for --task vqa or --task grade")
    try:
        rows = _rows(options)
    except SettingsError as error:
        raise click.UsageError(str(error)) from None
    if options["rows"] < 1 or options["batch_size"] < 1:
        raise click.UsageError("--rows and --batch-size must be >= 1")

    from transformers import AutoModelForImageTextToText, AutoProcessor

    from medloc.evaluation import evaluate
    from grounding_data.frames import get_frame
    from medloc.app.model_frame import model_frame
    from medloc.app.run_files import read_model_info

    try:
        model = AutoModelForImageTextToText.from_pretrained(options["model"])
        processor = AutoProcessor.from_pretrained(options["model"])
    except OSError as error:
        raise click.UsageError(f"--model: cannot load {options['model']!r}: {error}") from None
    info = read_model_info(options["model"])
    frame_name = options["frame"] or info.get("frame")
    frame = get_frame(frame_name) if frame_name else model_frame(model, processor)
    reasoning = options["reasoning"] or info.get("reasoning", "none")
    result = evaluate(model, processor, rows, reasoning, frame, batch_size=options["batch_size"],
                      max_new_tokens=options["max_new_tokens"])
    click.echo(f"{options['model']} on {len(rows)} rows of {options['data']} (frame {frame.name})")
    for label, key in TABLE_ROWS:
        click.echo(f"  {label:<18} {result.metrics[key]:.4f}")
    if options["json_path"]:
        payload = {
            "model": options["model"], "data": options["data"], "frame": frame.name, "metrics": result.metrics,
            "rows": [
                {"id": row.get("id"), "answer": answer, "iou": iou, "valid": valid}
                for row, answer, iou, valid in zip(rows, result.answers, result.ious, result.valid)
            ],
        }
        Path(options["json_path"]).write_text(json.dumps(payload, indent=2))
        click.echo(f"  written to {options['json_path']}")


def _rows(options: dict[str, Any]) -> list[dict]:
    if options["data"] == "synthetic":
        from grounding_data.synthetic import difficulty, generate_split

        return generate_split("heldout", options["rows"], difficulty(options["difficulty"]), seed=options["seed"])
    from grounding_data import DataError, formats, load_rows

    if options["data"] not in formats() and not Path(options["data"]).is_file():
        raise SettingsError("--data", f"{options['data']!r} is neither 'synthetic', a jsonl file, nor a format "
                                      f"({', '.join(formats())})")
    reader_options = parse_key_values("--data-option", options["data_option"])
    if options["split"]:
        reader_options["split"] = options["split"]
    try:
        rows, _ = load_rows(options["data"], options["data_root"], skip_bad=options["skip_bad"], **reader_options)
    except DataError as error:
        raise SettingsError("--data", str(error)) from None
    return [row.to_dict() for row in rows[: options["rows"]]]
