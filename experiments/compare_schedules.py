"""The schedule study: every threshold schedule (and the soft IoU reward) from the same warm
starts, for the same GRPO steps, over several seeds and regimes.

Each run is a whole ``medloc train`` job (built-in tiny model; the warm start of its seed and
regime shared by every arm). A *regime* is a named bundle of ``medloc train`` settings: the
built-ins ``easy`` and ``standard`` (synthetic presets) or ``NAME=KEY=VALUE,...`` (e.g.
``kvasir=data=kvasir.jsonl`` or ``wide=difficulty=standard,learning_rate=3e-4``).

Per regime and arm the script prints mean ± std over seeds of held-out A@0.5, A@0.8, pseudo-mAP
and mIoU after GRPO; the paired difference (same seed, same warm start, same held-out rows) in
final mIoU and A@0.8 against fixed 0.5 and against the best fixed threshold of the regime (best
by mean final mIoU), each as mean, 95% t-interval (df = seeds - 1) and sign count; the warm
start's spread over seeds (each seed once); the early share of zero-variance groups (the
starvation the curriculum exists to avoid); the step at which each tau level was reached; and,
for the adaptive arms, the share of decisions at which each condition held. It writes one JSON
line per run, with the arm's and the regime's settings (a study stopped early resumes: finished runs
with the same settings are skipped; an arm whose settings changed runs again), a summary JSON, Markdown
tables and, with matplotlib (``pip install -e '.[plots]'``), a figure with one row per regime: tau
per seed (threshold arms only) and the held-out curves with a ±1 sd band over seeds.

Usage::

    python experiments/compare_schedules.py --seeds 0 1 2 3 4 --max-steps 300 --regimes easy standard --jobs 2
    python experiments/compare_schedules.py --regimes easy kvasir=data=kvasir.jsonl --seeds 0 1 2 3 4
    python experiments/compare_schedules.py --arms fixed-0.5 adaptive --seeds 0 --max-steps 20   # a smoke run
    python experiments/compare_schedules.py --report        # tables and figure from the results file only

A grade study (the size-grade task; tau is the closeness of the answer's grade to the truth)::

    python experiments/compare_schedules.py --regimes grade --max-steps 200 --name grade_study \
        --arms fixed-0.3 fixed-0.5 fixed-0.8 linear fuzzy adaptive adaptive-described
    python experiments/compare_schedules.py --regimes vqa vqa-before vqa-after --arms fixed-0.5 --max-steps 200 \
        --name vqa_study      # Med-R1's layouts: GRPO from each layout's own warm start

Arms (``--arms``): the names in ``ARMS`` or ``NAME=SCHEDULE[:KEY=VALUE,...]`` (e.g.
``adaptive-w10=adaptive:window=10``); ``soft-iou`` trains on the raw IoU (VLM-R1's reward).
The adaptive arms pass every option explicitly, so the built-in model's own schedule defaults
(``medloc.builtin.BUILTIN_SCHEDULE_DEFAULTS``) do not change them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from medloc.app.key_values import parse_key_values  # noqa: E402
from medloc.app.settings import TrainSettings  # noqa: E402
from schedulers.adaptive import DEFAULT_OPTIONS, PRESETS  # noqa: E402
from study_statistics import format_paired, paired_summary  # noqa: E402

RESULTS_DIR = Path(__file__).parent / "results"
CONFIGS_DIR = Path("experiments") / "configs"
"""Files the arms read, relative to the repository root (the study runs from there)."""
ARMS: dict[str, dict[str, Any]] = {
    "fixed-0.3": {"schedule": "fixed", "schedule_options": {"threshold": 0.3}},
    "fixed-0.5": {"schedule": "fixed", "schedule_options": {"threshold": 0.5}},
    "fixed-0.6": {"schedule": "fixed", "schedule_options": {"threshold": 0.6}},
    "fixed-0.8": {"schedule": "fixed", "schedule_options": {"threshold": 0.8}},
    "linear": {"schedule": "linear"},
    "progress": {"schedule": "progress"},
    "soft-iou": {"schedule": "fixed", "schedule_options": {"threshold": 0.5}, "reward": "soft-iou"},
    "fuzzy": {"schedule": "fixed", "schedule_options": {"threshold": 0.5}, "reward": "fuzzy"},
    "adaptive-described": {"schedule": "adaptive", "schedule_options": dict(DEFAULT_OPTIONS),
                           "class_descriptions": str(CONFIGS_DIR / "size_grade_descriptions.yaml")},
    "adaptive-paper": {"schedule": "adaptive", "schedule_options": dict(PRESETS["paper"])},
    "adaptive": {"schedule": "adaptive", "schedule_options": dict(DEFAULT_OPTIONS)},
    "informative": {"schedule": "informative"},
    # not in the default study; kept for comparisons with earlier results
    "cosine": {"schedule": "cosine"},
    "adaptive-port": {"schedule": "adaptive", "schedule_options": dict(PRESETS["port"])},
}
"""The arms: name -> TrainSettings fields (``adaptive``: the schedule's defaults; ``adaptive-paper``: the paper's rule;
``soft-iou`` for grounding and ``fuzzy`` for grades reward the raw score, the schedule only tracking)."""
STUDY_ARMS = ("fixed-0.3", "fixed-0.5", "fixed-0.6", "fixed-0.8", "linear", "progress", "soft-iou",
              "adaptive-paper", "adaptive", "informative")
GRADE_ARMS = ("fixed-0.3", "fixed-0.5", "fixed-0.8", "linear", "fuzzy", "adaptive", "adaptive-described")
"""A grade study's arms (``--arms``): fixed tolerances of 2, 1 and 0 grades (0.8: the exact grade only), the time
ramp, VRFT-Aug's fuzzy reward, and the adaptive curriculum without and with the grades' descriptions in the
prompt (VRFT-Aug's prior knowledge; the warm start learns the same prompts)."""
"""The arms a study runs unless ``--arms`` is given."""
REGIMES: dict[str, dict[str, Any]] = {
    "easy": {"difficulty": "easy"},
    "standard": {"difficulty": "standard", "learning_rate": 3e-4},
    "large": {"difficulty": "large"},
    "distractors": {"difficulty": "distractors"},
    "grade": {"task": "grade"},
    "vqa": {"task": "vqa"},
    "vqa-before": {"task": "vqa", "reasoning": "before"},
    "vqa-after": {"task": "vqa", "reasoning": "after"},
}
"""Built-in regimes: name -> TrainSettings fields (the presets of ``medloc train --difficulty``;
``standard`` at learning rate 3e-4, where soft-IoU GRPO gained most in experiments/results/regimes.md;
``grade``: the size-grade task on ``easy`` images, where tau is the closeness ``1 - |error| / 3`` of 4 grades:
0.3 allows two grades off, 0.5 and 0.6 one, 0.8 none; ``vqa`` in Med-R1's three layouts: no think, think before
the answer, think after it; its choice reward has no threshold, so one arm says what GRPO does)."""
TAU_LEVELS = (0.45, 0.6, 0.7, 0.8)
TASK_METRICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "grounding": (("A@0.5", "A@0.8", "pseudo_mAP", "mIoU"), ("mIoU", "A@0.8")),
    "grade": (("accuracy", "within_1", "mae", "valid_rate"), ("accuracy", "mae")),
    "vqa": (("accuracy", "valid_rate"), ("accuracy",)),
}
"""Per task: the held-out metrics a table shows, and those compared seed by seed (the first ranks the fixed
arms: the best fixed threshold is the one with the highest mean of it). ``mae``: lower is better."""
REFERENCE_ARM = "fixed-0.5"
"""Plain GRPO at the usual threshold: what every other arm is compared to, seed by seed."""
FIXED_PREFIX = "fixed-"


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


def parse_regime(spec: str) -> tuple[str, dict[str, Any]]:
    """A regime name from ``REGIMES``, or ``NAME=KEY=VALUE,...`` (``medloc train`` settings).

    Example:
        >>> parse_regime("kvasir=data=kvasir.jsonl,learning_rate=3e-4")
        ('kvasir', {'data': 'kvasir.jsonl', 'learning_rate': 0.0003})
        >>> parse_regime("easy")
        ('easy', {'difficulty': 'easy'})
    """
    if spec in REGIMES:
        return spec, REGIMES[spec]
    name, separator, rest = spec.partition("=")
    if not separator or not rest or "/" in name:
        raise SystemExit(f"--regimes: unknown regime {spec!r}; built-in: {', '.join(REGIMES)}; "
                         "or NAME=KEY=VALUE,... (medloc train settings)")
    fields = parse_key_values("--regimes", rest.split(","))
    unknown = sorted(set(fields) - {field.name for field in dataclasses.fields(TrainSettings)})
    if unknown:
        raise SystemExit(f"--regimes {name}: unknown medloc train setting(s) {', '.join(unknown)}")
    return name, fields


def settings_for(arm: dict[str, Any], seed: int, regime: dict[str, Any], args: argparse.Namespace,
                 work_dir: Path) -> TrainSettings:
    """The ``medloc train`` settings of one run: ``--set``, then the regime, then the arm."""
    fields = {**parse_key_values("--set", args.set), **regime, **arm}
    grpo = {"save_strategy": "no", **fields.pop("grpo", {})}
    return TrainSettings(
        **fields, output_dir=str(work_dir), max_steps=args.max_steps, seed=seed,
        heldout_rows=args.heldout_rows, eval_every=args.eval_every, cache_dir=args.cache_dir, grpo=grpo,
    ).validate()


def task_of(record: dict[str, Any]) -> str:
    """The task a result record's regime trains (``grounding`` unless the regime names one)."""
    return record.get("regime_settings", {}).get("task", "grounding")


def study_metrics(rows: list[dict[str, Any]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The table's metrics and the paired ones (see :data:`TASK_METRICS`) of one regime's records.

    Example:
        >>> study_metrics([{"regime_settings": {"task": "grade"}}])[1]
        ('accuracy', 'mae')
    """
    return TASK_METRICS[task_of(rows[0])]


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


def condition_binding(records: list[dict[str, Any]]) -> dict[str, float]:
    """For the adaptive rule: the share of evaluated steps at which each condition was the *only* one
    that failed (the steps that condition alone held tau back).

    Example:
        >>> condition_binding([{"medloc/condition_hit_rate": 1.0, "medloc/condition_margin": 0.0},
        ...                    {"medloc/condition_hit_rate": 0.0, "medloc/condition_margin": 0.0}])
        {'hit_rate': 0.0, 'margin': 0.5}
    """
    counts: dict[str, int] = {}
    evaluated = 0
    for record in records:
        conditions = {key.removeprefix("medloc/condition_"): value for key, value in record.items()
                      if key.startswith("medloc/condition_")}
        if not conditions:
            continue
        evaluated += 1
        failed = [name for name, value in conditions.items() if value == 0.0]
        for name in conditions:
            counts[name] = counts.get(name, 0) + (failed == [name])
    return {name: round(count / evaluated, 3) for name, count in counts.items()}


def finished_run(work_dir: Path, settings: Any) -> Any:
    """The summary of a run already finished in ``work_dir`` with these settings (a study stopped after the
    run but before recording it), else None.

    Example:
        >>> from medloc.app.settings import TrainSettings
        >>> finished_run(Path("no-such-run"), TrainSettings()) is None
        True
    """
    from medloc.app.run_files import SUMMARY_FILE
    from medloc.app.summary import TrainSummary
    from medloc.app.training import recorded_settings

    path = work_dir / SUMMARY_FILE
    if not path.is_file():
        return None
    summary = TrainSummary(**json.loads(path.read_text()))
    same = summary.settings == normalised(recorded_settings(settings)) and summary.steps == settings.max_steps
    return summary if same else None


def run_one(name: str, arm: dict[str, Any], seed: int, regime: str, regime_fields: dict[str, Any],
            args: argparse.Namespace) -> dict[str, Any]:
    """One ``medloc train`` run (in a worker process, one thread), or the finished run already in its folder;
    its result record."""
    import torch

    from medloc.app.training import run_training

    torch.set_num_threads(args.threads)
    work_dir = Path(args.work_dir) / regime / f"{name}_seed{seed}"
    settings = settings_for(arm, seed, regime_fields, args, work_dir)
    summary = finished_run(work_dir, settings) or run_training(settings, progress=False)
    records = read_metrics(Path(summary.metrics_file))
    return {
        "arm": name, "arm_settings": normalised(arm), "seed": seed, "regime": regime, "regime_settings": regime_fields,
        "steps": summary.steps,
        "heldout": summary.heldout, "start": summary.heldout_history[0][1], "heldout_history": summary.heldout_history,
        "threshold_trajectory": summary.threshold_trajectory, "raises": summary.raises,
        "tau_level_steps": {} if arm.get("reward", "binary") != "binary" else tau_level_steps(summary.threshold_trajectory),
        "final_threshold": summary.final_threshold,
        "early_zero_variance_share": early_zero_variance(records, args.early),
        "condition_shares": condition_shares(records), "condition_binding": condition_binding(records),
        "warm_start": summary.warm_start, "seconds": round(summary.seconds, 1),
    }


def warm_up(seed: int, regime_fields: dict[str, Any], args: argparse.Namespace) -> str:
    """Build (or find) the cached warm start of one seed and regime, before the arms share it."""
    import torch

    from medloc.app.model_setup import prepare_model

    torch.set_num_threads(args.threads)
    settings = settings_for(ARMS["fixed-0.5"], seed, regime_fields, args, Path(args.work_dir) / "warmup")
    return prepare_model(settings, progress=False)[0]


def normalised(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), for comparing settings with records."""
    return json.loads(json.dumps(value))


def belongs(record: dict[str, Any], arms: dict[str, dict[str, Any]], regimes: dict[str, dict[str, Any]]) -> bool:
    """Whether a result record is a run of one of ``arms`` in one of ``regimes`` *with the same settings*
    (records written before settings were stored match by name).

    Example:
        >>> arms = {"adaptive": {"schedule": "adaptive", "schedule_options": {"window": 15}}}
        >>> record = {"arm": "adaptive", "regime": "easy", "arm_settings": {"schedule": "adaptive"}}
        >>> belongs(record, arms, {"easy": {}}), belongs({"arm": "adaptive", "difficulty": "easy"}, arms, {"easy": {}})
        (False, True)
    """
    regime = regime_of(record)
    if record["arm"] not in arms or regime not in regimes:
        return False
    same_arm = record.get("arm_settings", normalised(arms[record["arm"]])) == normalised(arms[record["arm"]])
    same_regime = record.get("regime_settings", normalised(regimes[regime])) == normalised(regimes[regime])
    return same_arm and same_regime


def regime_of(record: dict[str, Any]) -> str:
    """The regime of a result record (records written before regimes existed name a ``difficulty``)."""
    return record.get("regime", record.get("difficulty"))


def paired_differences(group: list[dict[str, Any]], reference: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Final ``metric`` minus the reference arm's, seed by seed (same warm start): see :func:`paired_summary`.

    Example:
        >>> run = lambda seed, miou: {"seed": seed, "heldout": {"mIoU": miou}}
        >>> summary = paired_differences([run(0, 0.5), run(1, 0.7)], [run(0, 0.4), run(1, 0.5)], "mIoU")
        >>> round(summary["mean"], 3), summary["positive"], summary["n"]
        (0.15, 2, 2)
    """
    by_seed = {r["seed"]: r["heldout"][metric] for r in reference}
    return paired_summary([r["heldout"][metric] - by_seed[r["seed"]] for r in group if r["seed"] in by_seed])


def best_fixed_arm(rows: list[dict[str, Any]], metric: str = "mIoU") -> str | None:
    """The fixed-threshold arm with the highest mean final ``metric`` among ``rows`` (None without one).

    Example:
        >>> run = lambda arm, miou: {"arm": arm, "heldout": {"mIoU": miou}}
        >>> best_fixed_arm([run("fixed-0.5", 0.6), run("fixed-0.6", 0.62), run("soft-iou", 0.7)])
        'fixed-0.6'
    """
    fixed = sorted({r["arm"] for r in rows if r["arm"].startswith(FIXED_PREFIX)})
    if not fixed:
        return None
    return max(fixed, key=lambda arm: statistics.fmean(r["heldout"][metric] for r in rows if r["arm"] == arm))


def warm_start_spread(rows: list[dict[str, Any]], metrics: Sequence[str] = ("A@0.5", "A@0.8", "mIoU")) -> dict[str, str]:
    """Mean ± std over seeds of the warm-started model's held-out metrics, each seed counted once (the
    reference arm's, where it ran: an arm whose prompts differ has a warm start of its own).

    Example:
        >>> run = lambda arm, seed, miou: {"arm": arm, "seed": seed, "start": {"A@0.5": 0, "A@0.8": 0, "mIoU": miou}}
        >>> warm_start_spread([run("a", 0, 0.4), run("b", 0, 0.4), run("a", 1, 0.6)])["mIoU"]
        '0.500+-0.141'
    """
    reference = [r for r in rows if r["arm"] == REFERENCE_ARM]  # an arm may have a warm start of its own
    starts = {r["seed"]: r["start"] for r in reference or rows}
    return {m: mean_std([start[m] for start in starts.values()]) for m in metrics}


def mean_std(values: Sequence[float]) -> str:
    """``mean+-std`` of the values (None and NaN dropped); ``n/a`` when none are left.

    Example:
        >>> mean_std([0.5, 0.7, None])
        '0.600+-0.141'
    """
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "n/a"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f}+-{spread:.3f}"


def arm_cells(group: list[dict[str, Any]], rows: list[dict[str, Any]], best: str | None) -> dict[str, Any]:
    """One arm's table cells in one regime (``rows``: every run of the regime; ``best``: its best fixed arm)."""
    shown, paired = study_metrics(rows)
    cells: dict[str, Any] = {m: mean_std([r["heldout"][m] for r in group]) for m in shown}
    for metric in paired:  # what GRPO did: the change since the warm start, with its 95% interval
        changes = [r["heldout"][metric] - r["start"][metric] for r in group]
        cells[f"change_{metric}"] = format_paired(paired_summary(changes)) if len(changes) > 1 else mean_std(changes)
    for label, reference in (("vs_reference", REFERENCE_ARM), ("vs_best_fixed", best)):
        references = [r for r in rows if r["arm"] == reference]
        for metric in paired:
            if reference is None or not references or group[0]["arm"] == reference:
                cells[f"{label}_{metric}"] = None
            else:
                cells[f"{label}_{metric}"] = paired_differences(group, references, metric)
    cells["early_zero_variance_share"] = mean_std([r["early_zero_variance_share"] for r in group])
    reached = {}
    for level in TAU_LEVELS:
        steps = [r["tau_level_steps"].get(f"{level:g}") for r in group]
        hit = [step for step in steps if step is not None]
        reached[f"{level:g}"] = f"{statistics.fmean(hit):.0f}({len(hit)}/{len(group)})" if hit else "-"
    cells["tau_reached"] = reached
    for key, label in (("condition_shares", "conditions_held"), ("condition_binding", "conditions_binding")):
        shares = [r.get(key) for r in group if r.get(key)]
        if shares:
            names = sorted({name for share in shares for name in share})
            cells[label] = {name: round(statistics.fmean(s.get(name, 0.0) for s in shares), 3) for name in names}
    return {**cells, "n": len(group)}


def paired_cell(summary: dict[str, Any] | None) -> str:
    return "-" if summary is None else format_paired(summary)


def report(results: list[dict[str, Any]], arm_order: Sequence[str]) -> dict[str, Any]:
    """Print per regime and arm the tables; return them as data."""
    table: dict[str, Any] = {}
    for regime in sorted({regime_of(r) for r in results}):
        rows = [r for r in results if regime_of(r) == regime]
        shown, paired = study_metrics(rows)
        primary = paired[0]
        best = best_fixed_arm(rows, primary)
        start = warm_start_spread(rows, shown)
        print(f"\n## regime {regime!r}: {len({r['seed'] for r in rows})} seed(s), {max(r['steps'] for r in rows)} GRPO "
              f"steps; best fixed threshold {best}; warm start (each seed once): "
              + "  ".join(f"{m} {value}" for m, value in start.items()))
        print(f"{'arm':<15}{'n':>2} " + " ".join(f"{m:>12}" for m in shown)
              + f"  {primary + ' vs ' + REFERENCE_ARM:>31}  {primary + ' vs best fixed':>31} {'zero-var':>13}  "
              "tau at step " + "/".join(f"{t:g}" for t in TAU_LEVELS))
        table[regime] = {"task": task_of(rows[0]), "best_fixed": best, "warm_start": start, "arms": {}}
        for arm in [a for a in arm_order if any(r["arm"] == a for r in rows)]:
            cells = arm_cells([r for r in rows if r["arm"] == arm], rows, best)
            table[regime]["arms"][arm] = cells
            print(f"{arm:<15}{cells['n']:>2} " + " ".join(f"{cells[m]:>12}" for m in shown)
                  + f"  {paired_cell(cells['vs_reference_' + primary]):>31}  "
                  f"{paired_cell(cells['vs_best_fixed_' + primary]):>31} "
                  f"{cells['early_zero_variance_share']:>13}  " + " ".join(cells["tau_reached"].values()))
        for arm, cells in table[regime]["arms"].items():
            if "conditions_held" in cells:
                print(f"  {arm}: share of decisions at which each condition held: "
                      + ", ".join(f"{name} {share:.2f}" for name, share in cells["conditions_held"].items()))
    return table


HEADERS = {"pseudo_mAP": "pseudo-mAP", "valid_rate": "valid", "within_1": "within 1 grade"}
"""Table headers of metrics whose key is not how a reader names them."""


def markdown(table: dict[str, Any]) -> str:
    """The study's tables as Markdown."""
    pm = lambda text: text.replace("+-", " ± ")  # noqa: E731
    lines = ["Mean ± std over seeds. Paired differences (same seed, same warm start, same held-out rows): "
             "mean [95% t-interval, df = seeds - 1] and the count of seeds with a positive difference. "
             "tau levels: mean step at which tau reached the level (runs that reached it / runs).", ""]
    for regime, entry in table.items():
        arms, best = entry["arms"], entry["best_fixed"]
        shown, paired = TASK_METRICS[entry.get("task", "grounding")]
        lines += [f"### Regime `{regime}`", "",
                  "Warm-started model on the held-out rows (each seed once): "
                  + ", ".join(f"{m} {pm(value)}" for m, value in entry["warm_start"].items())
                  + (f". Best fixed threshold (by mean final {paired[0]}): {best}." if best else ". No fixed-threshold arm."), "",
                  "| arm | seeds | " + " | ".join(HEADERS.get(m, m) for m in shown) + " | "
                  + " | ".join(f"{metric} change since the warm start" for metric in paired)
                  + " | zero-variance groups, first steps | "
                  + " | ".join(f"tau {level:g} at step" for level in TAU_LEVELS) + " |",
                  "|---" * (3 + len(shown) + len(paired) + len(TAU_LEVELS)) + "|"]
        for arm, cells in arms.items():
            lines.append(f"| {arm} | {cells['n']} | " + " | ".join(pm(cells[m]) for m in shown)
                         + "".join(f" | {pm(cells['change_' + metric])}" for metric in paired)
                         + f" | {pm(cells['early_zero_variance_share'])} | "
                         + " | ".join(cells["tau_reached"].values()) + " |")
        if REFERENCE_ARM in arms or best:  # an arm to pair against
            lower = " (mae: lower is better, so a negative difference is a gain)" if "mae" in paired else ""
            references = {"vs_reference": REFERENCE_ARM}
            if best != REFERENCE_ARM:  # the reference is the best fixed threshold: one set of columns
                references["vs_best_fixed"] = best
            against = (f"against {REFERENCE_ARM} and against the best fixed threshold ({best})" if len(references) > 1
                       else f"against {REFERENCE_ARM}, the best fixed threshold")
            lines += ["", f"Paired differences {against}{lower}:",
                      "", "| arm | " + " | ".join(f"{metric} vs {reference}" for metric in paired
                                                  for reference in references.values()) + " |",
                      "|---" * (1 + len(references) * len(paired)) + "|"]
            for arm, cells in arms.items():
                lines.append(f"| {arm} | " + " | ".join(paired_cell(cells[f"{label}_{metric}"]) for metric in paired
                                                         for label in references) + " |")
        for label, title in (("conditions_held", "at which each condition held"),
                             ("conditions_binding", "at which each condition was the only one to fail (it alone held tau)")):
            held = {arm: cells[label] for arm, cells in arms.items() if label in cells}
            if not held:
                continue
            names = sorted({name for shares in held.values() for name in shares})
            lines += ["", f"Share of the adaptive rule's decisions {title}; - where the condition is off or another "
                      "test replaces it:", "", "| arm | " + " | ".join(names) + " |", "|---" * (1 + len(names)) + "|"]
            lines += [f"| {arm} | " + " | ".join(f"{shares[n]:.2f}" if n in shares else "-" for n in names) + " |"
                      for arm, shares in held.items()]
        lines.append("")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], arm_order: Sequence[str], path: Path) -> Path | None:
    """One row per regime: tau per seed (threshold arms) and the change since step 0 of the regime's two
    paired held-out metrics (mIoU and A@0.8 for grounding; mean over seeds, band ± 1 sd)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[plots]'): no figure")
        return None
    regimes = sorted({regime_of(r) for r in results})
    figure, axes = plt.subplots(len(regimes), 3, figsize=(17, 4.6 * len(regimes)), squeeze=False)
    colours = plt.get_cmap("tab20")  # the 10 dark shades first, then the light ones
    for row, regime in enumerate(regimes):
        paired = study_metrics([r for r in results if regime_of(r) == regime])[1]
        columns = list(enumerate(paired[:2], 1))
        present = [a for a in arm_order if any(r["arm"] == a and regime_of(r) == regime for r in results)]
        for arm in present:
            group = [r for r in results if r["arm"] == arm and regime_of(r) == regime]
            index = arm_order.index(arm)  # one colour per arm in every row
            colour = colours((2 * index) % 20 + (2 * index) // 20 % 2)
            if group[0].get("tau_level_steps") and group[0]["threshold_trajectory"]:  # soft IoU, VQA: no tau line
                for run in group:
                    steps, taus = zip(*run["threshold_trajectory"])
                    axes[row][0].plot(steps, taus, color=colour, alpha=0.45, drawstyle="steps-post",
                                      label=arm if run is group[0] else None)
            for column, metric in columns:  # change since step 0: seeds start apart
                steps = [step for step, _ in group[0]["heldout_history"]]
                changes = [[r["heldout_history"][i][1][metric] - r["heldout_history"][0][1][metric]
                            for r in group if len(r["heldout_history"]) > i] for i in range(len(steps))]
                means = [statistics.fmean(c) for c in changes]
                spreads = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in changes]
                axes[row][column].plot(steps, means, marker="o", color=colour, label=f"{arm} ({len(group)})")
                axes[row][column].fill_between(steps, [m - s for m, s in zip(means, spreads)],
                                               [m + s for m, s in zip(means, spreads)], color=colour, alpha=0.12)
        axes[row][0].set(title=f"{regime}: threshold tau (each seed)" if axes[row][0].lines else
                         f"{regime}: no threshold (the task's reward has none)", xlabel="GRPO step", ylabel="tau")
        if len(columns) < 2:
            axes[row][2].axis("off")
        for column, metric in columns:
            axes[row][column].set(title=f"{regime}: held-out {metric} since step 0 (mean ± sd)",
                                  xlabel="GRPO step")
            axes[row][column].axhline(0.0, color="grey", linewidth=0.8)
        if axes[row][0].get_legend_handles_labels()[0]:  # a task or arms without a threshold draw no tau line
            axes[row][0].legend(fontsize=7, loc="upper left")
        axes[row][columns[-1][0]].legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def load_results(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=list(STUDY_ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--regimes", nargs="+", default=None, metavar="NAME[=KEY=VALUE,...]",
                        help=f"built-in: {', '.join(REGIMES)}; or NAME=KEY=VALUE,... (medloc train settings)")
    parser.add_argument("--difficulty", nargs="+", default=None, help="synthetic presets (same as --regimes NAME)")
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
    parser.add_argument("--name", default="schedule_study", help="results file stem")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR), help="where results, tables and figure go")
    parser.add_argument("--report", action="store_true", help="only print the tables and draw the figure")
    args = parser.parse_args()

    arms = dict(parse_arm(spec) for spec in args.arms)
    regimes = dict(parse_regime(spec) for spec in [*(args.regimes or []), *(args.difficulty or [])]
                   or ["easy", "standard"])
    results_dir = Path(args.results_dir)
    runs_file = results_dir / f"{args.name}.jsonl"
    results_dir.mkdir(parents=True, exist_ok=True)
    results = load_results(runs_file)
    results = [r for r in results if belongs(r, arms, regimes)]  # a renamed or changed arm is a new arm
    done = {(r["arm"], r["seed"], regime_of(r)) for r in results if r["steps"] == args.max_steps}
    # arm by arm (every seed and regime of an arm before the next arm): a study stopped early still
    # has complete, comparable arms, in the order --arms gives
    todo = [(name, seed, regime) for name in arms for seed in args.seeds for regime in regimes
            if (name, seed, regime) not in done]
    if not args.report and todo:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        started = time.time()
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            # warm starts first (one per seed and regime), then the runs: a run whose warm start is still
            # being built by another worker waits for it (the cache's file lock), so no worker idles
            # (a dataset regime's warm start trains on the run's own training rows: its first run builds it)
            pairs = sorted({(seed, regime) for _, seed, regime in todo
                            if regimes[regime].get("data", "synthetic") == "synthetic"})
            warm_ups = [pool.submit(warm_up, seed, regimes[regime], args) for seed, regime in pairs]
            futures = {pool.submit(run_one, name, arms[name], seed, regime, regimes[regime], args): (name, seed, regime)
                       for name, seed, regime in todo}
            for count, future in enumerate(as_completed(futures), 1):
                result = future.result()
                with runs_file.open("a") as file:
                    file.write(json.dumps(result) + "\n")
                results.append(result)
                metric = study_metrics([result])[1][0]
                tau = result["final_threshold"]  # None: the task's reward has no threshold
                print(f"[{count}/{len(todo)} {time.time() - started:.0f}s] {result['regime']} {result['arm']} "
                      f"seed {result['seed']}: {metric} {result['start'][metric]:.3f} -> {result['heldout'][metric]:.3f}, "
                      f"final tau {'-' if tau is None else f'{tau:.2f}'}, {result['seconds']:.0f}s", flush=True)
            for future in warm_ups:
                future.result()  # a failed warm start raises here (its runs failed above, with the same error)
    selected = [r for r in results if r["seed"] in args.seeds]
    table = report(selected, list(arms))
    (results_dir / f"{args.name}_summary.json").write_text(json.dumps(
        {"settings": {k: v for k, v in vars(args).items() if k != "report"}, "regimes": regimes, "table": table},
        indent=2))
    (results_dir / f"{args.name}.md").write_text(markdown(table))
    figure = plot(selected, list(arms), results_dir / f"{args.name}.png") if selected else None
    print(f"\nruns: {runs_file}\ntables: {results_dir / f'{args.name}.md'}" + (f"\nfigure: {figure}" if figure else ""))


if __name__ == "__main__":
    main()
