"""Coordinate frames: names, pixel mapping, and Qwen2.5-VL's smart_resize."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

from grounding_data.frames import GridFrame, PixelFrame, QwenResizedFrame, UnitFrame, get_frame


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pixels", PixelFrame()),
        ("unit", UnitFrame()),
        ("grid-1000", GridFrame(1000)),
        ("grid-100", GridFrame(100)),
        ("qwen2.5-vl", QwenResizedFrame()),
    ],
)
def test_get_frame_by_name(name, expected):
    frame = get_frame(name)
    assert frame == expected
    assert frame.name == name


@pytest.mark.parametrize("name", ["pixel", "grid-", "grid-0", "grid-x", "grid--5", "qwen2-vl", "", "GRID-10"])
def test_unknown_frame_names_the_allowed_values(name):
    with pytest.raises(ValueError, match="unknown coordinate frame") as info:
        get_frame(name)
    for allowed in ("'pixels'", "'unit'", "'grid-N'", "'qwen2.5-vl'"):
        assert allowed in str(info.value)


def test_options_only_for_qwen():
    with pytest.raises(ValueError, match="takes no options"):
        get_frame("pixels", max_pixels=100)
    with pytest.raises(ValueError, match="unknown option"):
        get_frame("qwen2.5-vl", min_pixel=100)
    with pytest.raises(ValueError, match="exceeds max_pixels"):
        get_frame("qwen2.5-vl", min_pixels=10_000, max_pixels=100)


def test_frame_instance_passes_through():
    frame = GridFrame(100)
    assert get_frame(frame) is frame


def test_decode_known_values():
    box = np.array([[100.0, 250.0, 500.0, 1000.0]])
    np.testing.assert_array_equal(get_frame("grid-1000").decode(box, 640, 480), [[64.0, 120.0, 320.0, 480.0]])
    np.testing.assert_array_equal(get_frame("pixels").decode(box, 640, 480), box)
    np.testing.assert_array_equal(
        get_frame("unit").decode(np.array([0.5, 0.25, 1.0, 1.0]), 640, 480), [320.0, 120.0, 640.0, 480.0]
    )


@pytest.mark.parametrize(("width", "height"), [(1000, 500), (1024, 1024), (37, 4000), (3000, 2000), (56, 56)])
def test_qwen_frame_uses_transformers_smart_resize(width, height):
    frame = get_frame("qwen2.5-vl")
    resized_h, resized_w = smart_resize(height, width)
    assert frame.resized_size(width, height) == (resized_w, resized_h)
    decoded = frame.decode(np.array([0.0, 0.0, resized_w, resized_h]), width, height)
    np.testing.assert_allclose(decoded, [0.0, 0.0, width, height])


def test_qwen_frame_min_max_pixels_override():
    small = get_frame("qwen2.5-vl", max_pixels=256 * 28 * 28)
    assert small.resized_size(1024, 1024) == (448, 448)
    assert get_frame("qwen2.5-vl").resized_size(1024, 1024) == (980, 980)  # 1008**2 > 28 * 28 * 1280
    big = get_frame("qwen2.5-vl", min_pixels=512 * 512)
    assert big.resized_size(100, 100) == tuple(reversed(smart_resize(100, 100, min_pixels=512 * 512)))


def test_per_row_sizes():
    boxes = np.array([[0.0, 0.0, 500.0, 500.0], [0.0, 0.0, 500.0, 500.0]])
    out = get_frame("grid-1000").decode(boxes, np.array([100, 200]), np.array([50, 10]))
    np.testing.assert_array_equal(out, [[0, 0, 50, 25], [0, 0, 100, 5]])
    qwen = get_frame("qwen2.5-vl")
    out = qwen.decode(np.array([[0.0, 0.0, 1008.0, 504.0]] * 3), np.array([1000, 640, 1000]), np.array([500, 480, 500]))
    np.testing.assert_allclose(out[0], [0, 0, 1000, 500])
    np.testing.assert_allclose(out[2], [0, 0, 1000, 500])
    np.testing.assert_allclose(out[1], qwen.decode(np.array([0.0, 0.0, 1008.0, 504.0]), 640, 480))


def test_tensor_in_tensor_out():
    out = get_frame("unit").decode(torch.tensor([[0.5, 0.5, 1.0, 1.0]]), 10, 20)
    assert isinstance(out, torch.Tensor)
    assert out.tolist() == [[5.0, 10.0, 10.0, 20.0]]
    ints = get_frame("grid-100").decode(torch.tensor([[10, 10, 50, 50]]), 200, 100)
    assert ints.is_floating_point()
    assert ints.tolist() == [[20.0, 10.0, 100.0, 50.0]]


@settings(max_examples=60, deadline=None)
@given(
    frame_name=st.sampled_from(["pixels", "unit", "grid-1000", "grid-100", "qwen2.5-vl"]),
    width=st.integers(28, 3000),
    height=st.integers(28, 3000),
    box=st.lists(st.floats(0, 1, allow_nan=False), min_size=4, max_size=4),
)
def test_encode_decode_round_trip(frame_name, width, height, box):
    frame = get_frame(frame_name)
    pixels = np.array(box) * [width, height, width, height]
    np.testing.assert_allclose(frame.decode(frame.encode(pixels, width, height), width, height), pixels, atol=1e-9)


def test_qwen_frame_refuses_what_the_processor_refuses():
    with pytest.raises(ValueError, match="cannot resize a 1 x 201 image: absolute aspect ratio"):
        get_frame("qwen2.5-vl").decode(np.array([0.0, 0.0, 1.0, 1.0]), 1, 201)


def test_qwen_defaults_are_the_image_processors():
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

    from grounding_data.frames import QWEN_FACTOR, QWEN_MAX_PIXELS, QWEN_MIN_PIXELS

    assert QWEN_FACTOR == Qwen2VLImageProcessor.patch_size * Qwen2VLImageProcessor.merge_size
    assert (QWEN_MIN_PIXELS, QWEN_MAX_PIXELS) == (Qwen2VLImageProcessor.size["shortest_edge"],
                                                  Qwen2VLImageProcessor.size["longest_edge"])
