"""Question datasets in their released shapes (Med-R1 splits, OmniMedVQA QA files, graded jsonl) and the
synthetic question and grade tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grounding_data import DataError, formats, load_rows
from grounding_data.formats.med_r1 import solution_letter, split_problem
from grounding_data.synthetic import difficulty, make_scene
from grounding_data.synthetic_questions import (
    SIZE_GRADES,
    VQA_KINDS,
    question_split,
    quadrant_of,
    size_grade,
    size_grade_descriptions,
)
from tests.data_fixtures import image

DRIMDB = ("What is the quality of the retinal image? A)It's a good retinal image., B)It's a outlier retinal image., "
          "C)it's a bad retinal image.")
STAGE = "Identify the cancer stage depicted in this picture. A)Stage Ib, B)Stage IIIc, C)Stage IIc, D)Stage 0"


def med_r1(root: Path) -> Path:
    """Med-R1's layout: Splits/{modality,question_type}/{train,test}/<name>_<split>.json, images under the
    OmniMedVQA folder; the DRIMDB item is in both trees."""
    omni = root / "OmniMedVQA"
    image(omni / "Images" / "DRIMDB" / "drimdb_bad (24).jpg", 32, 32)
    image(omni / "Images" / "Chest CT Scan" / "000137 (2).png", 32, 32)
    splits = root / "Splits"
    drimdb = {"image": "Images/DRIMDB/drimdb_bad (24).jpg", "problem": DRIMDB, "solution": "<answer> C </answer>"}
    stage = {"image": "Images/Chest CT Scan/000137 (2).png", "problem": STAGE, "solution": "<answer> A </answer>"}
    files = {
        splits / "modality" / "test" / "Fundus Photography_test.json": [drimdb],
        splits / "modality" / "test" / "CT(Computed Tomography)_test.json": [stage],
        splits / "question_type" / "test" / "Lesion Grading_test.json": [drimdb, stage],
        splits / "modality" / "train" / "Fundus Photography_train.json": [drimdb],
    }
    for path, items in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(items, indent=4))
    return splits


def omnimedvqa(root: Path, extra: list[dict] | None = None) -> Path:
    """OmniMedVQA's layout: QA_information/Open-access/<dataset>.json next to Images/."""
    image(root / "Images" / "ACRIMA" / "Im553_g_ACRIMA.png", 32, 32)
    items = [
        {"dataset": "ACRIMA", "question_id": "ACRIMA_0000", "question_type": "Disease Diagnosis",
         "question": "Is any abnormality evident in this image?", "gt_answer": "Glaucoma",
         "image_path": "Images/ACRIMA/Im553_g_ACRIMA.png", "option_A": "No, It's normal.", "option_B": "Glaucoma",
         "modality_type": "Fundus Photography"},
        {"dataset": "ACRIMA", "question_id": "ACRIMA_0001", "question_type": "Modality Recognition",
         "question": "What imaging modality is used?", "gt_answer": "Fundus photography",
         "image_path": "Images/ACRIMA/Im553_g_ACRIMA.png", "option_A": "CT", "option_B": "MR",
         "option_C": "Fundus photography", "option_D": "X-ray", "modality": "Fundus Photography"},
        *(extra or []),
    ]
    path = root / "QA_information" / "Open-access" / "ACRIMA.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items, indent=4))
    return root


def test_split_problem_and_solution_letter():
    assert split_problem(DRIMDB) == ("What is the quality of the retinal image?",
                                     ["It's a good retinal image.", "It's a outlier retinal image.",
                                      "it's a bad retinal image."])
    assert split_problem("Which one?\n(A) yes\n(B) no") == ("Which one?", ["yes", "no"])
    with pytest.raises(ValueError, match="no options 'A\\)', 'B\\)'"):
        split_problem("What is shown? A)only one option")
    assert [solution_letter(s, 3) for s in ("<answer> C </answer>", "B", "(A)", "<answer> D </answer>", "C D")] == [
        "C", "B", "A", None, None]


def test_med_r1_splits_load_with_modality_and_question_type_merged(tmp_path):
    splits = med_r1(tmp_path)
    rows, report = load_rows("med-r1", splits, split="test", image_root=tmp_path / "OmniMedVQA")
    assert report.rows == 2 and report.n_skipped == 0
    by_answer = {row["answer"]: row for row in rows}
    drimdb, stage = by_answer["C"], by_answer["A"]
    assert drimdb["question"] == "What is the quality of the retinal image?"
    assert drimdb["options"][2] == "it's a bad retinal image."
    assert (drimdb["modality"], drimdb["question_type"]) == ("Fundus Photography", "Lesion Grading")
    assert (stage["modality"], stage["question_type"]) == ("CT(Computed Tomography)", "Lesion Grading")
    assert stage["options"] == ["Stage Ib", "Stage IIIc", "Stage IIc", "Stage 0"]
    assert Path(stage["image"]).is_file() and stage["source"] == "med-r1"
    one_file, _ = load_rows("med-r1", splits / "modality" / "train" / "Fundus Photography_train.json",
                                 image_root=tmp_path / "OmniMedVQA")
    assert [(row["modality"], row["question_type"]) for row in one_file] == [("Fundus Photography", "unknown")]


def test_med_r1_bad_items_name_file_and_item_or_are_skipped(tmp_path):
    splits = med_r1(tmp_path)
    bad = splits / "question_type" / "test" / "Disease Diagnosis_test.json"
    bad.write_text(json.dumps([
        {"image": "Images/DRIMDB/drimdb_bad (24).jpg", "problem": DRIMDB, "solution": "<answer> E </answer>"},
        {"image": "Images/missing.png", "problem": STAGE, "solution": "<answer> B </answer>"},
        {"image": "Images/DRIMDB/drimdb_bad (24).jpg", "problem": "No options here?", "solution": "A"},
    ]))
    with pytest.raises(DataError) as error:
        load_rows("med-r1", splits, split="test", image_root=tmp_path / "OmniMedVQA")
    assert str(error.value) == (f"{bad}, item 1: bad answer: '<answer> E </answer>' names none of options A-C")
    rows, report = load_rows("med-r1", splits, split="test", image_root=tmp_path / "OmniMedVQA", skip_bad=True)
    assert len(rows) == 2
    assert dict(report.skipped) == {"bad answer": 1, "missing image": 1, "no options": 1}
    assert "item 2: missing image" in report.examples["missing image"][0]


def test_omnimedvqa_qa_files_load(tmp_path):
    rows, report = load_rows("omnimedvqa", omnimedvqa(tmp_path))
    assert report.rows == 2
    first, second = rows
    assert first["options"] == ["No, It's normal.", "Glaucoma"] and first["answer"] == "B"
    assert (first["modality"], first["question_type"], first["id"]) == (
        "Fundus Photography", "Disease Diagnosis", "ACRIMA_0000")
    assert second["answer"] == "C" and second["modality"] == "Fundus Photography"  # the 'modality' key variant
    assert first["image"] == str(tmp_path / "Images" / "ACRIMA" / "Im553_g_ACRIMA.png")


def test_omnimedvqa_answer_outside_the_options_is_an_error(tmp_path):
    wrong = {"question_id": "X", "question": "Q?", "gt_answer": "Cataract", "option_A": "Glaucoma", "option_B": "AMD",
             "image_path": "Images/ACRIMA/Im553_g_ACRIMA.png", "modality_type": "Fundus", "question_type": "Dx"}
    root = omnimedvqa(tmp_path, [wrong])
    with pytest.raises(DataError, match=r"ACRIMA\.json, item 3: bad answer: gt_answer 'Cataract' is none of"):
        load_rows("omnimedvqa", root)
    rows, report = load_rows("omnimedvqa", root, skip_bad=True)
    assert len(rows) == 2 and report.skipped["bad answer"] == 1


def test_graded_jsonl_loads_labels_and_names_bad_lines(tmp_path):
    image(tmp_path / "a.png", 16, 16)
    file = tmp_path / "grades.jsonl"
    file.write_text('{"image": "a.png", "grade": "moderate", "modality": "Fundus"}\n\n'
                    '{"image": "a.png", "grade": "extreme"}\n{"image": "a.png"}\n')
    grades = ["none", "mild", "moderate", "severe"]
    with pytest.raises(DataError, match=r"grades\.jsonl, line 3: bad grade: 'extreme' is not one of the grades"):
        load_rows("graded-jsonl", file, grades=grades)
    rows, report = load_rows("graded-jsonl", file, grades="none, mild, moderate, severe", skip_bad=True)
    assert [(row["grade"], row["grades"], row["modality"]) for row in rows] == [(2, grades, "Fundus")]
    assert dict(report.skipped) == {"bad grade": 1, "missing field": 1}
    with pytest.raises(ValueError, match="graded-jsonl needs the grade labels in order"):
        load_rows("graded-jsonl", file)


def test_loader_errors_name_the_problem(tmp_path):
    assert formats("vqa") + formats("grade") == ["med-r1", "omnimedvqa", "graded-jsonl"]
    with pytest.raises(ValueError, match="'vqa-rad' is not a format name .* so it is read as a unified jsonl file"):
        load_rows("vqa-rad", tmp_path)
    with pytest.raises(ValueError, match=r"format med-r1 has splits \['train', 'test'\], not 'val'"):
        load_rows("med-r1", tmp_path, split="val")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['grades'\] for format omnimedvqa; it accepts \['image_root'\]"):
        load_rows("omnimedvqa", tmp_path, grades=["a"])
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(DataError, match="broken.json: unreadable file"):
        load_rows("omnimedvqa", tmp_path)
    (tmp_path / "broken.json").write_text('{"question": "a dict, not a list"}')
    with pytest.raises(DataError, match="broken.json: not a list: expected a json list of questions, got dict"):
        load_rows("omnimedvqa", tmp_path)


def test_synthetic_vqa_rows_are_deterministic_and_answered_by_the_scene():
    rows = question_split("vqa", "train", 9, seed=3)
    again = question_split("vqa", "train", 9, seed=3)
    assert [(r["question"], r["options"], r["answer"]) for r in rows] == [
        (r["question"], r["options"], r["answer"]) for r in again]
    assert [row["question_type"] for row in rows] == list(VQA_KINDS) * 3
    config = difficulty("easy")
    for index, row in enumerate(rows):
        chosen = row["options"][ord(row["answer"]) - ord("A")]
        if row["question_type"] == "quadrant":
            scene = make_scene(config, "train", 3, index)
            assert chosen == quadrant_of(scene.target_box, *scene.image.size)
        elif row["question_type"] == "count":
            assert chosen in ("1", "2", "3")
    counts = {row["options"][ord(row["answer"]) - ord("A")] for row in question_split("vqa", "train", 60)
              if row["question_type"] == "count"}
    assert counts == {"1", "2", "3"}
    assert len({row["answer"] for row in question_split("vqa", "train", 30)}) >= 3  # letters vary with the shuffle


def test_synthetic_size_grades_cover_0_to_3_and_match_the_descriptions():
    rows = question_split("grade", "heldout", 40, seed=0)
    assert {row["grade"] for row in rows} == {0, 1, 2, 3}
    assert all(row["grades"] == list(SIZE_GRADES) for row in rows)
    sides = (12, 18.9, 19, 26, 33, 40)
    assert [size_grade([0, 0, side, 5], difficulty("easy")) for side in sides] == [0, 0, 1, 2, 3, 3]
    assert size_grade_descriptions()["3"] == "the lesion spans more than 33 pixels"
    with pytest.raises(ValueError, match="task='grounding': synthetic questions exist for vqa, grade"):
        question_split("grounding", "train", 1)
