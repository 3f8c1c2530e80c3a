"""``medloc data convert``: a released grounding dataset to unified jsonl (one line per phrase).

Example::

    $ medloc data convert --format tn3k --root data/TN3K --split test --out tn3k_test.jsonl
    $ medloc data convert --format rsna --root data/rsna --out rsna.jsonl --export-images data/rsna/png
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

import grounding_data
from grounding_data import ConversionReport, DataError
from grounding_data.masks import COMPONENT_MODES
from grounding_data.rows import export_png
from medloc.app.key_values import parse_key_values
from medloc.app.settings import SettingsError


def _progress(items: Sequence, label: str) -> Iterator:
    with click.progressbar(items, label=f"reading {label}", file=sys.stderr) as bar:
        yield from bar


@click.command("convert")
@click.option("--format", "fmt", required=True, type=click.Choice(grounding_data.formats(grounding_data.JSONL_TASK)),
              help="Grounding dataset format.")
@click.option("--root", required=True, type=click.Path(exists=True, path_type=Path), help="Dataset folder (or file).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Unified jsonl to write.")
@click.option("--split", default=None, help="Split to convert (see `medloc data formats`); default: all.")
@click.option("--skip-bad", is_flag=True, help="Skip bad rows and count them instead of stopping.")
@click.option("--template", default=grounding_data.DEFAULT_TEMPLATE, show_default=True,
              help="Phrase for class-label datasets; {label} is replaced.")
@click.option("--components", type=click.Choice(COMPONENT_MODES), default=None,
              help="Mask datasets: one box per connected component, or one enclosing box (default).")
@click.option("--threshold", type=int, default=None, help="Mask datasets: foreground grey level (default 128).")
@click.option("--clip-boxes", is_flag=True, help="Clip boxes reaching outside the image (counted) instead of failing.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="Format-specific option.")
@click.option("--export-images", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write DICOM images as 8-bit PNG copies under this folder and point the rows at them.")
def convert(fmt: str, root: Path, out: Path, split: str | None, skip_bad: bool, template: str,
            components: str | None, threshold: int | None, clip_boxes: bool, options: tuple[str, ...],
            export_images: Path | None) -> None:
    """Convert a released dataset into unified jsonl (one line per phrase)."""
    try:
        extra = parse_key_values("-o/--option", options)
    except SettingsError as error:
        raise click.BadParameter(error.message, param_hint=error.option) from None
    for name, value in (("components", components), ("threshold", threshold)):
        if value is not None:
            extra[name] = value
    report = ConversionReport(fmt)
    partial = out.with_name(out.name + ".partial")
    try:
        rows = grounding_data.iter_rows(fmt, root, report, split=split, skip_bad=skip_bad, template=template,
                                        clip_boxes=clip_boxes, progress=_progress, **extra)
        if export_images is not None:
            rows = export_png(rows, export_images, root.absolute())
        n = grounding_data.write_jsonl(rows, partial)
    except (DataError, ValueError) as err:
        partial.unlink(missing_ok=True)
        raise click.ClickException(str(err)) from err
    partial.replace(out)
    click.echo(report.summary())
    click.echo(f"wrote {n} rows to {out}")
