"""Prior-knowledge injection (VRFT-Aug): a description of each class, read from a file you supply.

The file is YAML or JSON: a mapping ``label: description``. Prompts then carry, for each
option or grade the question offers, what it looks like:

.. code-block:: yaml

    none: no microaneurysms or haemorrhages
    mild: microaneurysms only
    moderate: more than microaneurysms, less than severe
    severe: haemorrhages in four quadrants, venous beading

Labels are matched ignoring case, punctuation and spacing.

Example:
    >>> describe_classes(["Mild", "severe", "other"], {"mild": "microaneurysms only", "severe": "haemorrhages"})
    ['Mild: microaneurysms only', 'severe: haemorrhages']
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from grounding_data.labels import normalise_label


def read_class_descriptions(path: str | Path) -> dict[str, str]:
    """The ``label -> description`` mapping of a YAML or JSON file.

    Raises:
        ValueError: the file is missing, unreadable, not a mapping, or has an empty description
            (the message names the file and the label).

    Example:
        >>> import tempfile, pathlib
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "grades.yaml"
        >>> _ = file.write_text("0: no lesion\\n1: a small lesion\\n")
        >>> read_class_descriptions(file)
        {'0': 'no lesion', '1': 'a small lesion'}
    """
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
        content: Any = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except OSError as error:
        raise ValueError(f"cannot read {file}: {error.strerror}") from None
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(f"{file} is not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {error}") from None
    if not isinstance(content, dict) or not content:
        raise ValueError(f"{file} must hold a mapping 'label: description', got {type(content).__name__}")
    descriptions = {}
    for label, description in content.items():
        if not isinstance(description, str) or not description.strip():
            raise ValueError(f"{file}, label {label!r}: the description must be non-empty text, got {description!r}")
        descriptions[str(label)] = description.strip()
    return descriptions


def describe_classes(labels: Sequence[Any], descriptions: Mapping[str, str] | None) -> list[str]:
    """``"label: description"`` for each of ``labels`` that ``descriptions`` describes, in order.

    Example:
        >>> describe_classes(["0", "1"], None)
        []
    """
    if not descriptions:
        return []
    known = {normalise_label(label): text for label, text in descriptions.items()}
    return [f"{label}: {known[normalise_label(label)]}" for label in labels if normalise_label(label) in known]
