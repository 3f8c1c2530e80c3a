"""Fixtures shared by the test modules (test modules never import each other)."""

from __future__ import annotations

import pytest


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
