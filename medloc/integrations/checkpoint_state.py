"""A schedule's state kept next to ``global_step_N`` checkpoints (EasyR1, verl), for exact resumes.

Neither trainer tells a reward function when it saves a checkpoint or which one it resumed
from, so the process that learns keeps two kinds of files:

- ``<checkpoint_dir>/medloc_<name>.json``: the latest state and its owner (the one process
  allowed to learn), rewritten after every step;
- ``<checkpoint_dir>/global_step_N/medloc_<name>.json`` (a *stamp*): the state at checkpoint N.
  Both trainers write a tracker file after saving checkpoint N (EasyR1 ``checkpoint_tracker.json``,
  verl ``latest_checkpointed_iteration.txt``) and save it after step N, before they score the
  batch of step N + 1; so when the learning process sees the tracker change at its next training
  batch, the state it holds is exactly the state at checkpoint N, and it stamps that folder
  (overwriting a stamp left there by an earlier run).

On resume the adapter names the step the trainer resumes from (following the trainer's own
rule); :meth:`CheckpointState.restore` reads that checkpoint's stamp (or, for the checkpoint the
tracker names, the latest state when no batch was scored after it) and deletes the stamps of
newer checkpoints, which the resumed run will save again.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> states = CheckpointState(folder, "iou_curriculum", tracker="latest_checkpointed_iteration.txt", parse=int)
    >>> states.save_latest({"steps_taken": 3})
    >>> states.restore(None) is None  # no checkpoint to resume from: a fresh start
    True
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"global_step_(\d+)$")

OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
"""This process's id in the latest-state file: only the process that learns writes it."""

STARTED = time.time_ns()
"""When this process loaded medloc's adapters (trainers load reward code when they build their workers):
a latest-state file older than this is from an earlier run."""


def checkpoint_step(folder: str | os.PathLike) -> int:
    """N of a ``.../global_step_N`` folder; ``ValueError`` naming the path otherwise.

    Example:
        >>> checkpoint_step("/runs/a/global_step_40/")
        40
    """
    match = CHECKPOINT_PATTERN.match(Path(folder).name)
    if match is None:
        raise ValueError(f"{folder}: not a checkpoint folder (expected a path ending in global_step_N)")
    return int(match.group(1))


class CheckpointState:
    """Where one named schedule's state lives in a trainer's checkpoint folder.

    Args:
        checkpoint_dir: the folder holding ``global_step_N`` checkpoints (EasyR1:
            ``trainer.save_checkpoint_path``; verl: ``trainer.default_local_dir``). Must be
            absolute: reward workers do not share the trainer's working directory.
        name: the curriculum's name; the files are ``medloc_<name>.json``.
        tracker: the file in ``checkpoint_dir`` the trainer rewrites after every save.
        parse: the step of the last checkpoint saved, from the tracker's text.
    """

    def __init__(self, checkpoint_dir: str | os.PathLike, name: str, tracker: str,
                 parse: Callable[[str], int]) -> None:
        if not os.path.isabs(checkpoint_dir):
            raise ValueError(f"checkpoint_dir {str(checkpoint_dir)!r} must be an absolute path: the reward worker's "
                             f"working directory is not the trainer's")
        self.checkpoint_dir = Path(checkpoint_dir)
        self.file_name = f"medloc_{name}.json"
        self.tracker = self.checkpoint_dir / tracker
        self.parse = parse
        self._seen_tracker = self._tracker_mark()
        mtime = self._latest_mtime()
        self._seen_mtime = mtime if mtime is not None and mtime < STARTED else None  # this run's: follow it

    @property
    def latest_file(self) -> Path:
        """The file holding the latest state."""
        return self.checkpoint_dir / self.file_name

    def stamp_file(self, step: int) -> Path:
        """The stamp of checkpoint ``step``."""
        return self.checkpoint_dir / f"global_step_{step}" / self.file_name

    def saved_step(self) -> int | None:
        """The step of the last checkpoint the trainer saved (its tracker), or None.

        Example:
            >>> import tempfile
            >>> CheckpointState(tempfile.mkdtemp(), "c", "tracker.txt", int).saved_step() is None
            True
        """
        if not self.tracker.is_file():
            return None
        try:
            return int(self.parse(self.tracker.read_text()))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{self.tracker}: cannot read the last checkpoint's step: {error!r}") from None

    def _tracker_mark(self) -> tuple[int | None, int | None]:
        return self.saved_step(), (self.tracker.stat().st_mtime_ns if self.tracker.is_file() else None)

    def _latest_mtime(self) -> int | None:
        return self.latest_file.stat().st_mtime_ns if self.latest_file.is_file() else None

    def stamp_new_checkpoint(self, state: dict[str, Any]) -> Path | None:
        """Stamp the checkpoint saved since the last call (tracker changed) with ``state``; the file written."""
        mark = self._tracker_mark()
        if mark == self._seen_tracker or mark[0] is None:
            return None
        self._seen_tracker = mark
        _write_json(self.stamp_file(mark[0]), {"owner": OWNER, "state": state})
        return self.stamp_file(mark[0])

    def save_latest(self, state: dict[str, Any]) -> None:
        """Rewrite the latest-state file; ``RuntimeError`` if another process of this run learned too."""
        mtime = self._latest_mtime()
        if mtime is not None and mtime >= STARTED and mtime != self._seen_mtime:
            owner = _read_json(self.latest_file).get("owner")
            if owner != OWNER:
                raise RuntimeError(
                    f"{self.latest_file}: another process ({owner}) is stepping the same schedule; only the "
                    f"training reward worker may learn (mark validation rows split='val')")
        _write_json(self.latest_file, {"owner": OWNER, "state": state})
        self._seen_mtime = self._latest_mtime()

    def restore(self, step: int | None) -> dict[str, Any] | None:
        """The state at checkpoint ``step`` (None: a fresh start); forgets the stamps of newer checkpoints.

        A checkpoint without a stamp is the last one saved when no batch was scored after it, so
        its state is the latest state.
        """
        self._discard_stamps_after(-1 if step is None else step)
        if step is None:
            return None
        stamp = self.stamp_file(step)
        if stamp.is_file():
            return _read_json(stamp)["state"]
        if step == self.saved_step() and self.latest_file.is_file():
            return _read_json(self.latest_file)["state"]
        logger.warning("%s holds no medloc state (%s): the schedule starts fresh.", stamp.parent, self.file_name)
        return None

    def _discard_stamps_after(self, step: int) -> None:
        if not self.checkpoint_dir.is_dir():
            return
        for folder in self.checkpoint_dir.iterdir():
            match = CHECKPOINT_PATTERN.match(folder.name)
            if match and int(match.group(1)) > step:
                (folder / self.file_name).unlink(missing_ok=True)

    def changed_latest(self) -> dict[str, Any] | None:
        """The latest state if another process rewrote it since this one last looked, else None.

        Lets a process that only scores (a validation worker) follow the one that learns; a
        file left by an earlier run (older than :data:`STARTED`) is not followed.
        """
        mtime = self._latest_mtime()
        if mtime is None or mtime == self._seen_mtime:
            return None
        self._seen_mtime = mtime
        return _read_json(self.latest_file)["state"]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable medloc schedule state: {exc}") from exc
    if not isinstance(data, dict) or "state" not in data:
        raise ValueError(f"{path}: not a medloc schedule state (expected {{'owner', 'state'}})")
    return data
