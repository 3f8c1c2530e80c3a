"""medloc's ms-swift plugin against ms-swift 4.6's call contracts (the calls and objects its code makes).

A real ms-swift GRPO run with this plugin is ``experiments/trainer_envs.py`` (it needs ms-swift's
own environment); these tests follow the code paths named in each test without ms-swift.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sys
import types
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import TrainerControl, TrainerState

import medloc.integrations.ms_swift as ms_swift

BOX = [[0, 0, 10, 10]]
HIT, MISS = "[0, 0, 10, 10]", "[40, 40, 50, 50]"  # IoU 1 and 0 with BOX
PLUGIN = Path(ms_swift.__file__).with_name("swift_plugin.py")


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch):
    for name in ("MEDLOC_SCHEDULE", "MEDLOC_SCHEDULE_OPTIONS", "MEDLOC_FRAME", "MEDLOC_FRAME_OPTIONS"):
        monkeypatch.delenv(name, raising=False)
    ms_swift.reset()
    yield
    ms_swift.reset()


def swift_args(**overrides):
    """The trainer's ``args`` ms-swift hands ``orms[name](args=args)`` and ``callbacks_map[name](args, trainer)``."""
    values = {"num_generations": 2, "output_dir": "unused", "report_to": [], "callbacks": ["medloc_curriculum"],
              "dynamic_sample": False}
    return SimpleNamespace(**{**values, **overrides})


def swift_trainer(max_pixels=None):
    """What the callback reads from ms-swift's GRPOTrainer: its metric log and its template."""
    return SimpleNamespace(_metrics={"train": defaultdict(list), "eval": defaultdict(list)},
                           template=SimpleNamespace(max_pixels=max_pixels))


def swift_reward_call(reward, completions, state, box=BOX, size=64):
    """ms-swift 4.x ``score_completions``: ``reward(completions, trainer_state=..., **rows_to_batched)``."""
    n = len(completions)
    return reward(completions, trainer_state=state, messages=[[]] * n, prompt_id=[f"p{i // 2}" for i in range(n)],
                  request_id=[str(i) for i in range(n)], boxes=[box] * n, width=[size] * n, height=[size] * n)


def load_plugin(monkeypatch, tables: dict[str, types.ModuleType]):
    """ms-swift's ``import_external_file``: put the folder on sys.path, import the file under a hashed name."""
    for name, module in tables.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.syspath_prepend(str(PLUGIN.parent))
    spec = importlib.util.spec_from_file_location("_swift_external_test", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def swift4_tables() -> dict[str, types.ModuleType]:
    tables = {"swift": types.ModuleType("swift"), "swift.rewards": types.ModuleType("swift.rewards"),
              "swift.callbacks": types.ModuleType("swift.callbacks")}
    tables["swift"].__path__ = []
    tables["swift.rewards"].orms, tables["swift.callbacks"].callbacks_map = {"math": object}, {}
    return tables


def test_swift_reward_and_callback_share_one_curriculum(monkeypatch):
    monkeypatch.setenv("MEDLOC_SCHEDULE_OPTIONS", json.dumps({"window": 1}))
    args, trainer = swift_args(), swift_trainer()
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
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "4.6.0")
    tables = swift4_tables()
    module = load_plugin(monkeypatch, tables)
    assert module.REGISTERED is True
    assert tables["swift.rewards"].orms["medloc_iou"] is ms_swift.MedlocIoUReward
    assert tables["swift.callbacks"].callbacks_map["medloc_curriculum"] is ms_swift.MedlocCurriculumCallback
    shadowing = {path.stem for path in PLUGIN.parent.glob("*.py")} & {"swift", "verl", "trl", "transformers", "ray"}
    assert not shadowing  # that folder is on sys.path now: nothing in it may hide a real package


def test_swift_3x_registration_fails_naming_the_installed_version(monkeypatch):
    """ms-swift 3.x keeps ``orms`` / ``extra_callbacks`` in ``swift.plugin``: ``register()`` used to return False."""
    swift3 = {"swift": types.ModuleType("swift"), "swift.plugin": types.ModuleType("swift.plugin")}
    swift3["swift"].__path__ = []
    swift3["swift.plugin"].orms, swift3["swift.plugin"].extra_callbacks = {}, []
    swift3["swift.rewards"] = swift3["swift.callbacks"] = None  # absent in 3.x (None: an ImportError)
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "3.12.6")
    with pytest.raises(RuntimeError, match=r"needs ms-swift >= 4.0 .*installed ms-swift 3\.12\.6"):
        load_plugin(monkeypatch, swift3)


def test_swift_refuses_dynamic_sample():
    """``GRPOTrainer._score_completions`` -> ``_dynamic_sampling`` calls ``_compute_rewards_per_func`` once per
    resample round: the schedule would step several times per optimizer step. The ORM is built with the
    trainer's args in ``_prepare_rewards`` (``orms[name](args=args)``), before training."""
    with pytest.raises(ValueError, match="--dynamic_sample true is not supported"):
        ms_swift.MedlocIoUReward(args=swift_args(dynamic_sample=True))
    with pytest.raises(ValueError, match="--dynamic_sample true is not supported"):
        ms_swift.MedlocCurriculumCallback(swift_args(dynamic_sample=True), swift_trainer())


def test_swift_refuses_the_megatron_backend_with_a_message(monkeypatch):
    """Megatron's trainer builds callbacks as ``megatron_callbacks_map[callback](self)`` (KeyError before) and
    rewards with ``resolve_reward_funcs(cfg, args=MegatronRLHFArguments)``."""
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "4.6.0")
    tables = swift4_tables()
    tables["swift.megatron"] = types.ModuleType("swift.megatron")
    tables["swift.megatron"].__path__ = []
    tables["swift.megatron.callbacks"] = types.ModuleType("swift.megatron.callbacks")
    tables["swift.megatron.callbacks"].megatron_callbacks_map = {"print": object}
    load_plugin(monkeypatch, tables)
    megatron_callbacks_map = tables["swift.megatron.callbacks"].megatron_callbacks_map
    with pytest.raises(ValueError, match="Megatron backend .* is not supported"):
        megatron_callbacks_map["medloc_curriculum"](SimpleNamespace())  # swift/megatron/trainers/base.py
    megatron_args = type("MegatronRLHFArguments", (), {"__module__": "swift.megatron.arguments.rlhf_args",
                                                       "callbacks": ["medloc_curriculum"], "dynamic_sample": False})
    with pytest.raises(ValueError, match="Megatron backend .* is not supported"):
        ms_swift.MedlocIoUReward(args=megatron_args())


def test_swift_reward_needs_the_callback():
    with pytest.raises(ValueError, match="needs --callbacks medloc_curriculum"):
        ms_swift.MedlocIoUReward(args=swift_args(callbacks=[]))


def fake_vision_process(monkeypatch, max_token_num=16384):
    """qwen_vl_utils 0.0.14's settings after ms-swift's ``patch_qwen_vl_utils`` (it sets ``_patch``)."""
    package = types.ModuleType("qwen_vl_utils")
    vision_process = types.ModuleType("qwen_vl_utils.vision_process")
    vision_process.SPATIAL_MERGE_SIZE, vision_process.IMAGE_MIN_TOKEN_NUM = 2, 4
    vision_process.IMAGE_MAX_TOKEN_NUM, vision_process._patch = max_token_num, True
    package.vision_process = vision_process
    monkeypatch.setitem(sys.modules, "qwen_vl_utils", package)
    monkeypatch.setitem(sys.modules, "qwen_vl_utils.vision_process", vision_process)


def test_swift_qwen_frame_is_the_image_the_template_makes(monkeypatch):
    """Qwen2VLTemplate.replace_tag: ``fetch_image`` with qwen_vl_utils' limits (MAX_PIXELS -> IMAGE_MAX_TOKEN_NUM),
    the processor then runs with ``do_resize=False``; ``--max_pixels`` rescales first (``rescale_image``)."""
    monkeypatch.setenv("MEDLOC_FRAME", "qwen2.5-vl")
    fake_vision_process(monkeypatch)
    args, whole = swift_args(), [[0, 0, 2000, 2000]]
    reward = ms_swift.MedlocIoUReward(args=args)
    ms_swift.MedlocCurriculumCallback(args, swift_trainer())
    # fetch_image keeps a 2000 x 2000 image at 1988 x 1988 (max 16384 tokens = 12,845,056 pixels); the default
    # frame (1,003,520) would read [0, 0, 1988, 1988] twice too large
    assert swift_reward_call(reward, ["[0, 0, 1988, 1988]"] * 2, None, box=whole, size=2000) == [1.0, 1.0]
    ms_swift.reset()
    ms_swift.MedlocCurriculumCallback(args, swift_trainer(max_pixels=1000000))  # --max_pixels 1000000
    assert ms_swift.shared_curriculum().frame.resized_size(2000, 2000) == (1008, 1008)  # 1000 x 1000, then 28s
    ms_swift.reset()
    monkeypatch.setenv("MEDLOC_FRAME_OPTIONS", json.dumps({"max_pixels": 1003520}))
    with pytest.raises(ValueError, match="max_pixels=1003520 disagrees with ms-swift's qwen_vl_utils settings"):
        ms_swift.MedlocCurriculumCallback(args, swift_trainer())
    monkeypatch.delitem(sys.modules, "qwen_vl_utils.vision_process")
    with pytest.raises(ValueError, match="ms-swift has not set up qwen_vl_utils"):
        ms_swift.MedlocCurriculumCallback(args, swift_trainer())
