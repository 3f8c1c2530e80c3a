"""Warm-start variants of the built-in tiny model: held-out quality against training time.

Each variant trains the tiny model from scratch with the warm-start loop (``medloc.builtin.warmstart``)
and probes greedy answers on held-out synthetic rows. One line per run is appended to
``experiments/results/warmstart_variants.jsonl``; ``--table`` prints the file as a table.

Usage::

    python experiments/warmstart_variants.py --name number-tokens --steps 600 --size number_tokens=true
    python experiments/warmstart_variants.py --name grid-64 --steps 600 --size merge_size=1
    python experiments/warmstart_variants.py --table
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from grounding_data.synthetic import difficulty, generate_split
from medloc.app.key_values import parse_key_values
from medloc.builtin.warmstart import WarmStartConfig, train_once
from medloc.builtin.warmstart_probe import BoxProbe

RESULTS = Path(__file__).parent / "results" / "warmstart_variants.jsonl"


def run(args: argparse.Namespace) -> dict:
    size = parse_key_values("--size", args.size)
    options = parse_key_values("--option", args.option)
    config = WarmStartConfig(max_steps=args.steps, synthetic=difficulty(args.difficulty),
                             model_size=tuple(sorted(size.items())), **options)
    started = time.time()
    model, processor = train_once(config, args.seed, config.learning_rate, progress=not args.quiet)
    seconds = time.time() - started
    rows = generate_split("heldout", args.probe_rows, config.synthetic, seed=args.seed)
    result = BoxProbe().measure(model, processor, rows, config)
    return {
        "name": args.name, "difficulty": args.difficulty, "seed": args.seed, "steps": args.steps,
        "size": size, "options": options, "threads": torch.get_num_threads(), "train_seconds": round(seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        **{key: round(result[key], 4) for key in ("mIoU", "A@0.3", "A@0.5", "A@0.8", "format_valid_rate",
                                                     "spread", "constant_box_mIoU")},
        "sample_answers": result["sample_answers"][:2],
    }


def print_table(path: Path) -> None:
    print(f"{'name':<28}{'preset':<10}{'seed':>5}{'steps':>6}{'sec':>7}{'mIoU':>7}{'A@0.5':>7}{'A@0.8':>7}"
          f"{'valid':>7}{'base':>7}")
    for line in path.read_text().splitlines():
        r = json.loads(line)
        print(f"{r['name']:<28}{r['difficulty']:<10}{r['seed']:>5}{r['steps']:>6}{r['train_seconds']:>7.0f}"
              f"{r['mIoU']:>7.3f}{r['A@0.5']:>7.3f}{r['A@0.8']:>7.3f}{r['format_valid_rate']:>7.2f}"
              f"{r['constant_box_mIoU']:>7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="default")
    parser.add_argument("--steps", type=int, default=WarmStartConfig.max_steps)
    parser.add_argument("--difficulty", default="easy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", nargs="*", default=[], metavar="KEY=VALUE", help="TinyVLMSize fields")
    parser.add_argument("--option", nargs="*", default=[], metavar="KEY=VALUE", help="WarmStartConfig fields")
    parser.add_argument("--probe-rows", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--table", action="store_true", help="print the results file and exit")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if args.table:
        print_table(Path(args.out))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args)
    print(json.dumps(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as file:
        file.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
