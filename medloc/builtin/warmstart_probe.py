"""How a warm start is judged: greedy answers on held-out rows, and the rule that calls it stalled.

There are two kinds of probe, picked by the task (:func:`probe_for`). A task that answers with boxes
(grounding) is probed for box metrics and for how much its boxes vary from image to image; a question
task (``vqa``, ``grade``) for the share of answers its reward can read, and its accuracy.

Example:
    >>> from medloc.builtin.warmstart import WarmStartConfig
    >>> rule = probe_for("grade")
    >>> rule.stalled({"valid_rate": 0.4, "accuracy": 0.2}, WarmStartConfig(task="grade"))  # below min_valid_rate
    True
    >>> rule.summary({"accuracy": 0.5, "valid_rate": 0.97})
    'accuracy 0.500, readable answers 97%'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from medloc.boxes import paired_box_iou
from medloc.evaluation import generate_answers, score_answers
from medloc.tasks import AnswerSetup, Task, get_task

if TYPE_CHECKING:
    from medloc.builtin.warmstart import WarmStartConfig

SAMPLE_ANSWERS = 4
"""Greedy answers kept with a probe's metrics, to show what the model writes."""


def constant_box_miou(boxes: Sequence[Sequence[Sequence[float]]]) -> float:
    """mIoU of answering the mean ground-truth box for every row: what a model that ignores the image gets.

    Example:
        >>> constant_box_miou([[[0, 0, 10, 10]], [[0, 0, 10, 10]]])
        1.0
    """
    first = torch.tensor([b[0] for b in boxes], dtype=torch.float64)
    mean = first.mean(dim=0, keepdim=True).expand_as(first)
    return float(paired_box_iou(mean, first).mean())


class BoxProbe:
    """Probe of a task that answers with boxes: A@0.3/0.5/0.8, mIoU, well-formed answers, and ``spread``
    (mean over the 4 coordinates of std(predicted) / std(truth) on valid answers; 0 = one constant box for
    every image) next to ``constant_box_mIoU`` (the mean box's mIoU: what ignoring the image gets).

    Stalled: few well-formed answers, (almost) one box for every image, or boxes no better than the mean
    box (they vary but ignore the image).

    Both probes carry two phrases for the warm start's messages: ``trains_for`` (what the first line says
    it trains for; empty for boxes) and ``weak_start`` (what GRPO starts from when every attempt stalled).

    Example:
        >>> from medloc.builtin.warmstart import WarmStartConfig
        >>> BoxProbe().stalled({"format_valid_rate": 1.0, "spread": 0.0, "mIoU": 0.3, "constant_box_mIoU": 0.1},
        ...                    WarmStartConfig())
        True
    """

    weak_start = "does not localise yet."
    trains_for = ""

    def measure(self, model, processor, rows: Sequence[dict], config: WarmStartConfig) -> dict:
        """Greedy held-out metrics of ``model`` on ``rows`` (with ``spread``, ``constant_box_mIoU`` and a few answers)."""
        texts = generate_answers(model, processor, rows, config.reasoning, config.frame)
        gt = [row["boxes"] for row in rows]
        scored = score_answers(texts, rows, config.frame, accuracy_thresholds=(0.3, 0.5, 0.8))
        valid, pred, pred_rows = scored.scores.valid, scored.scores.boxes, scored.scores.box_rows
        spread = 0.0
        if valid.sum() >= 2:
            first = np.unique(pred_rows, return_index=True)[1]
            truth = np.array([gt[i][0] for i in pred_rows[first]], dtype=np.float64)
            spread = float(np.mean(pred[first].std(axis=0) / np.maximum(truth.std(axis=0), 1e-6)))
        return {**scored.metrics, "spread": spread, "constant_box_mIoU": constant_box_miou(gt),
                "sample_answers": texts[:SAMPLE_ANSWERS]}

    def stalled(self, result: dict, config: WarmStartConfig) -> bool:
        """Whether the probe shows a dead model (see the class)."""
        return (result["format_valid_rate"] < config.min_valid_rate or result["spread"] < config.stall_spread
                or result["mIoU"] < result["constant_box_mIoU"] + config.min_gain)

    def score(self, result: dict) -> float:
        """How good a probe is, to keep the best of stalled attempts: its mIoU."""
        return result["mIoU"]

    def summary(self, result: dict) -> str:
        """The probe in words."""
        return (f"mIoU {result['mIoU']:.3f}, A@0.5 {result['A@0.5']:.3f}, well-formed answers "
                f"{result['format_valid_rate']:.0%}")

    def stall_reason(self, result: dict, config: WarmStartConfig) -> str:
        """Why a stalled probe counts as stalled, in words."""
        return (f"one constant box, malformed answers, or no better than the average box; box spread "
                f"{result['spread']:.2f}, 0 = one box for every image")


class AnswerProbe:
    """Probe of a question task: its scored metrics (``accuracy``, ``valid_rate``, ...) and a few answers.

    Stalled: fewer readable answers (``valid_rate``) than ``min_valid_rate``.

    Example:
        >>> from medloc.builtin.tiny_model import build_tiny_vlm
        >>> from medloc.builtin.warmstart import WarmStartConfig
        >>> from grounding_data.synthetic_questions import question_split
        >>> model, processor = build_tiny_vlm()
        >>> rows = question_split("vqa", "heldout", 2)
        >>> AnswerProbe(get_task("vqa")).measure(model, processor, rows, WarmStartConfig(task="vqa"))["valid_rate"]
        0.0
    """

    weak_start = "rarely writes a readable answer."

    def __init__(self, task: Task):
        self.task = task
        self.trains_for = f" for {task.name} answers"

    def measure(self, model, processor, rows: Sequence[dict], config: WarmStartConfig) -> dict:
        """Greedy held-out metrics of ``model`` on ``rows``, with the task's prompt and class descriptions."""
        setup = AnswerSetup(config.reasoning, descriptions=dict(config.descriptions) or None)
        texts = generate_answers(model, processor, rows, prompt=lambda row: self.task.prompt(row, setup))
        return {**self.task.score(texts, rows, setup).metrics, "sample_answers": texts[:SAMPLE_ANSWERS]}

    def stalled(self, result: dict, config: WarmStartConfig) -> bool:
        """Whether too few answers are readable."""
        return result["valid_rate"] < config.min_valid_rate

    def score(self, result: dict) -> float:
        """How good a probe is, to keep the best of stalled attempts: its valid-answer rate."""
        return result["valid_rate"]

    def summary(self, result: dict) -> str:
        """The probe in words."""
        return f"accuracy {result['accuracy']:.3f}, readable answers {result['valid_rate']:.0%}"

    def stall_reason(self, result: dict, config: WarmStartConfig) -> str:
        """Why a stalled probe counts as stalled, in words."""
        return f"fewer than {config.min_valid_rate:.0%} readable answers"


def probe_for(task: str) -> BoxProbe | AnswerProbe:
    """The probe of ``task``'s warm start: :class:`BoxProbe` where answers are boxes, else :class:`AnswerProbe`.

    Example:
        >>> type(probe_for("grounding")).__name__, type(probe_for("vqa")).__name__
        ('BoxProbe', 'AnswerProbe')
    """
    spec = get_task(task)
    return BoxProbe() if spec.uses_frame else AnswerProbe(spec)
