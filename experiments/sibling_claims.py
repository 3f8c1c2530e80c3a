"""The sibling systems' claims on the testbed: Med-R1 (think layouts; generalisation across question
types, GRPO against supervised fine-tuning) and VRFT-Aug (fuzzy vs exact grade reward; class
descriptions in the prompt; perception first), each over several seeds with paired 95% intervals.

Two experiments run here, one record per seed each in ``sibling_claims.jsonl``:

- ``generalization`` (Med-R1): a question warm start, then ``--steps`` steps on the ``quadrant`` and
  ``count`` questions only, by GRPO (``medloc train``, ``--prompts-per-step`` prompts a step at
  ``--learning-rate``) or by supervised fine-tuning on the same rows for the same steps (batch = prompts
  per GRPO step, same learning rate); every model is then scored on held-out rows of all three kinds,
  so ``brightness`` is the question type neither run trained on.
- ``perception_first`` (VRFT-Aug): grounding GRPO (200 steps, adaptive curriculum) before the grade
  task's warm start and GRPO, against the same grade warm start and GRPO from the grounding warm start
  alone (same seed, same rows).

The other claims come from the schedule study's files, paired here by seed: think-before and
think-after against no think (``--vqa-study``, default ``vqa_study.jsonl``, its ``--vqa-regimes``; each
regime's layout is its ``reasoning`` setting), the
fuzzy grade reward against the exact one (``fixed-0.8``: only the exact grade meets it) and grade
descriptions in the prompt against none (``grade_study.jsonl``).

Usage::

    python experiments/sibling_claims.py --seeds 0 1 2 3 4          # run what is missing, then report
    python experiments/sibling_claims.py --report                   # tables from the results files only
    python experiments/sibling_claims.py --experiments generalization --steps 300 --prompts-per-step 16 \
        --learning-rate 3e-4 --name sibling_claims_batch16 --vqa-study vqa_batch16.jsonl \
        --vqa-regimes vqa16-3e-4 vqa16-after-3e-4                                        # the vqa recipe

The tables go to ``experiments/results/<name>.md`` (``--name``, default ``sibling_claims``). Every run uses the built-in tiny model
on ``easy`` synthetic images; how far that speaks for real models is said in
``experiments/results/question_tasks.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grounding_data.synthetic_questions import VQA_KINDS, question_split, vqa_row  # noqa: E402
from medloc.tasks import get_task, register_task  # noqa: E402
from medloc.tasks.vqa import VqaTask  # noqa: E402
from compare_schedules import load_results, mean_std  # noqa: E402
from study_statistics import format_paired, paired_summary  # noqa: E402

RESULTS_DIR = Path(__file__).parent / "results"
TRAINED_KINDS = ("quadrant", "count")
"""The question types the generalisation runs train on; the third, ``brightness``, is held out."""
HELD_OUT_KIND = next(kind for kind in VQA_KINDS if kind not in TRAINED_KINDS)
STEPS = 200
PROMPTS_PER_STEP = 4
LEARNING_RATE = 1e-4
HELDOUT_ROWS = 240


class SeenKindsVqa(VqaTask):
    """The synthetic VQA task restricted to :data:`TRAINED_KINDS` (row ``i`` is the ``i``-th row of those
    kinds in the full stream, so splits and offsets stay disjoint).

    Example:
        >>> [row["question_type"] for row in SeenKindsVqa().synthetic_rows("train", 3, None, 0)]
        ['quadrant', 'count', 'quadrant']
    """

    name = "vqa-seen"

    def synthetic_rows(self, split: str, n: int, config: Any, seed: int, start: int = 0) -> list[dict]:
        from grounding_data.synthetic import difficulty

        config = config or difficulty("easy")
        offsets = [VQA_KINDS.index(kind) for kind in TRAINED_KINDS]
        indices = [len(VQA_KINDS) * (i // len(offsets)) + offsets[i % len(offsets)] for i in range(start, start + n)]
        return [vqa_row(config, split, seed, index) for index in indices]


register_task(SeenKindsVqa())


def accuracy_by_kind(folder: str | Path, rows: Sequence[dict], reasoning: str = "none") -> dict[str, float]:
    """Greedy held-out accuracy of the model in ``folder``: overall, per question type, and its valid rate."""
    from medloc.builtin.warmstart import load_model
    from medloc.evaluation import generate_answers
    from medloc.tasks import AnswerSetup

    model, processor = load_model(folder)
    model.eval()
    task, setup = get_task("vqa"), AnswerSetup(reasoning)
    result = task.score(generate_answers(model, processor, rows, prompt=lambda row: task.prompt(row, setup)),
                        rows, setup)
    return {"all": result.metrics["accuracy"], "valid_rate": result.metrics["valid_rate"],
            **{kind: metrics["accuracy"] for kind, metrics in result.by_question_type.items()}}


def save(model: Any, processor: Any, folder: Path) -> Path:
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def grpo(settings: dict[str, Any], output_dir: Path) -> Any:
    """One ``medloc train`` run (no progress bar); its summary."""
    from medloc.app.settings import TrainSettings
    from medloc.app.training import run_training

    return run_training(TrainSettings(**settings, output_dir=str(output_dir), grpo={"save_strategy": "no"}).validate(),
                        progress=False)


def generalization(seed: int, work: Path, cache: Path, steps: int = STEPS, prompts: int = PROMPTS_PER_STEP,
                   learning_rate: float = LEARNING_RATE) -> dict[str, Any]:
    """Med-R1's question-type generalisation, GRPO against SFT on the same rows, steps, batch and learning rate
    (one seed)."""
    from medloc.app.model_setup import warm_start_config
    from medloc.app.settings import TrainSettings
    from medloc.builtin.warmstart import train_once, warm_start

    config = dataclasses.replace(warm_start_config(TrainSettings(task="vqa", seed=seed)), task=SeenKindsVqa.name)
    start = warm_start(cache, config, seed=seed, progress=False, keep_stalled=True)  # format, on the trained kinds
    heldout = question_split("vqa", "heldout", HELDOUT_ROWS, seed=seed)
    summary = grpo({"task": SeenKindsVqa.name, "model": str(start), "warm_start": False, "vision_lr_scale": 0.0,
                    "seed": seed, "max_steps": steps, "prompts_per_step": prompts, "learning_rate": learning_rate,
                    "eval_every": 0, "heldout_rows": 32}, work / "grpo")
    rows = get_task(SeenKindsVqa.name).synthetic_rows("train", steps * prompts, None, seed)  # GRPO's rows
    sft = dataclasses.replace(config, max_steps=steps, batch_size=prompts, learning_rate=learning_rate)
    model, processor = train_once(sft, seed, sft.learning_rate, progress=False, rows=rows, init=start)
    sft_folder = save(model, processor, work / "sft")
    return {"experiment": "generalization", "seed": seed, "trained_kinds": list(TRAINED_KINDS),
            "held_out_kind": HELD_OUT_KIND, "steps": steps, "prompts_per_step": prompts,
            "learning_rate": learning_rate, "heldout_rows": len(heldout),
            "start": accuracy_by_kind(start, heldout), "grpo": accuracy_by_kind(summary.final_model_dir, heldout),
            "sft": accuracy_by_kind(sft_folder, heldout)}


def perception_first(seed: int, work: Path, cache: Path, steps: int = STEPS) -> dict[str, Any]:
    """VRFT-Aug's perception first: grade warm start + GRPO from a grounding-GRPO model or from the grounding
    warm start (one seed)."""
    from medloc.app.model_setup import warm_start_config
    from medloc.app.settings import TrainSettings
    from medloc.builtin.warmstart import train_once, warm_start

    grade = warm_start_config(TrainSettings(task="grade", seed=seed))
    base = warm_start(cache, grade.base, seed=seed, progress=False, keep_stalled=True)
    grounding = grpo({"seed": seed, "max_steps": steps, "eval_every": 0, "heldout_rows": 64,
                      "cache_dir": str(cache.parent)}, work / "grounding")
    record: dict[str, Any] = {"experiment": "perception_first", "seed": seed, "steps": steps,
                              "grounding": {"start": grounding.heldout_history[0][1], "end": grounding.heldout,
                                            "raises": grounding.raises}}
    for arm, init in (("alone", base), ("perception_first", Path(grounding.final_model_dir))):
        model, processor = train_once(grade, seed, grade.learning_rate, progress=False, init=init)
        folder = save(model, processor, work / f"{arm}_grade_warm_start")
        summary = grpo({"task": "grade", "model": str(folder), "warm_start": False, "vision_lr_scale": 0.0,
                        "seed": seed, "max_steps": steps, "eval_every": 0, "heldout_rows": HELDOUT_ROWS},
                       work / f"{arm}_grade")
        record[arm] = {"start": summary.heldout_history[0][1], "end": summary.heldout, "raises": summary.raises}
    return record


EXPERIMENTS = {"generalization": generalization, "perception_first": perception_first}


def paired(pairs: Sequence[tuple[float, float]]) -> str:
    """``a - b`` seed by seed: mean [95% interval] and the count of positive differences."""
    return format_paired(paired_summary([a - b for a, b in pairs])) if pairs else "n/a"


def mean_sd(values: Sequence[float]) -> str:
    """``mean ± sd`` over seeds (:func:`compare_schedules.mean_std`, written for Markdown)."""
    return mean_std(list(values)).replace("+-", " ± ")


def generalization_table(records: list[dict[str, Any]]) -> list[str]:
    if not records:
        return []
    kinds = ["all", *TRAINED_KINDS, HELD_OUT_KIND]
    lines = [f"### Med-R1: generalisation to an unseen question type ({len(records)} seeds)", "",
             f"Trained on {', '.join(TRAINED_KINDS)} for {records[0]['steps']} steps of "
             f"{records[0].get('prompts_per_step', PROMPTS_PER_STEP)} prompts at learning rate "
             f"{records[0].get('learning_rate', LEARNING_RATE):g}; `{HELD_OUT_KIND}` never trained on (chance "
             f"0.5; the quadrant and count questions have 4 options). Held-out accuracy, mean ± sd over seeds:", "",
             "| model | " + " | ".join(kinds) + " |", "|---" * (1 + len(kinds)) + "|"]
    for arm, label in (("start", "warm start (format)"), ("grpo", "GRPO"), ("sft", "SFT, same rows and steps")):
        lines.append(f"| {label} | " + " | ".join(mean_sd([r[arm].get(k, float('nan')) for r in records])
                                                    for k in kinds) + " |")
    lines += ["", "Paired differences (mean [95% t-interval] seeds positive):", "",
              "| comparison | " + " | ".join(kinds) + " |", "|---" * (1 + len(kinds)) + "|"]
    for a, b, label in (("grpo", "start", "GRPO - warm start"), ("sft", "start", "SFT - warm start"),
                        ("grpo", "sft", "GRPO - SFT")):
        lines.append(f"| {label} | " + " | ".join(paired([(r[a][k], r[b][k]) for r in records]) for k in kinds) + " |")
    return lines + [""]


def perception_table(records: list[dict[str, Any]]) -> list[str]:
    if not records:
        return []
    metrics = ("accuracy", "within_1", "mae")
    lines = [f"### VRFT-Aug: perception first ({len(records)} seeds)", "",
             f"Grade warm start + {records[0]['steps']} grade GRPO steps, from the grounding warm start (`alone`) or from it after "
             f"{records[0]['steps']} grounding GRPO steps (`perception_first`; held-out grounding mIoU "
             f"{mean_sd([r['grounding']['start']['mIoU'] for r in records])} -> "
             f"{mean_sd([r['grounding']['end']['mIoU'] for r in records])}). Held-out grade metrics, mean ± sd:", "",
             "| arm | before GRPO: " + " | ".join(metrics) + " | after GRPO: " + " | ".join(metrics) + " |",
             "|---" * (1 + 2 * len(metrics)) + "|"]
    for arm in ("alone", "perception_first"):
        lines.append(f"| {arm} | " + " | ".join(mean_sd([r[arm][when][m] for r in records])
                                                for when in ("start", "end") for m in metrics) + " |")
    lines += ["", "perception_first - alone, paired (mean [95% t-interval] seeds positive; mae: lower is better):", "",
              "| when | " + " | ".join(metrics) + " |", "|---" * (1 + len(metrics)) + "|"]
    for when, label in (("start", "after the grade warm start"), ("end", "after grade GRPO")):
        lines.append(f"| {label} | " + " | ".join(paired([(r["perception_first"][when][m], r["alone"][when][m])
                                                           for r in records]) for m in metrics) + " |")
    return lines + [""]


def study_pairs(records: list[dict[str, Any]], a: tuple[str, str], b: tuple[str, str], metric: str,
                change: bool = False) -> list[tuple[float, float]]:
    """(a, b) values of ``metric`` seed by seed, for (regime, arm) keys; ``change``: since each run's warm start."""
    def value(record: dict[str, Any]) -> float:
        return record["heldout"][metric] - (record["start"][metric] if change else 0.0)

    by_key = {(r["regime"], r["arm"], r["seed"]): value(r) for r in records}
    seeds = sorted({seed for regime, arm, seed in by_key if (regime, arm) == a} &
                   {seed for regime, arm, seed in by_key if (regime, arm) == b})
    return [(by_key[(*a, seed)], by_key[(*b, seed)]) for seed in seeds]


def vqa_layouts(records: list[dict[str, Any]], regimes: Sequence[str]) -> dict[str, str]:
    """Prompt layout (``none``, ``before``, ``after``) -> the regime of ``regimes`` that ran it in a study's records.

    Example:
        >>> vqa_layouts([{"regime": "vqa-after", "regime_settings": {"task": "vqa", "reasoning": "after"}},
        ...              {"regime": "vqa", "regime_settings": {"task": "vqa"}}], ["vqa", "vqa-after"])
        {'after': 'vqa-after', 'none': 'vqa'}
    """
    return {r["regime_settings"].get("reasoning", "none"): r["regime"] for r in records if r["regime"] in regimes}


def study_tables(grade: list[dict[str, Any]], vqa: list[dict[str, Any]], vqa_name: str = "vqa_study.jsonl",
                 vqa_regimes: Sequence[str] = ("vqa", "vqa-before", "vqa-after")) -> list[str]:
    lines: list[str] = []
    if vqa:
        labels = {"none": "no think", "before": "think before", "after": "think after"}
        regimes = vqa_layouts(vqa, vqa_regimes)
        lines += [f"### Med-R1: think layouts on VQA (`{vqa_name}`)", "",
                  f"Each layout has its own question warm start, then {vqa[0]['steps']} GRPO steps. Held-out "
                  "accuracy:", "",
                  "| layout | seeds | warm start | after GRPO | change since the warm start | valid after |",
                  "|---|---|---|---|---|---|"]
        for layout, label in labels.items():
            runs = [r for r in vqa if r["regime"] == regimes.get(layout)]
            if runs:
                lines.append(f"| {label} | {len(runs)} | {mean_sd([r['start']['accuracy'] for r in runs])} | "
                             f"{mean_sd([r['heldout']['accuracy'] for r in runs])} | "
                             + paired([(r["heldout"]["accuracy"], r["start"]["accuracy"]) for r in runs])
                             + f" | {mean_sd([r['heldout']['valid_rate'] for r in runs])} |")
        lines += ["", "| comparison | final accuracy | change since the warm start |", "|---|---|---|"]
        for layout in [layout for layout in ("before", "after") if layout in regimes and "none" in regimes]:
            a, b = (regimes[layout], "fixed-0.5"), (regimes["none"], "fixed-0.5")
            lines.append(f"| {labels[layout]} - no think | {paired(study_pairs(vqa, a, b, 'accuracy'))} | "
                         f"{paired(study_pairs(vqa, a, b, 'accuracy', change=True))} |")
        lines.append("")
    if grade:
        lines += ["### VRFT-Aug: grade rewards and prior knowledge (`grade_study.jsonl`)", "",
                  "Same grade warm start per seed (the described arm: its own, trained on the described prompts), "
                  "200 GRPO steps. Paired differences in held-out metrics after GRPO (mae: lower is better):", "",
                  "| comparison | accuracy | mae | accuracy change since the warm start |", "|---|---|---|---|"]
        for a, b, label in (("fuzzy", "fixed-0.8", "fuzzy - exact (fixed 0.8: only the exact grade pays)"),
                            ("fuzzy", "adaptive", "fuzzy - adaptive curriculum"),
                            ("adaptive-described", "adaptive", "descriptions in the prompt - none (adaptive)")):
            key_a, key_b = ("grade", a), ("grade", b)
            lines.append(f"| {label} | {paired(study_pairs(grade, key_a, key_b, 'accuracy'))} | "
                         f"{paired(study_pairs(grade, key_a, key_b, 'mae'))} | "
                         f"{paired(study_pairs(grade, key_a, key_b, 'accuracy', change=True))} |")
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--experiments", nargs="+", choices=list(EXPERIMENTS), default=list(EXPERIMENTS))
    parser.add_argument("--steps", type=int, default=STEPS, help="GRPO (and SFT) steps of every run")
    parser.add_argument("--prompts-per-step", type=int, default=PROMPTS_PER_STEP,
                        help="generalization: prompts per GRPO step (and the SFT batch)")
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE,
                        help="generalization: GRPO's (and SFT's) learning rate")
    parser.add_argument("--name", default="sibling_claims", help="stem of the runs file and the tables")
    parser.add_argument("--vqa-study", default="vqa_study.jsonl", help="the schedule study file with the VQA layouts")
    parser.add_argument("--vqa-regimes", nargs="+", default=["vqa", "vqa-before", "vqa-after"],
                        help="its regimes compared (one per layout)")
    parser.add_argument("--work-dir", default="experiments/runs/sibling_claims")
    parser.add_argument("--cache-dir", default=None, help="warm-start cache (default: medloc's)")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument("--report", action="store_true", help="only write the tables")
    args = parser.parse_args()

    import torch

    from medloc.app.settings import TrainSettings

    torch.set_num_threads(1)
    results_dir = Path(args.results_dir)
    runs_file = results_dir / f"{args.name}.jsonl"
    cache = TrainSettings(cache_dir=args.cache_dir).warm_start_cache() / "warmstart"
    records = load_results(runs_file)
    recipe = {"prompts": args.prompts_per_step, "learning_rate": args.learning_rate}  # generalization's GRPO and SFT
    records = [r for r in records if r["steps"] == args.steps and (r["experiment"] != "generalization" or (
        r.get("prompts_per_step", PROMPTS_PER_STEP), r.get("learning_rate", LEARNING_RATE)) == tuple(recipe.values()))]
    done = {(r["experiment"], r["seed"]) for r in records}
    for seed in [] if args.report else args.seeds:
        for name in args.experiments:
            if (name, seed) in done:
                continue
            started = time.time()
            options = recipe if name == "generalization" else {}
            record = {**EXPERIMENTS[name](seed, Path(args.work_dir) / args.name / name / f"seed{seed}", cache,
                                          args.steps, **options),
                      "seconds": round(time.time() - started, 1)}
            with runs_file.open("a") as out:
                out.write(json.dumps(record) + "\n")
            records.append(record)
            print(f"{name} seed {seed}: {record['seconds']:.0f}s", flush=True)
    lines = ["# The sibling systems' claims on the testbed", "",
             f"Built by `experiments/sibling_claims.py` from `{runs_file.name}`, `{args.vqa_study}` and "
             "`grade_study.jsonl`. Paired differences: mean [95% t-interval, df = seeds - 1] and the count of seeds "
             "with a positive difference.", ""]
    lines += study_tables(load_results(results_dir / "grade_study.jsonl"), load_results(results_dir / args.vqa_study),
                          args.vqa_study, args.vqa_regimes)
    lines += generalization_table([r for r in records if r["experiment"] == "generalization"])
    lines += perception_table([r for r in records if r["experiment"] == "perception_first"])
    (results_dir / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
