"""``medloc train``: GRPO with a reward curriculum, on the built-in default or real models and data.

Every option's help says what it sets and its default; the defaults are :class:`TrainSettings`'
own, and every list (tasks, schedules and the schedules each schedule option belongs to, difficulty
presets, reasoning layouts, frames) is read from its registry, so the help cannot go stale. This
module imports neither torch nor transformers: ``medloc train --help`` answers at once.

Each run writes into a folder of its own (see :mod:`medloc.app.run_files`): ``medloc-runs/<time>-<task>-
<schedule>`` unless ``--output-dir`` names one; a folder holding an earlier run is refused unless
``--resume`` continues it or ``--overwrite-output-dir`` replaces it.

Example::

    $ medloc train --schedule adaptive
    $ medloc train --schedule fixed --threshold 0.5 --max-steps 100
    $ medloc train --model Qwen/Qwen2.5-VL-3B-Instruct --data ms-cxr --data-root data/ms-cxr \\
          --reasoning before --grpo bf16=true --grpo gradient_accumulation_steps=4
"""

from __future__ import annotations

import dataclasses
import shlex
import warnings
from typing import Any

import click

import schedulers
from grounding_data.answer_format import REASONING_LAYOUTS
from grounding_data.frames import FRAME_NAMES
from grounding_data.synthetic import DIFFICULTIES
from medloc.app.cli import ARGV_KEY
from medloc.app.key_values import parse_key_values
from medloc.app.run_files import RUNS_DIR, model_folder
from medloc.app.settings import SCHEDULE_FLAGS, SettingsError, TrainSettings, read_config_file
from medloc.builtin import BUILTIN_MODEL, BUILTIN_SCHEDULE_DEFAULTS, BUILTIN_TASK_DEFAULTS
from medloc.tasks import TASKS, task_names
from schedulers.increments import INCREMENT_MODES


def default(name: str) -> Any:
    """The default of setting ``name`` (:class:`TrainSettings`).

    Example:
        >>> default("max_steps"), default("learning_rate")
        (200, 0.0001)
    """
    return {field.name: field.default for field in dataclasses.fields(TrainSettings)}[name]


def task_default_shown(name: str) -> str:
    """The default of setting ``name`` as ``--help`` shows it, with the built-in model's task defaults.

    Example:
        >>> task_default_shown("prompts_per_step")
        '4; built-in model with --task vqa: 16'
    """
    tasks = [f"--task {task}: {_shown(values[name])}" for task, values in BUILTIN_TASK_DEFAULTS.items()
             if name in values]
    return "; built-in model with ".join([_shown(default(name)), *tasks])


def _shown(value: Any) -> str:
    if value is True:
        return "on"
    if value is False:
        return "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def schedule_defaults(schedule: str) -> dict[str, Any]:
    """Every option of ``schedule`` as a schedule built with its defaults has it (an option left at None in
    the signature takes its value from the schedule, e.g. the adaptive rule's preset).

    Example:
        >>> schedule_defaults("fixed")
        {'threshold': 0.5}
    """
    needs_total = getattr(schedulers.schedule_class(schedule), "needs_total_steps", False)
    return schedulers.build(schedule, **({"total_steps": 1} if needs_total else {})).options()


def schedule_flag_help(name: str) -> str:
    """The help of a schedule option's flag: what it sets, the schedules that take it with their defaults
    (from the schedule registry), and the built-in model's own default.

    Example:
        >>> schedule_flag_help("window")
        'steps in the sliding window the schedule decides on [default: adaptive 15, informative 10]'
        >>> schedule_flag_help("total_steps")
        'schedule steps the ramp spans [default: linear / cosine / progress the whole run]'
    """
    takers: dict[str, list[str]] = {}
    for schedule in schedulers.available():
        try:
            options = schedule_defaults(schedule)
        except (TypeError, ValueError):  # a broken plugin is reported when it is used, not by --help
            continue
        if name in options:
            shown = "the whole run" if name == "total_steps" else _shown(options[name])
            takers.setdefault(shown, []).append(schedule)
    defaults = ", ".join(f"{' / '.join(names)} {value}" for value, names in takers.items())
    builtin = [f"{schedule} {_shown(options[name])}" for schedule, options in BUILTIN_SCHEDULE_DEFAULTS.items()
               if name in options]
    return f"{SCHEDULE_FLAGS[name]} [default: {defaults}" + (f"; built-in model: {', '.join(builtin)}" if builtin
                                                             else "") + "]"


def _schedule_flag_options(function: Any) -> Any:
    for name in reversed(SCHEDULE_FLAGS):
        help_text = schedule_flag_help(name)
        if name == "density_guard":
            function = click.option("--density-guard/--no-density-guard", name, default=None, help=help_text)(function)
            continue
        kind = click.Choice(INCREMENT_MODES) if name == "increment" else (
            int if name in ("total_steps", "window") else float
        )
        function = click.option("--" + name.replace("_", "-"), name, type=kind, default=None, help=help_text)(function)
    return function


def _option(*names: str, help: str, shown: str | None = None, **kwargs: Any) -> Any:
    """The flag of a setting (``--max-steps`` sets ``max_steps``; a last name without dashes names the
    setting), default None (= not given); its help ends with the setting's default, or ``shown``."""
    named = not names[-1].startswith("-")
    setting = names[-1] if named else names[0].split("/")[0].removeprefix("--").replace("-", "_")
    text = shown if shown is not None else _shown(default(setting))
    return click.option(*names, default=None, help=f"{help} [default: {text}]", **kwargs)


@click.command(context_settings={"max_content_width": 120})
@_option("--task", type=click.Choice(task_names()),
         help="what the model learns to answer: " + ", ".join(f"{name} ({TASKS[name][1]})" for name in TASKS))
@_option("--class-descriptions", type=click.Path(dir_okay=False), shown="none",
         help="vqa/grade: YAML or JSON file of 'label: description' lines the prompts carry (prior knowledge)")
@_option("--schedule", help=f"the threshold schedule: {', '.join(schedulers.available())} (built-in and installed "
                            "plugins)")
@_schedule_flag_options
@_option("--reward", help="binary: 1[score >= tau], tau from the schedule (every task); soft-iou: the raw IoU "
                          "(grounding, VLM-R1's reward); fuzzy: 1 for the exact grade, 0.5 one grade off (grade, "
                          "VRFT-Aug's reward); with soft-iou and fuzzy the schedule only tracks tau")
@click.option("--schedule-option", "schedule_option", multiple=True, metavar="KEY=VALUE",
              help="any schedule option, e.g. min_hit_rate='[[0, 0.8], [0.6, 0.75]]' (repeatable; the flags "
                   "above set the common ones) [default: none]")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="YAML or JSON file of settings, e.g. a run's settings.json (flags override it) [default: none]")
@_option("--model", help=f"{BUILTIN_MODEL} (built locally and warm-started), a model folder (or a run folder: its "
                         "final_model) or a hub id")
@_option("--data", help="synthetic, a unified jsonl file, or a dataset format (see `medloc data formats`) with "
                        "--data-root")
@_option("--data-root", shown="none", help="dataset folder (or file) for a format given to --data")
@_option("--difficulty", type=click.Choice(list(DIFFICULTIES)), help="synthetic data preset")
@click.option("--data-option", multiple=True, metavar="KEY=VALUE",
              help="dataset reader option, see `medloc data formats` (repeatable) [default: none]")
@_option("--skip-bad/--no-skip-bad", "skip_bad",
         help="skip and count bad dataset rows instead of stopping at the first")
@_option("--reasoning", type=click.Choice(REASONING_LAYOUTS),
         help="prompt layout and format reward: before = <think> then <answer>, after = <answer> then <think>, "
              "none = <answer> only")
@_option("--frame", shown="from the model type: grid-100 for the built-in model, grid-1000 for Qwen2-VL / "
                          "Qwen3-VL, qwen2.5-vl for Qwen2.5-VL",
         help=f"coordinate frame the model writes boxes in: {', '.join(FRAME_NAMES)}")
@_option("--output-dir", shown=f"a new folder {RUNS_DIR}/<time>-<task>-<schedule>",
         help="run folder; one holding an earlier run is refused (see --resume, --overwrite-output-dir)")
@click.option("--overwrite-output-dir", is_flag=True,
              help="replace the run in --output-dir (removes what a run wrote there: checkpoints, final_model, "
                   "tensorboard, summary, metrics, settings, model card; nothing else) [default: off]")
@_option("--max-steps", type=int, shown=task_default_shown("max_steps"), help="GRPO steps (optimizer steps)")
@_option("--num-generations", type=int, help="completions per prompt (G, the GRPO group)")
@_option("--prompts-per-step", type=int, shown=task_default_shown("prompts_per_step"),
         help="prompts per step and device (the batch is this times G)")
@_option("--learning-rate", type=float, shown=task_default_shown("learning_rate"),
         help="GRPO learning rate (AdamW, 10% warmup for the built-in model)")
@_option("--temperature", type=float, help="sampling temperature of the completions")
@_option("--beta", type=float, help="KL coefficient (0: no reference model)")
@_option("--max-completion-length", type=int, help="tokens per completion at most")
@_option("--heldout-rows", type=int, help="rows held out for evaluation (synthetic: a separate split)")
@_option("--train-rows", type=int, shown="enough for the run (synthetic), all (real data)",
         help="synthetic rows to generate / cap on real rows")
@_option("--eval-every", type=int, help="held-out evaluation every N steps, also before GRPO and at the end "
                                        "(0: before and at the end only)")
@_option("--seed", type=int, help="seed of the data, the warm start and GRPO")
@_option("--vision-lr-scale", type=float, shown="0 for the built-in model, 1 otherwise",
         help="vision tower learning rate as a multiple of --learning-rate; 0 freezes it")
@_option("--warm-start/--no-warm-start", "warm_start", help="supervised warm start of the built-in model (cached)")
@_option("--warm-start-steps", type=int, shown="the preset's recipe (medloc.builtin.warmstart.PRESET_RECIPES; "
         "vqa, grade: TASK_RECIPES)", help="warm-start supervised steps (vqa, grade: of each stage)")
@_option("--warm-start-margin", type=float, shown="the preset's: 0.15, standard 0.25, large 0.3; 0 = exact boxes",
         help="warm-start boxes this much looser than the truth, per side, as a fraction of the box size (a "
              "convention gap for GRPO to close)")
@_option("--cache-dir", shown="$XDG_CACHE_HOME/medloc, else ~/.cache/medloc",
         help="warm-start cache")
@click.option("--grpo", "grpo_option", multiple=True, metavar="KEY=VALUE",
              help="any GRPOConfig option, over medloc's, e.g. --grpo bf16=true (repeatable) [default: none]")
@click.option("--resume", is_flag=True, help=f"continue the run in --output-dir (default: the newest run in "
                                             f"{RUNS_DIR}/) from its newest checkpoint, with its recorded settings "
                                             "(flags override them) [default: off]")
@click.option("--quiet", is_flag=True, help="print the summary only: no progress bar, no event lines [default: off]")
def train(**given: Any) -> None:
    """Run GRPO with a reward curriculum, then evaluate held-out rows.

    Each run gets a folder of its own (printed at the end), with the model, a model card (README.md),
    summary.json, metrics.jsonl, settings.json and TensorBoard events.
    """
    resume, quiet, config_file = given.pop("resume"), given.pop("quiet"), given.pop("config_file")
    overwrite = given.pop("overwrite_output_dir")
    command = shlex.join(["medloc", *click.get_current_context().meta.get(ARGV_KEY, ["train"])[1:]])
    try:
        settings = _settings(given, config_file, resume)
        settings = dataclasses.replace(settings, model=model_folder(settings.model)).validate()
    except SettingsError as error:
        raise click.UsageError(str(error)) from None

    from accelerate import PartialState
    from transformers.utils import logging as transformers_logging

    from grounding_data import DataError
    from medloc.app.training import run_settings, run_training
    from medloc.checkpoints import CheckpointError

    transformers_logging.disable_progress_bar()  # its "Loading weights" / "Writing model shards" bars at every save
    # two checkpoints written within a second (short runs) make transformers say its checkpoint order falls back
    # from file times to step numbers, which is the order medloc wants anyway
    transformers_logging.get_logger("transformers.trainer_utils").addFilter(
        lambda record: not record.getMessage().startswith("mtime may not be reliable"))
    # TRL 1.16 itself still calls transformers' deprecated gradient_checkpointing* methods at every
    # generation and save; medloc uses the new names, so only TRL's internal calls are silenced here
    warnings.filterwarnings("ignore", message=r"`(is_)?gradient_checkpointing\w*` is deprecated", category=FutureWarning)

    state = PartialState()
    try:
        settings = _same_on_every_rank(state, lambda: _checked_folder(run_settings(settings), resume, overwrite))
        summary = run_training(settings, progress=not quiet, resume=resume, command=command)
    except SettingsError as error:
        raise click.UsageError(str(error)) from None
    except (DataError, CheckpointError) as error:
        raise click.ClickException(str(error)) from None
    if state.is_main_process:  # under accelerate launch every rank returns the summary
        for line in summary.lines():
            click.echo(line)
    if state.use_distributed:
        # leave the gloo/NCCL group cleanly: left to interpreter exit, a rank can abort in teardown
        # ("terminate called without an active exception") after the run succeeded
        state.wait_for_everyone()
        state.destroy_process_group()


def _checked_folder(settings: TrainSettings, resume: bool, overwrite: bool) -> TrainSettings:
    from medloc.app.run_files import check_output_dir

    check_output_dir(settings.output_dir, resume, overwrite)
    return settings


def _same_on_every_rank(state: Any, decide: Any) -> Any:
    """``decide()`` on the main process (it may touch the run folder), its result (or its error) on every rank."""
    if not state.use_distributed:
        return decide()
    from accelerate.utils import broadcast_object_list

    outcome: list[Any] = [None]
    if state.is_main_process:
        try:
            outcome = [decide()]
        except SettingsError as error:
            outcome = [error]
    broadcast_object_list(outcome, from_process=0)
    if isinstance(outcome[0], SettingsError):
        raise outcome[0]
    return outcome[0]


def _settings(given: dict[str, Any], config_file: str | None, resume: bool = False) -> TrainSettings:
    """Defaults < the resumed run's recorded settings < the ``--config`` file < flags."""
    schedule_options = {name: given.pop(name) for name in SCHEDULE_FLAGS}
    schedule_options = {key: value for key, value in schedule_options.items() if value is not None}
    schedule_options.update(parse_key_values("--schedule-option", given.pop("schedule_option")))
    data_options = parse_key_values("--data-option", given.pop("data_option"))
    grpo_options = parse_key_values("--grpo", given.pop("grpo_option"))
    flags = {**given, "schedule_options": schedule_options, "data_options": data_options, "grpo": grpo_options}
    config = read_config_file(config_file) if config_file else {}
    if resume:
        from medloc.app.run_files import newest_run_dir, read_run_settings

        run_dir = given.get("output_dir") or config.get("output_dir") or str(newest_run_dir(RUNS_DIR))
        config = {**read_run_settings(run_dir), **config, "output_dir": run_dir}
    return TrainSettings.from_sources(config, flags)
