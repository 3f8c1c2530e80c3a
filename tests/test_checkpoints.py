"""Checkpoints: the one ``--resume`` picks, clear errors for broken ones, weights loaded with key renaming."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

import schedulers
from medloc.checkpoints import CheckpointError, find_resume_checkpoint, load_checkpoint_weights
from medloc.app.cli import main
from medloc.app.settings import TrainSettings
from medloc.curriculum import IoUCurriculum
from medloc.builtin.tiny_model import build_tiny_vlm
from medloc.trainer import ResumableGRPOTrainer

RUN_OPTIONS = TrainSettings(schedule="adaptive", schedule_options={"window": 4}).run_schedule_options()
SCHEDULE_STATE = schedulers.build("adaptive", **RUN_OPTIONS).state_dict()  # what `train --window 4` saves


def write_checkpoint(run, step, trainer_state):
    folder = run / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if trainer_state is not None:
        (folder / "trainer_state.json").write_text(trainer_state)
    return folder


def trainer_state(medloc_state=SCHEDULE_STATE):
    return json.dumps({"global_step": 3, "stateful_callbacks": {"medloc:iou_curriculum": medloc_state}})


def test_resume_skips_a_checkpoint_whose_save_did_not_finish(tmp_path, caplog):
    write_checkpoint(tmp_path, 2, trainer_state())
    write_checkpoint(tmp_path, 10, trainer_state())
    write_checkpoint(tmp_path, 12, None)  # killed while saving: trainer_state.json is written last
    with caplog.at_level("WARNING", logger="medloc.checkpoints"):
        assert find_resume_checkpoint(tmp_path) == tmp_path / "checkpoint-10"  # 10 > 2 numerically
    assert "checkpoint-12" in caplog.text and "did not finish" in caplog.text


def train_resume(run):
    return CliRunner().invoke(main, ["train", "--schedule", "adaptive", "--window", "4", "--no-warm-start",
                                     "--max-steps", "6", "--output-dir", str(run), "--resume", "--quiet"])


@pytest.fixture
def no_model(monkeypatch):
    import medloc.app.training

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was prepared before the checkpoint was checked")

    monkeypatch.setattr(medloc.app.training, "prepare_model", forbidden)


def test_truncated_trainer_state_is_a_one_line_error_naming_the_file(tmp_path, no_model):
    full = trainer_state()
    checkpoint = write_checkpoint(tmp_path, 3, full[: len(full) // 2])
    result = train_resume(tmp_path)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {checkpoint / 'trainer_state.json'} is not valid JSON (truncated?)")
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("medloc_state", "detail"),
    [
        ([1, 2], "AttributeError"),
        ({**SCHEDULE_STATE, "threshold": "high"}, "could not convert string to float"),
        ({key: value for key, value in SCHEDULE_STATE.items() if key != "tracker"}, "KeyError: 'tracker'"),
        ({**SCHEDULE_STATE, "schedule": "fixed"}, "cannot load a state of schedule 'fixed'"),
    ],
)
def test_malformed_medloc_state_is_a_one_line_error_naming_the_file(tmp_path, no_model, medloc_state, detail):
    checkpoint = write_checkpoint(tmp_path, 3, trainer_state(medloc_state))
    result = train_resume(tmp_path)
    assert result.exit_code == 1
    first_line = result.output.strip()
    assert first_line.startswith(f"Error: {checkpoint / 'trainer_state.json'}: 'medloc:iou_curriculum': "
                                 "malformed schedule state")
    assert detail in first_line and "\n" not in first_line


def test_curriculum_restore_names_the_state_it_cannot_load():
    curriculum = IoUCurriculum("adaptive", window=4)
    args = SimpleNamespace(num_generations=4, output_dir="unused", report_to="none")
    state = SimpleNamespace(global_step=3, max_steps=6, is_world_process_zero=True,
                            stateful_callbacks={"medloc:iou_curriculum": {"schedule": "adaptive"}})
    with pytest.raises(CheckpointError, match=r"trainer_state.json \(step 3\): 'medloc:iou_curriculum': "
                                              r"malformed schedule state \(ValueError: unsupported schedule state"):
        curriculum.on_train_begin(args, state, None, model=SimpleNamespace(training=True))


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    model, processor = build_tiny_vlm(seed=0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.5)  # weights no freshly built model has
    folder = tmp_path_factory.mktemp("checkpoint")
    model.save_pretrained(folder)
    return model, folder


def test_saved_names_are_not_the_models_so_transformers_resume_would_miss_them(saved_model):
    from safetensors import safe_open

    model, folder = saved_model
    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        saved = set(handle.keys())
    in_memory = set(model.state_dict())
    assert "visual.patch_embed.proj.weight" in saved and "model.visual.patch_embed.proj.weight" in in_memory
    assert len(saved - in_memory) > len(saved) / 2  # only lm_head.weight keeps its name


def test_checkpoint_weights_are_loaded_with_key_renaming(saved_model):
    trained, folder = saved_model
    fresh, _ = build_tiny_vlm(seed=1)
    assert load_checkpoint_weights(fresh, folder) is True
    loaded = fresh.state_dict()
    assert all(torch.equal(loaded[name], tensor) for name, tensor in trained.state_dict().items())


def test_resumable_trainer_loads_the_weights_transformers_would_skip(saved_model, tmp_path):
    from tests.trl_support import grpo_config, grounding_dataset

    trained, folder = saved_model
    fresh, processor = build_tiny_vlm(seed=1)
    trainer = ResumableGRPOTrainer(model=fresh, processing_class=processor, reward_funcs=[IoUCurriculum().reward],
                                   args=grpo_config(tmp_path), train_dataset=grounding_dataset())
    trainer._load_from_checkpoint(str(folder))
    assert all(torch.equal(fresh.state_dict()[name], tensor) for name, tensor in trained.state_dict().items())


def test_model_whose_names_match_is_left_to_transformers(tmp_path):
    linear = torch.nn.Linear(2, 2)
    assert load_checkpoint_weights(linear, tmp_path) is False
