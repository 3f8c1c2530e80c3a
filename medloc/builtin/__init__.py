"""The built-in model: a tiny Qwen2-VL built locally (:mod:`~medloc.builtin.tiny_model`) and its
supervised warm start on synthetic data (:mod:`~medloc.builtin.warmstart`).

``medloc train`` uses it by default (``--model medloc/tiny-qwen2-vl``); it answers in the
``grid-100`` frame (its number tokens are 0..100). It builds on the library; the library never imports it.

Example:
    >>> is_builtin_model("medloc/tiny-qwen2-vl")
    True

The model's name and the schedule defaults it runs with live here, not in ``tiny_model`` (torch,
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


def is_builtin_model(name: str | None) -> bool:
    """True when `name` asks for the locally built tiny model (None or BUILTIN_MODEL).

    Example:
        >>> is_builtin_model("medloc/tiny-qwen2-vl"), is_builtin_model("Qwen/Qwen2-VL-2B-Instruct")
        (True, False)
    """
    return name is None or name == BUILTIN_MODEL

