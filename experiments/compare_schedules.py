"""The schedule study: every threshold schedule (and the soft IoU reward) from the same warm
starts, for the same GRPO steps, over several seeds and both synthetic presets.

Each run is a whole ``medloc train`` job (built-in tiny model, synthetic data, the warm start of
its seed shared by every arm). Per arm the script prints mean +- std over seeds of held-out
A@0.5, A@0.8, pseudo-mAP and mIoU after GRPO, the change of mIoU against the warm-started model
on the same rows, the early share of zero-variance groups (the starvation the curriculum exists
to avoid) and the mean step at which each tau level was reached. It writes one JSON line per run
(so a long study can be stopped and resumed: finished runs are skipped), a summary JSON and, with
matplotlib installed (``pip install -e '.[plots]'``), a figure of the threshold trajectories and
held-out curves.

Usage::

    python experiments/compare_schedules.py --seeds 0 1 2 --max-steps 300 --difficulty easy standard --jobs 2
    python experiments/compare_schedules.py --arms fixed-0.5 adaptive --seeds 0 --max-steps 20   # a smoke run
    python experiments/compare_schedules.py --report        # tables and figure from the results file only

Arms (``--arms``): the names in ``ARMS`` or ``NAME=SCHEDULE[:KEY=VALUE,...]`` (e.g.
``adaptive-w10=adaptive:window=10``); ``soft-iou`` trains on the raw IoU (VLM-R1's reward).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from medloc.app.key_values import parse_key_values
from medloc.app.settings import TrainSettings
from schedulers.adaptive import PORT_BREAKPOINTS, PORT_MAX_REWARD_STD, PORT_MIN_HIT_RATE

RESULTS_DIR = Path(__file__).parent / "results"
ARMS: dict[str, dict[str, Any]] = {
    "fixed-0.3": {"schedule": "fixed", "schedule_options": {"threshold": 0.3}},
    "fixed-0.5": {"schedule": "fixed", "schedule_options": {"threshold": 0.5}},
    "fixed-0.8": {"schedule": "fixed", "schedule_options": {"threshold": 0.8}},
    "linear": {"schedule": "linear"},
    "cosine": {"schedule": "cosine"},
    "progress": {"schedule": "progress"},
    "soft-iou": {"schedule": "fixed", "schedule_options": {"threshold": 0.5}, "reward": "soft-iou"},
    # The adaptive arms use the paper's Delta = 0.10 (the built-in model's own default is 0.05).
    "adaptive": {"schedule": "adaptive", "schedule_options": {"min_margin": 0.10}},
    "adaptive-no-guard": {"schedule": "adaptive", "schedule_options": {"min_margin": 0.10, "density_guard": False}},
    "adaptive-port": {"schedule": "adaptive", "schedule_options": {  # the first defaults (an unofficial port)
        "min_margin": 0.10, "min_hit_rate": PORT_MIN_HIT_RATE, "max_reward_std": PORT_MAX_REWARD_STD,
        "breakpoints": PORT_BREAKPOINTS}},
    "informative": {"schedule": "informative"},
}
"""The study's arms: name -> TrainSettings fields."""
TAU_LEVELS = (0.45, 0.6, 0.7, 0.8)
METRICS = ("A@0.5", "A@0.8", "pseudo_mAP", "mIoU")


def parse_arm(spec: str) -> tuple[str, dict[str, Any]]:
    """An arm name from ``ARMS``, or ``NAME=SCHEDULE[:KEY=VALUE,...]``.

    Example:
        >>> parse_arm("w10=adaptive:window=10,min_margin=0.05")
        ('w10', {'schedule': 'adaptive', 'schedule_options': {'window': 10, 'min_margin': 0.05}})
    """
    if spec in ARMS:
        return spec, ARMS[spec]
    name, separator, rest = spec.partition("=")
    if not separator:
        raise SystemExit(f"--arms: unknown arm {spec!r}; known: {', '.join(ARMS)}; or NAME=SCHEDULE[:KEY=VALUE,...]")
    schedule, _, options = rest.partition(":")
    return name, {"schedule": schedule, "schedule_options": parse_key_values("--arms", options.split(",") if options else [])}


def settings_for(arm: dict[str, Any], seed: int, difficulty: str, args: argparse.Namespace, work_dir: Path) -> TrainSettings:
    """The ``medloc train`` settings of one run."""
    fields = {**parse_key_values("--set", args.set), **arm}
    grpo = {"save_strategy": "no", **fields.pop("grpo", {})}
    return TrainSettings(
        **fields, output_dir=str(work_dir), max_steps=args.max_steps, seed=seed, difficulty=difficulty,
        heldout_rows=args.heldout_rows, eval_every=args.eval_every, cache_dir=args.cache_dir, grpo=grpo,
    ).validate()


def tau_level_steps(trajectory: Sequence[Sequence[float]], levels: Iterable[float] = TAU_LEVELS) -> dict[str, int | None]:
    """First step at which tau reached each level (None: never).

    Example:
        >>> tau_level_steps([(0, 0.3), (40, 0.45), (90, 0.6)], levels=(0.45, 0.6, 0.7))
        {'0.45': 40, '0.6': 90, '0.7': None}
    """
    return {f"{level:g}": next((int(step) for step, tau in trajectory if tau >= level - 1e-9), None) for level in levels}


def read_metrics(metrics_file: Path) -> list[dict[str, Any]]:
    """The records of a run's ``metrics.jsonl``."""
    return [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]


def early_zero_variance(records: list[dict[str, Any]], early_steps: int) -> float:
    """Mean share of zero-variance groups over the first ``early_steps`` GRPO steps.

    TRL's ``frac_reward_zero_std`` (groups whose total reward has std 0; with the default
    ``scale_rewards="group"`` it is a share of groups), the same measure for binary and soft rewards.
    """
    values = [record["frac_reward_zero_std"] for record in records
              if record.get("step", math.inf) <= early_steps and "frac_reward_zero_std" in record]
    return statistics.fmean(values) if values else float("nan")


def condition_shares(records: list[dict[str, Any]]) -> dict[str, float]:
    """For the adaptive rule: the share of evaluated steps at which each condition held."""
    held: dict[str, list[float]] = {}
    for record in records:
        for key, value in record.items():
            if key.startswith("medloc/condition_"):
                held.setdefault(key.removeprefix("medloc/condition_"), []).append(value)
    return {name: round(statistics.fmean(values), 3) for name, values in held.items()}


def run_one(name: str, arm: dict[str, Any], seed: int, difficulty: str, args: argparse.Namespace) -> dict[str, Any]:
    """One ``medloc train`` run (in a worker process, one thread); its result record."""
    import torch

    from medloc.app.training import run_training

    torch.set_num_threads(args.threads)
    work_dir = Path(args.work_dir) / difficulty / f"{name}_seed{seed}"
    summary = run_training(settings_for(arm, seed, difficulty, args, work_dir), progress=False)
    records = read_metrics(Path(summary.metrics_file))
    return {
        "arm": name, "seed": seed, "difficulty": difficulty, "steps": summary.steps,
        "heldout": summary.heldout, "start": summary.heldout_history[0][1], "heldout_history": summary.heldout_history,
        "threshold_trajectory": summary.threshold_trajectory, "raises": summary.raises,
        "tau_level_steps": {} if arm.get("reward") == "soft-iou" else tau_level_steps(summary.threshold_trajectory),
        "final_threshold": summary.final_threshold,
        "early_zero_variance_share": early_zero_variance(records, args.early),
        "condition_shares": condition_shares(records),
        "warm_start": summary.warm_start, "seconds": round(summary.seconds, 1),
    }


def warm_up(seed: int, difficulty: str, args: argparse.Namespace) -> str:
    """Build (or find) the cached warm start of one seed and preset, before the arms share it."""
    import torch

    from medloc.app.model_setup import prepare_model

    torch.set_num_threads(args.threads)
    settings = settings_for(ARMS["fixed-0.5"], seed, difficulty, args, Path(args.work_dir) / "warmup")
    return prepare_model(settings, progress=False)[0]


REFERENCE_ARM = "fixed-0.5"
"""Plain GRPO at the usual threshold: what every other arm is compared to, seed by seed."""


def paired_difference(group: list[dict[str, Any]], reference: list[dict[str, Any]]) -> str:
    """Final mIoU minus the reference arm's, per seed (same warm start), as mean +- std.

    Example:
        >>> run = lambda seed, miou: {"seed": seed, "heldout": {"mIoU": miou}}
        >>> paired_difference([run(0, 0.5), run(1, 0.7)], [run(0, 0.4), run(1, 0.5)])
        '0.150+-0.071'
    """
    by_seed = {r["seed"]: r["heldout"]["mIoU"] for r in reference}
    return mean_std([r["heldout"]["mIoU"] - by_seed[r["seed"]] for r in group if r["seed"] in by_seed])


def mean_std(values: Sequence[float]) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "n/a"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f}+-{spread:.3f}"


def report(results: list[dict[str, Any]], arm_order: Sequence[str]) -> dict[str, Any]:
    """Print per preset and arm the mean +- std table; return it as data."""
    table: dict[str, Any] = {}
    for difficulty in sorted({r["difficulty"] for r in results}):
        rows = [r for r in results if r["difficulty"] == difficulty]
        starts = [r["start"] for r in rows]
        print(f"\n## preset {difficulty!r}: {len({r['seed'] for r in rows})} seed(s), "
              f"{max(r['steps'] for r in rows)} GRPO steps; warm start on the same rows: "
              + "  ".join(f"{m} {mean_std([s[m] for s in starts])}" for m in ("A@0.5", "A@0.8", "mIoU")))
        print(f"{'arm':<19}{'n':>2} {'A@0.5':>12} {'A@0.8':>12} {'pseudo-mAP':>12} {'mIoU':>12} {'dmIoU':>13} "
              f"{'vs ' + REFERENCE_ARM:>13} {'zero-var early':>14}  tau reached at step "
              + "/".join(f"{level:g}" for level in TAU_LEVELS))
        table[difficulty] = {}
        for arm in [a for a in arm_order if any(r["arm"] == a for r in rows)]:
            group = [r for r in rows if r["arm"] == arm]
            cells = {m: mean_std([r["heldout"][m] for r in group]) for m in METRICS}
            cells["dmIoU"] = mean_std([r["heldout"]["mIoU"] - r["start"]["mIoU"] for r in group])
            cells["vs_reference"] = paired_difference(group, [r for r in rows if r["arm"] == REFERENCE_ARM])
            cells["early_zero_variance_share"] = mean_std([r["early_zero_variance_share"] for r in group])
            reached = {}
            for level in TAU_LEVELS:
                steps = [r["tau_level_steps"].get(f"{level:g}") for r in group]
                hit = [s for s in steps if s is not None]
                reached[f"{level:g}"] = f"{statistics.fmean(hit):.0f}({len(hit)}/{len(group)})" if hit else "-"
            cells["tau_reached"] = reached
            shares = [r.get("condition_shares") for r in group if r.get("condition_shares")]
            if shares:
                cells["conditions_held"] = {name: round(statistics.fmean(s.get(name, 0.0) for s in shares), 3)
                                            for name in shares[0]}
            table[difficulty][arm] = {**cells, "n": len(group)}
            print(f"{arm:<19}{len(group):>2} {cells['A@0.5']:>12} {cells['A@0.8']:>12} {cells['pseudo_mAP']:>12} "
                  f"{cells['mIoU']:>12} {cells['dmIoU']:>13} {cells['vs_reference']:>13} "
                  f"{cells['early_zero_variance_share']:>14}  "
                  + " ".join(reached.values()))
        for arm, cells in table[difficulty].items():
            if "conditions_held" in cells:
                print(f"  {arm}: share of decisions at which each condition held: "
                      + ", ".join(f"{name} {share:.2f}" for name, share in cells["conditions_held"].items()))
    return table


def markdown(table: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """The study's tables as Markdown (mean +- std over seeds; tau levels: mean step (runs that got there))."""
    lines = []
    for difficulty, arms in table.items():
        rows = [r for r in results if r["difficulty"] == difficulty]
        starts = [r["start"] for r in rows]
        lines += [f"### Preset `{difficulty}`", "",
                  f"Warm-started model on the same held-out rows: "
                  + ", ".join(f"{m} {mean_std([s[m] for s in starts])}" for m in ("A@0.5", "A@0.8", "mIoU")), "",
                  f"| arm | seeds | A@0.5 | A@0.8 | pseudo-mAP | mIoU | mIoU change | mIoU vs {REFERENCE_ARM}, same seed "
                  "| zero-variance groups, first steps | "
                  + " | ".join(f"tau {level:g} at step" for level in TAU_LEVELS) + " |",
                  "|---" * (9 + len(TAU_LEVELS)) + "|"]
        for arm, cells in arms.items():
            lines.append(f"| {arm} | {cells['n']} | " + " | ".join(cells[m].replace("+-", " ± ") for m in METRICS)
                         + f" | {cells['dmIoU'].replace('+-', ' ± ')} | {cells['vs_reference'].replace('+-', ' ± ')} | "
                         + cells["early_zero_variance_share"].replace("+-", " ± ") + " | "
                         + " | ".join(cells["tau_reached"].values()) + " |")
        held = {arm: cells["conditions_held"] for arm, cells in arms.items() if "conditions_held" in cells}
        if held:
            names = sorted({name for shares in held.values() for name in shares})
            lines += ["", "Share of the adaptive rule's decisions (full window) at which each condition held "
                      "(- where the condition is off):", "",
                      "| arm | " + " | ".join(names) + " |", "|---" * (1 + len(names)) + "|"]
            lines += [f"| {arm} | " + " | ".join(f"{shares[n]:.2f}" if n in shares else "-" for n in names) + " |"
                      for arm, shares in held.items()]
        lines.append("")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], arm_order: Sequence[str], path: Path) -> Path | None:
    """Threshold trajectories and held-out mIoU curves per arm (mean over seeds), one row per preset."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[plots]'): no figure")
        return None
    presets = sorted({r["difficulty"] for r in results})
    figure, axes = plt.subplots(len(presets), 3, figsize=(17, 4.6 * len(presets)), squeeze=False)
    colours = plt.get_cmap("tab20")  # the 10 dark shades first, then the light ones: 11 arms, no repeat
    for row, difficulty in enumerate(presets):
        for index, arm in enumerate([a for a in arm_order if any(r["arm"] == a and r["difficulty"] == difficulty
                                                                  for r in results)]):
            group = [r for r in results if r["arm"] == arm and r["difficulty"] == difficulty]
            colour = colours((2 * index) % 20 + (2 * index) // 20 % 2)
            for run in group:
                steps, taus = zip(*run["threshold_trajectory"])
                axes[row][0].plot(steps, taus, color=colour, alpha=0.45, drawstyle="steps-post",
                                  label=arm if run is group[0] else None)
            for column, metric in ((1, "mIoU"), (2, "A@0.5")):  # change since step 0: seeds start apart
                steps = [step for step, _ in group[0]["heldout_history"]]
                values = [statistics.fmean(r["heldout_history"][i][1][metric] - r["heldout_history"][0][1][metric]
                                           for r in group if len(r["heldout_history"]) > i) for i in range(len(steps))]
                axes[row][column].plot(steps, values, marker="o", color=colour, label=f"{arm} ({len(group)})")
        axes[row][0].set(title=f"{difficulty}: IoU threshold tau (each seed)", xlabel="GRPO step", ylabel="tau")
        axes[row][1].set(title=f"{difficulty}: held-out mIoU change since step 0 (mean over seeds)",
                         xlabel="GRPO step")
        axes[row][2].set(title=f"{difficulty}: held-out A@0.5 change since step 0 (mean over seeds)",
                         xlabel="GRPO step")
        for column in (1, 2):
            axes[row][column].axhline(0.0, color="grey", linewidth=0.8)
        axes[row][0].legend(fontsize=7, loc="upper left")
        axes[row][2].legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def load_results(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--difficulty", nargs="+", default=["easy", "standard"], help="synthetic presets")
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--heldout-rows", type=int, default=256)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--early", type=int, default=30, help="steps counted as 'early' for the zero-variance share")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (processes)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--work-dir", default="experiments/runs")
    parser.add_argument("--cache-dir", default=TrainSettings.cache_dir)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="medloc train settings for every run, e.g. learning_rate=3e-4 temperature=0.9")
    parser.add_argument("--name", default="compare_schedules", help="results file stem")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR), help="where results, tables and figure go")
    parser.add_argument("--report", action="store_true", help="only print the tables and draw the figure")
    args = parser.parse_args()

    arms = dict(parse_arm(spec) for spec in args.arms)
    results_dir = Path(args.results_dir)
    runs_file = results_dir / f"{args.name}.jsonl"
    results_dir.mkdir(parents=True, exist_ok=True)
    results = load_results(runs_file)
    done = {(r["arm"], r["seed"], r["difficulty"]) for r in results if r["steps"] == args.max_steps}
    # arm by arm (every seed and preset of an arm before the next arm): a study stopped early still
    # has complete, comparable arms, in the order --arms gives
    todo = [(name, seed, difficulty) for name in arms for seed in args.seeds for difficulty in args.difficulty
            if (name, seed, difficulty) not in done]
    if not args.report and todo:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        started = time.time()
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            pairs = sorted({(seed, difficulty) for _, seed, difficulty in todo})
            for future in as_completed([pool.submit(warm_up, seed, difficulty, args) for seed, difficulty in pairs]):
                print(f"warm start ready: {future.result()}", flush=True)
            futures = {pool.submit(run_one, name, arms[name], seed, difficulty, args): (name, seed, difficulty)
                       for name, seed, difficulty in todo}
            for count, future in enumerate(as_completed(futures), 1):
                result = future.result()
                with runs_file.open("a") as file:
                    file.write(json.dumps(result) + "\n")
                results.append(result)
                print(f"[{count}/{len(todo)} {time.time() - started:.0f}s] {result['difficulty']} {result['arm']} "
                      f"seed {result['seed']}: mIoU {result['start']['mIoU']:.3f} -> {result['heldout']['mIoU']:.3f}, "
                      f"final tau {result['final_threshold']:.2f}, {result['seconds']:.0f}s", flush=True)
    selected = [r for r in results if r["arm"] in arms and r["seed"] in args.seeds and r["difficulty"] in args.difficulty]
    table = report(selected, list(arms))
    (results_dir / f"{args.name}_summary.json").write_text(json.dumps(
        {"settings": {k: v for k, v in vars(args).items() if k != "report"}, "table": table}, indent=2))
    (results_dir / f"{args.name}.md").write_text(markdown(table, selected))
    figure = plot(selected, list(arms), results_dir / f"{args.name}.png") if selected else None
    print(f"\nruns: {runs_file}\ntables: {results_dir / f'{args.name}.md'}" + (f"\nfigure: {figure}" if figure else ""))


if __name__ == "__main__":
    main()
