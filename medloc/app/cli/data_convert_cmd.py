"""``medloc data``: convert released grounding datasets to unified jsonl and inspect them.

Example::

    $ medloc data formats
    $ medloc data convert --format tn3k --root data/TN3K --split test --out tn3k_test.jsonl
    $ medloc data convert --format rsna --root data/rsna --out rsna.jsonl --export-images data/rsna/png
    $ medloc data inspect tn3k_test.jsonl
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

import grounding_data
from grounding_data import ConversionReport, DataError, GroundingRow
from grounding_data.rows import export_png
from grounding_data.formats import FORMATS
from grounding_data.masks import COMPONENT_MODES
from medloc.app.key_values import parse_key_values
from medloc.app.settings import SettingsError

SMALL_AREA = 0.01  # a box under 1% of the image is "small": rewards get sparse there
SMALL_SIDE = 32  # pixels


def _progress(items: Sequence, label: str) -> Iterator:
    with click.progressbar(items, label=f"reading {label}", file=sys.stderr) as bar:
        yield from bar


@click.group()
def data() -> None:
    """Convert real datasets into medloc's unified jsonl and inspect them."""


@data.command("formats")
def formats_command() -> None:
    """List the dataset formats with their task, splits and options."""
    for name, spec in FORMATS.items():
        task = "" if spec.task == grounding_data.JSONL_TASK else f" [--task {spec.task}]"
        click.echo(f"{name:12s} {spec.description}{task}")
        if spec.splits:
            click.echo(f"{'':12s} splits: {', '.join(spec.splits)}")
        options = ", ".join(f"{k}={d!r}" for k, (_, d) in grounding_data.format_options(name).items())
        click.echo(f"{'':12s} options (-o KEY=VALUE): {options}")


@data.command("convert")
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


@data.command("inspect")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-check-images", is_flag=True, help="Do not open images to check their size.")
def inspect_command(file: Path, no_check_images: bool) -> None:
    """Counts, box-size statistics and problems of a unified jsonl FILE."""
    try:
        rows, report = grounding_data.read_jsonl(file, skip_bad=True, check_images=not no_check_images)
    except DataError as err:
        raise click.ClickException(str(err)) from err
    for line in describe(rows):
        click.echo(line)
    click.echo("problems:")
    problems = _problems(rows, report)
    for line in problems or ["  none found"]:
        click.echo(line)


def describe(rows: list[GroundingRow]) -> list[str]:
    """Summary lines: counts by source, boxes per row, box sizes (small boxes flagged).

    Example::

        >>> describe([GroundingRow("a.png", "p", [[0, 0, 10, 10]], 100, 100, "coco", "1")])[0]
        'rows: 1, images: 1, phrases: 1, boxes: 1'
    """
    boxes = [(b, r) for r in rows for b in r.boxes]
    lines = [f"rows: {len(rows)}, images: {len({r.image for r in rows})}, "
             f"phrases: {len({r.phrase for r in rows})}, boxes: {len(boxes)}"]
    lines.append("sources: " + ", ".join(f"{s} {n}" for s, n in Counter(r.source for r in rows).most_common()))
    if not boxes:
        return lines
    per_row = Counter(len(r.boxes) for r in rows)
    lines.append("boxes per row: " + ", ".join(f"{k}: {per_row[k]}" for k in sorted(per_row)))
    rel = [(b[2] - b[0]) * (b[3] - b[1]) / (r.width * r.height) for b, r in boxes]
    side = [min(b[2] - b[0], b[3] - b[1]) for b, _ in boxes]
    lines.append("box area / image area: " + _quantiles(rel, "{:.4f}"))
    lines.append("box shorter side (px): " + _quantiles(side, "{:.1f}"))
    n_small = sum(a < SMALL_AREA for a in rel)
    n_thin = sum(s < SMALL_SIDE for s in side)
    lines.append(f"small boxes (< {SMALL_AREA:.0%} of the image): {n_small} ({n_small / len(boxes):.1%}); "
                 f"shorter side < {SMALL_SIDE} px: {n_thin} ({n_thin / len(boxes):.1%})")
    return lines


def _quantiles(values: list[float], fmt: str) -> str:
    qs = statistics.quantiles(values, n=10, method="inclusive") if len(values) > 1 else [values[0]] * 9
    parts = [("min", min(values)), ("p10", qs[0]), ("median", statistics.median(values)), ("p90", qs[8]),
             ("max", max(values))]
    return ", ".join(f"{k} {fmt.format(v)}" for k, v in parts)


def _problems(rows: list[GroundingRow], report: ConversionReport) -> list[str]:
    lines = []
    for reason, n in report.skipped.most_common():
        lines.append(f"  {reason}: {n} rows")
        lines.extend(f"    e.g. {msg}" for msg in report.examples.get(reason, []))
    duplicate_ids = [i for i, n in Counter((r.source, r.id) for r in rows).items() if n > 1]
    if duplicate_ids:
        lines.append(f"  duplicate ids: {len(duplicate_ids)} (e.g. {duplicate_ids[0][1]})")
    repeated = sum(len(r.boxes) - len({tuple(b) for b in r.boxes}) for r in rows)
    if repeated:
        lines.append(f"  repeated boxes within a row: {repeated}")
    return lines

