"""Prompts and answer texts: layout, frame wording, round trip through the parser."""

import re

import numpy as np
import pytest

from medloc.parsing import parse_boxes
from medloc.prompts import answer_text, build_prompt, format_boxes, instruction

ROW = {"phrase": "the bright lesion", "width": 112, "height": 112, "boxes": [[13, 34, 45, 68]]}


def test_text_comes_before_the_image():
    [message] = build_prompt(ROW)
    assert message["role"] == "user"
    assert [p["type"] for p in message["content"]] == ["text", "image"]
    assert "the bright lesion" in message["content"][0]["text"]


@pytest.mark.parametrize("frame, words", [
    ("grid-100", "integers 0-100"), ("grid-1000", "integers 0-1000"), ("unit", "fractions 0-1"),
    ("pixels", "pixels of the 112x112 image"), ("qwen2.5-vl", "pixels of the 112x112 image"),
])
def test_instruction_names_the_frame(frame, words):
    assert words in instruction("the mass", 112, 112, "none", frame)


def test_qwen25_frame_names_the_resized_size():
    assert "pixels of the 1008x504 image" in instruction("the mass", 1000, 500, "none", "qwen2.5-vl")


@pytest.mark.parametrize("reasoning, pattern", [
    ("none", r"^<answer>\[\d+,\d+,\d+,\d+\]</answer>$"),
    ("before", r"^<think>upper left</think><answer>\[\d+,\d+,\d+,\d+\]</answer>$"),
    ("after", r"^<answer>\[\d+,\d+,\d+,\d+\]</answer><think>upper left</think>$"),
])
def test_answer_layouts(reasoning, pattern):
    text = answer_text(ROW["boxes"], 112, 112, reasoning, "grid-100", rationale="upper left")
    assert re.match(pattern, text), text
    assert ("<think>" in instruction("x", 10, 10, reasoning)) == (reasoning != "none")


@pytest.mark.parametrize("frame", ["grid-100", "grid-1000", "unit", "pixels", "qwen2.5-vl"])
def test_answer_parses_back_to_the_box(frame):
    text = answer_text(ROW["boxes"], 112, 112, "none", frame)
    parsed = parse_boxes(text, 112, 112, frame=frame)
    tolerance = 112 / 100 if frame in ("grid-100", "unit") else 1
    assert np.allclose(parsed, ROW["boxes"], atol=tolerance)


def test_boxes_are_clamped_and_several_are_nested():
    assert format_boxes([[-5, 0, 120, 50]], 100, 100, "grid-100") == "[0,0,100,50]"
    assert format_boxes([[0, 0, 10, 10], [5, 5, 6, 6]], 10, 10, "pixels") == "[[0,0,10,10],[5,5,6,6]]"


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="reasoning"):
        build_prompt(ROW, reasoning="during")
    with pytest.raises(ValueError, match="phrase"):
        build_prompt({"width": 1, "height": 1})
    with pytest.raises(ValueError, match="coordinate frame"):
        build_prompt(ROW, frame="grid-x")
