"""Spike: do a few dozen GRPO steps (TRL GRPOTrainer) move held-out mIoU of the warm-started tiny model?

Loads a warm-started model folder, measures greedy held-out metrics, runs GRPO on fresh synthetic
train rows with a soft-IoU or binary-IoU reward, and measures again on the same held-out rows.

Usage:
    OMP_NUM_THREADS=1 python experiments/grpo_spike.py --model /tmp/ws/model_400 --reward soft \
        --steps 40 --lr 1e-4 --num-generations 8 --batch-size 32 --temperature 1.0 --beta 0.0
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from datasets import IterableDataset
from transformers import AutoModelForImageTextToText, AutoProcessor
from trl import GRPOConfig, GRPOTrainer

from grounding_data.synthetic import SyntheticConfig, generate_split, iter_rows
from medloc.prompts import build_prompt
from medloc.rewards import make_binary_iou_reward, make_soft_iou_reward
from medloc.warmstart import probe


def _grpo_rows(seed: int, reasoning: str, frame: str):
    for row in iter_rows("train", SyntheticConfig(), seed=seed):
        yield {"prompt": build_prompt(row, reasoning, frame), "image": row["image"].convert("RGB"),
               "boxes": row["boxes"], "width": row["width"], "height": row["height"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--reward", choices=["soft", "binary"], default="soft")
    parser.add_argument("--tau", type=float, default=0.3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--num-generations", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--beta", type=float, default=0.0)
    parser.add_argument("--scale-rewards", default="group")
    parser.add_argument("--loss-type", default="dapo")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    frame, reasoning = "grid-100", "none"
    model = AutoModelForImageTextToText.from_pretrained(args.model)
    processor = AutoProcessor.from_pretrained(args.model)
    heldout = generate_split("heldout", args.heldout, seed=args.seed)
    before = probe(model, processor, heldout, reasoning, frame)
    reward = make_soft_iou_reward(frame) if args.reward == "soft" else make_binary_iou_reward(args.tau, frame)
    config = GRPOConfig(
        output_dir="/tmp/medloc-grpo-spike", max_steps=args.steps, learning_rate=args.lr,
        per_device_train_batch_size=args.batch_size, num_generations=args.num_generations,
        temperature=args.temperature, top_k=0, top_p=1.0, beta=args.beta, scale_rewards=args.scale_rewards,
        loss_type=args.loss_type, max_completion_length=24, activation_checkpointing=False, logging_steps=5,
        save_strategy="no", report_to="none", lr_scheduler_type="constant", warmup_steps=0, bf16=False,
        use_cpu=not torch.cuda.is_available(), seed=args.seed, disable_tqdm=True, dataloader_num_workers=0,
    )
    dataset = IterableDataset.from_generator(_grpo_rows, gen_kwargs={"seed": args.seed, "reasoning": reasoning,
                                                                     "frame": frame})
    trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=config, train_dataset=dataset,
                          processing_class=processor)
    start = time.time()
    trainer.train()
    seconds = time.time() - start
    after = probe(trainer.model, processor, heldout, reasoning, frame)
    logs = [{k: v for k, v in h.items() if k in ("step", "reward", "frac_reward_zero_std", "loss", "kl",
                                                    "completions/mean_length")} for h in trainer.state.log_history]
    keys = ("mIoU", "A@0.3", "A@0.5", "A@0.8", "format_valid_rate", "spread")
    result = {"args": vars(args), "seconds": round(seconds, 1),
              "before": {k: round(before[k], 4) for k in keys}, "after": {k: round(after[k], 4) for k in keys},
              "log": logs}
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
