"""``medloc data``: convert released grounding datasets to unified jsonl, inspect them, list the formats.

The sub-commands live in their own modules, imported when run: ``medloc data formats`` reads the format
registry only (no torch).

Example::

    $ medloc data formats
    $ medloc data convert --format tn3k --root data/TN3K --split test --out tn3k_test.jsonl
    $ medloc data inspect tn3k_test.jsonl
"""

from __future__ import annotations

import click

from medloc.app.cli import LazyGroup


class DataGroup(LazyGroup):
    """``medloc data``'s sub-commands, imported on first use."""

    lazy_commands = {
        "formats": ("medloc.app.cli.data_cmd", "formats_command", "List every dataset format with its task, splits "
                                                                  "and options."),
        "convert": ("medloc.app.cli.data_convert_cmd", "convert", "Convert a released grounding dataset into "
                                                                  "unified jsonl (one line per phrase)."),
        "inspect": ("medloc.app.cli.data_inspect_cmd", "inspect_command", "Counts, box sizes and problems of a "
                                                                          "unified jsonl file."),
    }


@click.group(cls=DataGroup)
def data() -> None:
    """Convert real datasets into medloc's unified jsonl and inspect them."""


def format_lines() -> list[str]:
    """``medloc data formats``: one block per format: name, task, splits, description, options.

    Example:
        >>> lines = format_lines()
        >>> lines[0]
        'format        task       description'
        >>> next(line for line in lines if line.startswith("med-r1"))
        'med-r1        vqa        Med-R1 VQA split files (Splits/{modality,question_type}/{train,test})'
    """
    from grounding_data import format_options
    from grounding_data.formats import FORMATS

    lines = [f"{'format':13s} {'task':10s} description"]
    for name, spec in FORMATS.items():
        lines.append(f"{name:13s} {spec.task:10s} {spec.description}")
        if spec.splits:
            lines.append(f"{'':24s} splits (--split): {', '.join(spec.splits)}")
        options = ", ".join(f"{key}={default!r}" for key, (_, default) in format_options(name).items())
        lines.append(f"{'':24s} options (-o KEY=VALUE): {options or 'none'}")
    return lines


@click.command("formats")
def formats_command() -> None:
    """List every dataset format with its task, splits and options.

    Grounding formats: ``medloc data convert --format NAME`` or ``medloc train --data NAME --data-root PATH``;
    question formats: ``medloc train --task TASK --data NAME --data-root PATH``.
    """
    for line in format_lines():
        click.echo(line)
    click.echo("\ngrounding: medloc data convert --format NAME ..., or medloc train --data NAME --data-root PATH;"
               "\nvqa, grade: medloc train --task TASK --data NAME --data-root PATH (and medloc eval --task TASK).")
