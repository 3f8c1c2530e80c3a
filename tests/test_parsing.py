"""Answer parsing: every format models write, frames, answer tags, chat messages, junk."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grounding_data.frames import get_frame
from grounding_data.answer_format import REASONING_LAYOUTS, answer_in_layout, extract_answer, find_boxes, layout_answer
from medloc.parsing import completion_text, parse_batch, parse_boxes


def _parsed(completion, width=100, height=100, frame="pixels"):
    return parse_boxes(completion, width, height, frame).tolist()


@pytest.mark.parametrize(
    "text",
    [
        "[10, 20, 30, 40]",
        "[10,20,30,40]",
        "[ 10 ,20 , 30,40 ]",
        "[10.0, 20.00, 30., 40.0]",
        "The box is [10, 20, 30, 40].",
        "[1e1, 2e1, 3E1, 4e+1]",
        '{"bbox_2d": [10, 20, 30, 40], "label": "nodule"}',
        '{"label": "nodule", "bbox_2d": [10,20,30,40]}',
        '[{"bbox_2d": [10, 20, 30, 40], "label": "nodule"}]',
        '```json\n[\n  {"bbox_2d": [10, 20, 30, 40], "label": "left lower lobe opacity"}\n]\n```',
        "{'bbox_2d': [10, 20, 30, 40]}",
        '{"bbox_2d": [10, 20, 30, 40], "label": "a",}',  # trailing comma: not JSON, still read
        "(10,20),(30,40)",
        "(10, 20), (30, 40)",
    ],
)
def test_single_box_formats(text):
    assert _parsed(text) == [[10.0, 20.0, 30.0, 40.0]]


def test_qwen2_box_tokens_are_grid_1000_whatever_the_frame():
    text = "<|object_ref_start|>the nodule<|object_ref_end|><|box_start|>(100,200),(500,1000)<|box_end|>"
    for frame in ("pixels", "unit", "grid-100", "qwen2.5-vl"):
        assert _parsed(text, 640, 480, frame) == [[64.0, 96.0, 320.0, 480.0]]
    assert find_boxes("<|box_start|>( 1 , 2 ) , ( 3 , 4 )<|box_end|>") == ([(1.0, 2.0, 3.0, 4.0)], True)


def test_bare_corner_pairs_use_the_frame():
    # what Qwen2-VL's tokens become once skip_special_tokens drops them
    assert _parsed("the nodule(100,200),(500,1000)", 640, 480, "grid-1000") == [[64.0, 96.0, 320.0, 480.0]]


def test_several_boxes():
    text = '```json\n[{"bbox_2d": [0, 0, 10, 10]}, {"bbox_2d": [20, 20, 30, 40.5]}]\n```'
    assert _parsed(text) == [[0, 0, 10, 10], [20, 20, 30, 40.5]]
    assert _parsed("[[0, 0, 10, 10], [20, 20, 30, 40]]") == [[0, 0, 10, 10], [20, 20, 30, 40]]
    assert _parsed("<|box_start|>(0,0),(100,100)<|box_end|> and <|box_start|>(200,200),(300,300)<|box_end|>") == [
        [0, 0, 10, 10],
        [20, 20, 30, 30],
    ]


def test_bbox_2d_wins_over_other_lists():
    text = '{"bbox_2d": [10, 20, 30, 40], "ref": [1, 2, 3, 4], "point_2d": [20, 30]}'
    assert _parsed(text) == [[10, 20, 30, 40]]


def test_lists_that_are_not_boxes_are_ignored():
    assert _parsed('{"tags": ["lung", "left"], "box": [10, 20, 30, 40], "size": [1, 2, 3]}') == [[10, 20, 30, 40]]
    assert _parsed("[1, 2, 3, 4, 5]") == []
    assert _parsed('["a", 1, 2, 3]') == []


@pytest.mark.parametrize(
    ("frame", "text", "expected"),
    [
        ("pixels", "[10, 20, 30, 40]", [10, 20, 30, 40]),
        ("unit", "[0.1, 0.2, 0.3, 0.4]", [20, 20, 60, 40]),
        ("grid-100", "[10, 20, 30, 40]", [20, 20, 60, 40]),
        ("grid-1000", "[100, 200, 300, 400]", [20, 20, 60, 40]),
    ],
)
def test_frames_map_to_pixels(frame, text, expected):
    np.testing.assert_allclose(parse_boxes(text, 200, 100, frame), [expected])


def test_qwen25_frame_maps_resized_pixels_back():
    # 1000 x 500 is resized to 1008 x 504 by the default processor
    np.testing.assert_allclose(parse_boxes("[0, 0, 1008, 504]", 1000, 500, "qwen2.5-vl"), [[0, 0, 1000, 500]])
    # with the default max_pixels, 1024 x 1024 is resized to 980 x 980
    np.testing.assert_allclose(parse_boxes("[0, 0, 490, 490]", 1024, 1024, "qwen2.5-vl"), [[0, 0, 512, 512]])
    frame = get_frame("qwen2.5-vl", max_pixels=256 * 28 * 28)  # resized to 448 x 448
    np.testing.assert_allclose(parse_boxes("[0, 0, 448, 448]", 1024, 1024, frame), [[0, 0, 1024, 1024]])


def test_only_the_last_answer_block_is_read():
    text = "<think>maybe [0, 0, 5, 5]?</think><answer>[1, 1, 2, 2]</answer> oops <answer>[10, 20, 30, 40]</answer>"
    assert _parsed(text) == [[10, 20, 30, 40]]
    assert _parsed("<think>[0, 0, 5, 5]</think><answer>none</answer>") == []
    assert _parsed("<think>[0, 0, 5, 5]</think><answer>[10, 20, 30, 40]") == [[10, 20, 30, 40]]  # truncated
    assert extract_answer("no tags [1, 2, 3, 4]") == "no tags [1, 2, 3, 4]"


@pytest.mark.parametrize(
    "completion",
    [
        [{"role": "assistant", "content": "<answer>[10, 20, 30, 40]</answer>"}],
        [{"role": "assistant", "content": [{"type": "text", "text": "<answer>[10, 20, 30, 40]</answer>"}]}],
        [{"role": "assistant", "content": [{"type": "image"}, {"type": "text", "text": "[10, 20, 30, 40]"}]}],
        [{"content": "[10, 20, 30, 40]"}],
        {"role": "assistant", "content": "[10, 20, 30, 40]"},
        [{"role": "user", "content": "[0, 0, 1, 1]"}, {"role": "assistant", "content": "[10, 20, 30, 40]"}],
    ],
)
def test_chat_messages(completion):
    assert _parsed(completion) == [[10, 20, 30, 40]]


def test_completion_text_joins_assistant_parts():
    completion = [{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    assert completion_text(completion) == "a\nb"
    assert completion_text(None) == ""
    assert completion_text([{"role": "assistant", "content": None}]) == ""


@pytest.mark.parametrize(
    "completion",
    [
        "",
        "I cannot see a lesion.",
        "[10, 20, 30]",
        "[30, 20, 10, 40]",  # inverted x
        "[10, 40, 30, 20]",  # inverted y
        "[10, 20, 10, 40]",  # zero width
        "[10, 20, 30, 20]",  # zero height
        "[nan, 20, 30, 40]",
        "[10, 20, inf, 40]",
        "[10, 20, 1e999, 40]",
        "[-150, 20, 30, 40]",  # more than one image width to the left
        "[10, 20, 250, 40]",  # beyond 2x the width
        "[10, 20, 30, 40] [50, 60, 40, 70]",  # one invalid box spoils the answer
        "<|box_start|>(10,20),(5,40)<|box_end|>",
        "<|box_start|>(10,20)<|box_end|>",
        "[a, b, c, d]",
        "[10, 20, 30, 40",
        "[" * 10_000,
        "(" * 10_000 + "1,2),(3,4",
        None,
        42,
        [None],
        [{"role": "assistant", "content": 3.5}],
        [{"role": "assistant", "content": [{"type": "text", "text": None}]}],
    ],
)
def test_junk_is_no_valid_box(completion):
    boxes = parse_boxes(completion, 100, 100)
    assert boxes.shape == (0, 4)


def test_boxes_partly_outside_are_kept_unclipped():
    assert _parsed("[-50, -10, 120, 200]") == [[-50, -10, 120, 200]]


def test_parse_batch_rows_and_frame():
    boxes, rows = parse_batch(
        ["[0, 0, 500, 500]", "junk", "<answer>[0,0,1000,1000] [0,0,100,100]</answer>", "[5, 5, 1, 1]"],
        [100, 100, 100, 100],
        [50, 50, 50, 50],
        frame="grid-1000",
    )
    assert boxes.tolist() == [[0, 0, 50, 25], [0, 0, 100, 50], [0, 0, 10, 5]]
    assert rows.tolist() == [0, 2, 2]


def test_bad_image_size_is_an_error_naming_the_row():
    with pytest.raises(ValueError, match="row 1: image size"):
        parse_batch(["[1, 2, 3, 4]"] * 2, [10, 0], [10, 10])
    with pytest.raises(ValueError, match="one width and one height per completion"):
        parse_batch(["[1, 2, 3, 4]"] * 2, [10], [10])
    with pytest.raises(ValueError, match="image size"):
        parse_boxes("[1, 2, 3, 4]", float("nan"), 10)


_TOKENS = list("[](){},.:-+eE0123456789 abx\"'_<>/|") + [
    "<answer>", "</answer>", "<think>", "</think>", "bbox_2d", "<|box_start|>", "<|box_end|>", "nan", "inf", "1e999",
]


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join))
def test_arbitrary_text_never_raises_and_yields_valid_boxes(text):
    boxes = parse_boxes(text, 64, 48, "grid-100")
    assert boxes.ndim == 2 and boxes.shape[1] == 4
    assert np.isfinite(boxes).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert (boxes[:, [0, 2]] >= -64).all() and (boxes[:, [0, 2]] <= 128).all()
    assert (boxes[:, [1, 3]] >= -48).all() and (boxes[:, [1, 3]] <= 96).all()


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_unicode_never_raises(text):
    assert parse_boxes(text, 10, 10, "unit").shape[1] == 4


@pytest.mark.parametrize("reasoning", REASONING_LAYOUTS)
def test_each_layout_reads_back_only_what_it_writes(reasoning):
    text = layout_answer("[1,2,3,4]", reasoning, rationale="upper left")
    assert answer_in_layout(text, reasoning) == "[1,2,3,4]"
    assert [answer_in_layout(text, other) is None for other in REASONING_LAYOUTS] == [
        other != reasoning for other in REASONING_LAYOUTS]
