"""Fixed tau = 0.5 against the adaptive curriculum, from the same warm start, for the same steps.

For every schedule and seed this runs the whole ``medloc train`` job (built-in tiny model,
synthetic data, cached warm start shared by all runs of a seed) and prints, per schedule:
held-out A@0.5, A@0.8, mIoU and pseudo-mAP after GRPO, the change against the warm-started model on the same rows (dmIoU), and
the early share of zero-variance groups (mean of ``medloc/zero_variance_share`` over the first
``--early`` GRPO steps): the starvation the curriculum exists to avoid.

Usage::

    python experiments/compare_schedules.py --seeds 0 1 --max-steps 150
    python experiments/compare_schedules.py --schedules fixed:threshold=0.5 adaptive linear:start=0.3,target=0.8

Results go to ``experiments/results/compare_schedules.json`` (and the runs to ``--work-dir``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from medloc.settings import TrainSettings
from medloc.training import run_training

RESULTS = Path(__file__).parent / "results" / "compare_schedules.json"


def parse_schedule(spec: str) -> tuple[str, dict[str, Any]]:
    """``"fixed:threshold=0.5"`` -> ``("fixed", {"threshold": 0.5})``."""
    name, _, options = spec.partition(":")
    parsed = {}
    for pair in filter(None, options.split(",")):
        key, _, value = pair.partition("=")
        parsed[key] = yaml.safe_load(value)
    return name, parsed


def early_zero_variance(tensorboard_dir: str, early_steps: int) -> float:
    """Mean share of zero-variance groups over the first ``early_steps`` GRPO steps."""
    accumulator = EventAccumulator(tensorboard_dir)
    accumulator.Reload()
    values = [event.value for event in accumulator.Scalars("medloc/zero_variance_share") if event.step <= early_steps]
    return statistics.fmean(values) if values else float("nan")


def run_one(schedule: str, options: dict[str, Any], seed: int, args: argparse.Namespace) -> dict[str, Any]:
    label = schedule + "".join(f"_{key}{value}" for key, value in options.items())
    settings = TrainSettings(
        schedule=schedule,
        schedule_options=options,
        output_dir=str(Path(args.work_dir) / f"{label}_seed{seed}"),
        max_steps=args.max_steps,
        seed=seed,
        difficulty=args.difficulty,
        heldout_rows=args.heldout_rows,
        eval_every=0,
        cache_dir=args.cache_dir,
        **({"learning_rate": args.learning_rate} if args.learning_rate else {}),
        **({"beta": args.beta} if args.beta is not None else {}),
    ).validate()
    summary = run_training(settings, progress=not args.quiet)
    return {
        "schedule": label,
        "seed": seed,
        "heldout": summary.heldout,
        "start": summary.heldout_history[0][1],  # the warm-started model on the same rows, step 0
        "warm_start": summary.warm_start,
        "final_threshold": summary.final_threshold,
        "threshold_trajectory": summary.threshold_trajectory,
        "early_zero_variance_share": early_zero_variance(summary.tensorboard_dir, args.early),
        "seconds": round(summary.seconds, 1),
    }


def print_table(results: list[dict[str, Any]]) -> None:
    start = results[0]["start"] if results else {}
    if start:
        print(f"\nstarting model (seed {results[0]['seed']}): A@0.5 {start['A@0.5']:.3f}  A@0.8 {start['A@0.8']:.3f}  "
              f"mIoU {start['mIoU']:.3f}  pseudo-mAP {start['pseudo_mAP']:.3f}")
    print(f"\n{'schedule':<24}{'seed':>5}{'A@0.5':>8}{'A@0.8':>8}{'mIoU':>8}{'pmAP':>8}{'dmIoU':>8}"
          f"{'zero-var early':>16}{'final tau':>11}")
    for result in results:
        metrics, start = result["heldout"], result["start"]
        delta = metrics["mIoU"] - start["mIoU"]
        print(f"{result['schedule']:<24}{result['seed']:>5}{metrics['A@0.5']:>8.3f}{metrics['A@0.8']:>8.3f}"
              f"{metrics['mIoU']:>8.3f}{metrics['pseudo_mAP']:>8.3f}{delta:>+8.3f}"
              f"{result['early_zero_variance_share']:>16.3f}{result['final_threshold']:>11.2f}")
    by_schedule: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        by_schedule.setdefault(result["schedule"], []).append(result)
    if any(len(group) > 1 for group in by_schedule.values()):
        print("\nmean over seeds")
        for name, group in by_schedule.items():
            mean = {key: statistics.fmean(r["heldout"][key] for r in group) for key in ("A@0.5", "A@0.8", "mIoU")}
            zero = statistics.fmean(r["early_zero_variance_share"] for r in group)
            print(f"{name:<24} A@0.5 {mean['A@0.5']:.3f}  A@0.8 {mean['A@0.8']:.3f}  mIoU {mean['mIoU']:.3f}  "
                  f"early zero-variance share {zero:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedules", nargs="+", default=["fixed:threshold=0.5", "adaptive"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--max-steps", type=int, default=TrainSettings.max_steps)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--beta", type=float, default=None, help="KL coefficient (default: medloc train's)")
    parser.add_argument("--difficulty", default=TrainSettings.difficulty, help="synthetic data preset")
    parser.add_argument("--heldout-rows", type=int, default=256)
    parser.add_argument("--early", type=int, default=30, help="steps counted as 'early' for the zero-variance share")
    parser.add_argument("--work-dir", default="experiments/runs")
    parser.add_argument("--cache-dir", default=TrainSettings.cache_dir)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    results = [run_one(*parse_schedule(spec), seed, args) for seed in args.seeds for spec in args.schedules]
    print_table(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"settings": vars(args), "results": results}, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
