"""Settings of a ``medloc train`` run: defaults < ``--config`` file < flags, validated up front.

Every check here runs before a model is built or a dataset read, and every error names the
setting (as its command-line flag) and what is allowed.

Example:
    >>> settings = TrainSettings.from_sources(flags={"schedule": "fixed", "schedule_options": {"threshold": 0.5}})
    >>> settings.validate().schedule
    'fixed'
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

import schedulers
from grounding_data.answer_format import REASONING_LAYOUTS
from grounding_data.frames import get_frame
from medloc.priors import read_class_descriptions
from medloc.builtin import BUILTIN_MODEL, BUILTIN_SCHEDULE_DEFAULTS, BUILTIN_TASK_DEFAULTS, is_builtin_model

SYNTHETIC = "synthetic"
SCHEDULE_FLAGS = {
    "threshold": "the constant threshold",
    "start": "the first threshold",
    "target": "the final threshold",
    "total_steps": "schedule steps the ramp spans",
    "window": "steps in the sliding window the schedule decides on",
    "increment": "how a raise of tau is sized",
    "min_margin": "minimum margin of the window's scores over tau for a raise "
                  "(Delta; see --schedule-option margin_estimate)",
    "refresh_fraction": "share of the window dropped after a raise",
    "density_guard": "hold tau while the next one would starve most GRPO groups",
}
"""Schedule options with a flag of their own (name -> what it sets; ``medloc train --help`` adds which schedules
take it and their defaults); any other goes through ``--schedule-option KEY=VALUE``."""


def default_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where medloc caches warm-started models unless ``--cache-dir`` says otherwise:
    ``$XDG_CACHE_HOME/medloc`` (the XDG base-directory spec; a relative value is ignored, as the spec
    says), else ``~/.cache/medloc``.

    Example:
        >>> str(default_cache_dir({"XDG_CACHE_HOME": "/var/cache/me"}))
        '/var/cache/me/medloc'
        >>> home_cache = Path.home() / ".cache" / "medloc"
        >>> default_cache_dir({}) == default_cache_dir({"XDG_CACHE_HOME": "relative"}) == home_cache
        True
    """
    xdg = environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "medloc"


class SettingsError(ValueError):
    """An invalid setting; ``option`` is the flag that names it (e.g. ``--window``)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # picklable across worker processes
        return type(self), (self.option, self.message)


def flag(name: str) -> str:
    """The command-line flag of a setting name.

    Example:
        >>> flag("max_steps")
        '--max-steps'
    """
    return "--" + name.replace("_", "-")


@dataclasses.dataclass
class TrainSettings:
    """Everything ``medloc train`` needs. Field names are the config-file keys; flags use dashes.

    Attributes:
        schedule: schedule name (built-in or plugin).
        schedule_options: the schedule's options (``--threshold``, ``--window``, ``--schedule-option``...); the
            built-in model adds its defaults (:meth:`run_schedule_options`).
        reward: ``binary`` (1[score >= tau] with tau from the schedule), ``soft-iou`` (grounding: the raw IoU,
            VLM-R1's reward) or ``fuzzy`` (grade: VRFT-Aug's partial credit by grade distance); with the last
            two the schedule only tracks and logs.
        model: ``medloc/tiny-qwen2-vl`` (built locally, warm-started) or a path / hub id.
        data: ``synthetic``, a unified jsonl path, or a dataset format name (with ``data_root``).
        difficulty: synthetic data preset, a name in ``grounding_data.synthetic.DIFFICULTIES`` (``easy``,
            ``standard``, ``distractors``, ``large``): warm start, GRPO and held-out rows.
        data_root: dataset folder for a format name.
        data_options: extra reader options (``--data-option KEY=VALUE``).
        skip_bad: skip and count bad dataset rows instead of stopping at the first.
        heldout_rows: rows held out for evaluation (synthetic: a separate split).
        train_rows: synthetic rows to generate, or a cap on real rows; default: enough for the run.
        reasoning: prompt layout and format reward: ``before``, ``after`` or ``none``.
        frame: coordinate frame the model writes in; default from the model type.
        output_dir: run folder (checkpoints, TensorBoard events, summary, model card); default (None): a
            new folder under ``medloc-runs/`` (:func:`medloc.app.run_files.new_run_dir`).
        max_steps: GRPO optimizer steps.
        num_generations: completions per prompt (G).
        prompts_per_step: prompts per optimizer step (per device); the batch is this times G.
        learning_rate, temperature, beta, max_completion_length, seed: GRPO settings. The built-in model
            runs some tasks with other defaults for ``max_steps``, ``prompts_per_step`` and ``learning_rate``
            (:data:`medloc.builtin.BUILTIN_TASK_DEFAULTS`, applied by :meth:`from_sources`).
        eval_every: held-out evaluation every N steps (0: only at the end).
        vision_lr_scale: the vision tower's learning rate as a multiple of ``learning_rate``;
            0 freezes it. Default (None): 0 for the built-in model (at GRPO's learning rate its image
            tokens collapse, see the findings file), 1 for other models.
        warm_start: run the supervised warm start of the built-in model (cached).
        warm_start_steps: warm-start SFT steps (default: the warm start's own default).
        warm_start_margin: how much looser than the truth the warm start's boxes are, as a fraction of
            the box size per side (default: the preset's, 0.15, ``standard`` 0.25, ``large`` 0.3; 0 trains on
            the exact boxes). See
            ``medloc.builtin.warmstart.WarmStartConfig.label_margin``.
        cache_dir: where warm-started models are cached; default (None): :func:`default_cache_dir`.
        grpo: pass-through ``GRPOConfig`` options (``--grpo KEY=VALUE``).
        task: ``grounding`` (boxes), ``vqa`` (multiple choice) or ``grade`` (ordinal labels), or any
            registered task; see :mod:`medloc.tasks`.
        class_descriptions: a YAML/JSON file ``label: description`` whose descriptions the
            ``vqa`` / ``grade`` prompts carry (prior knowledge).
    """

    schedule: str = "adaptive"
    schedule_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    reward: str = "binary"
    model: str = BUILTIN_MODEL
    data: str = SYNTHETIC
    difficulty: str = "easy"
    data_root: str | None = None
    data_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    skip_bad: bool = False
    heldout_rows: int = 128
    train_rows: int | None = None
    reasoning: str = "none"
    frame: str | None = None
    output_dir: str | None = None
    max_steps: int = 200
    num_generations: int = 8
    prompts_per_step: int = 4
    learning_rate: float = 1e-4
    temperature: float = 0.5
    beta: float = 0.04
    max_completion_length: int = 24
    seed: int = 0
    eval_every: int = 50
    vision_lr_scale: float | None = None
    warm_start: bool = True
    warm_start_steps: int | None = None
    warm_start_margin: float | None = None
    cache_dir: str | None = None
    grpo: dict[str, Any] = dataclasses.field(default_factory=dict)
    task: str = "grounding"
    class_descriptions: str | None = None

    @classmethod
    def from_sources(
        cls, config: Mapping[str, Any] | None = None, flags: Mapping[str, Any] | None = None
    ) -> TrainSettings:
        """Defaults, overridden by a config mapping, overridden by flags (``None`` = not given).

        Mappings (``schedule_options``, ``data_options``, ``grpo``) are merged key by key. The built-in
        model's task defaults (:data:`medloc.builtin.BUILTIN_TASK_DEFAULTS`) fill what neither gives.

        Example:
            >>> TrainSettings.from_sources(flags={"task": "vqa"}).prompts_per_step
            16
            >>> TrainSettings.from_sources(flags={"task": "vqa", "prompts_per_step": 4}).prompts_per_step
            4
        """
        known = {field.name for field in dataclasses.fields(cls)}
        merged: dict[str, Any] = {}
        for source_name, source in (("--config", config or {}), ("flags", flags or {})):
            for key, value in source.items():
                if key not in known:
                    hint = difflib.get_close_matches(key, known, n=1)
                    raise SettingsError(
                        source_name if source_name == "--config" else flag(key),
                        f"unknown setting {key!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""),
                    )
                if value is None:
                    continue
                if key in ("schedule_options", "data_options", "grpo"):
                    if not isinstance(value, Mapping):
                        raise SettingsError(flag(key), f"must be a mapping of options, got {value!r}")
                    merged[key] = {**merged.get(key, {}), **value}
                else:
                    merged[key] = value
        if is_builtin_model(merged.get("model")):
            for key, value in BUILTIN_TASK_DEFAULTS.get(merged.get("task", cls.task), {}).items():
                merged.setdefault(key, value)
        return cls(**merged)

    def run_schedule_options(self) -> dict[str, Any]:
        """The schedule's options for this run: those given, over the built-in model's defaults
        (:data:`medloc.builtin.BUILTIN_SCHEDULE_DEFAULTS`, grounding jobs only).

        Example:
            >>> TrainSettings().run_schedule_options()
            {'min_margin': 0.05}
            >>> TrainSettings(schedule_options={"min_margin": 0.1}).run_schedule_options()
            {'min_margin': 0.1}
            >>> TrainSettings(model="Qwen/Qwen2.5-VL-3B-Instruct").run_schedule_options()
            {}
        """
        builtin_grounding = is_builtin_model(self.model) and self.task == "grounding"  # where they were measured
        defaults = BUILTIN_SCHEDULE_DEFAULTS.get(self.schedule, {}) if builtin_grounding else {}
        return {**defaults, **self.schedule_options}

    def warm_start_cache(self) -> Path:
        """The warm-start cache folder of this run: ``cache_dir``, else :func:`default_cache_dir`.

        Example:
            >>> TrainSettings(cache_dir="~/c").warm_start_cache() == Path.home() / "c"
            True
        """
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()

    def validate(self) -> TrainSettings:
        """Check every setting; raise :class:`SettingsError` naming the first bad one. Returns self."""
        self._check_schedule()
        for name in ("max_steps", "num_generations", "prompts_per_step", "heldout_rows", "max_completion_length"):
            self._check_int(name, minimum=1)
        self._check_int("eval_every", minimum=0)
        if self.num_generations < 2:
            raise SettingsError("--num-generations", "GRPO needs at least 2 completions per prompt")
        if self.train_rows is not None:
            self._check_int("train_rows", minimum=1)
        if self.warm_start_steps is not None:
            self._check_int("warm_start_steps", minimum=1)
        margin = self.warm_start_margin
        if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))
                                   or not 0 <= margin <= 1):
            raise SettingsError(flag("warm_start_margin"), f"must be a number in [0, 1], got {margin!r}")
        for name, low in (("learning_rate", 0.0), ("temperature", 0.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > low:
                raise SettingsError(flag(name), f"must be a number > {low:g}, got {value!r}")
        scale = self.vision_lr_scale
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale < 0):
            raise SettingsError("--vision-lr-scale", f"must be a number >= 0, got {scale!r}")
        if isinstance(self.beta, bool) or not isinstance(self.beta, (int, float)) or self.beta < 0:
            raise SettingsError("--beta", f"must be a number >= 0, got {self.beta!r}")
        from grounding_data.synthetic import DIFFICULTIES

        if self.difficulty not in DIFFICULTIES:
            raise SettingsError("--difficulty", f"must be one of {', '.join(DIFFICULTIES)}, got {self.difficulty!r}")
        if self.reasoning not in REASONING_LAYOUTS:
            raise SettingsError("--reasoning", f"must be one of {', '.join(REASONING_LAYOUTS)}, got {self.reasoning!r}")
        if self.frame is not None:
            try:
                get_frame(self.frame)
            except ValueError as error:
                raise SettingsError("--frame", str(error)) from None
        self._check_data()
        self._check_model()
        self._check_grpo()
        return self

    def _check_int(self, name: str, minimum: int) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SettingsError(flag(name), f"must be an integer >= {minimum}, got {value!r}")

    def _check_schedule(self) -> None:
        from medloc.curriculum_core import check_schedule_options

        if self.schedule not in schedulers.available():
            raise SettingsError(
                "--schedule", f"unknown schedule {self.schedule!r}; available: {', '.join(schedulers.available())}"
            )
        options = self.run_schedule_options()
        try:
            check_schedule_options(self.schedule, options)
        except (TypeError, ValueError) as error:
            message = str(error)
            named = [key for key in options if f"'{key}'" in message]
            if not named:
                raise SettingsError("--schedule", message) from None
            option = flag(named[0]) if named[0] in SCHEDULE_FLAGS else f"--schedule-option {named[0]}"
            raise SettingsError(option, message) from None

    def _check_data(self) -> None:
        from medloc.tasks import get_task, task_names

        try:
            task = get_task(self.task)
        except ValueError:
            raise SettingsError("--task", f"must be one of {', '.join(task_names())}, got {self.task!r}") from None
        if self.class_descriptions is not None:
            check_descriptions_task(task)
            try:
                read_class_descriptions(self.class_descriptions)
            except ValueError as error:
                raise SettingsError("--class-descriptions", str(error)) from None
        if self.reward not in task.reward_kinds:
            raise SettingsError("--reward", f"must be one of {', '.join(task.reward_kinds)} for --task {task.name}, "
                                            f"got {self.reward!r}")
        check_data(self.task, self.data, self.data_root)

    def _check_model(self) -> None:
        if is_builtin_model(self.model):
            return
        if not isinstance(self.model, str) or not self.model:
            raise SettingsError("--model", f"must be {BUILTIN_MODEL!r}, a local folder or a hub id")
        looks_local = self.model.startswith((".", "/", "~")) or os.sep in self.model.strip("/").split("/", 1)[-1]
        if looks_local and not Path(self.model).expanduser().is_dir():
            raise SettingsError("--model", f"{self.model} is not a folder with a saved model")

    def _check_grpo(self) -> None:
        """Every ``--grpo`` key names a ``GRPOConfig`` option; the values are checked when the run builds
        its one ``GRPOConfig`` (:func:`medloc.app.grpo_config.grpo_arguments`), before any data or model."""
        from trl import GRPOConfig

        fields = {field.name for field in dataclasses.fields(GRPOConfig)}
        for key in self.grpo:
            if key not in fields:
                hint = difflib.get_close_matches(key, fields, n=1)
                raise SettingsError(
                    "--grpo", f"GRPOConfig has no option {key!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
                )


def check_descriptions_task(task: Any) -> None:
    """Raise :class:`SettingsError` naming ``--class-descriptions`` unless ``task``'s prompts carry class descriptions.

    Example:
        >>> from medloc.tasks import get_task
        >>> check_descriptions_task(get_task("grounding"))
        Traceback (most recent call last):
        ...
        medloc.app.settings.SettingsError: --class-descriptions: prior knowledge is for --task vqa or --task grade
    """
    from medloc.tasks import get_task, task_names

    if not task.uses_descriptions:
        takers = [name for name in task_names() if get_task(name).uses_descriptions]
        raise SettingsError("--class-descriptions", f"prior knowledge is for --task {' or --task '.join(takers)}")


def check_data(task: str, data: str, data_root: str | None) -> None:
    """Check that ``data`` (``--data``) is something ``task`` reads: ``synthetic``, a dataset format for
    that task with an existing ``data_root``, or (grounding) a unified jsonl file.

    Example:
        >>> check_data("grade", "med-r1", "data/Splits")
        Traceback (most recent call last):
        ...
        medloc.app.settings.SettingsError: --data: --task grade reads 'synthetic' or a grade format (graded-jsonl), got 'med-r1' (a vqa format)
    """
    if data == SYNTHETIC:
        return
    from grounding_data.formats import FORMATS
    from grounding_data.registry import JSONL_TASK, formats

    spec = FORMATS.get(data)
    if spec is not None and spec.task == task:
        if not data_root:
            raise SettingsError("--data-root", f"dataset format {data!r} needs the dataset folder or file")
        if not Path(data_root).expanduser().exists():
            raise SettingsError("--data-root", f"{data_root} does not exist")
        return
    if spec is None and task == JSONL_TASK and Path(data).expanduser().is_file():
        return
    jsonl = ", an existing unified jsonl file" if task == JSONL_TASK else ""
    hint = f" (a {spec.task} format)" if spec is not None else ""
    raise SettingsError("--data", f"--task {task} reads 'synthetic'{jsonl} or a {task} format "
                                  f"({', '.join(formats(task))}), got {data!r}{hint}")


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML or JSON config file into a mapping of settings.

    Example:
        >>> import tempfile, pathlib
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "run.yaml"
        >>> _ = file.write_text("schedule: fixed\\nschedule_options: {threshold: 0.5}\\n")
        >>> read_config_file(file)["schedule_options"]
        {'threshold': 0.5}
    """
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as error:
        raise SettingsError("--config", f"cannot read {file}: {error.strerror}") from None
    try:
        content = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise SettingsError("--config", f"{file} is not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {error}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise SettingsError("--config", f"{file} must hold a mapping of settings, got {type(content).__name__}")
    return content
