"""Scoring known predictions, and ``medloc eval`` on known answers."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from click.testing import CliRunner

import medloc.evaluation
from medloc.app.cli import main
from medloc.app.run_data import evaluation_rows
from medloc.evaluation import score_answers
from medloc.tasks import get_task
from tests.data_fixtures import image, write

ROWS = [{"id": f"r{i}", "boxes": [[0, 0, 50, 50]], "width": 100, "height": 100} for i in range(4)]
ANSWERS = [
    "<answer>[0,0,50,50]</answer>",  # IoU 1.0
    "<answer>[0,0,50,40]</answer>",  # IoU 0.8
    "<answer>[0,0,25,50]</answer>",  # IoU 0.5
    "no box here",  # invalid
]


def test_known_predictions_give_the_paper_metrics():
    result = score_answers(ANSWERS, ROWS, "pixels")
    assert result.ious == pytest.approx([1.0, 0.8, 0.5, 0.0])
    assert result.valid == [True, True, True, False]
    metrics = result.metrics
    assert metrics["A@0.5"] == 0.75
    assert metrics["A@0.8"] == 0.5
    # A@t for t = 0.50..0.95: 1.0 passes 10, 0.8 passes 7 (0.50..0.80), 0.5 passes 1 -> 18 / 40
    assert metrics["pseudo_mAP"] == pytest.approx(18 / 40)
    assert metrics["mIoU"] == pytest.approx(2.3 / 4)
    assert metrics["format_valid_rate"] == 0.75


def test_grid_frame_answers_are_mapped_to_pixels():
    rows = [{"boxes": [[0, 0, 50, 50]], "width": 200, "height": 200}]
    assert score_answers(["[0,0,25,25]"], rows, "grid-100").ious == [1.0]


def test_eval_command_prints_and_writes_metrics(monkeypatch, tmp_path):
    class Stub:
        config = type("Config", (), {"model_type": "qwen2_vl"})()

    monkeypatch.setattr("transformers.AutoModelForImageTextToText.from_pretrained", lambda *a, **k: Stub())
    monkeypatch.setattr("transformers.AutoProcessor.from_pretrained", lambda *a, **k: Stub())
    monkeypatch.setattr(medloc.evaluation, "generate_answers", lambda *a, **k: ANSWERS)
    data = tmp_path / "rows.jsonl"
    image = tmp_path / "img.png"
    from PIL import Image

    Image.new("L", (100, 100)).save(image)
    data.write_text("".join(json.dumps({**row, "image": str(image), "phrase": "the lesion", "source": "test"}) + "\n"
                            for row in ROWS))
    report = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["eval", "--model", "stub", "--data", str(data), "--frame", "pixels",
                                       "--json", str(report)])
    assert result.exit_code == 0, result.output
    assert "A@0.5              0.7500" in result.output
    assert "pseudo-mAP         0.4500" in result.output
    payload = json.loads(report.read_text())
    assert [row["valid"] for row in payload["rows"]] == [True, True, True, False]


def test_eval_command_names_a_bad_data_argument():
    result = CliRunner().invoke(main, ["eval", "--model", "x", "--data", "nope.jsonl"])
    assert result.exit_code == 2
    assert "--data: --task grounding reads 'synthetic', an existing unified jsonl file or a grounding format" in (
        result.output)


def test_eval_rows_are_drawn_across_the_whole_split_with_the_seed(tmp_path):
    """Med-R1's test split is grouped by file (its first rows are all CT): --rows 12 of 4 files x 10 rows
    covers every modality (the first 12 rows would be 10 CT and 2 dermoscopy)."""
    image(tmp_path / "Images" / "scan.png", 16, 16)
    for name in ["CT(Computed Tomography)", "Dermoscopy", "Fundus Photography", "X-Ray"]:
        items = [{"image": "Images/scan.png", "problem": f"{name} question {i}? A)yes, B)no", "solution": "A"}
                 for i in range(10)]
        write(tmp_path / "Splits" / "modality" / "test" / f"{name}_test.json", json.dumps(items))
    options = {"split": "test", "image_root": str(tmp_path)}

    def sample(count: int, seed: int = 0) -> list[dict]:
        return evaluation_rows(get_task("vqa"), "med-r1", str(tmp_path / "Splits"), options, False, count, seed=seed)

    rows = sample(12)
    assert Counter(row["modality"] for row in rows) == {
        "CT (Computed Tomography)": 5, "Dermoscopy": 3, "Fundus Photography": 2, "X-Ray": 2}
    assert [row["id"] for row in rows] == [row["id"] for row in sample(12)]  # the seed decides
    assert [len({row["modality"] for row in sample(12, seed)}) for seed in (1, 2, 3)] == [4, 4, 4]
    assert [row["id"] for row in sample(12, 1)] != [row["id"] for row in rows]
    assert len(sample(100)) == 40
