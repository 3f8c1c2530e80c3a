"""``medloc train``: GRPO with a reward curriculum, on the built-in default or real models and data.

Example::

    $ medloc train --schedule adaptive
    $ medloc train --schedule fixed --threshold 0.5 --max-steps 100
    $ medloc train --model Qwen/Qwen2.5-VL-3B-Instruct --data ms-cxr --data-root data/ms-cxr \\
          --reasoning before --grpo bf16=true --grpo gradient_accumulation_steps=4
"""

from __future__ import annotations

import warnings
from typing import Any

import click

import schedulers
from grounding_data.answer_format import REASONING_LAYOUTS
from grounding_data.frames import FRAME_NAMES
from grounding_data.synthetic import DIFFICULTIES
from medloc.app.key_values import parse_key_values
from medloc.app.settings import SCHEDULE_FLAGS, SettingsError, TrainSettings, read_config_file
from medloc.tasks import DEFAULT_TASK, TASKS, get_task, task_names

def _schedule_flag_options(function: Any) -> Any:
    for name, help_text in reversed(SCHEDULE_FLAGS.items()):
        if name == "density_guard":
            function = click.option("--density-guard/--no-density-guard", name, default=None, help=help_text)(function)
            continue
        kind = click.Choice(["piecewise", "linear", "cosine"]) if name == "increment" else (
            int if name in ("total_steps", "window") else float
        )
        function = click.option("--" + name.replace("_", "-"), name, type=kind, default=None, help=help_text)(function)
    return function


@click.command()
@click.option("--task", type=click.Choice(task_names()), default=None,
              help=", ".join(f"{name} ({TASKS[name][1]})" for name in TASKS) + f" [{DEFAULT_TASK}]")
@click.option("--class-descriptions", default=None, type=click.Path(dir_okay=False),
              help="vqa/grade: YAML or JSON file 'label: description' the prompts carry (prior knowledge)")
@click.option("--schedule", default=None, help=f"{', '.join(schedulers.available())} (built-in and installed plugins) [adaptive]")
@_schedule_flag_options
@click.option("--reward", type=click.Choice(list(get_task(DEFAULT_TASK).reward_kinds)), default=None,
              help="binary: 1[IoU >= tau] from the schedule; soft-iou: the raw IoU (VLM-R1) [binary]")
@click.option("--schedule-option", "schedule_option", multiple=True, metavar="KEY=VALUE",
              help="any schedule option, e.g. min_hit_rate='[[0, 0.8], [0.6, 0.75]]' (repeatable)")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="YAML or JSON file of settings (flags override it)")
@click.option("--model", default=None, help="medloc/tiny-qwen2-vl (built locally), a model folder or a hub id")
@click.option("--data", default=None, help="synthetic, a unified jsonl, or a dataset format (with --data-root)")
@click.option("--data-root", default=None, help="dataset folder for a format given to --data")
@click.option("--difficulty", type=click.Choice(list(DIFFICULTIES)), default=None,
              help="synthetic data preset [easy]")
@click.option("--data-option", multiple=True, metavar="KEY=VALUE", help="dataset reader option (repeatable)")
@click.option("--skip-bad/--no-skip-bad", default=None, help="skip and count bad dataset rows")
@click.option("--reasoning", type=click.Choice(REASONING_LAYOUTS), default=None,
              help="prompt layout and format reward [none]")
@click.option("--frame", default=None, help=f"coordinate frame the model writes: {', '.join(FRAME_NAMES)}")
@click.option("--output-dir", default=None, help="run folder [medloc-output]")
@click.option("--max-steps", type=int, default=None, help="GRPO steps")
@click.option("--num-generations", type=int, default=None, help="completions per prompt (G)")
@click.option("--prompts-per-step", type=int, default=None, help="prompts per step and device")
@click.option("--learning-rate", type=float, default=None)
@click.option("--temperature", type=float, default=None)
@click.option("--beta", type=float, default=None, help="KL coefficient")
@click.option("--max-completion-length", type=int, default=None)
@click.option("--heldout-rows", type=int, default=None, help="rows held out for evaluation")
@click.option("--train-rows", type=int, default=None, help="synthetic rows to generate / cap on real rows")
@click.option("--eval-every", type=int, default=None, help="held-out evaluation every N steps (0: end only)")
@click.option("--seed", type=int, default=None)
@click.option("--vision-lr-scale", type=float, default=None,
              help="vision tower learning rate as a multiple of --learning-rate; 0 freezes it "
                   "[0 for the built-in model, 1 otherwise]")
@click.option("--warm-start/--no-warm-start", default=None, help="supervised warm start of the built-in model [on]")
@click.option("--warm-start-steps", type=int, default=None)
@click.option("--warm-start-margin", type=float, default=None,
              help="warm-start boxes this much looser than the truth, per side, as a fraction of the box "
                   "size (a convention gap for GRPO to close) [0.15; 0: exact boxes]")
@click.option("--cache-dir", default=None, help="warm-start cache [~/.cache/medloc]")
@click.option("--grpo", "grpo_option", multiple=True, metavar="KEY=VALUE",
              help="pass-through GRPOConfig option, e.g. --grpo bf16=true (repeatable)")
@click.option("--resume", is_flag=True, help="resume from the last checkpoint in --output-dir")
@click.option("--quiet", is_flag=True, help="no progress output")
def train(**given: Any) -> None:
    """Run GRPO with a reward curriculum on the IoU threshold, then evaluate held-out rows."""
    resume, quiet, config_file = given.pop("resume"), given.pop("quiet"), given.pop("config_file")
    try:
        settings = _settings(given, config_file).validate()
    except SettingsError as error:
        raise click.UsageError(str(error)) from None

    from transformers.utils import logging as transformers_logging

    from grounding_data import DataError
    from medloc.checkpoints import CheckpointError
    from medloc.app.training import run_training

    transformers_logging.disable_progress_bar()  # its "Loading weights" / "Writing model shards" bars at every save
    # TRL 1.16 itself still calls transformers' deprecated gradient_checkpointing* methods at every
    # generation and save; medloc uses the new names, so only TRL's internal calls are silenced here
    warnings.filterwarnings("ignore", message=r"`(is_)?gradient_checkpointing\w*` is deprecated", category=FutureWarning)

    try:
        summary = run_training(settings, progress=not quiet, resume=resume)
    except SettingsError as error:
        raise click.UsageError(str(error)) from None
    except (DataError, CheckpointError) as error:
        raise click.ClickException(str(error)) from None
    from accelerate import PartialState

    state = PartialState()
    if state.is_main_process:  # under accelerate launch every rank returns the summary
        for line in summary.lines():
            click.echo(line)
    if state.use_distributed:
        # leave the gloo/NCCL group cleanly: left to interpreter exit, a rank can abort in teardown
        # ("terminate called without an active exception") after the run succeeded
        state.wait_for_everyone()
        state.destroy_process_group()


def _settings(given: dict[str, Any], config_file: str | None) -> TrainSettings:
    schedule_options = {name: given.pop(name) for name in SCHEDULE_FLAGS}
    schedule_options = {key: value for key, value in schedule_options.items() if value is not None}
    schedule_options.update(parse_key_values("--schedule-option", given.pop("schedule_option")))
    data_options = parse_key_values("--data-option", given.pop("data_option"))
    grpo_options = parse_key_values("--grpo", given.pop("grpo_option"))
    flags = {**given, "schedule_options": schedule_options, "data_options": data_options, "grpo": grpo_options}
    config = read_config_file(config_file) if config_file else None
    return TrainSettings.from_sources(config, flags)
