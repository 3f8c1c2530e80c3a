"""Med-R1's split files: json lists of ``{"image", "problem": "question A)..., B)...", "solution":
"<answer> C </answer>"}`` under ``Splits/{modality,question_type}/{train,test}/<name>_<split>.json``;
the folder names the row's modality or question type (reading both trees merges them).

Example::

    >>> solution_letter("<answer> B </answer>", 3)
    'B'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from grounding_data.errors import DataError
from grounding_data.formats._context import ReadContext
from grounding_data.formats._questions import LETTERS, UNKNOWN, image_base, image_path, item_label, json_list
from grounding_data.formats._questions import question_files, text_field

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


def _med_r1_group(file: Path) -> tuple[str | None, str]:
    """Which field the file's folder names (``modality`` / ``question_type``) and the name."""
    name = file.stem
    for split in ("_train", "_test", "_val"):
        name = name.removesuffix(split)
    kind = next((part for part in reversed(file.parts[:-1]) if part in ("modality", "question_type")), None)
    return kind, name


def read_med_r1(root: Path, ctx: ReadContext, split: str | None, image_root: str | None = None) -> Iterator[dict]:
    """Rows of Med-R1 split files (a file, or a ``Splits`` folder read recursively); ``image_root`` is
    the folder the ``image`` paths start from (OmniMedVQA's).

    An image + problem found in both the modality and the question-type tree is one row
    carrying both.
    """
    base = image_base(root, image_root)
    rows: dict[tuple[str, str], dict] = {}
    for file in question_files(root, split):
        kind, group = _med_r1_group(file)
        for index, item in enumerate(json_list(file)):
            where = item_label(index)
            try:
                if not isinstance(item, dict):
                    raise DataError("not an object", f"expected {{image, problem, solution}}, got {item!r}",
                                    file, where)
                problem = text_field(item, "problem", file, where)
                try:
                    question, options = split_problem(problem)
                except ValueError as error:
                    raise DataError("no options", str(error), file, where) from None
                solution = text_field(item, "solution", file, where)
                answer = solution_letter(solution, len(options))
                if answer is None:
                    raise DataError("bad answer", f"{solution!r} names none of options A-{LETTERS[len(options) - 1]}",
                                    file, where)
                image = image_path(item.get("image"), base, file, where)
            except DataError as error:
                ctx.skip_or_raise(error)
                continue
            row = rows.setdefault((image, problem), {
                "image": image, "question": question, "options": options, "answer": answer, "modality": UNKNOWN,
                "question_type": UNKNOWN, "source": "med-r1", "id": f"{group}-{index}",
            })
            if kind is not None:
                row[kind] = group
    for row in rows.values():
        ctx.report.keep(0)
        yield row
