"""The ``kvasir-seg`` format: json boxes as ground truth, checked against the JPEG masks, on fixtures in the
released layout and on the real Kvasir-SEG copy in ``../shared/data/kvasir-seg`` (skipped where it is absent;
``MEDLOC_SHARED_DATA`` points at another ``shared/data`` folder)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import grounding_data
from grounding_data import DataError
from medloc.app.cli import main
from tests import data_fixtures as fx

DISAGREE = "images whose json and mask boxes disagree (IoU < 0.9)"


def _edit_json(root: Path, edit) -> None:
    path = root / "kavsir_bboxes.json"
    entries = json.loads(path.read_text())
    edit(entries)
    path.write_text(json.dumps(entries))


def test_rows_carry_every_json_box_and_agree_with_the_masks(tmp_path):
    rows, report = grounding_data.read("kvasir-seg", fx.kvasir_seg(tmp_path))
    assert [(r.id, r.boxes, r.width, r.height) for r in rows] == [
        ("a", [[8, 8, 40, 30]], 64, 48), ("b", [[2, 4, 20, 20], [40, 30, 66, 50]], 72, 56)]
    assert rows[0].phrase == "Locate the polyp." and rows[0].source == "kvasir-seg"
    assert rows[0].image == str(tmp_path / "images" / "a.jpg")
    assert (report.rows, report.boxes, report.n_skipped) == (2, 3, 0)
    assert DISAGREE not in report.notes
    assert report.notes["mask components under 16 pixels ignored"] == 1  # the speck in b's mask


def test_disagreeing_json_and_mask_boxes_are_reported_not_refused(tmp_path):
    boxes = dict(fx.KVASIR_BOXES, c=(64, 48, [(8, 8, 40, 30)], [(8, 8, 24, 30)]),  # IoU 0.5
                 d=(64, 48, [(8, 8, 40, 30), (50, 40, 54, 44)], [(8, 8, 40, 30)]))  # a json box without mask
    root = fx.kvasir_seg(tmp_path, boxes)
    rows, report = grounding_data.read("kvasir-seg", root)
    assert [r.id for r in rows] == ["a", "b", "c", "d"] and rows[2].boxes == [[8, 8, 40, 30]]
    assert report.notes[DISAGREE] == 2
    assert report.examples[DISAGREE] == [
        "c: json [[8.0, 8.0, 40.0, 30.0]], mask [[8, 8, 24, 30]]",
        "d: json [[8.0, 8.0, 40.0, 30.0], [50.0, 40.0, 54.0, 44.0]], mask [[8, 8, 40, 30]]"]
    assert grounding_data.read("kvasir-seg", root, check_iou=0.45)[1].notes["images whose json and mask boxes "
                                                                             "disagree (IoU < 0.45)"] == 1
    unchecked = grounding_data.read("kvasir-seg", root, check_masks=False)[1]
    assert not any("disagree" in note for note in unchecked.notes)
    out = tmp_path / "rows.jsonl"
    result = CliRunner().invoke(main, ["data", "convert", "--format", "kvasir-seg", "--root", str(root),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{DISAGREE}: 2\n  e.g. c: json" in result.output and "wrote 4 rows" in result.output


def test_missing_image_is_a_bad_row_naming_the_file(tmp_path):
    root = fx.kvasir_seg(tmp_path)
    (root / "images" / "a.jpg").unlink()
    with pytest.raises(DataError, match=r"kavsir_bboxes.json, a: missing image: no file .*/images/a\.jpg$"):
        grounding_data.read("kvasir-seg", root)


def test_skip_bad_counts_each_bad_row(tmp_path):
    boxes = dict(fx.KVASIR_BOXES, c=(64, 48, [(8, 8, 40, 30)], [(8, 8, 40, 30)]),
                 d=(64, 48, [(8, 8, 40, 30)], [(8, 8, 40, 30)]), e=(64, 48, [(8, 8, 70, 30)], [(8, 8, 40, 30)]))
    root = fx.kvasir_seg(tmp_path, boxes)
    (root / "images" / "a.jpg").unlink()

    def edit(entries):
        entries["c"]["width"] = 65
        entries["d"]["bbox"][0]["xmax"] = "40"
        entries["f"] = {"height": 48, "width": 64}
    _edit_json(root, edit)
    rows, report = grounding_data.read("kvasir-seg", root, skip_bad=True)
    assert [r.id for r in rows] == ["b"] and (report.rows, report.boxes) == (1, 2)
    assert report.skipped == {"missing image": 1, "image size mismatch": 1, "bad box": 1, "box outside image": 1,
                              "wrong columns": 1}
    assert report.examples["image size mismatch"] == [
        f"{root}/kavsir_bboxes.json, c: image size mismatch: {root}/images/c.jpg is 64x48, annotation says 65x48"]
    assert "kavsir_bboxes.json, d box 0: bad box" in report.examples["bad box"][0]
    assert "skipped 5 rows:" in report.summary()


def test_image_without_json_entry_takes_its_boxes_from_the_mask(tmp_path):
    root = fx.kvasir_seg(tmp_path)
    fx.image(root / "images" / "z.jpg", 64, 48)
    fx.mask(root / "masks" / "z.jpg", 64, 48, [(4, 4, 20, 16), (30, 20, 60, 44)])
    rows, report = grounding_data.read("kvasir-seg", root)
    assert [(r.id, r.boxes) for r in rows][-1] == ("z", [[4, 4, 20, 16], [30, 20, 60, 44]])
    assert report.notes["images without a json entry (boxes from the mask)"] == 1
    assert report.examples["images without a json entry (boxes from the mask)"] == ["z"]
    (root / "masks" / "z.jpg").unlink()
    with pytest.raises(DataError, match=r"masks/z\.jpg: missing mask"):
        grounding_data.read("kvasir-seg", root)


def test_data_formats_lists_kvasir_seg_with_its_options():
    result = CliRunner().invoke(main, ["data", "formats"])
    assert result.exit_code == 0, result.output
    block = result.output.split("\nkvasir-seg ", 1)[1]
    assert block.split("\n")[1].strip() == ("options (-o KEY=VALUE): threshold=128, min_component_pixels=16, "
                                            "check_iou=0.9, check_masks=True, label='polyp'")


def test_real_kvasir_seg_converts_every_image(shared_data):
    if not (shared_data / "kvasir-seg").is_dir():
        pytest.skip(f"no Kvasir-SEG copy in {shared_data}")
    start = time.perf_counter()
    rows, report = grounding_data.read("kvasir-seg", shared_data / "kvasir-seg")
    seconds = time.perf_counter() - start
    print(f"\n{report.summary()}\nconverted {report.rows} images in {seconds:.1f} s")
    assert (report.rows, report.boxes, report.n_skipped) == (1000, 1071, 0)
    assert len({r.id for r in rows}) == 1000 and max(len(r.boxes) for r in rows) == 10
    assert report.notes[DISAGREE] == 18
    assert report.notes["mask components under 16 pixels ignored"] == 143
