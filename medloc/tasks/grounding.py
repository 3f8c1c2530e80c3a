"""``grounding``: image + phrase -> the box(es) it names, scored by IoU.

Rewards: the format reward (a valid box in the layout, :func:`grounding_data.answer_format.has_box`)
and the IoU curriculum's ``1[IoU >= tau]`` (:class:`medloc.IoUCurriculum`), or with
``reward="soft-iou"`` the raw IoU while the curriculum still tracks and logs. Columns: ``boxes``
(pixels), ``width``, ``height``. Held-out metrics: A@0.5, A@0.8, pseudo-mAP, mIoU, the format-valid
rate (:mod:`medloc.metrics`).

Example:
    >>> setup = AnswerSetup(frame=get_frame("grid-100"))
    >>> row = {"phrase": "the bright lesion", "boxes": [[13.4, 33.6, 44.8, 68.3]], "width": 112, "height": 112}
    >>> TASK.prompt(row, setup)[0]["content"][0]["text"]
    'Find the bright lesion. Answer <answer>[x1,y1,x2,y2]</answer> in integers 0-100.'
    >>> TASK.reference_answer(row, setup)
    '<answer>[12,30,40,61]</answer>'
    >>> TASK.score(["<answer>[12,30,40,61]</answer>", "no box"], [row] * 2, setup).metrics["format_valid_rate"]
    0.5
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from grounding_data.frames import get_frame
from medloc.evaluation import REPORTED_METRICS, EvaluationResult, score_answers
from medloc.prompts import answer_text, build_prompt, location_words
from medloc.rewards import make_format_reward
from medloc.tasks.base import AnswerSetup, before_after_lines

REWARDS = ("binary", "soft-iou")
"""``binary``: 1[IoU >= tau], tau from the schedule; ``soft-iou``: the raw IoU (VLM-R1), the schedule only tracks."""
RESULT_TABLE = (("A@0.5", "A@0.5"), ("A@0.8", "A@0.8"), ("pseudo-mAP", "pseudo_mAP"), ("mIoU", "mIoU"),
                ("format-valid rate", "format_valid_rate"))
"""The grounding result table: ``(label, metric)`` rows, in ``medloc eval``'s order."""
SUMMARY_COLUMNS = (("A@0.5", "A@0.5", 7, 3), ("A@0.8", "A@0.8", 8, 3), ("mIoU", "mIoU", 8, 3),
                   ("pseudo-mAP", "pseudo_mAP", 12, 3), ("valid", "format_valid_rate", 7, 2))
"""The summary's before/after columns: ``(label, metric, width, decimals)``."""


def _frame(setup: AnswerSetup) -> Any:
    return setup.frame if setup.frame is not None else get_frame("pixels")


class GroundingTask:
    """Visual grounding (see the module docs)."""

    name = "grounding"
    curriculum_name = "iou_curriculum"
    heldout_metrics = REPORTED_METRICS
    bar_metric = "A@0.5"
    uses_frame = True
    uses_descriptions = False
    reward_kinds = REWARDS
    valid_metric = "format_valid_rate"

    def synthetic_rows(self, split: str, n: int, config: Any, seed: int, start: int = 0) -> list[dict]:
        """The synthetic lesion images with their phrases (:func:`grounding_data.synthetic.generate_split`)."""
        from grounding_data.synthetic import generate_split

        return generate_split(split, n, config, seed=seed, start=start)

    def prompt(self, row: Mapping[str, Any], setup: AnswerSetup) -> list[dict]:
        """:func:`medloc.prompts.build_prompt` in the run's layout and frame."""
        return build_prompt(row, setup.reasoning, _frame(setup))

    def reference_answer(self, row: Mapping[str, Any], setup: AnswerSetup, rationale: str = "") -> str:
        """The row's boxes written in the run's frame and layout (:func:`medloc.prompts.answer_text`)."""
        return answer_text(row["boxes"], int(row["width"]), int(row["height"]), setup.reasoning, _frame(setup),
                           rationale)

    def rationale(self, row: Mapping[str, Any]) -> str:
        """The phrase and where its first box lies, in words.

        Example:
            >>> TASK.rationale({"phrase": "the polyp", "boxes": [[0, 0, 20, 20]], "width": 100, "height": 100})
            'the polyp is upper left'
        """
        return f"{row['phrase']} is {location_words(row['boxes'][0], int(row['width']), int(row['height']))}"

    def truth_columns(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """``boxes`` (floats), ``width`` and ``height``."""
        return {"boxes": [list(map(float, box)) for box in row["boxes"]], "width": int(row["width"]),
                "height": int(row["height"])}

    def curriculum(self, schedule: Any, setup: AnswerSetup, tensorboard_writer: Any = None) -> Any:
        """:class:`medloc.IoUCurriculum` on the run's schedule, in the run's frame."""
        from medloc.curriculum import IoUCurriculum

        return IoUCurriculum(schedule, frame=_frame(setup), name=self.curriculum_name,
                             tensorboard_writer=tensorboard_writer)

    def reward_functions(self, setup: AnswerSetup, curriculum: Any, reward: str = "binary") -> list[Callable]:
        """The format reward and the curriculum's binary reward, or the raw IoU (``soft-iou``).

        With ``soft-iou`` the curriculum still sees every training batch (one parse for reward and
        schedule), so the logs show the hit rate and zero-variance share at its threshold.

        Example:
            >>> from medloc.curriculum import IoUCurriculum
            >>> soft = TASK.reward_functions(AnswerSetup(), IoUCurriculum("fixed", threshold=0.5), "soft-iou")[1]
            >>> soft(["[0, 0, 5, 10]"], boxes=[[[0, 0, 10, 10]]], width=[100], height=[100])
            [0.5]
        """
        if reward not in REWARDS:
            raise ValueError(f"unknown grounding reward {reward!r}; expected one of {', '.join(REWARDS)}")
        if reward == "binary":
            return [make_format_reward(setup.reasoning), curriculum.reward]

        def soft_iou(completions: Sequence[Any], **columns: Any) -> list[float]:
            return curriculum.observed_scores(completions, **columns).tolist()

        return [make_format_reward(setup.reasoning), soft_iou]

    def score(self, answers: Sequence[Any], rows: Sequence[Mapping[str, Any]], setup: AnswerSetup) -> EvaluationResult:
        """IoU, validity and the paper's metrics of each answer (:func:`medloc.evaluation.score_answers`)."""
        return score_answers(answers, rows, _frame(setup))

    def result_lines(self, result: EvaluationResult) -> list[str]:
        """One line per metric (what ``medloc eval`` prints)."""
        return [f"{label:<18} {result.metrics[key]:.4f}" for label, key in RESULT_TABLE]

    def summary_lines(self, history: Sequence[tuple[int, dict[str, float]]], last: Any) -> list[str]:
        """Held-out metrics before GRPO (the step-0 evaluation) and after it (the last one).

        Example:
            >>> metrics = {"A@0.5": 0.5, "A@0.8": 0.25, "mIoU": 0.4, "pseudo_mAP": 0.3, "format_valid_rate": 1.0,
            ...            "n": 4}
            >>> print("\\n".join(TASK.summary_lines([(0, metrics), (10, metrics)], None)))
              held-out (4 rows)    A@0.5   A@0.8    mIoU  pseudo-mAP  valid
                before GRPO         0.500   0.250   0.400       0.300   1.00
                after GRPO          0.500   0.250   0.400       0.300   1.00
        """
        return before_after_lines(history, SUMMARY_COLUMNS)

    def threshold_note(self, start: float, final: float, rows: Sequence[Mapping[str, Any]]) -> str:
        """Nothing: tau is the IoU threshold itself."""
        return ""


TASK = GroundingTask()
