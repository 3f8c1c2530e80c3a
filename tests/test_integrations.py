"""medloc's curriculum in the other trainers.

ms-swift, EasyR1 and verl do not install next to medloc's torch/transformers/TRL pins (each
would downgrade transformers or TRL), so they are tested through their documented call
contracts: the same calls, arguments and objects their own code makes and passes (named in
each test). TRL is real: the ``trl grpo`` reward is resolved the way TRL's CLI does it and,
in a slow test, trained with a real ``GRPOTrainer`` through a checkpoint and a resume.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import sys
import types
from collections import defaultdict
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import TrainerControl, TrainerState

import medloc.integrations.easyr1 as easyr1
import medloc.integrations.ms_swift as ms_swift
import medloc.integrations.trl_cli as trl_cli
from medloc.integrations.checkpoint_state import CheckpointState
from medloc.curriculum_core import build_schedule
from medloc.integrations.schedule_driver import (
    ScheduleDriver,
    ground_truth_json,
    group_ids,
    parse_ground_truth,
    settings_from_env,
)
from medloc.integrations.verl_reward import GroupCollector, MedlocRewardManager

BOX = [[0, 0, 10, 10]]
HIT, MISS = "[0, 0, 10, 10]", "[40, 40, 50, 50]"  # IoU 1 and 0 with BOX


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch):
    for name in ("MEDLOC_SCHEDULE", "MEDLOC_SCHEDULE_OPTIONS", "MEDLOC_FRAME", "MEDLOC_FRAME_OPTIONS"):
        monkeypatch.delenv(name, raising=False)
    easyr1.reset()
    ms_swift.reset()
    monkeypatch.setattr(trl_cli, "adaptive_iou_reward", trl_cli.TrlCliCurriculum())
    yield


# the shared core ------------------------------------------------------------------------


def test_driver_learns_one_step_per_batch_and_reports_it():
    driver = ScheduleDriver("adaptive", window=1)
    ious = np.array([0.95, 0.95, 0.95, 0.2])
    metrics = driver.learn(ious, group_ids(["a", "a", "b", "b"]))
    assert driver.schedule.steps_taken == 1
    assert metrics["medloc/threshold"] == 0.3 and metrics["medloc/hit_rate"] == 0.75
    assert metrics["medloc/zero_variance_share"] == 0.5 and metrics["medloc/starved_share"] == 0.0
    assert metrics["medloc/mean_iou"] == pytest.approx(0.7625)


def test_core_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="sample 3: ground truth 'oops' is not JSON"):
        parse_ground_truth("oops", 3)
    with pytest.raises(ValueError, match="sample 0: .* lacks boxes/width/height"):
        parse_ground_truth({"boxes": BOX}, 0)
    with pytest.raises(ValueError, match="schedule 'linear' needs 'total_steps'"):
        build_schedule("linear")
    with pytest.raises(ValueError, match="MEDLOC_SCHEDULE_OPTIONS='window=3' is not JSON"):
        settings_from_env({"MEDLOC_SCHEDULE_OPTIONS": "window=3"})


def test_checkpoint_state_restores_the_checkpoint_resumed_from(tmp_path):
    states = CheckpointState(tmp_path, "c")
    states.save_latest({"steps_taken": 1})
    (tmp_path / "global_step_1").mkdir()
    assert states.restore() == {"steps_taken": 1}  # newest checkpoint without a stamp: the latest state
    assert states.stamp({"steps_taken": 1}) == tmp_path / "global_step_1" / "medloc_c.json"
    assert states.stamp({"steps_taken": 2}) is None  # a checkpoint is stamped once
    states.save_latest({"steps_taken": 2})
    (tmp_path / "global_step_2").mkdir()
    states.stamp({"steps_taken": 2})
    states.save_latest({"steps_taken": 3})
    assert states.restore() == {"steps_taken": 2}
    assert states.restore(tmp_path / "global_step_1") == {"steps_taken": 1}


# TRL's own CLI ----------------------------------------------------------------------------


class FakeGRPOTrainer:
    """What TRL 1.16's reward call exposes: ``log_metric`` is this bound method (``self._log_metric``)."""

    def __init__(self, training: bool = True, num_generations: int = 2) -> None:
        self.model = torch.nn.Linear(1, 1).train(training)
        self.args = SimpleNamespace(num_generations=num_generations, gradient_accumulation_steps=1)
        self.logged: dict[str, list[float]] = defaultdict(list)

    def _log_metric(self, name: str, value: float) -> None:
        self.logged[name].append(value)


def trl_cli_reward():
    """Resolved like ``trl grpo --reward_funcs medloc.integrations.trl_cli.adaptive_iou_reward``."""
    module_path, func_name = "medloc.integrations.trl_cli.adaptive_iou_reward".rsplit(".", 1)
    return getattr(importlib.import_module(module_path), func_name)


def call_trl(reward, trainer, state, completions):
    return reward(prompts=["p"] * len(completions), completions=completions, completion_ids=[[1]] * len(completions),
                  boxes=[BOX] * len(completions), width=[64] * len(completions), height=[64] * len(completions),
                  trainer_state=state, log_extra=lambda *a: None, log_metric=trainer._log_metric)


def test_trl_cli_reward_learns_on_training_batches_only_and_keeps_state_in_trainer_state(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDLOC_SCHEDULE_OPTIONS", json.dumps({"window": 1}))
    reward, state = trl_cli_reward(), TrainerState(max_steps=10)
    assert call_trl(reward, FakeGRPOTrainer(training=False), state, [HIT, MISS]) == [1.0, 0.0]
    assert trl_cli.STATE_KEY not in (state.stateful_callbacks or {})  # evaluation: nothing learned
    trainer = FakeGRPOTrainer()
    assert call_trl(reward, trainer, state, [HIT, HIT, HIT, HIT]) == [1.0] * 4
    saved = state.stateful_callbacks[trl_cli.STATE_KEY]
    assert (saved["steps_taken"], saved["threshold"]) == (1, 0.45)
    assert trainer.logged["medloc/threshold"] == [0.3] and trainer.logged["medloc/zero_variance_share"] == [1.0]
    state.save_to_json(str(tmp_path / "trainer_state.json"))  # what transformers writes in every checkpoint
    resumed = TrainerState.load_from_json(str(tmp_path / "trainer_state.json"))
    call_trl(reward, FakeGRPOTrainer(training=False), resumed, [HIT, MISS])
    assert reward.driver_for(resumed).threshold == 0.45  # a new TrainerState carrying the state: restored
    fresh = TrainerState(max_steps=10)
    assert reward.driver_for(fresh).threshold == 0.3  # a new run without it: fresh


@pytest.mark.slow
def test_trl_cli_reward_in_a_real_grpo_run_survives_a_resume(monkeypatch, tmp_path):
    from tests.trl_support import grpo_config, grounding_dataset, strong_ious
    from medloc.builtin.tiny_model import build_tiny_vlm
    from trl import GRPOTrainer

    monkeypatch.setenv("MEDLOC_SCHEDULE_OPTIONS", json.dumps({"window": 3}))
    modes = []

    class Recording(trl_cli.TrlCliCurriculum):
        def _is_training(self, trainer):
            modes.append(super()._is_training(trainer))
            return modes[-1]

    monkeypatch.setattr(trl_cli, "adaptive_iou_reward", Recording(metric=strong_ious))

    def trainer(output_dir, max_steps):
        model, processor = build_tiny_vlm(seed=0)
        config = grpo_config(output_dir, max_steps=max_steps, save_strategy="steps", save_steps=3,
                             eval_strategy="steps", eval_steps=1, per_device_eval_batch_size=8)
        return GRPOTrainer(model=model, processing_class=processor, reward_funcs=[trl_cli_reward()], args=config,
                           train_dataset=grounding_dataset(), eval_dataset=grounding_dataset(4))

    first = trainer(tmp_path, 3)
    first.train()
    saved = json.loads((tmp_path / "checkpoint-3" / "trainer_state.json").read_text())
    assert modes.count(True) == 3 and modes.count(False) >= 3  # evaluation batches reached the reward
    assert saved["stateful_callbacks"][trl_cli.STATE_KEY]["steps_taken"] == 3  # and did not count
    assert saved["stateful_callbacks"][trl_cli.STATE_KEY]["threshold"] == 0.45
    second = trainer(tmp_path, 6)
    second.train(resume_from_checkpoint=str(tmp_path / "checkpoint-3"))
    final = second.state.stateful_callbacks[trl_cli.STATE_KEY]
    assert (final["steps_taken"], final["threshold"]) == (6, 0.7)  # 0.45 -> 0.55 -> 0.65 -> 0.7; fresh: 0.45


# ms-swift -------------------------------------------------------------------------------


def swift_reward_call(reward, completions, state):
    """ms-swift 4.x ``compute_rewards_per_func``: ``reward(completions, trainer_state=..., **rows_to_batched)``."""
    n = len(completions)
    return reward(completions, trainer_state=state, messages=[[]] * n, prompt_id=[f"p{i // 2}" for i in range(n)],
                  request_id=[str(i) for i in range(n)], boxes=[BOX] * n, width=[64] * n, height=[64] * n)


def test_swift_reward_and_callback_share_one_curriculum(monkeypatch):
    monkeypatch.setenv("MEDLOC_SCHEDULE_OPTIONS", json.dumps({"window": 1}))
    args = SimpleNamespace(num_generations=2, output_dir="unused", report_to=[])
    trainer = SimpleNamespace(_metrics={"train": defaultdict(list), "eval": defaultdict(list)})
    reward = ms_swift.MedlocIoUReward(args=args)  # swift: orms[name](args=args)
    callback = ms_swift.MedlocCurriculumCallback(args, trainer)  # swift: callbacks_map[name](args, trainer)
    model, state = torch.nn.Linear(1, 1), TrainerState(max_steps=4)
    callback.on_train_begin(args, state, TrainerControl(), model=model)
    assert swift_reward_call(reward, [HIT, HIT, HIT, HIT], state) == [1.0] * 4
    assert reward.curriculum is callback.curriculum and callback.curriculum.threshold == 0.45
    assert trainer._metrics["train"]["medloc/threshold"] == [0.3]
    callback.on_step_end(args, state, TrainerControl())
    assert state.stateful_callbacks["medloc:iou_curriculum"]["steps_taken"] == 1  # lands in trainer_state.json
    model.eval()
    assert swift_reward_call(reward, [HIT, MISS], state) == [1.0, 0.0]
    assert callback.curriculum.schedule.steps_taken == 1  # evaluation did not count


def test_swift_plugin_file_registers_into_swift_tables(monkeypatch):
    tables = {"swift": types.ModuleType("swift"), "swift.rewards": types.ModuleType("swift.rewards"),
              "swift.callbacks": types.ModuleType("swift.callbacks")}
    tables["swift.rewards"].orms, tables["swift.callbacks"].callbacks_map = {"math": object}, {}
    for name, module in tables.items():
        monkeypatch.setitem(sys.modules, name, module)
    plugin = Path(ms_swift.__file__).with_name("swift_plugin.py")
    # ms-swift's import_external_file: put the folder on sys.path, import the file under a hashed name
    monkeypatch.syspath_prepend(str(plugin.parent))
    spec = importlib.util.spec_from_file_location("_swift_external_test", plugin)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.REGISTERED is True
    assert tables["swift.rewards"].orms["medloc_iou"] is ms_swift.MedlocIoUReward
    assert tables["swift.callbacks"].callbacks_map["medloc_curriculum"] is ms_swift.MedlocCurriculumCallback
    shadowing = {path.stem for path in plugin.parent.glob("*.py")} & {"swift", "verl", "trl", "transformers", "ray"}
    assert not shadowing  # that folder is on sys.path now: nothing in it may hide a real package


# EasyR1 ---------------------------------------------------------------------------------


def load_easyr1(**kwargs):
    """EasyR1's ``AutoRewardManager``: load the file as ``custom_reward_fn``, ``partial(fn, **kwargs)``."""
    spec = importlib.util.spec_from_file_location("custom_reward_fn", easyr1.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (module.REWARD_TYPE, module.REWARD_NAME) == ("batch", "medloc_iou_curriculum")
    return module, partial(module.compute_score, **kwargs)


def easyr1_batch(responses_by_row: dict[str, list[str]], order: list[int] | None = None) -> list[dict]:
    items = [{"response": text, "response_length": len(text),
              "ground_truth": ground_truth_json({"boxes": BOX, "width": 64, "height": 64, "id": row})}
             for row, texts in responses_by_row.items() for text in texts]
    return [items[i] for i in order] if order else items


def test_easyr1_steps_once_per_training_batch_with_groups_from_ground_truth(tmp_path):
    module, score = load_easyr1(schedule="adaptive", schedule_options={"window": 1})
    batch = easyr1_batch({"r1": [HIT, HIT], "r2": [HIT, MISS]}, order=[0, 2, 1, 3])  # balanced: groups interleaved
    scores = score(batch)
    assert [s["overall"] for s in scores] == [1.0, 1.0, 1.0, 0.0]
    assert {s["threshold"] for s in scores} == {0.3} and scores[0]["medloc/zero_variance_share"] == 0.5
    assert len({frozenset(s) for s in scores}) == 1  # EasyR1 averages each key over the batch
    curriculum = module._CURRICULA["iou_curriculum"]
    assert curriculum.driver.schedule.steps_taken == 1
    validation = score(easyr1_batch({"v1": [HIT], "v2": [MISS]}))  # val_override_config.n = 1
    assert "medloc/threshold" not in validation[0] and curriculum.driver.schedule.steps_taken == 1


def test_easyr1_saves_next_to_checkpoints_and_resumes(tmp_path):
    settings = dict(schedule="adaptive", schedule_options={"window": 1}, checkpoint_dir=str(tmp_path))
    train, score = load_easyr1(**settings)
    batch = easyr1_batch({"r1": [HIT, HIT], "r2": [HIT, HIT]})
    score(batch)  # step 1
    (tmp_path / "global_step_1" / "actor").mkdir(parents=True)  # EasyR1 saves checkpoint 1
    score(batch)  # step 2: first stamps checkpoint 1
    stamped = json.loads((tmp_path / "global_step_1" / "medloc_iou_curriculum.json").read_text())
    assert (stamped["steps_taken"], stamped["threshold"]) == (1, 0.45)
    validation_actor, validate = load_easyr1(**settings)  # a second Ray actor, same kwargs
    assert validate(easyr1_batch({"v": [HIT]}))[0]["threshold"] == train._CURRICULA["iou_curriculum"].driver.threshold
    restarted, resume = load_easyr1(**settings)  # a new actor after a crash: resumes from global_step_1
    assert restarted._CURRICULA == {}
    resume(batch)
    assert restarted._CURRICULA["iou_curriculum"].driver.schedule.steps_taken == 2  # 1 restored + 1


def test_easyr1_refuses_bad_input_naming_it():
    _, score = load_easyr1()
    with pytest.raises(ValueError, match="sample 1: ground truth '3,4' is not JSON"):
        score([{"response": HIT, "response_length": 1, "ground_truth": ground_truth_json(
            {"boxes": BOX, "width": 8, "height": 8})}, {"response": HIT, "response_length": 1, "ground_truth": "3,4"}])
    with pytest.raises(ValueError, match="format_weight must be in \\[0, 1\\]"):
        score(easyr1_batch({"r": [HIT]}), format_weight=2.0)


# verl -----------------------------------------------------------------------------------


class Config(dict):
    """An OmegaConf-like view: attribute access and ``.get``."""

    def __getattr__(self, key):
        try:
            value = self[key]
        except KeyError:
            raise AttributeError(key) from None
        return Config(value) if isinstance(value, dict) else value


def verl_config(tmp_path, **reward_kwargs):
    return Config({
        "reward": {"num_workers": 1, "custom_reward_function": {"path": None, "reward_kwargs": reward_kwargs}},
        "data": {"train_batch_size": 2, "gen_batch_size": None},
        "actor_rollout_ref": {"rollout": {"n": 2}},
        "trainer": {"default_local_dir": str(tmp_path), "resume_mode": "auto", "resume_from_path": None},
    })


class CharTokenizer:
    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(int(i)) for i in ids)


class Item:
    def __init__(self, batch, non_tensor_batch):
        self.batch, self.non_tensor_batch = batch, non_tensor_batch


class OneSample:
    """What verl's reward loop hands ``run_single``: a one-sample DataProto (``data[-1]`` an item)."""

    def __init__(self, text, uid, split=None):
        prompt, response = torch.tensor([1, 2, 3]), torch.tensor([ord(c) for c in text] + [0, 0])
        self.item = Item({"prompts": prompt, "responses": response,
                          "attention_mask": torch.tensor([1, 1, 1] + [1] * len(text) + [0, 0])},
                         {"uid": uid, "data_source": "medloc", "extra_info": {"split": split} if split else {},
                          "reward_model": {"ground_truth": ground_truth_json(
                              {"boxes": BOX, "width": 64, "height": 64, "id": uid})}})

    def __len__(self):
        return 1

    def __getitem__(self, index):
        return self if isinstance(index, slice) else self.item


def run(manager, text, uid, split=None):
    return asyncio.run(manager.run_single(OneSample(text, uid, split)))


def test_verl_manager_steps_once_per_batch_of_complete_groups(tmp_path):
    manager = MedlocRewardManager(verl_config(tmp_path, schedule_options={"window": 1}), CharTokenizer())
    first = [run(manager, text, uid) for text, uid in [(HIT, "a"), (HIT, "b"), (HIT, "a")]]
    assert [r["reward_score"] for r in first] == [1.0, 1.0, 1.0] and manager.driver.schedule.steps_taken == 0
    assert run(manager, MISS, "v", split="test")["reward_extra_info"]["threshold"] == 0.3  # validation
    last = run(manager, HIT, "b")  # the batch's 2nd group completes: one step
    assert last["reward_extra_info"] == {"iou": 1.0, "accuracy": 1.0, "threshold": 0.3}
    assert manager.driver.schedule.steps_taken == 1 and manager.driver.threshold == 0.45
    assert json.loads((tmp_path / "medloc_iou_curriculum.json").read_text())["steps_taken"] == 1


def test_verl_manager_resumes_from_the_newest_checkpoint(tmp_path):
    manager = MedlocRewardManager(verl_config(tmp_path, schedule_options={"window": 1}), CharTokenizer())
    for uid in ("a", "a", "b", "b"):
        run(manager, HIT, uid)
    (tmp_path / "global_step_1").mkdir()
    resumed = MedlocRewardManager(verl_config(tmp_path, schedule_options={"window": 1}), CharTokenizer())
    assert resumed.driver.threshold == 0.45
    fresh_config = verl_config(tmp_path, schedule_options={"window": 1})
    fresh_config["trainer"]["resume_mode"] = "disable"
    assert MedlocRewardManager(fresh_config, CharTokenizer()).driver.threshold == 0.3


def test_verl_manager_refuses_split_scoring_and_bad_options(tmp_path):
    config = verl_config(tmp_path)
    config["reward"]["num_workers"] = 8
    with pytest.raises(ValueError, match="set reward.num_workers=1 \\(got 8\\)"):
        MedlocRewardManager(config, CharTokenizer())
    with pytest.raises(ValueError, match="unknown option\\(s\\) \\['windw'\\]"):
        MedlocRewardManager(verl_config(tmp_path, windw=3), CharTokenizer())
    with pytest.raises(ValueError, match="rollout.n is 1"):
        GroupCollector(1, 4)
