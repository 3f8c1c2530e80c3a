"""A schedule's state kept next to ``global_step_N`` checkpoints (EasyR1, verl), for exact resumes.

Neither trainer tells a reward function when it saves a checkpoint or which one it resumed
from, so the process that learns keeps two files:

- ``<checkpoint_dir>/medloc_<name>.json``: the latest state, rewritten after every step;
- ``<checkpoint_dir>/global_step_N/medloc_<name>.json``: the state at checkpoint N, written
  by :meth:`CheckpointState.stamp` at the next training batch (both trainers save checkpoint
  N after step N and before they compute the rewards of step N + 1, so the state at that
  moment is exactly the state at the checkpoint).

On resume, :meth:`CheckpointState.restore` reads the state of the checkpoint the trainer
resumes from (the newest one by default). If that checkpoint has no stamp, no batch was
scored after it was saved, so the latest state is exactly its state.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> states = CheckpointState(folder, "iou_curriculum")
    >>> states.save_latest({"steps_taken": 3})
    >>> states.restore() is None  # no checkpoint yet: a fresh start
    True
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"global_step_(\d+)$")


class CheckpointState:
    """Where one named schedule's state lives in a trainer's checkpoint folder.

    Args:
        checkpoint_dir: the folder holding ``global_step_N`` checkpoints (EasyR1:
            ``trainer.save_checkpoint_path``; verl: ``trainer.default_local_dir``).
        name: the curriculum's name; the files are ``medloc_<name>.json``.
    """

    def __init__(self, checkpoint_dir: str | os.PathLike, name: str) -> None:
        self.checkpoint_dir = Path(checkpoint_dir)
        self.file_name = f"medloc_{name}.json"
        self._seen_mtime: float | None = None

    @property
    def latest_file(self) -> Path:
        """The file holding the latest state."""
        return self.checkpoint_dir / self.file_name

    def newest_checkpoint(self) -> Path | None:
        """The ``global_step_N`` folder with the largest N, or None.

        Example:
            >>> CheckpointState("/nonexistent", "x").newest_checkpoint() is None
            True
        """
        if not self.checkpoint_dir.is_dir():
            return None
        found = [(int(m.group(1)), p) for p in self.checkpoint_dir.iterdir()
                 if p.is_dir() and (m := CHECKPOINT_PATTERN.match(p.name))]
        return max(found)[1] if found else None

    def stamp(self, state: dict[str, Any]) -> Path | None:
        """Write ``state`` into the newest checkpoint if it has none yet; return the file written."""
        newest = self.newest_checkpoint()
        if newest is None or (newest / self.file_name).exists():
            return None
        _write_json(newest / self.file_name, state)
        return newest / self.file_name

    def save_latest(self, state: dict[str, Any]) -> None:
        """Rewrite the latest-state file (atomically)."""
        _write_json(self.latest_file, state)
        self._seen_mtime = self.latest_file.stat().st_mtime

    def restore(self, resume_from: str | os.PathLike | None = None) -> dict[str, Any] | None:
        """The state at the checkpoint the trainer resumes from, or None for a fresh start.

        ``resume_from`` is that checkpoint folder when the trainer was told one explicitly;
        by default the newest ``global_step_N`` (what EasyR1 and verl resume from on their own).
        """
        newest = self.newest_checkpoint()
        folder = Path(resume_from) if resume_from is not None else newest
        if folder is None:
            return None
        if (folder / self.file_name).is_file():
            return _read_json(folder / self.file_name)
        if newest is not None and folder.resolve() == newest.resolve() and self.latest_file.is_file():
            return _read_json(self.latest_file)
        logger.warning("%s holds no medloc state (%s): the schedule starts fresh.", folder, self.file_name)
        return None

    def changed_latest(self) -> dict[str, Any] | None:
        """The latest state if the file changed since this object last wrote or read it, else None.

        Lets a process that only scores (a validation worker) follow the one that learns.
        """
        if not self.latest_file.is_file():
            return None
        mtime = self.latest_file.stat().st_mtime
        if mtime == self._seen_mtime:
            return None
        self._seen_mtime = mtime
        return _read_json(self.latest_file)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable medloc schedule state: {exc}") from exc
