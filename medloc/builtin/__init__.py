"""The built-in model: a tiny Qwen2-VL built locally (:mod:`~medloc.builtin.tiny_model`) and its
supervised warm start on synthetic data (:mod:`~medloc.builtin.warmstart`).

``medloc train`` uses it by default (``--model medloc/tiny-qwen2-vl``); it answers in the
``grid-100`` frame (its number tokens are 0..100). It builds on the library; the library never imports it.

Example:
    >>> is_builtin_model("medloc/tiny-qwen2-vl")
    True

The model's name and the schedule and GRPO defaults it runs with live here, not in ``tiny_model`` (torch,
transformers), so that ``medloc train --help`` and the settings check load neither.
"""

from __future__ import annotations

BUILTIN_MODEL = "medloc/tiny-qwen2-vl"
"""Model name meaning "build the tiny model locally" (never looked up on a hub)."""
BUILTIN_SCHEDULE_DEFAULTS: dict[str, dict[str, float]] = {"adaptive": {"min_margin": 0.05}}
"""Schedule options the built-in model runs with unless given (``medloc train`` grounding jobs only).

The adaptive rule's margin is measured on sampled completions, which on the tiny model sit below its
greedy answer: at the paper's Delta = 0.10 tau stopped at 0.45 in 6 of 7 seeds measured, at 0.05 it
rose twice in every seed and trained as well (``experiments/results/warmstart_findings.md``, section 7).
"""

BUILTIN_TASK_DEFAULTS: dict[str, dict[str, float | int]] = {
    "vqa": {"prompts_per_step": 16, "learning_rate": 3e-4, "max_steps": 300},
}
"""GRPO settings the built-in model runs a task with unless given (``--config`` or flags).

``vqa``: at the general defaults (4 prompts a step, learning rate 1e-4, 200 steps) GRPO did not move the
tiny model's multiple-choice accuracy beyond its warm start (+0.007 [-0.037, +0.051] over 5 seeds); 16
prompts a step at 3e-4 for 300 steps raised it (experiments/results/vqa_batch16.md). A step costs about
4 times as much.
"""


def is_builtin_model(name: str | None) -> bool:
    """True when `name` asks for the locally built tiny model (None or BUILTIN_MODEL).

    Example:
        >>> is_builtin_model("medloc/tiny-qwen2-vl"), is_builtin_model("Qwen/Qwen2-VL-2B-Instruct")
        (True, False)
    """
    return name is None or name == BUILTIN_MODEL

