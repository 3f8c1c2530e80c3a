"""Greedy predictions on held-out rows and the paper's metrics (A@0.5, A@0.8, pseudo-mAP, mIoU).

Used by ``medloc eval``, by ``medloc train`` for its held-out summary and periodic held-out
evaluations (any task's, through :func:`evaluate_task`), and by the warm start's probe.

Example:
    >>> from medloc.builtin.tiny_model import build_tiny_vlm
    >>> from grounding_data.synthetic import generate_split
    >>> model, processor = build_tiny_vlm()
    >>> result = evaluate(model, processor, generate_split("heldout", 2), max_new_tokens=4)
    >>> result.metrics["n"]
    2.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from grounding_data.dicom import open_image
from grounding_data.frames import CoordinateFrame
from medloc.metrics import GroundingMetrics
from medloc.prompts import build_prompt
from medloc.scoring import BoxScores, score_completions

REPORTED_METRICS = ("A@0.5", "A@0.8", "pseudo_mAP", "mIoU", "format_valid_rate")


def row_image(row: Mapping[str, Any]) -> Image.Image:
    """The row's image as RGB: a PIL image as is, or a path opened from disk (DICOM through pydicom).

    Example:
        >>> row_image({"image": Image.new("L", (4, 4))}).mode
        'RGB'
    """
    image = row["image"]
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    return open_image(image).convert("RGB")


@torch.no_grad()
def generate_answers(
    model: Any,
    processor: Any,
    rows: Sequence[Mapping[str, Any]],
    reasoning: str = "none",
    frame: str | CoordinateFrame = "pixels",
    num_samples: int = 1,
    temperature: float | None = None,
    batch_size: int = 64,
    max_new_tokens: int = 40,
    prompt: Callable[[Mapping[str, Any]], list[dict]] | None = None,
) -> list[str]:
    """Model answers for ``rows``: greedy (``temperature=None``) or ``num_samples`` samples each, row-major.

    ``prompt(row)`` builds each row's conversation; default: the grounding prompt for
    ``reasoning`` and ``frame`` (:func:`medloc.prompts.build_prompt`).

    Example:
        >>> from medloc.builtin.tiny_model import build_tiny_vlm
        >>> from grounding_data.synthetic import generate_split
        >>> model, processor = build_tiny_vlm()
        >>> len(generate_answers(model, processor, generate_split("heldout", 2), max_new_tokens=4))
        2
    """
    was_training = model.training
    model.eval()
    texts: list[str] = []
    sampling = (
        dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0, num_return_sequences=num_samples)
        if temperature
        else dict(do_sample=False)
    )
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        prompts = [
            processor.apply_chat_template(
                prompt(row) if prompt else build_prompt(row, reasoning, frame), add_generation_prompt=True,
                tokenize=False,
            )
            for row in chunk
        ]
        inputs = processor(
            text=prompts, images=[row_image(row) for row in chunk], return_tensors="pt", padding=True,
            padding_side="left",
        ).to(model.device)
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, **sampling)
        texts += processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    model.train(was_training)
    return texts


@dataclass
class EvaluationResult:
    """Held-out metrics plus what produced them.

    Attributes:
        metrics: ``A@0.5``, ``A@0.8``, ``pseudo_mAP``, ``mIoU``, ``format_valid_rate``, ``n``
            (and A@t for any extra thresholds asked for).
        answers: the model's answer per row.
        ious: the IoU per row (0.0 for an invalid answer).
        valid: whether each answer held a valid box.
        scores: the batch scores behind them (with the boxes read from the answers).
    """

    metrics: dict[str, float]
    answers: list[str] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)
    scores: BoxScores | None = None

    def to_json(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Metrics and one record per row (what ``medloc eval --json`` writes).

        Example:
            >>> EvaluationResult({"mIoU": 0.5}, ["[0,0,5,10]"], [0.5], [True]).to_json([{"id": "r1"}])["rows"]
            [{'id': 'r1', 'answer': '[0,0,5,10]', 'iou': 0.5, 'valid': True}]
        """
        return {"metrics": self.metrics, "rows": [
            {"id": row.get("id"), "answer": answer, "iou": iou, "valid": valid}
            for row, answer, iou, valid in zip(rows, self.answers, self.ious, self.valid)]}


def score_answers(
    answers: Sequence[Any],
    rows: Sequence[Mapping[str, Any]],
    frame: str | CoordinateFrame,
    accuracy_thresholds: Sequence[float] = (0.5, 0.8),
) -> EvaluationResult:
    """Score known answers against the rows' ground truth.

    Example:
        >>> rows = [{"boxes": [[0, 0, 10, 10]], "width": 100, "height": 100}] * 2
        >>> result = score_answers(["[0,0,10,10]", "nothing"], rows, "pixels")
        >>> result.metrics["A@0.5"], result.metrics["format_valid_rate"]
        (0.5, 0.5)
    """
    scores = score_completions(answers, [row["boxes"] for row in rows], [row["width"] for row in rows],
                               [row["height"] for row in rows], frame)
    metric = GroundingMetrics(accuracy_thresholds=tuple(accuracy_thresholds))
    metric.update(scores.ious, valid=scores.valid)
    metrics = {key: float(value) for key, value in metric.compute().items()}
    return EvaluationResult(metrics, list(map(str, answers)), scores.ious.tolist(), scores.valid.tolist(), scores)


def evaluate_task(model: Any, processor: Any, rows: Sequence[Mapping[str, Any]], task: Any, setup: Any,
                  batch_size: int = 64, max_new_tokens: int = 40) -> Any:
    """Greedy answers to ``rows`` with a task's prompts, scored by the task (see :mod:`medloc.tasks`).

    Example:
        >>> from medloc.builtin.tiny_model import build_tiny_vlm
        >>> from medloc.tasks import AnswerSetup, get_task
        >>> model, processor = build_tiny_vlm()
        >>> vqa = get_task("vqa")
        >>> evaluate_task(model, processor, vqa.synthetic_rows("heldout", 2, None, 0), vqa, AnswerSetup(),
        ...               max_new_tokens=4).metrics["n"]
        2
    """
    answers = generate_answers(model, processor, rows, batch_size=batch_size, max_new_tokens=max_new_tokens,
                               prompt=lambda row: task.prompt(row, setup))
    return task.score(answers, rows, setup)


def evaluate(
    model: Any,
    processor: Any,
    rows: Sequence[Mapping[str, Any]],
    reasoning: str = "none",
    frame: str | CoordinateFrame = "pixels",
    batch_size: int = 64,
    max_new_tokens: int = 40,
    accuracy_thresholds: Sequence[float] = (0.5, 0.8),
) -> EvaluationResult:
    """Greedy predictions on ``rows`` scored with the paper's metrics."""
    answers = generate_answers(
        model, processor, rows, reasoning, frame, batch_size=batch_size, max_new_tokens=max_new_tokens
    )
    return score_answers(answers, rows, frame, accuracy_thresholds)
