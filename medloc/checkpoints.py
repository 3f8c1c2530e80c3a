"""Checkpoints of a GRPO run: pick the one to resume, check it up front, load its weights correctly.

Three things go wrong on resume without this module:

- a run killed while saving leaves a ``checkpoint-N`` folder without ``trainer_state.json``
  (transformers writes it last) and transformers resumes from the highest ``N`` anyway, then fails
  deep inside ``Trainer.train``; :func:`find_resume_checkpoint` skips such folders (with a warning);
- a truncated ``trainer_state.json`` or a malformed ``medloc:*`` entry surfaces as a JSON or
  ``KeyError`` traceback from a library; :func:`check_checkpoint` raises :class:`CheckpointError`
  naming the file first;
- transformers 5.23's ``Trainer._load_from_checkpoint`` loads ``model.safetensors`` with
  ``load_state_dict(strict=False)`` and no key renaming, while ``save_pretrained`` writes models
  with a checkpoint conversion mapping (Qwen2-VL, Qwen2.5-VL, ...) under their original key names:
  no key matches, the resumed policy silently keeps its *initial* weights (a "missing keys" log
  line only; huggingface/transformers#43701). :func:`load_checkpoint_weights` loads them through
  ``from_pretrained``, which renames the keys.

Example:
    >>> find_resume_checkpoint("/no/such/run") is None
    True
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

TRAINER_STATE_FILE = "trainer_state.json"
_CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed; the message names the file and what is wrong."""


def find_resume_checkpoint(output_dir: str | os.PathLike[str]) -> Path | None:
    """The newest ``checkpoint-N`` in ``output_dir`` that holds a ``trainer_state.json`` (None if none).

    Folders without one (a save interrupted by a crash) are skipped with a warning.

    Example:
        >>> import tempfile
        >>> run = Path(tempfile.mkdtemp())
        >>> for step in (2, 4):
        ...     (run / f"checkpoint-{step}").mkdir()
        >>> (run / "checkpoint-2" / TRAINER_STATE_FILE).write_text("{}") and find_resume_checkpoint(run).name
        'checkpoint-2'
    """
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    numbered = [(int(match.group(1)), path) for path in folder.iterdir()
                if path.is_dir() and (match := _CHECKPOINT_NAME.match(path.name))]
    for _, path in sorted(numbered, reverse=True):
        if (path / TRAINER_STATE_FILE).is_file():
            return path
        logger.warning("Skipping %s: it has no %s (a save that did not finish).", path, TRAINER_STATE_FILE)
    return None


def read_trainer_state(checkpoint: str | os.PathLike[str]) -> Any:
    """The checkpoint's ``TrainerState``; :class:`CheckpointError` naming the file if it cannot be read.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / TRAINER_STATE_FILE).write_text('{"global_step": 3, "log_hi')
        >>> read_trainer_state(folder)
        Traceback (most recent call last):
        ...
        medloc.checkpoints.CheckpointError: .../trainer_state.json is not valid JSON (truncated?): ...
    """
    from transformers import TrainerState

    file = Path(checkpoint) / TRAINER_STATE_FILE
    try:
        content = json.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise CheckpointError(f"{file}: cannot read it ({error.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{file} is not valid JSON (truncated?): {error}; remove {file.parent} to resume "
                              "from the checkpoint before it") from None
    if not isinstance(content, dict) or not isinstance(content.get("global_step"), int):
        raise CheckpointError(f"{file} is not a trainer state (no integer 'global_step')")
    try:
        return TrainerState(**content)
    except TypeError as error:
        raise CheckpointError(f"{file} is not a trainer state: {error}") from None


def load_schedule_state(schedule: Any, saved: Any, where: str) -> None:
    """``schedule.load_state_dict(saved)``; a malformed ``saved`` raises :class:`CheckpointError` naming ``where``.

    Example:
        >>> import schedulers
        >>> load_schedule_state(schedulers.build("fixed"), {"schedule": "fixed"}, "ckpt/trainer_state.json")
        Traceback (most recent call last):
        ...
        medloc.checkpoints.CheckpointError: ckpt/trainer_state.json: malformed schedule state ...
    """
    try:
        schedule.load_state_dict(saved)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{where}: malformed schedule state ({type(error).__name__}: {error})") from None


def check_checkpoint(checkpoint: str | os.PathLike[str], schedules: Mapping[str, Any]) -> Any:
    """Check that ``checkpoint`` can be resumed; return its ``TrainerState``.

    ``schedules`` maps each curriculum's state key (``medloc:<name>``) to its schedule; every
    entry present in the checkpoint is test-loaded into a copy. Missing entries are fine (the
    curriculum then starts fresh, with a warning).

    Example:
        >>> import tempfile, schedulers
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / TRAINER_STATE_FILE).write_text(
        ...     '{"global_step": 3, "stateful_callbacks": {"medloc:iou_curriculum": [1, 2]}}')
        >>> check_checkpoint(folder, {"medloc:iou_curriculum": schedulers.build("adaptive")})
        Traceback (most recent call last):
        ...
        medloc.checkpoints.CheckpointError: .../trainer_state.json: 'medloc:iou_curriculum': malformed ...
    """
    state = read_trainer_state(checkpoint)
    saved_states = state.stateful_callbacks or {}
    file = Path(checkpoint) / TRAINER_STATE_FILE
    for key, schedule in schedules.items():
        if key in saved_states:
            load_schedule_state(copy.deepcopy(schedule), saved_states[key], f"{file}: {key!r}")
    return state


def resume_checkpoint(output_dir: str | os.PathLike[str], schedules: Mapping[str, Any]) -> Path | None:
    """The checkpoint ``--resume`` continues from (:func:`find_resume_checkpoint`), checked (:func:`check_checkpoint`).

    Example:
        >>> resume_checkpoint("/no/such/run", {}) is None
        True
    """
    checkpoint = find_resume_checkpoint(output_dir)
    if checkpoint is not None:
        check_checkpoint(checkpoint, schedules)
    return checkpoint


def _saved_weight_names(checkpoint: Path) -> set[str] | None:
    single, index = checkpoint / "model.safetensors", checkpoint / "model.safetensors.index.json"
    if single.is_file():
        from safetensors import safe_open

        with safe_open(str(single), framework="pt") as handle:
            return set(handle.keys())
    if index.is_file():
        return set(json.loads(index.read_text())["weight_map"])
    return None


def load_checkpoint_weights(model: Any, checkpoint: str | os.PathLike[str]) -> bool:
    """Load ``checkpoint``'s weights into ``model`` when their names need renaming; whether it did.

    When the saved names are the model's own (most models), returns False and leaves the work to
    transformers. Otherwise loads the checkpoint with ``type(model).from_pretrained`` (which
    applies the model's key conversion) and copies every tensor in, strictly: a checkpoint that
    still does not fit raises :class:`CheckpointError`.

    Example:
        >>> import torch
        >>> load_checkpoint_weights(torch.nn.Linear(2, 2), "/no/such/checkpoint")
        False
    """
    from transformers import PreTrainedModel

    folder = Path(checkpoint)
    saved = _saved_weight_names(folder) if isinstance(model, PreTrainedModel) else None
    if not saved or saved <= set(model.state_dict()):
        return False
    loaded = type(model).from_pretrained(str(folder), dtype=model.dtype)
    try:
        model.load_state_dict(loaded.state_dict(), strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{folder}: the saved weights do not fit the model: {error}") from None
    logger.info("Loaded the weights of %s with key renaming (transformers' resume would not match them).", folder)
    return True
