"""Bad data: a clear error naming file and row, or with skip_bad a skipped, counted row."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import grounding_data
from grounding_data import DataError
from medloc.app.cli import main
from tests import data_fixtures as fx

RSNA_HEADER = "patientId,x,y,width,height,Target\n"
GOOD = "00704310-78a8-4b38-8475-49f4573b2dbb,32.3,57.7,16.0,17.8,1\n"


def _rsna(tmp_path, bad_line: str):
    root = fx.rsna(tmp_path)
    fx.write(root / "stage_2_train_labels.csv", RSNA_HEADER + GOOD + bad_line)
    fx.image(root / "stage_2_train_images" / "p2.png", 102, 102)
    return root


@pytest.mark.parametrize("bad_line, reason", [
    ("p2,10,10,200,20,1\n", "box outside image"),
    ("p2,10,10,-5,20,1\n", "inverted box"),
    ("p2,10,10,0,20,1\n", "zero-area box"),
    ("p2,nan,10,5,20,1\n", "NaN coordinate"),
    ("p2,abc,10,5,20,1\n", "bad coordinate"),
    ("p3,10,10,5,5,1\n", "missing image"),
])
def test_bad_box_or_image_names_file_and_line(tmp_path, bad_line, reason):
    root = _rsna(tmp_path, bad_line)
    with pytest.raises(DataError, match=rf"stage_2_train_labels.csv, line 3: {reason}"):
        grounding_data.read("rsna", root)
    rows, report = grounding_data.read("rsna", root, skip_bad=True)
    assert len(rows) == 1 and dict(report.skipped) == {reason: 1}
    assert "line 3" in report.examples[reason][0]


def test_unreadable_image(tmp_path):
    root = _rsna(tmp_path, "p2,10,10,5,5,1\n")
    (root / "stage_2_train_images" / "p2.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"line 3: unreadable image"):
        grounding_data.read("rsna", root)


def test_clipping_only_when_asked_and_counted(tmp_path):
    root = _rsna(tmp_path, "p2,90,10,20,20,1\n")
    rows, report = grounding_data.read("rsna", root, clip_boxes=True)
    assert rows[1].boxes == [[90, 10, 102, 30]] and report.notes["boxes clipped to the image"] == 1


def test_wrong_columns_and_empty_files(tmp_path):
    fx.write(tmp_path / "stage_2_train_labels.csv", "patient,x,y,w,h,Target\np,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r"line 1: wrong columns: missing \['patientId', 'width', 'height'\]"):
        grounding_data.read("rsna", tmp_path)
    fx.write(tmp_path / "stage_2_train_labels.csv", "")
    with pytest.raises(DataError, match="stage_2_train_labels.csv: empty file"):
        grounding_data.read("rsna", tmp_path, skip_bad=True)
    fx.write(tmp_path / "stage_2_train_labels.csv", RSNA_HEADER)
    with pytest.raises(DataError, match="empty file: a header but no data rows"):
        grounding_data.read("rsna", tmp_path)


def test_chestx_ray8_wrong_header(tmp_path):
    root = fx.chestx_ray8(tmp_path)
    fx.write(root / "BBox_List_2017.csv", "Image Index,Finding Label,x,y,w,h\na.png,Mass,1,1,2,2\n")
    with pytest.raises(DataError, match=r"BBox_List_2017.csv, line 1: wrong columns"):
        grounding_data.read("chestx-ray8", root)


def test_one_bad_line_drops_its_whole_group(tmp_path):
    root = fx.ms_cxr(tmp_path)
    csv = root / "MS_CXR_Local_Alignment_v1.1.0.csv"
    csv.write_text(csv.read_text().replace(",60,22,20,18,", ",60,22,20,,"))
    with pytest.raises(DataError, match=r"line 3: bad coordinate: h=''"):
        grounding_data.read("ms-cxr", root)
    rows, report = grounding_data.read("ms-cxr", root, skip_bad=True)
    assert [r.phrase for r in rows] == ["enlarged heart", "right apical pneumothorax"]
    assert report.skipped["bad coordinate"] == 1


def test_vindr_finding_without_box_and_rsna_inconsistent_target(tmp_path):
    root = fx.vindr_kaggle(tmp_path / "v")
    (root / "train.csv").write_text((root / "train.csv").read_text() + "k1,Nodule/Mass,8,R9,,,,\n")
    with pytest.raises(DataError, match=r"train.csv, line 5: missing coordinates"):
        grounding_data.read("vindr-cxr", root)
    root = _rsna(tmp_path / "r", "00704310-78a8-4b38-8475-49f4573b2dbb,,,,,0\n")
    with pytest.raises(DataError, match=r"line 3: inconsistent Target"):
        grounding_data.read("rsna", root)


def test_vlm_r1_and_coco_bad_records(tmp_path):
    root = fx.vlm_r1(tmp_path / "v")
    jsonl = root / "rec.jsonl"
    jsonl.write_text(jsonl.read_text() + "{broken\n" + json.dumps(
        {"id": 9, "image": "train2014/COCO_1.jpg", "conversations": [
            {"from": "human", "value": "<image>x"}, {"from": "gpt", "value": "no box here"}]}) + "\n")
    rows, report = grounding_data.read("vlm-r1", jsonl, image_root=str(root / "images"), skip_bad=True)
    assert len(rows) == 3 and dict(report.skipped) == {"invalid JSON": 1, "no box in answer": 1}
    with pytest.raises(DataError, match=r"rec.jsonl, line 4: invalid JSON"):
        grounding_data.read("vlm-r1", jsonl, image_root=str(root / "images"))
    root = fx.coco(tmp_path / "c")
    ann = root / "annotations" / "instances_val.json"
    doc = json.loads(ann.read_text())
    doc["annotations"][0]["bbox"] = [60, 5, 10, 8]
    ann.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"instances_val.json, annotation id 10: box outside image"):
        grounding_data.read("coco", ann, image_root=str(root / "val"))
    del doc["categories"]
    ann.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"wrong columns: missing top-level keys \['categories'\]"):
        grounding_data.read("coco", ann, image_root=str(root / "val"))


def _jsonl(tmp_path, **changes):
    fx.image(tmp_path / "a.png", 40, 30)
    row = {"image": "a.png", "phrase": "Locate it.", "boxes": [[1, 2, 10, 20]], "width": 40, "height": 30,
           "source": "coco", "id": "1"}
    row.update(changes)
    return fx.write(tmp_path / "rows.jsonl", json.dumps(row) + "\n")


@pytest.mark.parametrize("changes, reason", [
    ({"boxes": [[1, 2, 50, 20]]}, "box outside image"),
    ({"boxes": [[10, 2, 1, 20]]}, "inverted box"),
    ({"boxes": [[1, 2, 1, 20]]}, "zero-area box"),
    ({"boxes": [[float("nan"), 2, 10, 20]]}, "NaN coordinate"),
    ({"image": "missing.png"}, "missing image"),
    ({"width": 41}, "image size mismatch"),
    ({"bbox": [[1, 2, 10, 20]]}, "wrong columns"),
])
def test_unified_jsonl_validation(tmp_path, changes, reason):
    path = _jsonl(tmp_path, **changes)
    with pytest.raises(DataError, match=rf"rows.jsonl, line 1: {reason}"):
        grounding_data.load_rows(str(path))
    rows, report = grounding_data.load_rows(str(path), skip_bad=True)
    assert rows == [] and report.skipped[reason] == 1


def test_unified_jsonl_relative_image_and_empty_file(tmp_path):
    rows, _ = grounding_data.load_rows(str(_jsonl(tmp_path)))
    assert rows[0].image == str(tmp_path / "a.png") and rows[0].boxes == [[1, 2, 10, 20]]
    fx.write(tmp_path / "empty.jsonl", "\n")
    with pytest.raises(DataError, match="empty.jsonl: empty file"):
        grounding_data.load_rows(str(tmp_path / "empty.jsonl"))


def test_load_rows_arguments(tmp_path):
    with pytest.raises(ValueError, match="pass root"):
        grounding_data.load_rows("rsna")
    with pytest.raises(ValueError, match="unknown option"):
        grounding_data.load_rows("rsna", root=str(tmp_path), colour="red")


def test_cli_errors_name_file_and_row_and_exit_nonzero(tmp_path):
    root = _rsna(tmp_path, "p2,10,10,200,20,1\n")
    out = tmp_path / "out.jsonl"
    args = ["data", "convert", "--format", "rsna", "--root", str(root), "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "stage_2_train_labels.csv, line 3: box outside image" in result.output
    assert not out.exists() and not (tmp_path / "out.jsonl.partial").exists()
    result = CliRunner().invoke(main, [*args, "--skip-bad"])
    assert result.exit_code == 0 and "skipped 1 rows" in result.output and "box outside image: 1" in result.output
    bad_option = CliRunner().invoke(main, [*args, "-o", "nonsense"])
    assert bad_option.exit_code == 2 and "KEY=VALUE" in bad_option.output


def test_cli_inspect_reports_problems_and_small_boxes(tmp_path):
    path = _jsonl(tmp_path)
    path.write_text(path.read_text() + path.read_text().replace('"a.png"', '"gone.png"'))
    result = CliRunner().invoke(main, ["data", "inspect", str(path)])
    assert result.exit_code == 0
    assert "rows: 1," in result.output and "missing image: 1 rows" in result.output
    assert "small boxes (< 1% of the image): 0" in result.output and "shorter side < 32 px: 1" in result.output


def test_cli_formats_lists_all():
    result = CliRunner().invoke(main, ["data", "formats"])
    assert result.exit_code == 0
    assert all(name in result.output for name in grounding_data.formats())
