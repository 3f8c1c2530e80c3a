"""Resizing images for the model with the boxes following them.

Boxes ride along as torchvision ``tv_tensors.BoundingBoxes`` through ``transforms.v2``,
so they land in exactly the frame of the resized image. ``qwen_resize`` uses the size
the Qwen2-VL / Qwen2.5-VL image processor itself computes (transformers'
``smart_resize``: multiples of 28 within min/max pixels), so ground truth is in the
frame Qwen2.5-VL writes its absolute-pixel coordinates in.

Example::

    >>> from PIL import Image
    >>> image, boxes = qwen_resize(Image.new("RGB", (1000, 500)), [[100, 100, 200, 200]])
    >>> image.size, boxes
    ((1008, 504), [[100.8, 100.8, 201.6, 201.6]])
"""

from __future__ import annotations

import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor, smart_resize

QWEN_FACTOR = Qwen2VLImageProcessor.patch_size * Qwen2VLImageProcessor.merge_size
QWEN_MIN_PIXELS = Qwen2VLImageProcessor.size["shortest_edge"]
QWEN_MAX_PIXELS = Qwen2VLImageProcessor.size["longest_edge"]


def resize_with_boxes(image: Image.Image, boxes: list[list[float]], width: int,
                      height: int) -> tuple[Image.Image, list[list[float]]]:
    """Resize ``image`` to width x height and scale ``boxes`` ([x1, y1, x2, y2] pixels) with it
    (box coordinates rounded to 1e-4 px: torchvision scales them in float32).

    Example::

        >>> resize_with_boxes(Image.new("RGB", (100, 50)), [[10, 10, 20, 20]], 200, 100)[1]
        [[20.0, 20.0, 40.0, 40.0]]
    """
    canvas = (image.height, image.width)
    tv_boxes = tv_tensors.BoundingBoxes(torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4),
                                        format="XYXY", canvas_size=canvas)
    resized, out = v2.Resize((height, width), interpolation=v2.InterpolationMode.BICUBIC)(image, tv_boxes)
    return resized, [[round(v, 4) for v in box] for box in out.tolist()]


def qwen_size(width: int, height: int, min_pixels: int = QWEN_MIN_PIXELS,
              max_pixels: int = QWEN_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) the Qwen2-VL/Qwen2.5-VL image processor resizes a width x height
    image to, from transformers' own ``smart_resize``.

    Example::

        >>> qwen_size(1024, 1024, max_pixels=512 * 28 * 28)
        (616, 616)
    """
    h, w = smart_resize(height, width, factor=QWEN_FACTOR, min_pixels=min_pixels, max_pixels=max_pixels)
    return w, h


def qwen_boxes(boxes: list[list[float]], width: int, height: int, min_pixels: int = QWEN_MIN_PIXELS,
               max_pixels: int = QWEN_MAX_PIXELS) -> list[list[float]]:
    """Map original-pixel boxes of a width x height image into the processor's resized
    frame (what Qwen2.5-VL writes), without touching the image.

    Example::

        >>> qwen_boxes([[0, 0, 500, 250]], 1000, 500)
        [[0.0, 0.0, 504.0, 252.0]]
    """
    new_w, new_h = qwen_size(width, height, min_pixels, max_pixels)
    sx, sy = new_w / width, new_h / height
    return [[x1 * sx, y1 * sy, x2 * sx, y2 * sy] for x1, y1, x2, y2 in boxes]


def qwen_resize(image: Image.Image, boxes: list[list[float]], min_pixels: int = QWEN_MIN_PIXELS,
                max_pixels: int = QWEN_MAX_PIXELS) -> tuple[Image.Image, list[list[float]]]:
    """Resize ``image`` to the Qwen2-VL/Qwen2.5-VL processor's size (the processor then
    leaves it as is) with ``boxes`` following; defaults are the processor's own.

    Example::

        >>> qwen_resize(Image.new("RGB", (50, 50)), [[0, 0, 50, 50]])[1]
        [[0.0, 0.0, 56.0, 56.0]]
    """
    width, height = qwen_size(image.width, image.height, min_pixels, max_pixels)
    return resize_with_boxes(image, boxes, width, height)
