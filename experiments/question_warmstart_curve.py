"""Learning curve of a question task's warm start: held-out accuracy and valid-answer rate along its
supervised stage, from the grounding warm start (what ``TASK_RECIPES``' step counts were chosen from).

The question stage is ``medloc train --task TASK``'s own (``medloc.app.model_setup.warm_start_config``:
the task's recipe, the grounding warm start as its start, cached), run for ``--steps`` with
greedy probes at the ``--at`` steps. One JSON line per probe is appended to
``experiments/results/question_warmstart_curve.jsonl``; ``--table`` prints the file.

Usage::

    python experiments/question_warmstart_curve.py --task vqa --steps 400 --at 25 50 100 200 300 400
    python experiments/question_warmstart_curve.py --table
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from medloc.app.model_setup import warm_start_config
from medloc.app.settings import TrainSettings
from medloc.builtin.warmstart import train_once, warm_start
from medloc.builtin.warmstart_probe import AnswerProbe
from medloc.tasks import get_task

RESULTS = Path(__file__).parent / "results" / "question_warmstart_curve.jsonl"
OPTION_ORDER = {"vqa": {"option_order": "fixed"}}
"""How the synthetic VQA rows order their options (lines written before rows version 2 say ``shuffled``)."""


def run(args: argparse.Namespace) -> None:
    """Train the question stage once, probing at ``args.at``; append one line per probe."""
    settings = TrainSettings(task=args.task, seed=args.seed, reasoning=args.reasoning)
    config = dataclasses.replace(warm_start_config(settings), max_steps=args.steps,
                                 learning_rate=args.learning_rate or warm_start_config(settings).learning_rate)
    task = get_task(args.task)
    base = warm_start(settings.warm_start_cache() / "warmstart", config.base, seed=args.seed, keep_stalled=True)
    rows = task.synthetic_rows("heldout", args.probe_rows, config.synthetic, args.seed)
    started = time.time()
    probe_seconds = 0.0

    def on_step(step: int, model: Any, processor: Any) -> None:
        nonlocal probe_seconds
        if step not in args.at:
            return
        probe_started = time.time()
        result = AnswerProbe(task).measure(model, processor, rows, config)
        probe_seconds += time.time() - probe_started
        line = {"task": args.task, "seed": args.seed, "steps": config.max_steps, "reasoning": config.reasoning,
                "learning_rate": config.learning_rate, "step": step, **OPTION_ORDER.get(args.task, {}),
                "train_seconds": round(time.time() - started - probe_seconds, 1),
                **{key: round(value, 4) for key, value in result.items() if isinstance(value, float)},
                "sample_answers": result["sample_answers"][:2]}
        print(json.dumps(line), flush=True)
        with RESULTS.open("a") as out:
            out.write(json.dumps(line) + "\n")

    train_once(config, args.seed, config.learning_rate, progress=False, init=base, on_step=on_step)


def print_table(path: Path) -> None:
    """The file as a table."""
    print(f"{'task':<6}{'options':>9}{'layout':>7}{'seed':>5}{'lr':>8}{'steps':>6}{'step':>6}{'sec':>6}{'accuracy':>10}"
          f"{'valid':>7}")
    for text in path.read_text().splitlines():
        r = json.loads(text)
        print(f"{r['task']:<6}{r.get('option_order', '-'):>9}{r['reasoning']:>7}{r['seed']:>5}{r['learning_rate']:>8g}"
              f"{r['steps']:>6}{r['step']:>6}{r['train_seconds']:>6.0f}{r['accuracy']:>10.3f}{r['valid_rate']:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=("vqa", "grade"), default="vqa")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--at", type=int, nargs="+", default=[25, 50, 100, 200, 300, 400])
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the task's recipe")
    parser.add_argument("--reasoning", default="none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe-rows", type=int, default=96)
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    if args.table:
        print_table(RESULTS)
        return
    torch.set_num_threads(1)
    run(args)


if __name__ == "__main__":
    main()
