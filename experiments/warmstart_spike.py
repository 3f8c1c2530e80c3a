"""Spike: how well does the supervised warm start of the tiny model localise, and how sparse is
the reward it hands to GRPO?

Trains with medloc.warmstart.train_once,
then reports greedy held-out mIoU / A@0.3 / A@0.5 / A@0.8 and, sampling --samples completions
per prompt at temperature 1, the share of zero-variance groups and the mean binary reward at
IoU thresholds 0.3 / 0.5 / 0.7. Results go to stdout and --out (JSON).

Usage:
    OMP_NUM_THREADS=1 python experiments/warmstart_spike.py --steps 400 --lr 2e-3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from grounding_data.synthetic import SyntheticConfig, generate_split
from medloc.rewards import completion_ious
from medloc.evaluation import generate_answers
from medloc.warmstart import WarmStartConfig, probe, train_once


def sampled_regime(model, processor, rows, samples: int, temperature: float, frame: str, reasoning: str) -> dict:
    """Zero-variance share and mean binary reward at several IoU thresholds, sampling `samples` per row."""
    texts = generate_answers(model, processor, rows, reasoning, frame, num_samples=samples, temperature=temperature)
    repeat = lambda xs: [x for x in xs for _ in range(samples)]  # noqa: E731
    ious = completion_ious(texts, repeat([r["boxes"] for r in rows]), repeat([r["width"] for r in rows]),
                           repeat([r["height"] for r in rows]), frame).reshape(len(rows), samples)
    out = {"sampled_mIoU": float(ious.mean())}
    for tau in (0.3, 0.5, 0.7):
        hits = ious >= tau
        out[f"zero_var@{tau}"] = float(np.mean(hits.all(axis=1) | ~hits.any(axis=1)))
        out[f"mean_reward@{tau}"] = float(hits.mean())
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--save", type=str, default="")
    parser.add_argument("--out", type=str, default="")
    parser.add_argument("--synthetic", type=json.loads, default={},
                        help='warm-start data overrides as JSON, e.g. {"contrast_range": [0.2, 0.5]}')
    parser.add_argument("--model-size", type=json.loads, default={},
                        help='tiny model size overrides as JSON, e.g. {"num_heads": 2}')
    parser.add_argument("--heldout-like-train", action="store_true",
                        help="draw held-out rows from the warm-start data config instead of the default one")
    parser.add_argument("--freeze-vision", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in args.synthetic.items()}
    config = WarmStartConfig(max_steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr,
                             synthetic=SyntheticConfig(**overrides),
                             model_size=tuple(sorted(args.model_size.items())), freeze_vision=args.freeze_vision)
    heldout_config = config.synthetic if args.heldout_like_train else SyntheticConfig()
    heldout = generate_split("heldout", args.heldout, heldout_config, seed=args.seed)

    start = time.time()
    model, processor = train_once(config, args.seed, args.lr, progress=False)
    train_seconds = time.time() - start
    greedy = probe(model, processor, heldout, config.reasoning, config.frame)
    by_attribute = {}
    texts = greedy.pop("sample_answers")
    regime = sampled_regime(model, processor, heldout[:64], args.samples, 1.0, config.frame, config.reasoning)
    ious = completion_ious(generate_answers(model, processor, heldout, config.reasoning, config.frame),
                           [r["boxes"] for r in heldout], [r["width"] for r in heldout],
                           [r["height"] for r in heldout], config.frame)
    for attribute in sorted({r["attribute"] for r in heldout}):
        idx = [i for i, r in enumerate(heldout) if r["attribute"] == attribute]
        by_attribute[attribute] = round(float(ious[idx].mean()), 3)
    result = {"steps": args.steps, "lr": args.lr, "batch_size": args.batch_size, "threads": args.threads,
              "train_seconds": round(train_seconds, 1), **greedy, **regime, "mIoU_by_attribute": by_attribute,
              "examples": texts}
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    if args.save:
        model.save_pretrained(args.save)
        processor.save_pretrained(args.save)


if __name__ == "__main__":
    main()
