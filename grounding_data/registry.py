"""Reading any registered format into rows, and ``load_rows``, the one row loader of training and evaluation.

Grounding formats and question formats (``vqa``, ``grade``) live in one registry
(:data:`grounding_data.formats.FORMATS`, a ``task`` on each) and are read and checked one way: the
same common options (``split``, ``skip_bad``, ...), the format's own options converted to their types
and unknown ones refused, bad rows raised or skipped and counted.

Example::

    >>> formats("grounding")
    ['ham10000', 'tn3k', 'kvasir-seg', 'ms-cxr', 'chestx-ray8', 'vindr-cxr', 'rsna', 'vlm-r1', 'coco']
    >>> formats("vqa")
    ['med-r1', 'omnimedvqa']
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from grounding_data.errors import ConversionReport
from grounding_data.formats import FORMATS, GROUNDING, FormatSpec
from grounding_data.formats._context import DEFAULT_TEMPLATE, ReadContext, no_progress
from grounding_data.rows import GroundingRow, read_jsonl


JSONL_TASK = GROUNDING
"""The task of a unified jsonl file (what ``medloc data convert`` writes: grounding rows)."""


def formats(task: str | None = None) -> list[str]:
    """Names of the registered dataset formats, or of those whose rows are for ``task``."""
    return [name for name, spec in FORMATS.items() if task is None or spec.task == task]


def format_spec(name: str) -> FormatSpec:
    """The registry entry of ``name``; ``ValueError`` listing the known names otherwise."""
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}")
    return FORMATS[name]


def format_options(name: str) -> dict[str, tuple[type, object]]:
    """Format-specific options of ``name``: {option: (type, default)}.

    Example::

        >>> format_options("rsna")["label"]
        (<class 'str'>, 'lung opacity')
        >>> format_options("graded-jsonl")["grades"]
        (list[str], None)
    """
    reader = format_spec(name).reader
    hints = typing.get_type_hints(reader)
    out = {}
    for param in list(inspect.signature(reader).parameters.values())[3:]:
        kind = next((t for t in typing.get_args(hints[param.name]) if t is not type(None)), hints[param.name])
        out[param.name] = (kind, param.default)
    return out


def iter_rows(format: str, root: str | Path, report: ConversionReport, *, split: str | None = None,
              skip_bad: bool = False, template: str = DEFAULT_TEMPLATE, clip_boxes: bool = False,
              progress: Callable[[Sequence, str], Iterable] = no_progress, **options) -> Iterator[GroundingRow]:
    """Stream the rows of dataset ``format`` under ``root``, filling ``report``.

    Common options: ``split`` (one of the format's splits; None = all), ``skip_bad``
    (skip and count bad rows instead of raising ``DataError``), ``template`` (phrase
    for class labels; ``{label}`` is replaced), ``clip_boxes`` (clip boxes reaching
    outside the image and count them, instead of an error), ``progress`` (a wrapper
    ``(items, label) -> iterable``, e.g. a progress bar). Other keyword options are the
    format's own (see :func:`format_options`); strings are converted to their type.

    Example::

        >>> report = ConversionReport("rsna")
        >>> rows = list(iter_rows("rsna", "data/rsna", report, skip_bad=True))  # doctest: +SKIP
    """
    spec = format_spec(format)
    if split is not None and split not in spec.splits:
        raise ValueError(f"format {format} has splits {list(spec.splits)}, not {split!r}" if spec.splits
                         else f"format {format} has no splits (got split={split!r})")
    if "{label}" not in template:
        raise ValueError(f"template must contain {{label}}, got {template!r}")
    known = format_options(format)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for format {format}; it accepts {sorted(known)}")
    typed = {k: _convert(k, v, known[k][0]) for k, v in options.items()}
    ctx = ReadContext(report, skip_bad, template, clip_boxes, progress)
    return spec.reader(Path(root).expanduser().absolute(), ctx, split, **typed)


def read(format: str, root: str | Path, **options) -> tuple[list[GroundingRow], ConversionReport]:
    """All rows of dataset ``format`` under ``root`` and the report (skipped rows by
    reason, "no finding" lines, clipped boxes, ...). Options as for :func:`iter_rows`.

    Example::

        >>> rows, report = read("tn3k", "data/TN3K", split="test", components="each")  # doctest: +SKIP
        >>> print(report.summary())  # doctest: +SKIP
    """
    report = ConversionReport(format)
    rows = list(iter_rows(format, root, report, **options))
    return rows, report


def load_rows(spec: str, root: str | None = None, skip_bad: bool = False,
              **options) -> tuple[list[GroundingRow | dict], ConversionReport]:
    """Rows for ``medloc train --data SPEC`` and ``medloc eval --data SPEC``.

    ``spec`` is either a unified jsonl file (written by ``medloc data convert``; image
    paths relative to the file's folder or absolute; every line validated) or a format
    name from :func:`formats` (then ``root`` is the dataset folder or file and ``options`` go to
    :func:`read`). Bad rows raise ``DataError`` naming file and row, or with
    ``skip_bad=True`` are skipped and counted in the returned report. Grounding rows are
    :class:`GroundingRow` (boxes [x1, y1, x2, y2] in pixels of the original image, width x
    height); question rows are dicts (see :mod:`grounding_data.formats._questions`).

    Example::

        >>> rows, report = load_rows("rows.jsonl")  # doctest: +SKIP
        >>> rows, report = load_rows("tn3k", root="data/TN3K", split="trainval")  # doctest: +SKIP
    """
    if spec in FORMATS:
        if root is None:
            raise ValueError(f"load_rows({spec!r}) reads a dataset format: pass root=<dataset folder>")
        return read(spec, root, skip_bad=skip_bad, **options)
    if root is not None or options:
        raise ValueError(f"{spec!r} is not a format name ({', '.join(FORMATS)}), so it is read as a unified "
                         "jsonl file, which takes no root or options")
    return read_jsonl(spec, skip_bad=skip_bad)


def _convert(name: str, value: object, kind: type) -> object:
    if typing.get_origin(kind) is list:
        return [part.strip() for part in value.split(",")] if isinstance(value, str) else list(value)
    if kind is str:
        return value if isinstance(value, str) else str(value)  # a command line reads image_root=2024 as 2024
    if not isinstance(value, str):
        return value
    try:
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        return kind(value)
    except ValueError:
        raise ValueError(f"option {name} must be a {kind.__name__}, got {value!r}") from None
