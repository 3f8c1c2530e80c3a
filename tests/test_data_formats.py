"""Each adapter on a fixture in the released format: rows, grouping, no-finding counts,
round trip through unified jsonl into training rows, and `medloc data inspect`."""

from __future__ import annotations

from pathlib import Path

from tests import data_fixtures as fx
import pytest
from click.testing import CliRunner

import grounding_data
from grounding_data import DataError
from medloc.app.cli import main


def _coco(tmp: Path) -> tuple[Path, dict]:
    root = fx.coco(tmp)
    return root, {"annotations": "annotations/instances_val.json", "image_root": str(root / "val")}


def _vlm(tmp: Path) -> tuple[Path, dict]:
    root = fx.vlm_r1(tmp)
    return root / "rec.jsonl", {"image_root": str(root / "images")}


FIXTURES = {
    "ham10000": lambda t: (fx.ham10000(t), {}),
    "tn3k": lambda t: (fx.tn3k(t), {}),
    "kvasir-seg": lambda t: (fx.kvasir_seg(t), {}),
    "ms-cxr": lambda t: (fx.ms_cxr(t), {}),
    "chestx-ray8": lambda t: (fx.chestx_ray8(t), {}),
    "vindr-cxr": lambda t: (fx.vindr_physionet(t), {}),
    "rsna": lambda t: (fx.rsna(t), {}),
    "vlm-r1": _vlm,
    "coco": _coco,
}


def test_every_format_has_a_fixture():
    assert sorted(grounding_data.formats("grounding")) == sorted(FIXTURES)  # question formats: test_vqa_data.py


@pytest.mark.parametrize("fmt", list(FIXTURES))
def test_round_trip_into_training_rows_and_inspect(fmt, tmp_path):
    root, options = FIXTURES[fmt](tmp_path / "data")
    rows, report = grounding_data.read(fmt, root, **options)
    assert rows and report.rows == len(rows) and report.n_skipped == 0
    out = tmp_path / "rows.jsonl"
    cli_options = [a for k, v in options.items() for a in ("-o", f"{k}={v}")]
    result = CliRunner().invoke(main, ["data", "convert", "--format", fmt, "--root", str(root), "--out", str(out),
                                       *cli_options])
    assert result.exit_code == 0, result.output
    assert f"wrote {len(rows)} rows" in result.output
    loaded, _ = grounding_data.load_rows(str(out))
    assert loaded == rows
    assert grounding_data.load_rows(fmt, root=str(root), **options)[0] == rows
    inspected = CliRunner().invoke(main, ["data", "inspect", str(out)])
    assert inspected.exit_code == 0, inspected.output
    assert f"rows: {len(rows)}," in inspected.output and "box area / image area" in inspected.output
    assert "none found" in inspected.output


def test_ham10000_boxes_from_png_masks(tmp_path):
    rows, report = grounding_data.read("ham10000", fx.ham10000(tmp_path))
    assert [r.boxes for r in rows] == [[[10, 5, 30, 25]], [[5, 5, 50, 40]]]
    assert rows[0].phrase == "Locate the skin lesion." and (rows[0].width, rows[0].height) == (60, 45)
    assert report.notes["masks with several components (one enclosing box)"] == 1
    each, _ = grounding_data.read("ham10000", tmp_path, components="each", use_dx=True, template="Find the {label}.")
    assert each[1].boxes == [[5, 5, 15, 15], [40, 30, 50, 40]] and each[1].phrase == "Find the melanoma."


def test_ham10000_empty_mask_is_reported(tmp_path):
    root = fx.ham10000(tmp_path)
    fx.mask(root / "HAM10000_segmentations_lesion_tschandl" / "ISIC_0026769_segmentation.png", 60, 45, [])
    with pytest.raises(DataError, match=r"ISIC_0026769_segmentation.png, ISIC_0026769: empty mask"):
        grounding_data.read("ham10000", root)
    rows, report = grounding_data.read("ham10000", root, skip_bad=True)
    assert len(rows) == 1 and report.skipped["empty mask"] == 1


def test_tn3k_jpeg_masks_thresholded_and_split(tmp_path):
    root = fx.tn3k(tmp_path)
    rows, _ = grounding_data.read("tn3k", root, split="test")
    assert [(r.id, r.boxes) for r in rows] == [("test/0000", [[8, 8, 40, 30]])]
    assert rows[0].phrase == "Locate the thyroid nodule."
    assert grounding_data.read("tn3k", root, threshold=256, skip_bad=True)[1].skipped["empty mask"] == 3
    with pytest.raises(ValueError, match="splits"):
        grounding_data.read("tn3k", root, split="train")


def test_tn3k_missing_mask(tmp_path):
    root = fx.tn3k(tmp_path)
    (root / "test-mask" / "0000.jpg").unlink()
    with pytest.raises(DataError, match="missing mask"):
        grounding_data.read("tn3k", root, split="test")


def test_ms_cxr_groups_lines_sharing_dicom_and_phrase(tmp_path):
    rows, _ = grounding_data.read("ms-cxr", fx.ms_cxr(tmp_path))
    first = rows[0]
    assert first.phrase == "left basilar opacity" and first.boxes == [[10, 20, 40, 35], [60, 22, 80, 40]]
    assert [r.id for r in rows] == ["d1#0", "d1#1", "d2#0"]
    assert [r.id for r in grounding_data.read("ms-cxr", tmp_path, split="test")[0]] == ["d2#0"]


def test_ms_cxr_image_size_must_match_csv(tmp_path):
    root = fx.ms_cxr(tmp_path)
    fx.image(root / "files/p11/p11000011/s51029426/d2.jpg", 81, 90)
    with pytest.raises(DataError, match=r"line 5: image size mismatch: .* is 81x90, annotation says 80x90"):
        grounding_data.read("ms-cxr", root)


def test_chestx_ray8_header_with_spread_box_columns(tmp_path):
    rows, _ = grounding_data.read("chestx-ray8", fx.chestx_ray8(tmp_path))
    assert [r.id for r in rows] == ["00013118_008.png/Atelectasis", "00014716_007.png/Atelectasis",
                                    "00014716_007.png/Nodule"]
    assert rows[0].phrase == "Locate the Atelectasis." and len(rows[0].boxes) == 2
    assert rows[0].boxes[0] == pytest.approx([22.508, 54.701, 22.508 + 8.677, 54.701 + 7.918])
    assert [r.id for r in grounding_data.read("chestx-ray8", tmp_path, split="test")[0]] == [rows[0].id]


def test_vindr_radiologist_modes(tmp_path):
    root = fx.vindr_physionet(tmp_path)
    merged, report = grounding_data.read("vindr-cxr", root)
    assert merged[0].boxes == [[51, 21, 71, 41]]  # three readers fused into their mean
    assert merged[1].boxes == [[10, 60, 20, 70], [80, 80, 90, 90]]  # different lesions kept apart
    assert report.notes["boxes merged across radiologists"] == 2
    assert report.notes["no finding lines (not grounding rows)"] == 1
    pooled, _ = grounding_data.read("vindr-cxr", root, radiologists="pool")
    assert len(pooled[0].boxes) == 3
    each, _ = grounding_data.read("vindr-cxr", root, radiologists="each")
    assert [r.id for r in each][:3] == ["a1/Aortic enlargement/R8", "a1/Aortic enlargement/R9",
                                        "a1/Aortic enlargement/R10"]


def test_vindr_kaggle_variant_detected_by_header(tmp_path):
    rows, report = grounding_data.read("vindr-cxr", fx.vindr_kaggle(tmp_path))
    assert report.notes["read train.csv as the Kaggle variant"] == 1
    assert rows[0].boxes == [[30.5, 50.5, 90.5, 80.5]] and rows[0].phrase == "Locate the Cardiomegaly."


def test_vindr_file_named_dicom_that_is_not_dicom_is_unreadable(tmp_path):
    root = fx.vindr_kaggle(tmp_path)
    (root / "train" / "k1.png").rename(root / "train" / "k1.dicom")  # real DICOMs: tests/test_dicom.py
    with pytest.raises(DataError, match=r"train.csv, line 3: unreadable image: .*k1.dicom is not a readable DICOM"):
        grounding_data.read("vindr-cxr", root)


def test_rsna_groups_patient_and_counts_negatives(tmp_path):
    rows, report = grounding_data.read("rsna", fx.rsna(tmp_path), template="Where is the {label}?")
    assert [len(r.boxes) for r in rows] == [2, 1] and rows[0].phrase == "Where is the lung opacity?"
    assert report.notes["no finding patients (Target 0, not grounding rows)"] == 1


def test_vlm_r1_box_formats(tmp_path):
    root = fx.vlm_r1(tmp_path)
    rows, report = grounding_data.read("vlm-r1", root / "rec.jsonl", image_root=str(root / "images"))
    assert rows[0].phrase == "Please provide the bounding box of: man on the left"
    assert rows[1].phrase == "the dog" and rows[1].boxes == [[5, 6, 25, 30]]
    assert rows[2].boxes == [[5, 8, 15, 16], [25, 20, 30, 28]]  # grid-1000 on a 50x40 image
    assert report.notes["Qwen2-VL <|box_start|> boxes converted from 0..1000 to pixels"] == 2


def test_coco_xywh_category_phrases_and_crowd(tmp_path):
    root, options = _coco(tmp_path)
    rows, report = grounding_data.read("coco", root, **options)
    assert [(r.phrase, r.boxes) for r in rows] == [
        ("Locate the nodule.", [[4.5, 5, 14.5, 13], [30, 20, 42, 30]]), ("Locate the polyp.", [[1, 1, 6, 6]])]
    assert report.notes["crowd annotations skipped"] == 1 and report.notes["images without annotations"] == 1
    assert len(grounding_data.read("coco", root, include_crowd=True, **options)[0][1].boxes) == 2
