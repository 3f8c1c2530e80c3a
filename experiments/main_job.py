"""Record the main job's raw data: ``medloc train --schedule adaptive`` for given seeds.

Each run is the real command line (a subprocess, as a user runs it); its ``summary.json`` and
``metrics.jsonl`` become one JSON line in ``experiments/results/main_job.jsonl``: wall time, tau's
trajectory and raises, held-out metrics before and after GRPO, the warm start, and the share of
the adaptive rule's decisions at which each condition held. README's main-job numbers (raise steps,
before / after) are quoted from this file.

Usage::

    python experiments/main_job.py --seeds 0 1 2 3 4                    # the default job, 5 seeds
    python experiments/main_job.py --seeds 0 --name main_job_smoke -- --max-steps 20 --eval-every 10
    python experiments/main_job.py --report                              # the table from the file only

Everything after ``--`` goes to ``medloc train`` unchanged. Runs already in the file (same seed and
the same extra flags) are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_schedules import condition_binding, condition_shares, read_metrics  # noqa: E402

RESULTS_DIR = Path(__file__).parent / "results"


def run_main_job(seed: int, extra: list[str], work_dir: Path) -> dict[str, Any]:
    """Run ``medloc train --schedule adaptive --seed SEED EXTRA...``; its result record."""
    output_dir = work_dir / f"seed{seed}"
    command = [sys.executable, "-m", "medloc", "train", "--schedule", "adaptive", "--seed", str(seed),
               "--output-dir", str(output_dir), "--overwrite-output-dir", *extra]  # the script owns its work dir
    started = time.time()
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.time() - started
    if completed.returncode != 0:
        raise SystemExit(f"seed {seed}: medloc train failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    summary = json.loads((output_dir / "summary.json").read_text())
    history = summary["heldout_history"]
    return {
        "seed": seed, "extra_flags": extra, "command": " ".join(command[1:]), "wall_seconds": round(wall, 1),
        "steps": summary["steps"], "start_threshold": summary["start_threshold"],
        "final_threshold": summary["final_threshold"], "raises": summary["raises"],
        "threshold_trajectory": summary["threshold_trajectory"],
        "heldout_before": history[0][1] if history and history[0][0] == 0 else None,
        "heldout_after": summary["heldout"], "heldout_history": history, "warm_start": summary["warm_start"],
        "condition_shares": condition_shares(read_metrics(Path(summary["metrics_file"]))),
        "condition_binding": condition_binding(read_metrics(Path(summary["metrics_file"]))),
        "printed_summary": completed.stdout.strip().splitlines()[-12:],
    }


def report(records: list[dict[str, Any]]) -> str:
    """One line per run and the count of raises, as Markdown."""
    lines = ["| seed | flags | wall | raises (step: from -> to) | held-out mIoU before -> after | A@0.5 before -> after |",
             "|---|---|---|---|---|---|"]
    for record in records:
        before, after = record["heldout_before"] or {}, record["heldout_after"]
        raises = ", ".join(f"{step}: {old:.2f}->{new:.2f}" for step, old, new in record["raises"]) or "none"
        lines.append(f"| {record['seed']} | {' '.join(record['extra_flags']) or '-'} | {record['wall_seconds']:.0f}s | "
                     f"{raises} | {before.get('mIoU', float('nan')):.3f} -> {after['mIoU']:.3f} | "
                     f"{before.get('A@0.5', float('nan')):.3f} -> {after['A@0.5']:.3f} |")
    if records:
        counts = [len(r["raises"]) for r in records]
        lines += ["", f"tau raised {statistics.fmean(counts):.1f} times on average (min {min(counts)}, max "
                  f"{max(counts)}) over {len(records)} run(s); raised at least twice in "
                  f"{sum(c >= 2 for c in counts)}/{len(records)}."]
    return "\n".join(lines)


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--work-dir", default="experiments/runs/main_job")
    parser.add_argument("--name", default="main_job", help="results file stem")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument("--report", action="store_true", help="only print the table")
    args = parser.parse_args(own)
    results_file = Path(args.results_dir) / f"{args.name}.jsonl"
    results_file.parent.mkdir(parents=True, exist_ok=True)
    records = [json.loads(line) for line in results_file.read_text().splitlines() if line.strip()] \
        if results_file.is_file() else []
    done = {(r["seed"], tuple(r["extra_flags"])) for r in records}
    for seed in [] if args.report else args.seeds:
        if (seed, tuple(extra)) in done:
            continue
        record = run_main_job(seed, extra, Path(args.work_dir))
        with results_file.open("a") as file:
            file.write(json.dumps(record) + "\n")
        records.append(record)
        print(f"seed {seed}: {record['wall_seconds']:.0f}s, raises {record['raises']}", flush=True)
    table = report([r for r in records if tuple(r["extra_flags"]) == tuple(extra)])
    (Path(args.results_dir) / f"{args.name}.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
