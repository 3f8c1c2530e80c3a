"""TRL-style grounding rewards: values, names, inputs, and finite-in-range properties."""

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from medloc.rewards import (
    BinaryIoUReward,
    binary_iou_reward,
    completion_ious,
    make_binary_iou_reward,
    make_format_reward,
    make_soft_iou_reward,
    soft_iou_reward,
)

GT = [[0, 0, 10, 10]]


def _chat(text):
    return [{"role": "assistant", "content": text}]


def test_completion_ious_known_values():
    completions = [
        "[0, 0, 10, 10]",
        "<answer>[0, 0, 5, 10]</answer>",
        _chat('<think>left</think><answer>{"bbox_2d": [5, 0, 15, 10]}</answer>'),
        "[20, 20, 30, 30]",
        "no box",
        "[10, 0, 0, 10]",
    ]
    ious = completion_ious(completions, [GT] * 6, [100] * 6, [100] * 6)
    assert ious.dtype == np.float64
    assert ious.tolist() == pytest.approx([1.0, 0.5, 1 / 3, 0.0, 0.0, 0.0])


def test_completion_ious_unions_on_both_sides():
    # two predictions tiling the ground truth; two ground-truth boxes covered by one prediction
    ious = completion_ious(
        ["[0, 0, 6, 10] [4, 0, 10, 10]", "[0, 0, 10, 10]", "[0, 0, 10, 10]"],
        [GT, [[0, 0, 5, 10], [5, 0, 10, 10]], [[0, 0, 5, 5], [5, 5, 10, 10]]],
        [64] * 3,
        [64] * 3,
    )
    assert ious.tolist() == pytest.approx([1.0, 1.0, 0.5])


def test_completion_ious_accepts_flat_and_array_ground_truth():
    ious = completion_ious(["[0, 0, 5, 10]"] * 2, [[0, 0, 10, 10], np.array([[0, 0, 10, 10]])], [20] * 2, [20] * 2)
    assert ious.tolist() == [0.5, 0.5]


def test_completion_ious_frames():
    ious = completion_ious(
        ["[0, 0, 0.5, 0.5]", "<|box_start|>(0,0),(500,500)<|box_end|>"], [[[0, 0, 50, 25]]] * 2, [100] * 2, [50] * 2,
        frame="unit",
    )
    assert ious.tolist() == [1.0, 1.0]
    ious = completion_ious(["[0, 0, 504, 252]"], [[[0, 0, 500, 250]]], [1000], [500], frame="qwen2.5-vl")
    assert ious.tolist() == pytest.approx([1.0])


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        ([[]], "row 0: 'boxes' is empty"),
        ([[[0, 0, 1]]], "row 0: 'boxes' must be a list of"),
        ([[[0, 0, 10, 10]], [[5, 5, 1, 10]]], "row 1: ground-truth boxes must be finite"),
        ([[[0, 0, 10, float("nan")]], GT], "row 0: ground-truth boxes must be finite"),
    ],
)
def test_bad_ground_truth_is_an_error_naming_the_row(boxes, message):
    with pytest.raises(ValueError, match=message):
        completion_ious(["[0, 0, 1, 1]"] * len(boxes), boxes, [10] * len(boxes), [10] * len(boxes))


def test_binary_reward_threshold_is_inclusive():
    reward = make_binary_iou_reward(0.5)
    # IoU exactly 0.5, just below, and an invalid answer
    out = reward(["[0, 0, 5, 10]", "[0, 0, 4.99, 10]", "junk"], boxes=[GT] * 3, width=[20] * 3, height=[20] * 3)
    assert out == [1.0, 0.0, 0.0]
    assert binary_iou_reward(["[0, 0, 5, 10]"], boxes=[GT], width=[20], height=[20], threshold=0.6) == [0.0]


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5, float("nan"), "0.5"])
def test_binary_reward_rejects_bad_thresholds(threshold):
    with pytest.raises(ValueError, match="threshold must be a number in"):
        make_binary_iou_reward(threshold)


def test_soft_reward_is_the_iou():
    completions = ["[0, 0, 5, 10]", _chat("[0, 0, 10, 10]"), "[]"]
    kwargs = {"boxes": [GT] * 3, "width": [32] * 3, "height": [32] * 3}
    assert soft_iou_reward(completions, **kwargs) == [0.5, 1.0, 0.0]
    assert make_soft_iou_reward("grid-100")(["[0, 0, 50, 100]"], boxes=[[[0, 0, 16, 32]]], width=[32], height=[32]) == [
        1.0
    ]


def test_factory_names_and_pickling():
    rewards = [
        make_binary_iou_reward(0.5),
        make_binary_iou_reward(0.75, frame="qwen2.5-vl"),
        make_soft_iou_reward(),
        make_soft_iou_reward("grid-1000"),
        make_format_reward("before"),
        make_format_reward("after"),
        make_format_reward("none"),
    ]
    assert [r.__name__ for r in rewards] == [
        "binary_iou_reward_t0.5",
        "binary_iou_reward_t0.75_qwen2.5-vl",
        "soft_iou_reward",
        "soft_iou_reward_grid-1000",
        "format_reward_before",
        "format_reward_after",
        "format_reward_none",
    ]
    for reward in rewards:
        clone = pickle.loads(pickle.dumps(reward))
        assert clone.__name__ == reward.__name__
    assert repr(rewards[1]) == "BinaryIoUReward(threshold=0.75, frame='qwen2.5-vl')"


def test_trl_names_the_rewards_by_dunder_name():
    from trl.trainer.utils import get_callable_name

    assert get_callable_name(make_binary_iou_reward(0.3)) == "binary_iou_reward_t0.3"
    assert get_callable_name(soft_iou_reward) == "soft_iou_reward"


def test_threshold_can_be_changed_between_batches():
    reward = BinaryIoUReward(0.3)
    kwargs = {"boxes": [GT], "width": [20], "height": [20]}
    assert reward(["[0, 0, 4, 10]"], **kwargs) == [1.0]
    reward.threshold = 0.5
    assert reward(["[0, 0, 4, 10]"], **kwargs) == [0.0]


def test_image_column_is_used_without_width_and_height(tmp_path):
    image = Image.new("RGB", (200, 100))
    path = tmp_path / "x.png"
    image.save(path)
    reward = make_soft_iou_reward("unit")
    assert reward(["[0, 0, 0.5, 1]"], boxes=[[[0, 0, 100, 100]]], image=[image]) == [1.0]
    assert reward(["[0, 0, 0.5, 1]"], boxes=[[[0, 0, 100, 100]]], image=[str(path)]) == [1.0]
    assert reward(["[0, 0, 0.5, 1]"], boxes=[[[0, 0, 100, 100]]], images=[[image]]) == [1.0]


def test_missing_columns_are_clear_errors():
    with pytest.raises(ValueError, match="'boxes' column"):
        soft_iou_reward(["[0, 0, 1, 1]"], width=[10], height=[10])
    with pytest.raises(ValueError, match="'width' and 'height' columns, or an 'image' column"):
        soft_iou_reward(["[0, 0, 1, 1]"], boxes=[GT])


@pytest.mark.parametrize(
    ("reasoning", "text", "expected"),
    [
        ("before", "<think>bright, round</think><answer>[1, 2, 3, 4]</answer>", 1.0),
        ("before", "\n<think>\nbright\n</think>\n\n<answer>\n[1, 2, 3, 4]\n</answer>\n", 1.0),
        ("before", '<think>a</think><answer>```json\n{"bbox_2d": [1, 2, 3, 4]}\n```</answer>', 1.0),
        ("before", "<think>a</think><answer><|box_start|>(1,2),(3,4)<|box_end|></answer>", 1.0),
        ("before", "<answer>[1, 2, 3, 4]</answer><think>a</think>", 0.0),
        ("before", "<think>a</think><answer>no box</answer>", 0.0),
        ("before", "<think>a</think><answer>[3, 2, 1, 4]</answer>", 0.0),
        ("before", "<think>a</think><answer>[1, 2, 3, 4]</answer> trailing words", 0.0),
        ("before", "<think>a<think>b</think><answer>[1, 2, 3, 4]</answer>", 0.0),
        ("before", "<think>a</think><answer>[1, 2, 3, 4]</answer><answer>[1, 2, 3, 4]</answer>", 0.0),
        ("before", "<think>a</think><answer>[1, 2, 3, 4]", 0.0),
        ("after", "<answer>[1, 2, 3, 4]</answer>\n<think>it is round</think>", 1.0),
        ("after", "<think>a</think><answer>[1, 2, 3, 4]</answer>", 0.0),
        ("none", "<answer>[1.5, 2, 3, 4]</answer>", 1.0),
        ("none", "  <answer>[1, 2, 3, 4]</answer>\n", 1.0),
        ("none", "<think>a</think><answer>[1, 2, 3, 4]</answer>", 0.0),
        ("none", "[1, 2, 3, 4]", 0.0),
        ("none", "<answer>[1, 2, nan, 4]</answer>", 0.0),
    ],
)
def test_format_reward(reasoning, text, expected):
    reward = make_format_reward(reasoning)
    assert reward([text]) == [expected]
    assert reward([_chat(text)]) == [expected]


def test_format_reward_unknown_layout():
    with pytest.raises(ValueError, match="expected one of before, after, none"):
        make_format_reward("first")


_ALL_REWARDS = [
    make_binary_iou_reward(0.5),
    make_binary_iou_reward(1.0, frame="unit"),
    make_soft_iou_reward(),
    make_soft_iou_reward("grid-1000"),
    make_soft_iou_reward("qwen2.5-vl"),
    make_format_reward("before"),
    make_format_reward("after"),
    make_format_reward("none"),
]


def _assert_in_range(values, n):
    assert len(values) == n
    assert all(isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 1.0 for v in values)


_TOKENS = list("[](){},.:-+eE0123456789 \n\"'") + [
    "<answer>", "</answer>", "<think>", "</think>", '"bbox_2d": ', "<|box_start|>", "<|box_end|>", "nan", "inf",
    "1e999", "```json", "[10, 20, 30, 40]",
]


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join)),
                      min_size=1, max_size=6))
def test_every_reward_is_finite_and_in_range_for_arbitrary_text(texts):
    n = len(texts)
    kwargs = {"boxes": [[[5, 5, 40, 30]]] * n, "width": [64] * n, "height": [48] * n}
    for reward in _ALL_REWARDS:
        _assert_in_range(reward(texts, **kwargs), n)
        _assert_in_range(reward([_chat(t) for t in texts], **kwargs), n)


_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-300, 300, allow_nan=False),
    st.integers(-2000, 2000),
)


@st.composite
def _gt_box(draw):
    x1, y1 = draw(st.floats(0, 90)), draw(st.floats(0, 90))
    return [x1, y1, x1 + draw(st.floats(0.5, 100)), y1 + draw(st.floats(0.5, 100))]


@settings(max_examples=150, deadline=None)
@given(
    predicted=st.lists(st.lists(st.lists(_number, min_size=4, max_size=4), min_size=1, max_size=3), min_size=1,
                       max_size=5),
    ground_truth=st.lists(_gt_box(), min_size=1, max_size=3),
    layout=st.sampled_from(["{}", "<answer>{}</answer>", '{{"bbox_2d": {}}}', "<think>x</think><answer>{}</answer>"]),
    size=st.tuples(st.integers(2, 400), st.integers(2, 400)),  # aspect <= 200: what the processor accepts
)
def test_every_reward_is_finite_and_in_range_for_arbitrary_boxes(predicted, ground_truth, layout, size):
    texts = [" ".join(layout.format(list(box)) for box in boxes) for boxes in predicted]
    n = len(texts)
    kwargs = {"boxes": [ground_truth] * n, "width": [size[0]] * n, "height": [size[1]] * n}
    for reward in _ALL_REWARDS:
        _assert_in_range(reward(texts, **kwargs), n)
    ious = completion_ious(texts, kwargs["boxes"], kwargs["width"], kwargs["height"])
    assert np.isfinite(ious).all() and (ious >= 0).all() and (ious <= 1).all()
