"""medloc's EasyR1 reward function against EasyR1's call contracts (hiyouga/EasyR1 main, read 2026-12).

EasyR1 (``verl/trainer/main.py``) builds two ``AutoRewardManager`` Ray actors from the same
``config.worker.reward``: ``reward_fn`` for training and ``val_reward_fn`` for validation. Each
loads this file as module ``custom_reward_fn`` and calls ``partial(compute_score, **kwargs)(inputs)``.
Two actors are two module objects here (each load is a fresh module, as in a fresh process);
``checkpoint_state.OWNER`` is set per actor, as each process has its own.
"""

from __future__ import annotations

import importlib.util
import json
import time
from functools import partial

import pytest

import medloc.integrations.checkpoint_state as checkpoint_state
import medloc.integrations.easyr1 as easyr1
from medloc.integrations.easyr1 import ground_truth_json

BOX = [[0, 0, 10, 10]]
HIT, MISS = "[0, 0, 10, 10]", "[40, 40, 50, 50]"  # IoU 1 and 0 with BOX
STATE = "medloc_iou_curriculum.json"


def load_easyr1(**kwargs):
    """EasyR1's ``AutoRewardManager``: load the file as ``custom_reward_fn``, ``partial(fn, **kwargs)``."""
    spec = importlib.util.spec_from_file_location("custom_reward_fn", easyr1.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (module.REWARD_TYPE, module.REWARD_NAME) == ("batch", "medloc_iou_curriculum")
    return module, partial(module.compute_score, **kwargs)


def batch(responses_by_row: dict[str, list[str]], split: str = "train", order: list[int] | None = None,
          box=BOX, size=64) -> list[dict]:
    """``compute_reward_batch``'s inputs: ``response``, ``response_length``, ``ground_truth`` per response."""
    items = [{"response": text, "response_length": len(text),
              "ground_truth": ground_truth_json({"boxes": box, "width": size, "height": size, "id": row}, split)}
             for row, texts in responses_by_row.items() for text in texts]
    return [items[i] for i in order] if order else items


def save_checkpoint(folder, step):
    """What ``RayPPOTrainer._save_checkpoint`` leaves: ``global_step_N/actor`` and the tracker file."""
    (folder / f"global_step_{step}" / "actor").mkdir(parents=True, exist_ok=True)
    (folder / "checkpoint_tracker.json").write_text(json.dumps({"last_global_step": step, "best_global_step": None}))


def as_actor(monkeypatch, owner, started=False):
    """Act as the process ``owner``; ``started``: a process that starts now (a later run)."""
    monkeypatch.setattr(checkpoint_state, "OWNER", owner)
    if started:
        monkeypatch.setattr(checkpoint_state, "STARTED", time.time_ns())


def test_easyr1_steps_once_per_training_batch_with_groups_from_ground_truth(tmp_path):
    module, score = load_easyr1(schedule="adaptive", schedule_options={"window": 1}, checkpoint_dir=str(tmp_path))
    scores = score(batch({"r1": [HIT, HIT], "r2": [HIT, MISS]}, order=[0, 2, 1, 3]))  # balanced: interleaved
    assert [s["overall"] for s in scores] == [1.0, 1.0, 1.0, 0.0]
    assert {s["threshold"] for s in scores} == {0.3} and scores[0]["medloc/zero_variance_share"] == 0.5
    assert len({frozenset(s) for s in scores}) == 1  # EasyR1 averages each key over the batch
    assert module._CURRICULA["iou_curriculum"].driver.schedule.steps_taken == 1


def test_easyr1_validation_with_groups_never_steps_or_writes_the_state(tmp_path, monkeypatch):
    """``val_override_config.n > 1`` (pass@k): the validation actor sees groups. Before, it stepped its own
    copy and rewrote the state file, so a resume restored the validation actor's tau."""
    settings = dict(schedule="adaptive", schedule_options={"window": 1}, checkpoint_dir=str(tmp_path))
    as_actor(monkeypatch, "train-actor", started=True)
    train, train_score = load_easyr1(**settings)
    as_actor(monkeypatch, "val-actor")
    validation, validate = load_easyr1(**settings)
    validate(batch({"v1": [MISS, MISS], "v2": [MISS, MISS]}, split="val"))  # val_before_train, n = 2
    assert validation._CURRICULA["iou_curriculum"].driver.schedule.steps_taken == 0
    assert not (tmp_path / STATE).exists()
    as_actor(monkeypatch, "train-actor")
    train_score(batch({"r1": [HIT, HIT], "r2": [HIT, HIT]}))  # raise to 0.45
    as_actor(monkeypatch, "val-actor")
    scores = validate(batch({"v1": [MISS, MISS]}, split="val"))
    assert scores[0]["threshold"] == 0.45  # follows the training actor
    assert json.loads((tmp_path / STATE).read_text())["owner"] == "train-actor"
    assert validation._CURRICULA["iou_curriculum"].driver.schedule.steps_taken == 1


def test_easyr1_refuses_ground_truth_without_a_split_and_a_second_learner(tmp_path, monkeypatch):
    _, score = load_easyr1(checkpoint_dir=str(tmp_path))
    unsplit = [{"response": HIT, "response_length": 1, "ground_truth": json.dumps(
        {"boxes": BOX, "width": 64, "height": 64, "id": "r"})}] * 2
    with pytest.raises(ValueError, match="sample 0: ground truth has split None; write it with .*ground_truth_json"):
        score(unsplit)
    as_actor(monkeypatch, "val-actor", started=True)  # validation rows written with split="train" by mistake
    _, validate = load_easyr1(checkpoint_dir=str(tmp_path / "run"))
    validate(batch({"v1": [HIT, HIT]}))  # val_before_train: the validation actor learns first
    as_actor(monkeypatch, "train-actor")
    _, train = load_easyr1(checkpoint_dir=str(tmp_path / "run"))
    with pytest.raises(RuntimeError, match=r"another process \(val-actor\) is stepping the same schedule"):
        train(batch({"r1": [HIT, HIT]}))


def test_easyr1_needs_an_absolute_checkpoint_dir(tmp_path):
    _, score = load_easyr1()
    with pytest.raises(ValueError, match="checkpoint_dir is required"):
        score(batch({"r": [HIT, HIT]}))
    _, score = load_easyr1(checkpoint_dir="checkpoints/easy_r1/run1")  # relative to the actor's working dir
    with pytest.raises(ValueError, match="must be an absolute path"):
        score(batch({"r": [HIT, HIT]}))


def test_easyr1_saves_next_to_checkpoints_and_resumes_from_the_trackers_checkpoint(tmp_path):
    settings = dict(schedule="adaptive", schedule_options={"window": 1}, checkpoint_dir=str(tmp_path))
    train, score = load_easyr1(**settings)
    rows = batch({"r1": [HIT, HIT], "r2": [HIT, HIT]})
    score(rows)  # step 1
    save_checkpoint(tmp_path, 1)
    score(rows)  # step 2: first stamps checkpoint 1
    stamped = json.loads((tmp_path / "global_step_1" / STATE).read_text())["state"]
    assert (stamped["steps_taken"], stamped["threshold"]) == (1, 0.45)
    restarted, resume = load_easyr1(**settings)  # a new actor after a crash: find_last_checkpoint -> step 1
    resume(rows)
    assert restarted._CURRICULA["iou_curriculum"].driver.schedule.steps_taken == 2  # 1 restored + 1


def test_easyr1_resume_follows_find_last_checkpoint_and_load_checkpoint_path(tmp_path):
    """``RayPPOTrainer._load_checkpoint``: ``load_checkpoint_path`` if set, else ``find_latest_ckpt`` (the tracker)
    if ``find_last_checkpoint``, else a fresh start. Before: always the newest folder, stale stamps kept."""
    settings = dict(schedule="adaptive", schedule_options={"window": 1}, checkpoint_dir=str(tmp_path))
    _, score = load_easyr1(**settings)
    rows = batch({"r1": [HIT, HIT], "r2": [HIT, HIT]})
    for step in (1, 2, 3):
        score(rows)  # tau 0.45, 0.55, 0.65 after steps 1, 2, 3
        save_checkpoint(tmp_path, step)
    score(rows)  # stamps checkpoint 3
    older, resume = load_easyr1(**settings, resume_from=str(tmp_path / "global_step_1"))
    resume(rows)
    assert older._CURRICULA["iou_curriculum"].driver.schedule.steps_taken == 2  # 1 restored + 1
    assert not (tmp_path / "global_step_3" / STATE).exists()  # stale: the resumed run saves 2 and 3 again
    save_checkpoint(tmp_path, 2)  # the resumed run saves checkpoint 2 again
    resume(rows)
    assert json.loads((tmp_path / "global_step_2" / STATE).read_text())["state"]["steps_taken"] == 2
    fresh, start = load_easyr1(**settings, find_last_checkpoint=False)  # checkpoints exist, but not resumed
    start(rows)
    assert fresh._CURRICULA["iou_curriculum"].driver.schedule.steps_taken == 1  # from scratch, then one step


def test_easyr1_qwen_frame_is_easyr1s_resize_then_the_processors(tmp_path):
    """``RLHFDataset``'s ``process_image`` resizes into ``[data.min_pixels, data.max_pixels]`` before the processor,
    whose own limits come from the model's preprocessor config (``processor=`` the model path)."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

    model = tmp_path / "model"
    Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056).save_pretrained(model)
    settings = dict(frame="qwen2.5-vl", schedule="fixed", schedule_options={"threshold": 0.5},
                    checkpoint_dir=str(tmp_path / "ckpt"), processor=str(model), min_pixels=262144,
                    max_pixels=4194304)
    _, score = load_easyr1(**settings)
    # a 3000 x 3000 image: EasyR1 shrinks it to 2048 x 2048, the processor to 2044 x 2044
    scores = score(batch({"r": ["[0, 0, 2044, 2044]", "no box"]}, box=[[0, 0, 3000, 3000]], size=3000))
    assert [s["iou"] for s in scores] == [1.0, 0.0]
    _, score = load_easyr1(**{**settings, "name": "no-data-limits", "min_pixels": None})
    with pytest.raises(ValueError, match=r"needs \['min_pixels'\] \(EasyR1's data.min_pixels"):
        score(batch({"r": [HIT, HIT]}))
    _, score = load_easyr1(**{**settings, "name": "no-processor", "processor": None})
    with pytest.raises(ValueError, match="give processor=model_path"):
        score(batch({"r": [HIT, HIT]}))


def test_easyr1_refuses_bad_input_naming_it(tmp_path):
    _, score = load_easyr1(checkpoint_dir=str(tmp_path))
    good = batch({"r": [HIT]})[0]
    with pytest.raises(ValueError, match="sample 1: ground truth '3,4' is not JSON"):
        score([good, {"response": HIT, "response_length": 1, "ground_truth": "3,4"}])
    with pytest.raises(ValueError, match="format_weight must be in \\[0, 1\\]"):
        score([good], format_weight=2.0)
    with pytest.raises(ValueError, match="split must be one of"):
        ground_truth_json({"boxes": BOX, "width": 8, "height": 8}, "test")
