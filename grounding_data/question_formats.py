"""Question datasets in their released layouts, read into multiple-choice or graded rows.

- ``med-r1`` (vqa): Med-R1's split files, json lists of ``{"image", "problem": "question A)...,
  B)...", "solution": "<answer> C </answer>"}`` under
  ``Splits/{modality,question_type}/{train,test}/<name>_<split>.json``; the folder names the
  row's modality or question type (reading both trees merges them).
- ``omnimedvqa`` (vqa): OmniMedVQA's ``QA_information/**/<dataset>.json``, json lists of
  ``question``, ``option_A``..``option_D``, ``gt_answer`` (an option's text), ``modality_type``,
  ``question_type``, ``image_path``, ``question_id``.
- ``graded-jsonl`` (grade): one ``{"image", "grade"}`` per line (optional ``question``,
  ``modality``, ``question_type``, ``id``); the ``grades`` option gives the labels in order.

Image paths are relative to ``image_root`` (default: ``root`` when it is a folder, else the
file's folder). Multiple-choice rows hold ``image`` (path), ``question``, ``options``,
``answer`` (letter), ``modality``, ``question_type``, ``source``, ``id``; graded rows hold
``grades`` and ``grade`` (index) instead of ``options`` and ``answer``. A bad item raises
:class:`DataError` naming the file and the item (1-based), or with ``skip_bad`` is skipped
and counted.

Example::

    >>> rows, report = load_questions("med-r1", "data/Med-R1/Splits", split="test",
    ...                               image_root="data/OmniMedVQA")  # doctest: +SKIP
    >>> question_formats("grade")
    ['graded-jsonl']
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grounding_data.errors import ConversionReport, DataError
from grounding_data.labels import find_label

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SOLUTION = re.compile(r"\s*(?:<answer>)?\s*\(?\s*([A-Z])\s*\)?\.?\s*(?:</answer>)?\s*")
UNKNOWN = "unknown"
"""The modality or question type of a row whose source does not say."""


@dataclass(frozen=True)
class QuestionFormat:
    """A question format: its reader, the task its rows are for, and its splits."""

    name: str
    reader: Callable[..., Iterator[dict]]
    task: str
    splits: tuple[str, ...] = ()


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
    for letter in _LETTERS:
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
    return match.group(1) if match and match.group(1) in _LETTERS[:n_options] else None


def _item_label(index: int) -> str:
    return f"item {index + 1}"


def _json_list(file: Path) -> list[Any]:
    try:
        content = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError("unreadable file", str(error), file) from None
    if not isinstance(content, list):
        raise DataError("not a list", f"expected a json list of questions, got {type(content).__name__}", file)
    return content


def _image(value: Any, image_root: Path, file: Path, row: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError("missing field", f"no image path, got {value!r}", file, row)
    path = image_root / value
    if not path.is_file():
        raise DataError("missing image", f"no file {path}", file, row)
    return str(path)


def _text(item: Mapping[str, Any], key: str, file: Path, row: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataError("missing field", f"{key!r} must be a non-empty string, got {value!r}", file, row)
    return value.strip()


def _files(root: Path, split: str | None) -> list[Path]:
    if root.is_file():
        return [root]
    files = sorted(root.rglob("*.json"))
    if split is not None:
        files = [file for file in files
                 if file.stem.endswith(f"_{split}") or split in file.relative_to(root).parts[:-1]]
    if not files:
        raise DataError("no files", f"no .json question files{'' if split is None else f' for split {split!r}'}", root)
    return files


def _med_r1_group(file: Path) -> tuple[str | None, str]:
    """Which field the file's folder names (``modality`` / ``question_type``) and the name."""
    name = file.stem
    for split in ("_train", "_test", "_val"):
        name = name.removesuffix(split)
    kind = next((part for part in reversed(file.parts[:-1]) if part in ("modality", "question_type")), None)
    return kind, name


def read_med_r1(root: Path, report: ConversionReport, skip_bad: bool, split: str | None,
                image_root: Path) -> Iterator[dict]:
    """Rows of Med-R1 split files (a file, or a ``Splits`` folder read recursively).

    An image + problem found in both the modality and the question-type tree is one row
    carrying both.
    """
    rows: dict[tuple[str, str], dict] = {}
    for file in _files(root, split):
        kind, group = _med_r1_group(file)
        for index, item in enumerate(_json_list(file)):
            where = _item_label(index)
            try:
                if not isinstance(item, dict):
                    raise DataError("not an object", f"expected {{image, problem, solution}}, got {item!r}",
                                    file, where)
                problem = _text(item, "problem", file, where)
                try:
                    question, options = split_problem(problem)
                except ValueError as error:
                    raise DataError("no options", str(error), file, where) from None
                solution = _text(item, "solution", file, where)
                answer = solution_letter(solution, len(options))
                if answer is None:
                    raise DataError("bad answer", f"{solution!r} names none of options A-{_LETTERS[len(options) - 1]}",
                                    file, where)
                image = _image(item.get("image"), image_root, file, where)
            except DataError as error:
                if not skip_bad:
                    raise
                report.skip(error)
                continue
            row = rows.setdefault((image, problem), {
                "image": image, "question": question, "options": options, "answer": answer, "modality": UNKNOWN,
                "question_type": UNKNOWN, "source": "med-r1", "id": f"{group}-{index}",
            })
            if kind is not None:
                row[kind] = group
    for row in rows.values():
        report.keep(0)
        yield row


def read_omnimedvqa(root: Path, report: ConversionReport, skip_bad: bool, split: str | None,
                    image_root: Path) -> Iterator[dict]:
    """Rows of OmniMedVQA QA files (a file, a ``QA_information`` folder, or the dataset folder)."""
    folder = root / "QA_information" if (root / "QA_information").is_dir() else root
    for file in _files(folder, None):
        for index, item in enumerate(_json_list(file)):
            where = _item_label(index)
            try:
                if not isinstance(item, dict):
                    raise DataError("not an object", f"expected a question object, got {item!r}", file, where)
                options = [str(item[f"option_{letter}"]).strip() for letter in _LETTERS
                           if f"option_{letter}" in item and str(item[f"option_{letter}"]).strip()]
                if len(options) < 2:
                    raise DataError("no options", "fewer than two non-empty option_A, option_B, ...", file, where)
                truth = _text(item, "gt_answer", file, where)
                position = find_label(truth, options)
                if position is None:
                    raise DataError("bad answer", f"gt_answer {truth!r} is none of the options {options}", file, where)
                row = {
                    "image": _image(item.get("image_path"), image_root, file, where),
                    "question": _text(item, "question", file, where), "options": options,
                    "answer": _LETTERS[position],
                    "modality": str(item.get("modality_type") or item.get("modality") or UNKNOWN),
                    "question_type": str(item.get("question_type") or UNKNOWN), "source": "omnimedvqa",
                    "id": str(item.get("question_id") or f"{file.stem}-{index}"),
                }
            except DataError as error:
                if not skip_bad:
                    raise
                report.skip(error)
                continue
            report.keep(0)
            yield row


def read_graded_jsonl(root: Path, report: ConversionReport, skip_bad: bool, split: str | None,
                      image_root: Path, grades: Sequence[Any] = ()) -> Iterator[dict]:
    """Graded rows of a jsonl file: ``{"image", "grade"}`` per line, ``grades`` the labels in order."""
    labels = [str(label) for label in ([g.strip() for g in grades.split(",")] if isinstance(grades, str) else grades)]
    if len(labels) < 2:
        raise ValueError("graded-jsonl needs the grade labels in order, e.g. -o grades=[none,mild,moderate,severe]")
    if root.is_dir():
        raise ValueError(f"graded-jsonl reads one jsonl file, got the folder {root}")
    file = root
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError("invalid JSON", str(error), file, number) from None
            if not isinstance(item, dict) or "grade" not in item:
                raise DataError("missing field", "each line needs 'image' and 'grade'", file, number)
            grade = find_label(str(item["grade"]), labels)
            if grade is None:
                raise DataError("bad grade", f"{item['grade']!r} is not one of the grades {labels}", file, number)
            row = {
                "image": _image(item.get("image"), image_root, file, number), "grades": labels, "grade": grade,
                "question": str(item.get("question") or "What is the grade?"),
                "modality": str(item.get("modality") or UNKNOWN),
                "question_type": str(item.get("question_type") or UNKNOWN), "source": "graded-jsonl",
                "id": str(item.get("id") or f"{file.stem}-{number}"),
            }
        except DataError as error:
            if not skip_bad:
                raise
            report.skip(error)
            continue
        report.keep(0)
        yield row


QUESTION_FORMATS: dict[str, QuestionFormat] = {spec.name: spec for spec in [
    QuestionFormat("med-r1", read_med_r1, "vqa", ("train", "test")),
    QuestionFormat("omnimedvqa", read_omnimedvqa, "vqa"),
    QuestionFormat("graded-jsonl", read_graded_jsonl, "grade"),
]}


def question_formats(task: str | None = None) -> list[str]:
    """Names of the question formats (for one task: ``"vqa"`` or ``"grade"``).

    Example::

        >>> question_formats("vqa")
        ['med-r1', 'omnimedvqa']
    """
    return [name for name, spec in QUESTION_FORMATS.items() if task is None or spec.task == task]


def load_questions(format: str, root: str | Path, *, split: str | None = None, skip_bad: bool = False,
                   image_root: str | Path | None = None, **options: Any) -> tuple[list[dict], ConversionReport]:
    """All rows of question dataset ``format`` at ``root`` (a file or a folder), and the report.

    Raises:
        ValueError: an unknown format, split or option.
        DataError: a bad item (unless ``skip_bad``), naming the file and item.

    Example::

        >>> rows, report = load_questions("omnimedvqa", "data/OmniMedVQA")  # doctest: +SKIP
        >>> rows[0]["answer"], report.rows  # doctest: +SKIP
        ('B', 88996)
    """
    if format not in QUESTION_FORMATS:
        raise ValueError(f"unknown question format {format!r}; known: {', '.join(QUESTION_FORMATS)}")
    spec = QUESTION_FORMATS[format]
    if split is not None and split not in spec.splits:
        raise ValueError(f"format {format} has splits {list(spec.splits)}, not {split!r}" if spec.splits
                         else f"format {format} has no splits (got split={split!r})")
    allowed = {"grades"} if format == "graded-jsonl" else set()
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for format {format}; it accepts "
                         f"{sorted(allowed | {'image_root', 'split', 'skip_bad'})}")
    root = Path(root).expanduser().absolute()
    if not root.exists():
        raise ValueError(f"{root} does not exist")
    if image_root is not None:
        base = Path(image_root).expanduser().absolute()
    else:
        base = root if root.is_dir() else root.parent
    report = ConversionReport(format)
    rows = list(spec.reader(root, report, skip_bad, split, base, **options))
    return rows, report
