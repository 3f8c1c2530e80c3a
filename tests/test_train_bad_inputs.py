"""Bad input at training time: a clear error naming the row, or a counted skip in the summary; never a wrong reward.

- an image removed or corrupted after ``medloc data convert``: an error naming the row before any
  model is built, or with ``--skip-bad`` a skip counted in the run summary;
- a row with no boxes: an error naming the line (``medloc train``) or the batch row (the reward);
- a user's reward returning NaN / None next to medloc's: TRL sums rewards with ``nansum``, so
  medloc's reward and schedule are untouched; ``CheckedReward`` turns a NaN into an error naming the row;
- a 10 MB completion: scored 0 in milliseconds.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from medloc.app.cli import main
from medloc.curriculum import IoUCurriculum
from medloc.rewards import CheckedReward, make_format_reward

SIZE = 48


def write_rows(folder, count=4):
    """A unified jsonl of ``count`` rows with noise images (big enough to truncate); returns (file, image paths)."""
    rows, images = [], []
    for index in range(count):
        path = folder / f"img{index}.png"
        Image.fromarray(np.random.default_rng(index).integers(0, 255, (SIZE, SIZE), dtype=np.uint8)).save(path)
        images.append(path)
        rows.append({"image": path.name, "phrase": "the lesion", "boxes": [[4, 4, 20, 20]], "width": SIZE,
                     "height": SIZE, "source": "test", "id": f"r{index}"})
    file = folder / "rows.jsonl"
    file.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return file, images


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header still reads, the pixels do not


def train(rows_file, output_dir, *extra):
    return CliRunner().invoke(main, [
        "train", "--data", str(rows_file), "--no-warm-start", "--max-steps", "1", "--prompts-per-step", "1",
        "--num-generations", "2", "--heldout-rows", "1", "--eval-every", "0", "--max-completion-length", "4",
        "--output-dir", str(output_dir), "--quiet", *extra,
    ])


@pytest.fixture
def no_model(monkeypatch):
    import medloc.app.training

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was prepared before the data was checked")

    monkeypatch.setattr(medloc.app.training, "prepare_model", forbidden)


def test_image_corrupted_after_conversion_is_named_before_any_model(tmp_path, no_model):
    rows_file, images = write_rows(tmp_path)
    truncate(images[2])
    result = train(rows_file, tmp_path / "run")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {rows_file}, row id 'r2': unreadable image: {images[2]}")
    assert "truncated" in result.output and "Traceback" not in result.output


def test_image_removed_after_conversion_is_named_before_any_model(tmp_path, no_model):
    rows_file, images = write_rows(tmp_path)
    images[1].unlink()
    result = train(rows_file, tmp_path / "run")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {rows_file}, line 2: missing image")


def test_row_without_boxes_is_named_before_any_model(tmp_path, no_model):
    rows_file, _ = write_rows(tmp_path)
    lines = rows_file.read_text().splitlines()
    lines[3] = lines[3].replace('"boxes": [[4, 4, 20, 20]]', '"boxes": []')
    rows_file.write_text("\n".join(lines) + "\n")
    result = train(rows_file, tmp_path / "run")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {rows_file}, line 4:") and "boxes" in result.output


def test_reward_names_the_batch_row_without_boxes():
    curriculum = IoUCurriculum("fixed", threshold=0.5)
    with pytest.raises(ValueError, match=r"row 1: 'boxes' is empty"):
        curriculum.reward(["[0, 0, 5, 5]"] * 2, boxes=[[[0, 0, 5, 5]], []], width=[10] * 2, height=[10] * 2)


@pytest.mark.slow
def test_skip_bad_counts_unreadable_images_in_the_summary(tmp_path):
    rows_file, images = write_rows(tmp_path, count=5)
    images[0].unlink()  # caught while reading the rows
    truncate(images[3])  # caught by the full decode before training
    result = train(rows_file, tmp_path / "run", "--skip-bad")
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "  data: 3 rows kept, 2 skipped (missing image: 1, unreadable image: 1)" in result.output.splitlines()
    report = json.loads((tmp_path / "run" / "summary.json").read_text())["data_report"]
    assert report["rows"] == 3 and report["skipped"] == {"missing image": 1, "unreadable image": 1}


def nan_or_none(completions, **kwargs):
    """A user's reward with a bug (NaN) next to TRL's "no score for this row" (None)."""
    return [float("nan") if index % 2 else None for index in range(len(completions))]


@pytest.fixture
def trainer_with_user_reward(tmp_path):
    from trl import GRPOTrainer

    from medloc.builtin.tiny_model import build_tiny_vlm
    from tests.trl_support import grounding_dataset, grpo_config, iou_curriculum, strong_ious

    def build(user_reward):
        curriculum = iou_curriculum(strong_ious, "fixed", threshold=0.5)
        model, processor = build_tiny_vlm(seed=0)
        trainer = GRPOTrainer(model=model, processing_class=processor, reward_funcs=[user_reward, curriculum.reward],
                              args=grpo_config(tmp_path, max_steps=2), train_dataset=grounding_dataset(),
                              callbacks=[curriculum])
        return trainer, curriculum

    return build


@pytest.mark.slow
def test_trl_nansums_a_user_rewards_nan_and_none_so_medlocs_reward_is_intact(trainer_with_user_reward):
    trainer, curriculum = trainer_with_user_reward(nan_or_none)
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert len(logged) == 2
    for entry in logged:
        assert entry["rewards/iou_curriculum/mean"] == 1.0  # IoU 0.95 >= 0.5 for every completion
        assert entry["reward"] == 1.0  # the user's NaN / None added nothing: TRL's nansum
    assert curriculum.schedule.steps_taken == 2


@pytest.mark.slow
def test_checked_user_reward_names_the_row_that_returned_nan(trainer_with_user_reward):
    trainer, _ = trainer_with_user_reward(CheckedReward(nan_or_none))
    with pytest.raises(ValueError, match=r"reward 'nan_or_none' returned nan for row 1 of the batch; completion"):
        trainer.train()


def test_ten_megabyte_completions_score_zero_quickly():
    spam = "<answer>" + "[0, 0, 10, 10] " * 700_000 + "</answer>"  # 10.5 MB of correct boxes
    noise = "(" + "1" * 10_000_000  # a prefix the corner-pair pattern keeps trying
    curriculum = IoUCurriculum("fixed", threshold=0.5)
    started = time.perf_counter()
    rewards = curriculum.reward([spam, noise, "[0, 0, 10, 10]"], boxes=[[[0, 0, 10, 10]]] * 3, width=[64] * 3,
                                height=[64] * 3)
    formats = make_format_reward("none")([spam, noise])
    assert time.perf_counter() - started < 10  # about 0.1 s on 2 cores
    assert rewards == [0.0, 0.0, 1.0] and formats == [0.0, 0.0]
