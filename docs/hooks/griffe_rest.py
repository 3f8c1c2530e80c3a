"""A griffe extension that lets the reST habits of medloc's docstrings render in Markdown.

The docstrings follow Google style but keep a few reST forms that Python-Markdown would print
literally. Before a docstring is parsed this extension rewrites:

- roles (``:class:`~a.B```, ``:func:``, ``:mod:``, ...) to optional cross-references: a link where
  the target is rendered in the API reference, plain code where it is not (no warning either way);
- ``Example:`` / ``Example::`` headers to ``Examples:``, so that griffe reads the doctest lines
  under them as code;
- a trailing ``::`` (a reST literal block follows) to ``:``;
- reST simple tables (``====  ====`` borders) to Markdown tables.

The source files are not changed; only the text the API reference renders.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

import medloc

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const|ref|term):`([^`]+)`")
EXAMPLE_HEADER = re.compile(r"^(\s*)Examples?::?\s*$")
TABLE_BORDER = re.compile(r"^\s*=+(?: +=+)+\s*$")
PACKAGES = ("medloc", "schedulers", "grounding_data")
LAZY_EXPORTS = {f"medloc.{name}": f"{module}.{name}" for name, module in medloc._EXPORTS.items()}
"""``medloc.IoUCurriculum`` and the other names ``medloc`` imports lazily, to where they are documented."""


def _identifier(obj: griffe.Object, target: str) -> str:
    """The full path of ``target`` as written in ``obj``'s docstring, resolved in its scope if it can be."""
    if target.split(".")[0] in PACKAGES:
        return LAZY_EXPORTS.get(target, target)
    head, _, rest = target.partition(".")
    for scope in (obj, obj.parent):
        if scope is None:
            continue
        try:
            path = scope.resolve(head)
        except Exception:  # noqa: BLE001 - griffe raises several kinds; unresolved means "leave it"
            continue
        return f"{path}.{rest}" if rest else path
    return target


def _role(obj: griffe.Object, match: re.Match[str]) -> str:
    target = match.group(1).strip()
    short = target.startswith("~")
    target = target.lstrip("~")
    title = target.rsplit(".", 1)[-1] if short else target
    return f'<autoref identifier="{_identifier(obj, target)}" optional><code>{title}</code></autoref>'


def _cells(line: str, spans: list[tuple[int, int]]) -> list[str]:
    """A simple-table row cut at the column spans of its border (the last column runs to the end)."""
    cuts = [start for start, _ in spans] + [len(line)]
    return [line[start:end].strip() for start, end in zip(cuts, cuts[1:])]


def _markdown_tables(lines: list[str]) -> list[str]:
    """Each reST simple table (border, header, border, rows, border) as a Markdown table."""
    borders = [i for i, line in enumerate(lines) if TABLE_BORDER.match(line)]
    out = list(lines)
    for first, second, last in reversed(list(zip(borders[0::3], borders[1::3], borders[2::3]))):
        border = lines[first]
        indent = border[: len(border) - len(border.lstrip())]
        spans = [match.span() for match in re.finditer(r"=+", border)]
        header = [" ".join(cells) for cells in zip(*(_cells(line, spans) for line in lines[first + 1:second]))]
        rows = [_cells(line, spans) for line in lines[second + 1:last] if line.strip()]
        table = [header, ["---"] * len(spans), *rows]
        out[first:last + 1] = ["", *(f"{indent}| " + " | ".join(row) + " |" for row in table), ""]
    return out


def markdown_docstring(obj: griffe.Object, text: str) -> str:
    """The docstring ``text`` of ``obj`` with its reST forms rewritten for Markdown."""
    lines = []
    for line in _markdown_tables(text.splitlines()):
        header = EXAMPLE_HEADER.match(line)
        if header:
            line = f"{header.group(1)}Examples:"
        elif line.rstrip().endswith("::") and not line.strip().startswith(">>>"):
            line = line.rstrip()[:-1]
        lines.append(ROLE.sub(lambda match: _role(obj, match), line))
    return "\n".join(lines)


class RestForms(griffe.Extension):
    """Rewrite each docstring once the object tree is complete (so names resolve)."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj, obj.docstring.value)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self.on_object(obj=pkg)
