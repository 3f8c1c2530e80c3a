"""medloc's verl reward manager against verl 0.9.1's call contracts (read from the installed release).

verl 0.9.1's ``main_ppo`` runs the v1 trainer (``trainer/ppo/v1``): the trainer assigns
``global_steps`` to every batch it dispatches (training in ``_fetch_gen_batch``, validation in
``_validate``); the agent loop copies the prompt's fields, ``global_steps`` among them, into the
one-sample ``DataProto`` its reward-loop worker hands ``RewardManagerBase.run_single``
(``AgentLoopWorker._compute_score``); ``RewardLoopManager.compute_rm_score`` takes the
``reward_extra_info`` keys from the first sample for every sample.
"""

from __future__ import annotations

import asyncio
import json
import sys
import types

import pytest
import torch

from medloc.integrations.schedule_driver import ground_truth_json
from medloc.integrations.verl_reward import GroupCollector, MedlocRewardManager

BOX = [[0, 0, 10, 10]]
HIT, MISS = "[0, 0, 10, 10]", "[40, 40, 50, 50]"  # IoU 1 and 0 with BOX


class Config(dict):
    """An OmegaConf-like view: attribute access and ``.get``."""

    def __getattr__(self, key):
        try:
            value = self[key]
        except KeyError:
            raise AttributeError(key) from None
        return Config(value) if isinstance(value, dict) else value

    def get(self, key, default=None):
        value = super().get(key, default)
        return Config(value) if isinstance(value, dict) else value


def verl_config(tmp_path, train_batch_size=2, gen_batch_size=None, **reward_kwargs):
    return Config({
        "reward": {"num_workers": 1, "custom_reward_function": {"path": None, "reward_kwargs": reward_kwargs}},
        "data": {"train_batch_size": train_batch_size, "gen_batch_size": gen_batch_size},
        "actor_rollout_ref": {"rollout": {"n": 2}, "model": {"path": str(tmp_path / "model")}},
        "algorithm": {"filter_groups": {"enable": False}},
        "trainer": {"default_local_dir": str(tmp_path), "resume_mode": "auto", "resume_from_path": None,
                    "v1": {"trainer_mode": "sync"}},
    })


class CharTokenizer:
    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(int(i)) for i in ids)


class Item:
    def __init__(self, batch, non_tensor_batch):
        self.batch, self.non_tensor_batch = batch, non_tensor_batch


class OneSample:
    """What ``AgentLoopWorker._compute_score`` hands ``run_single``: a one-sample DataProto (``data[-1]`` an item)
    whose non-tensor fields are the prompt's (``uid``, ``extra_info``, ``reward_model``, ``global_steps``)."""

    def __init__(self, text, uid, split="train", global_steps=None, box=BOX, size=64):
        prompt, response = torch.tensor([1, 2, 3]), torch.tensor([ord(c) for c in text] + [0, 0])
        fields = {"uid": uid, "data_source": "medloc", "extra_info": {"split": split} if split else {},
                  "reward_model": {"ground_truth": ground_truth_json(
                      {"boxes": box, "width": size, "height": size, "id": uid})}}
        if global_steps is not None:
            fields["global_steps"] = global_steps
        self.item = Item({"prompts": prompt, "responses": response,
                          "attention_mask": torch.tensor([1, 1, 1] + [1] * len(text) + [0, 0])}, fields)

    def __len__(self):
        return 1

    def __getitem__(self, index):
        return self if isinstance(index, slice) else self.item


def run(manager, text, uid, split="train", global_steps=None, **kwargs):
    return asyncio.run(manager.run_single(OneSample(text, uid, split, global_steps, **kwargs)))


def test_verl_steps_once_per_training_step_by_global_steps(tmp_path):
    """DAPO refill and async modes set ``gen_batch_size=1``: before, the schedule stepped after every group."""
    manager = MedlocRewardManager(verl_config(tmp_path, gen_batch_size=1, schedule_options={"window": 1}),
                                  CharTokenizer())
    for uid in ("a", "b", "a"):
        run(manager, HIT, uid, global_steps=1)
    assert manager.driver.schedule.steps_taken == 0  # one complete group of the step's 2
    assert run(manager, MISS, "v", split="test", global_steps=1)["reward_extra_info"]["threshold"] == 0.3
    last = run(manager, HIT, "b", global_steps=1)  # the step's 2nd group completes: one step
    assert last["reward_extra_info"] == {"iou": 1.0, "accuracy": 1.0, "threshold": 0.3}
    assert manager.driver.schedule.steps_taken == 1 and manager.driver.threshold == 0.45
    run(manager, HIT, "c", global_steps=2)
    run(manager, HIT, "c", global_steps=2)  # step 2: one group completes, the other never does (a failed session)
    assert manager.driver.schedule.steps_taken == 1
    run(manager, HIT, "e", global_steps=3)  # step 3 begins: step 2 learns from its complete group
    assert manager.driver.schedule.steps_taken == 2
    run(manager, HIT, "c", global_steps=2)  # a late sample of a step already learned from: ignored
    assert manager.driver.schedule.steps_taken == 2


def test_verl_without_global_steps_steps_every_train_batch_size_groups(tmp_path):
    manager = MedlocRewardManager(verl_config(tmp_path, gen_batch_size=1, schedule_options={"window": 1}),
                                  CharTokenizer())
    for uid in ("a", "a", "b", "b"):
        run(manager, HIT, uid)
    assert manager.driver.schedule.steps_taken == 1  # 2 groups = train_batch_size prompts, not gen_batch_size


def test_verl_validation_never_learns_and_a_sample_without_split_is_refused(tmp_path):
    manager = MedlocRewardManager(verl_config(tmp_path, schedule_options={"window": 1}), CharTokenizer())
    for uid in ("v1", "v1", "v2", "v2"):  # val_kwargs.n = 2: complete groups, split "test"
        run(manager, HIT, uid, split="test", global_steps=0)
    assert manager.driver.schedule.steps_taken == 0
    with pytest.raises(ValueError, match="sample has no extra_info.split"):
        run(manager, HIT, "x", split=None, global_steps=1)


def test_verl_refuses_async_modes_and_dapo_filter_groups(tmp_path):
    config = verl_config(tmp_path)
    config["trainer"]["v1"]["trainer_mode"] = "colocate_async"
    with pytest.raises(ValueError, match="needs trainer.v1.trainer_mode=sync \\(got 'colocate_async'"):
        MedlocRewardManager(config, CharTokenizer())
    config = verl_config(tmp_path)
    config["algorithm"]["filter_groups"]["enable"] = True
    with pytest.raises(ValueError, match="does not support algorithm.filter_groups.enable=true"):
        MedlocRewardManager(config, CharTokenizer())


def test_verl_reports_step_metrics_where_verl_shows_them(tmp_path, capsys):
    """``logger.info`` is silenced by ``import verl``; the v1 trainer does not aggregate training extra info."""
    manager = MedlocRewardManager(verl_config(tmp_path, schedule_options={"window": 1}), CharTokenizer())
    infos = [run(manager, HIT, uid, global_steps=1)["reward_extra_info"] for uid in ("a", "a", "b", "b")]
    assert len({frozenset(info) for info in infos}) == 1  # compute_rm_score reads every key of the first sample
    line = json.loads((tmp_path / "medloc_iou_curriculum_metrics.jsonl").read_text())
    assert line["global_steps"] == 1 and line["medloc/threshold"] == 0.3 and line["medloc/hit_rate"] == 1.0
    assert "medloc iou_curriculum: {'global_steps': 1" in capsys.readouterr().out  # Ray forwards worker stdout


def test_verl_resumes_following_resume_mode_and_stamps_the_tracker_checkpoint(tmp_path):
    config = verl_config(tmp_path, schedule_options={"window": 1})
    manager = MedlocRewardManager(config, CharTokenizer())
    for uid in ("a", "a", "b", "b"):
        run(manager, HIT, uid, global_steps=1)
    (tmp_path / "global_step_1").mkdir()
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("1")  # _save_checkpoint's tracker
    resumed = MedlocRewardManager(config, CharTokenizer())
    assert resumed.driver.threshold == 0.45  # resume_mode auto: the tracker's checkpoint, no stamp: the latest
    for uid in ("c", "c", "d", "d"):
        run(manager, HIT, uid, global_steps=2)  # the first sample of step 2 stamps checkpoint 1
    assert json.loads((tmp_path / "global_step_1" / "medloc_iou_curriculum.json").read_text())["state"][
        "steps_taken"] == 1
    config["trainer"].update(resume_mode="resume_path", resume_from_path=str(tmp_path / "global_step_1"))
    assert MedlocRewardManager(config, CharTokenizer()).driver.threshold == 0.45  # its stamp, not the latest 0.55
    config["trainer"]["resume_mode"] = "disable"
    assert MedlocRewardManager(config, CharTokenizer()).driver.threshold == 0.3
    assert not (tmp_path / "global_step_1" / "medloc_iou_curriculum.json").exists()  # to be saved again


def test_verl_refuses_split_scoring_and_bad_options(tmp_path):
    config = verl_config(tmp_path)
    config["reward"]["num_workers"] = 8
    with pytest.raises(ValueError, match="set reward.num_workers=1 \\(got 8\\)"):
        MedlocRewardManager(config, CharTokenizer())
    with pytest.raises(ValueError, match="unknown option\\(s\\) \\['windw'\\]"):
        MedlocRewardManager(verl_config(tmp_path, windw=3), CharTokenizer())
    config = verl_config(tmp_path)
    config["trainer"]["default_local_dir"] = "checkpoints/verl/run1"  # verl's default is relative
    with pytest.raises(ValueError, match="must be an absolute path"):
        MedlocRewardManager(config, CharTokenizer())
    with pytest.raises(ValueError, match="rollout.n is 1"):
        GroupCollector(1, 4)


def test_verl_qwen_frame_is_fetch_image_then_the_models_processor(tmp_path, monkeypatch):
    """``RLHFDataset`` runs qwen_vl_utils' ``process_vision_info`` (``fetch_image``), then the processor of
    ``actor_rollout_ref.model.path`` resizes with its own limits."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

    Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056).save_pretrained(tmp_path / "model")
    vision_process = types.ModuleType("qwen_vl_utils.vision_process")  # qwen_vl_utils 0.0.14's defaults
    vision_process.SPATIAL_MERGE_SIZE, vision_process.IMAGE_MIN_TOKEN_NUM = 2, 4
    vision_process.IMAGE_MAX_TOKEN_NUM = 16384
    package = types.ModuleType("qwen_vl_utils")
    package.vision_process = vision_process
    monkeypatch.setitem(sys.modules, "qwen_vl_utils", package)
    monkeypatch.setitem(sys.modules, "qwen_vl_utils.vision_process", vision_process)
    manager = MedlocRewardManager(verl_config(tmp_path, frame="qwen2.5-vl"), CharTokenizer())
    whole = [[0, 0, 2000, 2000]]  # the model sees 1988 x 1988; the default frame would read 980 x 980
    assert run(manager, "[0, 0, 1988, 1988]", "a", global_steps=1, box=whole, size=2000)["reward_score"] == 1.0
    with pytest.raises(ValueError, match="max_pixels=1003520 disagrees with the processor of"):
        MedlocRewardManager(verl_config(tmp_path, frame="qwen2.5-vl", frame_options={"max_pixels": 1003520}),
                            CharTokenizer())
    monkeypatch.setitem(sys.modules, "qwen_vl_utils", None)
    monkeypatch.setitem(sys.modules, "qwen_vl_utils.vision_process", None)
    with pytest.raises(ValueError, match="qwen_vl_utils is not installed"):
        MedlocRewardManager(verl_config(tmp_path, frame="qwen2.5-vl"), CharTokenizer())
