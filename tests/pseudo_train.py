"""Run the ``medloc`` CLI with IoUs derived from the completion text (a test harness, not medloc).

An untrained tiny model never writes a box, so real IoUs are all 0 and the schedule's state would
not depend on what was generated. Here the curriculum's IoUs are a hash of each completion
(``tests.trl_support.pseudo_ious``, through a grounding task registered in its place): the state then
differs as soon as one generated token does.

With ``MEDLOC_TEST_TAU_LOG=<folder>`` every rank appends ``{"step", "tau", "state"}`` after each
optimizer step to ``<folder>/taus.rank<R>.jsonl``, and ``{"answered", "answers"}`` per held-out
evaluation (the rows this rank generated for, the gathered answers it scored) to
``<folder>/heldout.rank<R>.jsonl``.

    python tests/pseudo_train.py train --no-warm-start ...
    accelerate launch --num_processes 2 --cpu tests/pseudo_train.py train ...
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch.distributed as dist  # noqa: E402

import medloc.app.heldout  # noqa: E402
import medloc.curriculum  # noqa: E402
from medloc.tasks import register_task  # noqa: E402
from tests.trl_support import ScoredGrounding, pseudo_ious  # noqa: E402

TAU_LOG_ENV = "MEDLOC_TEST_TAU_LOG"


def install(tau_log: str | None) -> None:
    """Score grounding with the pseudo IoUs; with ``tau_log``, record every rank's tau and schedule state per step."""
    register_task(ScoredGrounding(pseudo_ious))
    if not tau_log:
        return
    curriculum, heldout = medloc.curriculum.ThresholdCurriculum, medloc.app.heldout.HeldoutEvaluation
    step_end, answer, score_answers = curriculum.on_step_end, heldout._answer, heldout._score_answers
    answered: list[int] = []

    def write(name: str, line: dict[str, Any]) -> None:
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        with open(Path(tau_log, f"{name}.rank{rank}.jsonl"), "a") as handle:
            handle.write(json.dumps(line) + "\n")

    def record_step(self: Any, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step_end(self, args, state, control, **kwargs)
        write("taus", {"step": state.global_step, "tau": self.threshold, "state": self.schedule.state_dict()})

    def record_answer(self: Any, rows: Any) -> list[str]:
        answered.append(len(rows))
        return answer(self, rows)

    def record_scoring(self: Any, answers: Any) -> Any:
        write("heldout", {"answered": answered.pop(), "answers": list(answers)})
        return score_answers(self, answers)

    curriculum.on_step_end, heldout._answer, heldout._score_answers = record_step, record_answer, record_scoring


if __name__ == "__main__":
    install(os.environ.get(TAU_LOG_ENV))
    from medloc.app.cli import main

    main(prog_name="medloc")
