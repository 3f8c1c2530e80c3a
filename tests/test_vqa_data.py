"""Question datasets in their released shapes (Med-R1 splits, OmniMedVQA QA files, graded jsonl) and the
synthetic question and grade tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grounding_data import DataError, formats, load_rows
from grounding_data.formats.med_r1 import Question, question_key, solution_letter, split_problem, tree_questions
from grounding_data.synthetic import difficulty, make_scene
from grounding_data.synthetic_questions import (
    BRIGHTNESS,
    COUNTS,
    QUADRANTS,
    SIZE_GRADES,
    VQA_KINDS,
    question_split,
    quadrant_of,
    size_grade,
    size_grade_descriptions,
)
from tests.data_fixtures import DRIMDB, STAGE, image, med_r1

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


def labels(rows: list[dict]) -> dict[str, tuple[str, str]]:
    """Each row's (modality, question type), by the folder of its image."""
    return {Path(row["image"]).parent.name: (row["modality"], row["question_type"]) for row in rows}


MR, OCT, CT = "MR (Magnetic Resonance Imaging)", "OCT (Optical Coherence Tomography)", "CT (Computed Tomography)"


def test_med_r1_reads_one_tree_and_takes_the_other_label_from_either_split_of_the_other_tree(tmp_path):
    splits = med_r1(tmp_path)
    images = tmp_path / "OmniMedVQA"
    test, report = load_rows("med-r1", splits, split="test", image_root=images)
    assert labels(test) == {"DRIMDB": ("Fundus Photography", "Lesion Grading"),
                            "Chest CT Scan": (CT, "Lesion Grading")}  # its question type is a training file's
    assert report.rows == 2 and report.n_skipped == 0 and not report.notes
    stage = next(row for row in test if row["answer"] == "A")
    assert stage["options"] == ["Stage Ib", "Stage IIIc", "Stage IIc", "Stage 0"] and stage["source"] == "med-r1"
    assert stage["question"] == "Identify the cancer stage depicted in this picture."
    assert Path(stage["image"]).is_file() and stage["id"] == "CT(Computed Tomography)_test-0"
    train, report = load_rows("med-r1", splits, split="train", image_root=images)
    assert labels(train) == {"BrainMRI": (MR, "Anatomy Identification"), "OCTID": (OCT, "unknown")}
    assert dict(report.notes) == {"questions without a question_type (unknown)": 1}
    by_question_type = {split: labels(load_rows("med-r1", splits, split=split, image_root=images,
                                                tree="question_type")[0]) for split in ("train", "test")}
    assert by_question_type == {"train": {"Chest CT Scan": (CT, "Lesion Grading")},
                                "test": {"DRIMDB": ("Fundus Photography", "Lesion Grading"),
                                         "BrainMRI": (MR, "Anatomy Identification")}}
    everything, _ = load_rows("med-r1", splits, image_root=images)
    assert len(everything) == 4  # the modality tree, both splits, each question once


def test_med_r1_root_inside_a_tree_reads_that_tree_with_both_labels(tmp_path):
    splits = med_r1(tmp_path)
    images = tmp_path / "OmniMedVQA"
    tree_folder, _ = load_rows("med-r1", splits / "question_type", split="test", image_root=images)
    assert labels(tree_folder) == {"DRIMDB": ("Fundus Photography", "Lesion Grading"),
                                   "BrainMRI": (MR, "Anatomy Identification")}
    one_file, _ = load_rows("med-r1", splits / "modality" / "train" / "MR (Mag-netic Resonance Imaging)_train.json",
                            image_root=images)
    assert labels(one_file) == {"BrainMRI": (MR, "Anatomy Identification")}
    alone = tmp_path / "mine" / "X-Ray_train.json"
    alone.parent.mkdir()
    alone.write_text((splits / "modality" / "test" / "Fundus Photography_test.json").read_text())
    assert labels(load_rows("med-r1", alone, image_root=images)[0]) == {"DRIMDB": ("X-Ray", "unknown")}
    assert labels(load_rows("med-r1", alone, image_root=images, tree="question_type")[0]) == {
        "DRIMDB": ("unknown", "X-Ray")}


def test_med_r1_tree_option_is_checked(tmp_path):
    with pytest.raises(ValueError, match=r"option tree must be one of \['modality', 'question_type'\], got 'organ'"):
        load_rows("med-r1", med_r1(tmp_path), split="test", tree="organ")


def test_med_r1_never_trains_on_a_test_question_of_the_tree(tmp_path):
    splits = med_r1(tmp_path)
    images = tmp_path / "OmniMedVQA"
    leak = splits / "modality" / "train" / "X-Ray_train.json"
    leak.write_text((splits / "modality" / "test" / "CT(Computed Tomography)_test.json").read_text())
    with pytest.raises(DataError) as error:
        load_rows("med-r1", splits, split="train", image_root=images)
    assert str(error.value) == (f"{leak}, item 1: test question in training: the same image and problem are in "
                                "the modality tree's test files")
    train, report = load_rows("med-r1", splits, split="train", image_root=images, skip_bad=True)
    assert sorted(labels(train)) == ["BrainMRI", "OCTID"] and dict(report.skipped) == {"test question in training": 1}
    test, _ = load_rows("med-r1", splits, split="test", image_root=images)
    assert sorted(labels(test)) == ["Chest CT Scan", "DRIMDB"]
    twice = splits / "modality" / "test" / "X-Ray_test.json"
    twice.write_text(leak.read_text())
    with pytest.raises(DataError, match=r"X-Ray_test\.json, item 1: duplicate question: the same image and problem as "
                                        r".*CT\(Computed Tomography\)_test\.json, item 1"):
        load_rows("med-r1", splits, split="test", image_root=images)


def test_med_r1_bad_items_name_file_and_item_or_are_skipped(tmp_path):
    splits = med_r1(tmp_path)
    bad = splits / "question_type" / "test" / "Disease Diagnosis_test.json"
    bad.write_text(json.dumps([
        {"image": "Images/DRIMDB/DRIMDB_1.png", "problem": STAGE, "solution": "<answer> E </answer>"},
        {"image": "Images/missing.png", "problem": STAGE, "solution": "<answer> B </answer>"},
        {"image": "Images/DRIMDB/DRIMDB_1.png", "problem": "No options here?", "solution": "A"},
    ]))
    options = {"split": "test", "image_root": tmp_path / "OmniMedVQA", "tree": "question_type"}
    with pytest.raises(DataError) as error:
        load_rows("med-r1", splits, **options)
    assert str(error.value) == f"{bad}, item 1: bad answer: '<answer> E </answer>' names none of options A-D"
    rows, report = load_rows("med-r1", splits, skip_bad=True, **options)
    assert len(rows) == 2
    assert dict(report.skipped) == {"bad answer": 1, "missing image": 1, "no options": 1}
    assert "item 2: missing image" in report.examples["missing image"][0]


def shared_med_r1(shared_data: Path) -> Path:
    splits = shared_data / "med-r1" / "Splits"
    if not splits.is_dir():
        pytest.skip(f"no {splits}")
    return splits


@pytest.mark.parametrize(("tree", "counts"), [
    ("modality", {"train": 45827, "test": 17662}),
    ("question_type", {"train": 26748, "test": 17919}),
])
def test_med_r1_real_splits_of_one_tree_share_no_question(shared_data, tree, counts):
    """The shared copy (25 of the 27 files): train and test of one tree are disjoint (the two trees'
    merged splits shared 14,507 questions)."""
    splits = shared_med_r1(shared_data)
    questions = {split: tree_questions(splits, split, tree) for split in ("train", "test")}
    assert all(isinstance(question, Question) for part in questions.values() for question in part)
    keys = {split: {question_key(question.item) for question in part} for split, part in questions.items()}
    assert {split: len(part) for split, part in questions.items()} == counts
    assert {split: len(part) for split, part in keys.items()} == counts
    assert not keys["train"] & keys["test"]
    names = {getattr(question, tree) for question in questions["test"]}
    assert not {"MR (Mag-netic Resonance Imaging)", "OCT (Optical Coherence Tomography", "ultrasound"} & names


def test_med_r1_real_test_rows_carry_the_other_tree_label_where_it_exists(shared_data):
    test = tree_questions(shared_med_r1(shared_data), "test")
    modalities = {question.modality for question in test}
    assert modalities == {MR, CT, OCT, "Ultrasound", "X-Ray", "Dermoscopy", "Microscopy Images", "Fundus Photography"}
    assert sum(question.question_type != "unknown" for question in test) == 8760  # 3,509 test + 5,251 train


def test_omnimedvqa_qa_files_load(tmp_path):
    mr = {"question": "Which organ?", "option_A": "Brain", "option_B": "Knee", "gt_answer": "Brain",
          "image_path": "Images/ACRIMA/Im553_g_ACRIMA.png", "modality_type": "MR (Mag-netic Resonance Imaging)"}
    rows, report = load_rows("omnimedvqa", omnimedvqa(tmp_path, [mr]))
    assert report.rows == 3
    first, second, third = rows
    assert third["modality"] == "MR (Magnetic Resonance Imaging)"  # the release's typo fixed, as in med-r1
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
    assert len({row["answer"] for row in question_split("vqa", "train", 30)}) >= 3  # letters vary with the scenes
    # options in a fixed order per kind (the tiny model cannot match a letter to shuffled option texts)
    kinds = {row["question_type"]: row["options"] for row in question_split("vqa", "heldout", 30, seed=5)}
    assert kinds == {"quadrant": list(QUADRANTS), "count": list(COUNTS), "brightness": list(BRIGHTNESS)}


def test_synthetic_size_grades_cover_0_to_3_and_match_the_descriptions():
    rows = question_split("grade", "heldout", 40, seed=0)
    assert {row["grade"] for row in rows} == {0, 1, 2, 3}
    assert all(row["grades"] == list(SIZE_GRADES) for row in rows)
    sides = (12, 18.9, 19, 26, 33, 40)
    assert [size_grade([0, 0, side, 5], difficulty("easy")) for side in sides] == [0, 0, 1, 2, 3, 3]
    assert size_grade_descriptions()["3"] == "the lesion spans more than 33 pixels"
    with pytest.raises(ValueError, match="task='grounding': synthetic questions exist for vqa, grade"):
        question_split("grounding", "train", 1)
