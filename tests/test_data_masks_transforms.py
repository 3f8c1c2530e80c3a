"""Mask-to-box (components, thresholding) and the Qwen resize against the real processor."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

from grounding_data.frames import QwenResizedFrame
from grounding_data.masks import boxes_from_mask, connected_components, load_mask
from grounding_data.transforms import qwen_resize, resize_with_boxes
from tests import data_fixtures as fx


def _bfs_labels(mask: np.ndarray) -> np.ndarray:
    """8-connected components by breadth-first search, numbered 1.. in raster order of their first pixel."""
    labels = np.zeros(mask.shape, np.int64)
    count = 0
    for start in zip(*np.nonzero(mask)):
        if labels[start]:
            continue
        count += 1
        queue = deque([start])
        labels[start] = count
        while queue:
            y, x = queue.popleft()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not labels[ny, nx]:
                        labels[ny, nx] = count
                        queue.append((ny, nx))
    return labels


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("density", [0.35, 0.6])
def test_connected_components_match_bfs(seed, density):
    mask = np.random.default_rng(seed).random((24, 31)) < density
    labels, k = connected_components(torch.from_numpy(mask))
    expected = _bfs_labels(mask)
    assert k == expected.max()
    assert labels.dtype == torch.int64 and np.array_equal(labels.numpy(), expected)


def test_snake_component_is_one():
    mask = torch.zeros(41, 41, dtype=torch.bool)
    for row in range(0, 41, 4):
        mask[row, 1:40] = True
        mask[row:row + 4, 39 if row % 8 == 0 else 1] = True
    mask[40, :] = True
    assert connected_components(mask)[1] == 1


def test_boxes_cover_whole_pixels_and_modes():
    mask = torch.zeros(20, 20, dtype=torch.bool)
    mask[3, 4] = True
    mask[10:15, 8:18] = True
    assert boxes_from_mask(mask, "each") == ([[4, 3, 5, 4], [8, 10, 18, 15]], 2)
    assert boxes_from_mask(mask, "enclose") == ([[4, 3, 18, 15]], 2)
    assert boxes_from_mask(mask, "each", min_component_pixels=2) == ([[8, 10, 18, 15]], 2)
    assert boxes_from_mask(torch.zeros(4, 4, dtype=torch.bool)) == ([], 0)
    with pytest.raises(ValueError, match="components"):
        boxes_from_mask(mask, "largest")


def test_jpeg_mask_threshold(tmp_path):
    path = fx.mask(tmp_path / "m.jpg", 40, 30, [(5, 6, 20, 25)])
    assert boxes_from_mask(load_mask(path, 128))[0] == [[5, 6, 20, 25]]
    assert not load_mask(path, 256).any()


@pytest.mark.parametrize("size, pixels", [
    ((517, 333), {}),
    ((1024, 1024), {}),
    ((2000, 1500), {}),
    ((40, 30), {}),
    ((900, 600), {"min_pixels": 128 * 28 * 28, "max_pixels": 256 * 28 * 28}),
])
def test_qwen_resized_size_matches_the_processor(size, pixels):
    processor = Qwen2VLImageProcessor(**pixels)
    grid = processor(images=Image.new("RGB", size), return_tensors="pt")["image_grid_thw"][0].tolist()
    width, height = QwenResizedFrame(**pixels).resized_size(*size)
    assert [1, height // 14, width // 14] == grid
    image, boxes = qwen_resize(Image.new("RGB", size), [[0, 0, size[0], size[1]]], **pixels)
    assert image.size == (width, height) and boxes == [[0, 0, width, height]]
    resized_grid = processor(images=image, return_tensors="pt")["image_grid_thw"][0].tolist()
    assert resized_grid == grid  # the processor leaves the resized image as is


def test_boxes_follow_the_image():
    image, boxes = resize_with_boxes(Image.new("RGB", (100, 50)), [[10, 5, 30, 25], [0, 0, 100, 50]], 300, 200)
    assert image.size == (300, 200) and boxes == [[30, 20, 90, 100], [0, 0, 300, 200]]
    resized = QwenResizedFrame().encode(np.array([[10, 5, 30, 25]]), 1000, 500)[0]
    assert resized.tolist() == pytest.approx([10.08, 5.04, 30.24, 25.2])
