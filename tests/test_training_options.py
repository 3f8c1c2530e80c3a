"""``medloc train`` building blocks: the soft-IoU reward option and the vision tower's learning rate (every task)."""

from types import SimpleNamespace

import pytest

from medloc.app.model_setup import run_optimizer, vision_lr_scale
from medloc.app.settings import SettingsError, TrainSettings
from medloc.app.training import prepare_run
from medloc.builtin.tiny_model import build_tiny_vlm
from medloc.curriculum import IoUCurriculum
from medloc.tasks import AnswerSetup, get_task, task_names


def grounding_reward(kind, curriculum):
    return get_task("grounding").reward_functions(AnswerSetup(), curriculum, kind)[1]

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
    assert run_optimizer(model, ARGS, 1.0) is None
    assert all(p.requires_grad for p in model.model.visual.parameters())
    assert run_optimizer(model, ARGS, 0.0) is None
    assert not any(p.requires_grad for p in model.model.visual.parameters())
    assert all(p.requires_grad for p in model.model.language_model.parameters())


def test_other_scales_give_the_vision_tower_its_own_learning_rate():
    model, _ = build_tiny_vlm(seed=0)
    optimizer = run_optimizer(model, ARGS, 0.1)
    language, vision = optimizer.param_groups
    assert (language["lr"], vision["lr"]) == (1e-4, pytest.approx(1e-5))
    assert sum(p.numel() for p in vision["params"]) == sum(p.numel() for p in model.model.visual.parameters())


def test_negative_scale_is_refused():
    with pytest.raises(SettingsError, match="--vision-lr-scale: must be a number >= 0"):
        TrainSettings(vision_lr_scale=-1).validate()


@pytest.mark.parametrize("task", task_names())
def test_every_task_trains_the_vision_tower_at_its_own_learning_rate(task, tmp_path):
    def run(**options):
        settings = TrainSettings(task=task, warm_start=False, max_steps=1, prompts_per_step=1, num_generations=2,
                                 heldout_rows=1, train_rows=2, output_dir=str(tmp_path / str(options)), **options)
        return prepare_run(settings.validate(), progress=False).trainer

    frozen = run()  # the built-in model's default: the vision tower frozen
    assert frozen.optimizer is None
    assert not any(p.requires_grad for p in frozen.model.model.visual.parameters())
    scaled = run(vision_lr_scale=0.5)
    language, vision = scaled.optimizer.param_groups
    assert (language["lr"], vision["lr"]) == (1e-4, 5e-5)
    assert sum(p.numel() for p in vision["params"]) == sum(p.numel() for p in scaled.model.model.visual.parameters())


def test_a_qwen25_models_frame_has_its_processors_pixel_limits():
    """transformers 5 keeps the limits in a ``SizeDict``; a processor shipping 12,845,056 must not be read at 1,003,520."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

    from medloc.app.model_frame import model_frame

    qwen25 = SimpleNamespace(config=SimpleNamespace(model_type="qwen2_5_vl"))
    processor = SimpleNamespace(image_processor=Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056))
    frame = model_frame(qwen25, processor)
    assert (frame.name, frame.factor, frame.min_pixels, frame.max_pixels) == ("qwen2.5-vl", 28, 3136, 12845056)
    with pytest.raises(ValueError, match="model type 'qwen2_5_vl': .*cannot read the pixel limits of NoneType"):
        model_frame(qwen25, processor=None)
