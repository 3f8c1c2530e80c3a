"""Med-R1's split files: json lists of ``{"image", "problem": "question A)..., B)...", "solution":
"<answer> C </answer>"}`` under ``Splits/{modality,question_type}/{train,test}/<name>_<split>.json``.

The two trees are two separate 80/20 splits of the same questions (an item's modality split and
question-type split differ), so one tree is read at a time (the ``tree`` option): its file names
give the rows' label for that tree, and the other tree's file holding the same image and problem
(in either of its splits) gives the other label, else ``unknown``. Within one tree, train and test
share no question: a training item also found in the tree's test files is an error.

Example::

    >>> solution_letter("<answer> B </answer>", 3)
    'B'
    >>> file_label(Path("Splits/modality/test/OCT (Optical Coherence Tomography_test.json"))
    'OCT (Optical Coherence Tomography)'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.formats._questions import LETTERS, UNKNOWN, clean_label, image_base, image_path, item_label
from grounding_data.formats._questions import json_list, question_files, text_field

TREES = ("modality", "question_type")
"""Med-R1's two split trees; each is read on its own (the ``tree`` option)."""
_SPLIT_SUFFIXES = ("_train", "_test", "_val")
_SOLUTION = re.compile(r"\s*(?:<answer>)?\s*\(?\s*([A-Z])\s*\)?\.?\s*(?:</answer>)?\s*")


def _option_start(letter: str) -> re.Pattern[str]:
    return re.compile(rf"(?:^|(?<=\s))\(?{letter}\)")


def split_problem(problem: str) -> tuple[str, list[str]]:
    """Med-R1's ``problem`` text split into the question and the option texts.

    Options are written ``A)text, B)text, C)text`` after the question (``(A)`` and newlines work too).

    Raises:
        ValueError: fewer than two options ``A)`` and ``B)`` found.

    Example::

        >>> split_problem("What stage is shown? A)Stage Ib, B)Stage 0, C)Stage IIIc")
        ('What stage is shown?', ['Stage Ib', 'Stage 0', 'Stage IIIc'])
    """
    starts: list[re.Match[str]] = []
    position = 0
    for letter in LETTERS:
        match = _option_start(letter).search(problem, position)
        if match is None:
            break
        starts.append(match)
        position = match.end()
    if len(starts) < 2:
        raise ValueError(f"no options 'A)', 'B)', ... found in {problem[:80]!r}")
    ends = [match.start() for match in starts[1:]] + [len(problem)]
    options = [problem[match.end() : end].strip().rstrip(",").strip() for match, end in zip(starts, ends)]
    return problem[: starts[0].start()].strip(), options


def solution_letter(solution: str, n_options: int) -> str | None:
    """The letter of a Med-R1 ``solution`` (``"<answer> C </answer>"``, ``"C"``), if one of ``n_options``.

    Example::

        >>> solution_letter("<answer> C </answer>", 4), solution_letter("<answer> E </answer>", 4)
        ('C', None)
    """
    match = _SOLUTION.fullmatch(solution)
    return match.group(1) if match and match.group(1) in LETTERS[:n_options] else None


@dataclass(frozen=True)
class Question:
    """One item of a Med-R1 split file and the labels the file names give it (``unknown`` where none does)."""

    file: Path
    index: int
    item: Any
    modality: str
    question_type: str


def question_key(item: Any) -> tuple[str, str] | None:
    """What identifies a Med-R1 question across files: its ``(image, problem)``; None if it lacks them.

    Example::

        >>> question_key({"image": "Images/a.png", "problem": " Q? A)x, B)y ", "solution": "A"})
        ('Images/a.png', 'Q? A)x, B)y')
    """
    if not isinstance(item, dict) or not isinstance(item.get("image"), str) or not isinstance(item.get("problem"), str):
        return None
    return item["image"].strip(), item["problem"].strip()


def file_label(file: Path) -> str:
    """The modality or question type a split file's name gives (``<name>_<split>.json``), typos fixed.

    Example::

        >>> file_label(Path("Splits/modality/train/MR (Mag-netic Resonance Imaging)_train.json"))
        'MR (Magnetic Resonance Imaging)'
    """
    name = file.stem
    for suffix in _SPLIT_SUFFIXES:
        name = name.removesuffix(suffix)
    return clean_label(name)


def splits_layout(root: Path, tree: str) -> tuple[Path, str, Path | None]:
    """What to read under ``root``, the tree it belongs to, and the ``Splits`` folder (None if not in one).

    ``root`` is a ``Splits`` folder (then ``tree`` picks the tree), or a tree folder, a split folder
    or a file inside one (then that tree is read), or files elsewhere (labelled as ``tree``).

    Example::

        >>> splits_layout(Path("/data/Splits/question_type/test"), "modality")
        (PosixPath('/data/Splits/question_type/test'), 'question_type', PosixPath('/data/Splits'))
    """
    if any((root / name).is_dir() for name in TREES):
        return root / tree, tree, root
    folder = next((folder for folder in (root, *root.parents) if folder.name in TREES), None)
    return (root, tree, None) if folder is None else (root, folder.name, folder.parent)


def _files(folder: Path, split: str | None) -> list[Path]:
    """The split files under ``folder`` (none if it holds none)."""
    try:
        return question_files(folder, split) if folder.is_dir() else []
    except DataError:
        return []


def _labels(files: Sequence[Path]) -> dict[tuple[str, str], str]:
    """Each question's label from the first of ``files`` that holds it."""
    labels: dict[tuple[str, str], str] = {}
    for file in files:
        label = file_label(file)
        for item in json_list(file):
            key = question_key(item)
            if key is not None:
                labels.setdefault(key, label)
    return labels


def tree_questions(root: Path, split: str | None, tree: str = "modality") -> list[Question | DataError]:
    """The items of one tree's split files under ``root`` (see :func:`splits_layout`), labelled by the
    file names of both trees; a duplicate item, or an item of a training file also in the tree's test
    files, is a :class:`DataError` in the list (the reader raises it, or skips and counts it).

    Raises:
        ValueError: ``tree`` is not one of :data:`TREES`.
        DataError: no split files, or an unreadable one.

    Example::

        >>> tree_questions(Path("."), "train", tree="organ")
        Traceback (most recent call last):
        ...
        ValueError: option tree must be one of ['modality', 'question_type'], got 'organ'
    """
    if tree not in TREES:
        raise ValueError(f"option tree must be one of {list(TREES)}, got {tree!r}")
    source, tree, splits = splits_layout(root, tree)
    other = TREES[1 - TREES.index(tree)]
    other_labels = _labels(_files(splits / other, None)) if splits is not None else {}
    test_files = _files(splits / tree, "test") if splits is not None else []
    in_test, test_files = set(_labels(test_files)), set(test_files)
    seen: dict[tuple[str, str], str] = {}
    questions: list[Question | DataError] = []
    for file in question_files(source, split):
        label = file_label(file)
        for index, item in enumerate(json_list(file)):
            where, key = item_label(index), question_key(item)
            if key in in_test and file not in test_files:
                questions.append(DataError("test question in training", f"the same image and problem are in the "
                                           f"{tree} tree's test files", file, where))
            elif key in seen:
                questions.append(DataError("duplicate question", f"the same image and problem as {seen[key]}",
                                           file, where))
            else:
                if key is not None:
                    seen[key] = f"{file}, {where}"
                labels = {tree: label, other: other_labels.get(key, UNKNOWN)}
                questions.append(Question(file, index, item, labels["modality"], labels["question_type"]))
    return questions


def read_med_r1(root: Path, ctx: ReadContext, split: str | None, image_root: str | None = None,
                tree: str = "modality") -> Iterator[dict]:
    """Rows of Med-R1 split files: a ``Splits`` folder (``tree`` = ``modality`` or ``question_type`` picks
    the tree read), a tree or split folder, or one file; ``image_root`` is the folder the ``image``
    paths start from (OmniMedVQA's). Rows whose other label no file gives are counted in the report.
    """
    base = image_base(root, image_root)
    questions = tree_questions(root, split, tree)
    for field in TREES:
        ctx.report.note(f"questions without a {field} (unknown)",
                        sum(isinstance(q, Question) and getattr(q, field) == UNKNOWN for q in questions))

    def make_row(question: Question) -> dict:
        file, item, where = question.file, question.item, item_label(question.index)
        if not isinstance(item, dict):
            raise DataError("not an object", f"expected {{image, problem, solution}}, got {item!r}", file, where)
        problem = text_field(item, "problem", file, where)
        try:
            text, options = split_problem(problem)
        except ValueError as error:
            raise DataError("no options", str(error), file, where) from None
        solution = text_field(item, "solution", file, where)
        answer = solution_letter(solution, len(options))
        if answer is None:
            raise DataError("bad answer", f"{solution!r} names none of options A-{LETTERS[len(options) - 1]}",
                            file, where)
        return {
            "image": image_path(item.get("image"), base, file, where), "question": text, "options": options,
            "answer": answer, "modality": question.modality, "question_type": question.question_type,
            "source": "med-r1", "id": f"{file.stem}-{question.index}",
        }

    return ctx.build(questions, make_row, "Med-R1 questions")
