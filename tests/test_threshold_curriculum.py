"""``ThresholdCurriculum``: the schedule drives any thresholded score, e.g. a grade tolerance."""

from types import SimpleNamespace

import numpy as np
import pytest

from medloc import IoUCurriculum, ThresholdCurriculum
from medloc.grades import grade_closeness, tolerance_at

GRADES = ["0", "1", "2", "3"]


def bind(curriculum, training=True):
    """What GRPOTrainer does at train begin: bind the model (train/eval mode) and the group size."""
    model = SimpleNamespace(training=training)
    state = SimpleNamespace(global_step=0, max_steps=10, is_world_process_zero=True, stateful_callbacks=None)
    args = SimpleNamespace(num_generations=4, report_to=[], output_dir="unused")
    curriculum.on_train_begin(args, state, None, model=model)
    return model, state


def grade_batch(answers, truth=0):
    n = len(answers)
    return {"completions": [str(answer) for answer in answers], "grade": [truth] * n, "grades": [GRADES] * n}


def test_adaptive_schedule_tightens_the_grade_tolerance_as_the_model_gets_ready():
    curriculum = ThresholdCurriculum(grade_closeness, "adaptive", name="grade_curriculum", window=2)
    model, _ = bind(curriculum)
    probe = grade_batch([0, 1, 2, 3])  # exact, one, two and three grades off
    logged = {}
    seen = []
    for _ in range(6):
        model.training = False  # the probe is an evaluation batch: the schedule does not learn from it
        seen.append((curriculum.threshold, curriculum.reward(**probe)))
        model.training = True
        curriculum.reward(**grade_batch([0] * 8), log_metric=logged.__setitem__)  # a ready model: all exact
    assert seen == [
        (0.3, [1.0, 1.0, 1.0, 0.0]),  # tolerance 2.1 grades
        (0.3, [1.0, 1.0, 1.0, 0.0]),
        (0.45, [1.0, 1.0, 0.0, 0.0]),  # 1.65 grades
        (0.55, [1.0, 1.0, 0.0, 0.0]),  # 1.35 grades
        (0.65, [1.0, 1.0, 0.0, 0.0]),  # 1.05 grades
        (0.7, [1.0, 0.0, 0.0, 0.0]),  # 0.9 grades: exact only
    ]
    assert tolerance_at(curriculum.threshold, len(GRADES)) == pytest.approx(0.75)
    assert logged["medloc/mean_grade_closeness"] == 1.0
    assert logged["medloc/hit_rate"] == 1.0
    assert logged["medloc/zero_variance_share"] == 1.0  # every group all-correct: no advantage left
    assert curriculum.reward.__name__ == "grade_curriculum"


def test_evaluation_batches_do_not_move_the_threshold_and_state_is_checkpointed():
    curriculum = ThresholdCurriculum(grade_closeness, "adaptive", name="grade_curriculum", window=1)
    model, state = bind(curriculum, training=False)
    for _ in range(3):
        curriculum.reward(**grade_batch([0] * 4))
    assert curriculum.threshold == 0.3
    model.training = True
    curriculum.reward(**grade_batch([0] * 4))
    curriculum.on_step_end(None, state, None)
    assert state.stateful_callbacks["medloc:grade_curriculum"]["steps_taken"] == 1
    assert curriculum.threshold == 0.45


def test_scores_are_clipped_and_a_wrong_count_is_an_error():
    wild = ThresholdCurriculum(lambda completions, columns: [np.nan, -3.0, 7.0, 0.5], "fixed", threshold=0.5)
    assert wild.reward(["a", "b", "c", "d"]) == [0.0, 0.0, 1.0, 1.0]
    short = ThresholdCurriculum(lambda completions, columns: [1.0], "fixed")
    with pytest.raises(ValueError, match="ThresholdCurriculum: the metric returned 1 scores for 2 completions"):
        short.reward(["a", "b"])
    with pytest.raises(TypeError, match="ThresholdCurriculum: 'metric' must be callable, got str"):
        ThresholdCurriculum("iou")


def test_iou_curriculum_is_the_grounding_form():
    curriculum = IoUCurriculum("adaptive", window=1, frame="grid-100")
    assert isinstance(curriculum, ThresholdCurriculum)
    bind(curriculum)
    logged = {}
    rewards = curriculum.reward(["[0,0,50,100]", "junk"], boxes=[[[0, 0, 100, 100]]] * 2, width=[100] * 2,
                                height=[100] * 2, log_metric=logged.__setitem__)
    assert rewards == [1.0, 0.0]
    assert logged["medloc/mean_iou"] == 0.25
    assert curriculum.state_key == "medloc:iou_curriculum"
    with pytest.raises(ValueError, match="IoUCurriculum: options \\['threshold'\\] given with a schedule object"):
        IoUCurriculum(curriculum.schedule, threshold=0.5)
