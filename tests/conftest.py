"""Fixtures shared by the test modules (test modules never import each other)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
"""Real data copies, read-only: ``../shared/data`` next to the project (``MEDLOC_SHARED_DATA`` overrides)."""


@pytest.fixture
def shared_data() -> Path:
    """The folder of real data copies; the test is skipped where there is none."""
    folder = Path(os.environ.get("MEDLOC_SHARED_DATA", SHARED_DATA))
    if not folder.is_dir():
        pytest.skip(f"no real data copies at {folder}")
    return folder


@pytest.fixture
def scored_grounding(monkeypatch):
    """Register, for one test, a grounding task whose curriculum scores completions with a given metric.

    ``scored_grounding(metric)`` makes ``medloc train --task grounding`` (in this process) learn from
    ``metric(completions, columns)`` instead of the IoU; the registry is restored afterwards.
    """
    import medloc.tasks
    from tests.trl_support import ScoredGrounding

    monkeypatch.setattr(medloc.tasks, "_registered", dict(medloc.tasks._registered))

    def register(metric):
        return medloc.tasks.register_task(ScoredGrounding(metric))

    return register
