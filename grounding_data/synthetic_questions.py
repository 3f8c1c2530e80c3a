"""Synthetic multiple-choice questions and graded labels on the built-in lesion images.

Built from :func:`grounding_data.synthetic.make_scene`, deterministic by split, seed and index:

- ``vqa`` rows, one question kind per row in turn: **quadrant** ("Which quadrant holds the
  lesion?"), **count** ("How many lesions are in the image?", 1 to 3) and **brightness**
  ("brighter" or "darker" than the tissue around it); options in a fixed order per kind (quadrants
  upper left to lower right, counts 1 to 4, brighter before darker).
- ``grade`` rows: the target's **size grade** 0-3, the quarter of the preset's lesion-size
  range its longest side falls in (:func:`size_grade_descriptions` says it in words, for
  prior-knowledge prompts).

Why a fixed order: real multiple-choice data (Med-R1, OmniMedVQA) shuffles its options, so a model
must match the letter to the option's text. The built-in tiny model cannot: with options shuffled
per row, 400 supervised steps left its held-out accuracy at chance (0.32-0.33, always one letter) in
the ``none``, ``before`` and ``after`` layouts; in a fixed order 200 steps reach 0.55
(experiments/results/question_tasks.md). The testbed's VQA is then perception (where, how many, how
bright) answered with a letter, which GRPO can improve.

VQA rows hold ``image``, ``question``, ``options`` (texts in letter order), ``answer`` (a
letter), ``modality``, ``question_type``, ``source``, ``id``; grade rows hold ``grades``
(the labels in order) and ``grade`` (the true index) instead of ``options`` / ``answer``.

Example:
    >>> row = question_split("vqa", "train", 1, seed=0)[0]
    >>> row["question_type"], row["options"][ord(row["answer"]) - ord("A")] == quadrant_of(
    ...     make_scene(difficulty("easy"), "train", 0, 0).target_box, 112, 112)
    ('quadrant', True)
    >>> question_split("grade", "heldout", 1)[0]["grades"]
    ['0', '1', '2', '3']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from grounding_data.synthetic import SPLITS, SyntheticConfig, difficulty, make_scene

ROWS_VERSION = 2
"""Bump when the rows a split, seed and index give change (cached question warm starts key on it; 2: options
in a fixed order)."""
MODALITY = "synthetic"
QUADRANTS = ("upper left", "upper right", "lower left", "lower right")
BRIGHTNESS = ("brighter", "darker")
COUNTS = ("1", "2", "3", "4")
VQA_KINDS = ("quadrant", "count", "brightness")
SIZE_GRADES = ("0", "1", "2", "3")


def quadrant_of(box: Sequence[float], width: int, height: int) -> str:
    """The quadrant of the image holding the centre of a pixel box.

    Example:
        >>> quadrant_of([70, 10, 90, 30], 100, 100)
        'upper right'
    """
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return f"{'upper' if cy < height / 2 else 'lower'} {'left' if cx < width / 2 else 'right'}"


def size_edges(config: SyntheticConfig) -> np.ndarray:
    """The three longest-side lengths (pixels) between size grades 0|1|2|3: quarters of ``size_range``.

    Example:
        >>> size_edges(difficulty("easy")).tolist()
        [19.0, 26.0, 33.0]
    """
    low, high = config.size_range
    return low + (high - low) * np.array([0.25, 0.5, 0.75])


def size_grade(box: Sequence[float], config: SyntheticConfig) -> int:
    """The size grade 0-3 of a lesion's pixel box: where its longest side falls in ``size_edges``.

    Example:
        >>> size_grade([0, 0, 20, 12], difficulty("easy"))
        1
    """
    longest = max(box[2] - box[0], box[3] - box[1])
    return int(np.searchsorted(size_edges(config), longest, side="right"))


def size_grade_descriptions(config: SyntheticConfig | None = None) -> dict[str, str]:
    """What each size grade means, for a prior-knowledge file (``--class-descriptions``).

    Example:
        >>> size_grade_descriptions()["0"]
        'the lesion spans less than 19 pixels'
    """
    edges = [f"{edge:g}" for edge in size_edges(config or difficulty("easy"))]
    return {
        "0": f"the lesion spans less than {edges[0]} pixels",
        "1": f"the lesion spans {edges[0]} to {edges[1]} pixels",
        "2": f"the lesion spans {edges[1]} to {edges[2]} pixels",
        "3": f"the lesion spans more than {edges[2]} pixels",
    }


def vqa_row(config: SyntheticConfig, split: str, seed: int, index: int) -> dict:
    """Multiple-choice row ``index`` of ``split``; its kind is ``VQA_KINDS[index % 3]``.

    Example:
        >>> row = vqa_row(difficulty("easy"), "train", 0, 1)
        >>> row["question"], row["options"][ord(row["answer"]) - ord("A")] in COUNTS
        ('How many lesions are in the image?', True)
    """
    kind = VQA_KINDS[index % len(VQA_KINDS)]
    if kind == "count":  # a third each of 1, 2 and 3 lesions
        config = dataclasses.replace(config, distractor_prob=2 / 3, max_distractors=2)
    elif kind == "brightness":  # one lesion, so "the lesion" names it without giving the answer away
        config = dataclasses.replace(config, distractor_prob=0.0)
    scene = make_scene(config, split, seed, index)
    width, height = scene.image.size
    if kind == "quadrant":
        question, options = f"Which quadrant holds {scene.phrase}?", QUADRANTS
        truth = quadrant_of(scene.target_box, width, height)
    elif kind == "count":
        question, options, truth = "How many lesions are in the image?", COUNTS, str(len(scene.lesions))
    else:
        question = "Is the lesion brighter or darker than the tissue around it?"
        options, truth = BRIGHTNESS, BRIGHTNESS[0] if scene.lesions[0].polarity > 0 else BRIGHTNESS[1]
    return {
        "image": scene.image, "question": question, "options": list(options),
        "answer": chr(ord("A") + options.index(truth)),
        "modality": MODALITY, "question_type": kind, "source": "synthetic-vqa", "id": f"{scene.id}-{kind}",
    }


def grade_row(config: SyntheticConfig, split: str, seed: int, index: int) -> dict:
    """Size-grade row ``index`` of ``split`` (one lesion per image).

    Example:
        >>> row = grade_row(difficulty("easy"), "train", 0, 0)
        >>> row["grades"][row["grade"]] in SIZE_GRADES, row["question_type"]
        (True, 'size grade')
    """
    scene = make_scene(dataclasses.replace(config, distractor_prob=0.0), split, seed, index)
    return {
        "image": scene.image, "question": "What is the size grade of the lesion?", "grades": list(SIZE_GRADES),
        "grade": size_grade(scene.target_box, config), "modality": MODALITY, "question_type": "size grade",
        "source": "synthetic-grade", "id": f"{scene.id}-size",
    }


def question_split(task: str, split: str, n: int, config: SyntheticConfig | None = None, seed: int = 0,
                   start: int = 0) -> list[dict]:
    """The first ``n`` rows of ``split`` for ``task`` (``"vqa"`` or ``"grade"``), or ``n`` rows from row ``start`` on.

    Example:
        >>> [row["question_type"] for row in question_split("vqa", "heldout", 3)]
        ['quadrant', 'count', 'brightness']
        >>> [row["question_type"] for row in question_split("vqa", "heldout", 2, start=4)]
        ['count', 'brightness']
    """
    if task not in ROW_MAKERS:
        raise ValueError(f"task={task!r}: synthetic questions exist for {', '.join(ROW_MAKERS)}")
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: choose from {sorted(SPLITS)}")
    if n < 0 or start < 0:
        raise ValueError(f"question_split: n={n} and start={start} must be >= 0")
    make_row = ROW_MAKERS[task]
    config = config or difficulty("easy")
    return [make_row(config, split, seed, index) for index in range(start, start + n)]


ROW_MAKERS = {"vqa": vqa_row, "grade": grade_row}
"""The synthetic row of each question task: ``make_row(config, split, seed, index)``."""
