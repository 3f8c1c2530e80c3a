"""``medloc train`` building blocks: the soft-IoU reward option and the vision tower's learning rate."""

from types import SimpleNamespace

import pytest

from medloc.curriculum import IoUCurriculum
from medloc.app.settings import SettingsError, TrainSettings
from medloc.builtin.tiny_model import build_tiny_vlm
from medloc.app.training import grounding_reward
from medloc.app.vision_optimizer import vision_lr_scale, vision_scaled_optimizer

COLUMNS = {"boxes": [[[0, 0, 10, 10]]] * 2, "width": [100] * 2, "height": [100] * 2}


class Training:
    training = True


def test_soft_iou_reward_pays_the_iou_and_still_feeds_the_schedule():
    curriculum = IoUCurriculum("adaptive", window=1, frame="pixels", num_generations=2)
    curriculum._model = Training()  # as after on_train_begin: a training batch
    reward = grounding_reward("soft-iou", curriculum)
    assert reward(["[0, 0, 5, 10]", "[0, 0, 10, 10]"], **COLUMNS) == [0.5, 1.0]
    assert curriculum.schedule.steps_taken == 1  # the schedule observed the batch


def test_binary_reward_is_the_curriculums_own():
    curriculum = IoUCurriculum("fixed", threshold=0.6, frame="pixels")
    assert grounding_reward("binary", curriculum) is curriculum.reward


def test_vision_lr_scale_defaults_by_model():
    assert vision_lr_scale(TrainSettings()) == 0.0
    assert vision_lr_scale(TrainSettings(model="Qwen/Qwen2.5-VL-3B-Instruct")) == 1.0
    assert vision_lr_scale(TrainSettings(vision_lr_scale=0.1)) == 0.1


ARGS = SimpleNamespace(learning_rate=1e-4, adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, weight_decay=0.0)


def test_scale_zero_freezes_the_vision_tower_and_one_leaves_trl_in_charge():
    model, _ = build_tiny_vlm(seed=0)
    assert vision_scaled_optimizer(model, ARGS, 1.0) is None
    assert all(p.requires_grad for p in model.model.visual.parameters())
    assert vision_scaled_optimizer(model, ARGS, 0.0) is None
    assert not any(p.requires_grad for p in model.model.visual.parameters())
    assert all(p.requires_grad for p in model.model.language_model.parameters())


def test_other_scales_give_the_vision_tower_its_own_learning_rate():
    model, _ = build_tiny_vlm(seed=0)
    optimizer = vision_scaled_optimizer(model, ARGS, 0.1)
    language, vision = optimizer.param_groups
    assert (language["lr"], vision["lr"]) == (1e-4, pytest.approx(1e-5))
    assert sum(p.numel() for p in vision["params"]) == sum(p.numel() for p in model.model.visual.parameters())


def test_negative_scale_is_refused():
    with pytest.raises(SettingsError, match="--vision-lr-scale: must be a number >= 0"):
        TrainSettings(vision_lr_scale=-1).validate()
