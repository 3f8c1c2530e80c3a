"""What a change (of code or of settings) did to a study: the same runs (regime, arm, seed, same warm start)
before and after, paired.

Reads two results files of :mod:`compare_schedules` (one JSON line per run) and prints, per regime and
arm found in both, the final held-out metrics before and after (mean +- sd) and the paired difference
after - before (mean [95% t-interval] and seeds positive), as Markdown.

A regime renamed for the change pairs with ``--regime-map BEFORE=AFTER``.

Usage (the left-padding fix, issue 21; the built-in VQA recipe against the defaults)::

    python experiments/rerun_effect.py experiments/results/schedule_study.jsonl \\
        experiments/results/schedule_study_leftpad.jsonl --out experiments/results/leftpad_effect.md
    python experiments/rerun_effect.py experiments/results/vqa_leftpad.jsonl experiments/results/vqa_batch16.jsonl \\
        --regime-map vqa=vqa16-3e-4 vqa-after=vqa16-after-3e-4 --metrics accuracy valid_rate \\
        --out experiments/results/recipe_effect_vqa.md

Example:
    >>> before = [{"regime": "r", "arm": "a", "seed": s, "heldout": {"mIoU": 0.5}} for s in range(2)]
    >>> after = [{"regime": "r", "arm": "a", "seed": s, "heldout": {"mIoU": 0.6 + s / 100}} for s in range(2)]
    >>> print(effect_lines(before, after, ("mIoU",))[-1])
    | r | a | 2 | mIoU | 0.500+-0.000 | 0.605+-0.007 | +0.105 [+0.041, +0.169] 2/2+ |
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_schedules import load_results, mean_std  # noqa: E402
from study_statistics import format_paired, paired_summary  # noqa: E402

HEADER = ["| regime | arm | seeds | metric | before | after | after - before |", "|---|---|---|---|---|---|---|"]


def by_run(records: Sequence[dict[str, Any]], rename: dict[str, str] | None = None
           ) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Records keyed by (regime, arm, seed), regimes renamed by ``rename``; a later record of the same run wins."""
    rename = rename or {}
    return {(rename.get(record["regime"], record["regime"]), record["arm"], record["seed"]): record
            for record in records}


def regime_pair(text: str) -> tuple[str, str]:
    """One ``--regime-map`` item, ``BEFORE=AFTER``.

    Example:
        >>> regime_pair("vqa=vqa16-3e-4")
        ('vqa', 'vqa16-3e-4')
    """
    before, separator, after = text.partition("=")
    if not (separator and before and after):
        raise argparse.ArgumentTypeError(f"expected BEFORE=AFTER, got {text!r}")
    return before, after


def effect_lines(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]],
                 metrics: Sequence[str], rename: dict[str, str] | None = None) -> list[str]:
    """The Markdown table: one row per (regime, arm, metric) with runs in both files (``rename``: a regime of
    ``before`` -> its name in ``after``)."""
    old, new = by_run(before, rename), by_run(after)
    lines = list(HEADER)
    for regime, arm in sorted({key[:2] for key in new if key in old}):
        seeds = sorted(seed for (r, a, seed) in new if (r, a) == (regime, arm) and (r, a, seed) in old)
        for metric in metrics:
            pairs = [(old[(regime, arm, s)]["heldout"].get(metric), new[(regime, arm, s)]["heldout"].get(metric))
                     for s in seeds]
            pairs = [(b, a) for b, a in pairs if b is not None and a is not None]
            if not pairs:
                continue
            lines.append(f"| {regime} | {arm} | {len(pairs)} | {metric} | {mean_std([b for b, _ in pairs])} | "
                         f"{mean_std([a for _, a in pairs])} | {format_paired(paired_summary([a - b for b, a in pairs]))} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--metrics", nargs="+", default=["mIoU", "A@0.8", "accuracy"])
    parser.add_argument("--out", type=Path, help="also write the table here")
    parser.add_argument("--regime-map", nargs="*", type=regime_pair, default=[], metavar="BEFORE=AFTER",
                        help="pair a regime of the first file with a differently named one of the second")
    options = parser.parse_args()
    rename = dict(options.regime_map)
    mapped = "".join(f", `{a}` paired with `{b}`" for a, b in rename.items())
    lines = [f"Same runs before (`{options.before.name}`) and after (`{options.after.name}`{mapped}), paired by regime, arm "
             "and seed (same warm start): final held-out metrics, mean +- sd over seeds, and after - before, mean "
             "[95% t-interval, df = seeds - 1] and seeds positive.", "",
             *effect_lines(load_results(options.before), load_results(options.after), options.metrics, rename)]
    text = "\n".join(lines) + "\n"
    print(text)
    if options.out:
        options.out.write_text(text)


if __name__ == "__main__":
    main()
