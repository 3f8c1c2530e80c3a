"""Find which of a few known labels (option texts, grade names) an answer names.

Case, punctuation and spacing are ignored; labels are matched as whole words.

Example:
    >>> find_label("It's a BAD retinal image", ["it's a good retinal image.", "it's a bad retinal image."])
    1
    >>> find_label("grade 2, moderate", ["0", "1", "2", "3"], contained=True)
    2
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_NOT_WORD = re.compile(r"[\W_]+")


def normalise_label(text: Any) -> str:
    """Lower case, every run of punctuation and spaces one space.

    Example:
        >>> normalise_label("  It's a  CT-scan. ")
        'it s a ct scan'
    """
    return _NOT_WORD.sub(" ", str(text).lower()).strip()


def find_label(answer: str, labels: Sequence[Any], contained: bool = False) -> int | None:
    """The index of the label ``answer`` names, or ``None``.

    Args:
        answer: the text to read.
        labels: the known labels, in order.
        contained: ``False``: the whole answer must equal one label. ``True``: a label may sit
            inside a longer answer (whole words); when several occur, the one whose text holds
            all the others wins (``"no it s normal"`` over ``"no"``), else the answer is ambiguous.

    Example:
        >>> find_label("No, it's normal, nothing else", ["No", "No, it's normal."], contained=True)
        1
        >>> find_label("between 1 and 2", ["0", "1", "2"], contained=True) is None
        True
    """
    said = normalise_label(answer)
    texts = [normalise_label(label) for label in labels]
    if not contained:
        exact = [i for i, text in enumerate(texts) if text and text == said]
        return exact[0] if len(exact) == 1 else None
    padded = f" {said} "
    found = [i for i, text in enumerate(texts) if text and f" {text} " in padded]
    if not found:
        return None
    longest = max(found, key=lambda i: len(texts[i]))
    if all(f" {texts[i]} " in f" {texts[longest]} " for i in found):
        return longest
    return None
