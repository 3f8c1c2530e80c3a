"""Benchmark: reward + parse cost per completion, medloc's vectorised path vs a VLM-R1-style loop,
the schedule update cost per step, and both as a share of a tiny-model GRPO step.

The baseline follows the shape of VLM-R1's grounding IoU reward: for every completion, a
regex search for the answer block and the box, a pure-Python IoU, and the image size read
by opening the image file with PIL (to map the Qwen2.5-VL resized-frame box back to the
original image). medloc's path reads ``width`` / ``height`` columns and scores the batch at
once (:func:`medloc.rewards.completion_ious`). Both must give the same IoUs; the script
checks that before timing.

The curriculum path is ``IoUCurriculum.reward`` as TRL calls it on a training batch: parse,
IoU, binary reward, then the adaptive schedule's observe + step (window 30).

Usage:
    OMP_NUM_THREADS=1 python experiments/bench_reward.py --n 4096 --repeats 7 --grpo-steps 6
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

from medloc.curriculum import IoUCurriculum
from medloc.rewards import make_soft_iou_reward
from schedulers import AdaptiveSchedule

IMAGE_SIZES = [(512, 512), (640, 480), (1024, 768), (800, 1000), (448, 448), (1280, 720), (300, 600), (1000, 1000)]


def vlm_r1_style_iou_reward(completions: list, solution: list, image_path: list) -> list[float]:
    """Per-completion loop in the style of VLM-R1's ``iou_reward`` (answers in the resized frame)."""

    def iou(box1: list[float], box2: list[float]) -> float:
        inter_x1, inter_y1 = max(box1[0], box2[0]), max(box1[1], box2[1])
        inter_x2, inter_y2 = min(box1[2], box2[2]), min(box1[3], box2[3])
        inter = max(0.0, inter_x2 - inter_x1) * max(0.0, inter_y2 - inter_y1)
        union = (box1[2] - box1[0]) * (box1[3] - box1[1]) + (box2[2] - box2[0]) * (box2[3] - box2[1]) - inter
        return inter / union if union > 0 else 0.0

    rewards = []
    for completion, sol, path in zip(completions, solution, image_path):
        content = completion[0]["content"]
        with Image.open(path) as image:  # VLM-R1 reads the original size from the file for every row
            width, height = image.size
        reward = 0.0
        try:
            answer = re.search(r"<answer>(.*?)</answer>", content, re.DOTALL)
            if answer:
                match = re.search(r"\[(\d+),\s*(\d+),\s*(\d+),\s*(\d+)\]", answer.group(1).strip())
                if match:
                    box = [int(match.group(i)) for i in range(1, 5)]
                    resized_h, resized_w = smart_resize(height, width)
                    box = [box[0] * width / resized_w, box[1] * height / resized_h,
                           box[2] * width / resized_w, box[3] * height / resized_h]
                    reward = iou(box, sol)
        except Exception:
            pass
        rewards.append(reward)
    return rewards


def make_batch(n: int, image_dir: Path, seed: int = 0) -> dict[str, list]:
    """``n`` chat completions (mostly JSON boxes, some lists, some junk) with their rows."""
    rng = random.Random(seed)
    paths = []
    for i, (w, h) in enumerate(IMAGE_SIZES):
        path = image_dir / f"img{i}.png"
        Image.new("L", (w, h), color=i * 20).save(path)
        paths.append(str(path))
    rows: dict[str, list] = {"completions": [], "boxes": [], "solution": [], "width": [], "height": [], "image": []}
    for i in range(n):
        k = i % len(IMAGE_SIZES)
        w, h = IMAGE_SIZES[k]
        resized_h, resized_w = smart_resize(h, w)
        x1, y1 = rng.randint(0, w // 2), rng.randint(0, h // 2)
        gt = [x1, y1, x1 + rng.randint(8, w // 2), y1 + rng.randint(8, h // 2)]
        # a prediction near the ground truth, written in the processor's resized frame
        jitter = [rng.randint(-12, 12) for _ in range(4)]
        pred = [round(gt[0] * resized_w / w) + jitter[0], round(gt[1] * resized_h / h) + jitter[1],
                round(gt[2] * resized_w / w) + 8 + jitter[2], round(gt[3] * resized_h / h) + 8 + jitter[3]]
        pred = [max(0, v) for v in pred]
        kind = rng.random()
        if kind < 0.75:
            answer = f'```json\n[{{"bbox_2d": [{", ".join(map(str, pred))}], "label": "lesion"}}]\n```'
        elif kind < 0.9:
            answer = f"[{pred[0]}, {pred[1]}, {pred[2]}, {pred[3]}]"
        else:
            answer = "I cannot find the lesion."
        text = f"<think>The phrase names a small hypoechoic nodule in the left lobe.</think><answer>{answer}</answer>"
        rows["completions"].append([{"role": "assistant", "content": text}])
        rows["boxes"].append([gt])
        rows["solution"].append(gt)
        rows["width"].append(w)
        rows["height"].append(h)
        rows["image"].append(paths[k])
    return rows


def best_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Fastest wall-clock and fastest CPU time (user + system) of ``repeats`` runs.

    CPU time is the figure to compare on a shared machine: it leaves out time spent waiting
    for a core, and it still counts the system calls of the baseline's file reads.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def schedule_step_seconds(batch: int, steps: int = 2000) -> float:
    """Median seconds of one adaptive ``observe`` + ``step`` with a full 30-step window."""
    rng = np.random.default_rng(0)
    schedule = AdaptiveSchedule(window=30)
    groups = np.arange(batch) // 8
    streams = rng.uniform(0.0, 0.6, size=(steps + 30, batch))
    for ious in streams[:30]:
        schedule.observe(ious, groups)
        schedule.step()
    times = []
    for ious in streams[30:]:
        start = time.perf_counter()
        schedule.observe(ious, groups)
        schedule.step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def grpo_step_seconds(steps: int) -> tuple[float, int]:
    """Mean wall seconds of a tiny-model GRPO step (8 prompts x 8 completions), and its completions."""
    from trl import GRPOConfig, GRPOTrainer

    from grounding_data.synthetic import difficulty, generate_split
    from medloc.app.run_data import training_dataset
    from medloc.builtin.tiny_model import build_tiny_vlm

    with tempfile.TemporaryDirectory() as tmp:
        config = GRPOConfig(output_dir=tmp, per_device_train_batch_size=64, num_generations=8,
                            max_completion_length=24, max_steps=steps + 1, logging_steps=1, save_strategy="no",
                            report_to="none", use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
                            activation_checkpointing=False)
        model, processor = build_tiny_vlm(seed=0)
        curriculum = IoUCurriculum("adaptive", frame="grid-100")
        dataset = training_dataset(generate_split("train", 64, difficulty("easy")), "none", "grid-100")
        trainer = GRPOTrainer(model=model, processing_class=processor, reward_funcs=[curriculum.reward],
                              args=config, train_dataset=dataset, callbacks=[curriculum])
        trainer.train()
        times = [entry["step_time"] for entry in trainer.state.log_history if "step_time" in entry][1:]
    return float(np.mean(times)), 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="completions per batch")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per path (the fastest is kept)")
    parser.add_argument("--grpo-steps", type=int, default=0, help="also time this many tiny-model GRPO steps")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        rows = make_batch(args.n, Path(tmp))
        reward = make_soft_iou_reward("qwen2.5-vl")
        columns = {"boxes": rows["boxes"], "width": rows["width"], "height": rows["height"]}

        ious = np.array(reward(rows["completions"], **columns))
        reference = np.array(vlm_r1_style_iou_reward(rows["completions"], rows["solution"], rows["image"]))
        max_diff = float(np.abs(ious - reference).max())
        if max_diff > 1e-9:
            raise SystemExit(f"the two paths disagree: max |IoU difference| = {max_diff}")

        ours = best_seconds(lambda: reward(rows["completions"], **columns), args.repeats)
        baseline = best_seconds(
            lambda: vlm_r1_style_iou_reward(rows["completions"], rows["solution"], rows["image"]), args.repeats
        )
        fallback = best_seconds(
            lambda: reward(rows["completions"], boxes=rows["boxes"], image=rows["image"]), args.repeats
        )
        curriculum = IoUCurriculum("adaptive", frame="qwen2.5-vl", num_generations=8)
        training = SimpleNamespace(global_step=0, max_steps=0, is_world_process_zero=False, stateful_callbacks={})
        curriculum.on_train_begin(SimpleNamespace(report_to="none"), training, None,  # as a trainer would
                                  model=SimpleNamespace(training=True))
        with_schedule = best_seconds(lambda: curriculum.reward(rows["completions"], **columns), args.repeats)
    schedule_seconds = schedule_step_seconds(batch=64)

    per = 1e6 / args.n
    load = os.getloadavg()[0]
    print(f"completions per batch: {args.n}; best of {args.repeats} runs; torch threads: 1; load average {load:.1f}")
    print(f"IoUs agree: max |difference| = {max_diff:.1e}; mean IoU = {ious.mean():.4f}")
    table = [
        ("medloc soft_iou_reward (vectorised, width/height columns)", ours),
        ("medloc IoUCurriculum.reward (+ adaptive observe/step)", with_schedule),
        ("VLM-R1-style loop (regex + Python IoU + PIL size per row)", baseline),
    ]
    print(f"{'us per completion':<58} {'CPU':>8} {'wall':>8}")
    for label, (wall_s, cpu_s) in table:
        print(f"{label:<58} {cpu_s * per:8.2f} {wall_s * per:8.2f}")
    print(f"{'speed-up':<58} {baseline[1] / ours[1]:7.1f}x {baseline[0] / ours[0]:7.1f}x")
    print(f"{'(medloc reading sizes from image paths instead)':<58} {fallback[1] * per:8.2f} {fallback[0] * per:8.2f}")
    print(f"adaptive schedule observe + step, 64 completions, window 30: {schedule_seconds * 1e6:.1f} us per step")
    if args.grpo_steps:
        step_seconds, completions = grpo_step_seconds(args.grpo_steps)
        reward_seconds = with_schedule[0] / args.n * completions
        print(f"tiny-model GRPO step ({completions} completions, 24 new tokens): {step_seconds * 1e3:.0f} ms; "
              f"medloc reward + schedule: {reward_seconds * 1e6:.0f} us = {100 * reward_seconds / step_seconds:.3f}% "
              "of the step")


if __name__ == "__main__":
    main()
