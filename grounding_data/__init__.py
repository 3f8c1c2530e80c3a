"""Real medical grounding datasets in, one clean format out.

Read a released dataset (``read``/``iter_rows``), or a unified jsonl or format for
training (``load_rows``); every row is a :class:`GroundingRow` with boxes in original
pixels; bad data raises :class:`DataError` naming file and row, or is skipped and
counted in a :class:`ConversionReport`.

Example::

    >>> import grounding_data
    >>> "tn3k" in grounding_data.formats()
    True
    >>> rows, report = grounding_data.load_rows("tn3k", root="data/TN3K")  # doctest: +SKIP
"""

from grounding_data.errors import ConversionReport, DataError
from grounding_data.formats._context import DEFAULT_TEMPLATE
from grounding_data.registry import JSONL_TASK, format_options, formats, iter_rows, load_rows, read
from grounding_data.rows import GroundingRow, read_jsonl, write_jsonl

__all__ = [
    "DEFAULT_TEMPLATE", "JSONL_TASK", "ConversionReport", "DataError", "GroundingRow", "format_options", "formats",
    "iter_rows", "load_rows", "read", "read_jsonl", "write_jsonl",
]
