"""``medloc data inspect``: counts, box sizes and problems of a unified jsonl file.

Example::

    $ medloc data inspect tn3k_test.jsonl
"""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

import click

import grounding_data
from grounding_data import ConversionReport, DataError, GroundingRow

SMALL_AREA = 0.01  # a box under 1% of the image is "small": rewards get sparse there
SMALL_SIDE = 32  # pixels


@click.command("inspect")
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

